/*
 * PostgREST's syntax (qf_query_parse_postgrest, include/qf/query.h), as
 * documented at postgrest.org ("Tables and Views": horizontal and vertical
 * filtering, logical operators, ordering, limits and pagination, exact
 * count) and as @supabase/postgrest-js writes it:
 *
 *   query   := param { '&' param }            each percent-decoded, '+' = ' '
 *   param   := "select=" list | "order=" order {',' order} | "limit=" N
 *            | "offset=" N | ("and" | "or" | "not.and" | "not.or") "=(" items ")"
 *            | column "=" filter
 *   filter  := ["not."] op "." operand
 *   op      := eq | neq | lt | lte | gt | gte | like | ilike | in | is
 *   operand := text | "(" value {"," value} ")" (in) | null | not_null | true
 *            | false | unknown (is)
 *   items   := item {"," item}
 *   item    := ["not."] ("and" | "or") "(" items ")" | column "." filter
 *   value   := '"' chars '"' (\" \\) | chars up to ',' or ')'
 *   order   := column ["." ("asc" | "desc")] ["." ("nullsfirst" | "nullslast")]
 *
 * Range: "0-9" | "10-" (items, optionally "items=0-9"); Prefer:
 * count=exact|planned|estimated.
 */
#include <stdlib.h>
#include <string.h>

#include "qf/str.h"
#include "query_int.h"

/* ---- percent-decoding ----------------------------------------------------- */

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* len bytes at s decoded into out (NUL-terminated, at most size - 1 bytes). */
static int decode(const char *s, size_t len, char *out, size_t size, size_t *outlen, qf_err *err)
{
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int a = i + 1 < len ? hex(s[i + 1]) : -1, b = i + 2 < len ? hex(s[i + 2]) : -1;
			int h = a >= 0 && b >= 0 ? a * 16 + b : -1;
			if (h < 0)
				return qf__qp_err(err, "query.syntax",
				                     "malformed percent-encoding in the query string");
			if (h == 0)
				return qf__qp_err(err, "query.syntax", "the query string holds a NUL byte (%%00)");
			c = (char)h;
			i += 2;
		}
		if (k + 1 >= size)
			return qf__qp_err(err, "query.too_complex", "the query string is longer than %d bytes",
			                     QF_QUERY_MAX_TEXT);
		out[k++] = c;
	}
	out[k] = '\0';
	*outlen = k;
	return 0;
}

/* ---- values and conditions ------------------------------------------------------ */

typedef struct parser {
	qf_query *q;
	const char *s; /* decoded value being parsed */
	size_t i, n;
	int depth;
	qf_err *err;
} parser;

static int syntax(parser *p, const char *what)
{
	char shown[80];
	size_t at = p->i < p->n ? p->i : p->n;
	return qf__qp_err(p->err, "query.syntax", "%s in '%s'", what,
	                     qf__qp_shown(p->s + (at > 20 ? at - 20 : 0),
	                                     p->n - (at > 20 ? at - 20 : 0), shown));
}

static bool starts(const parser *p, const char *w)
{
	size_t k = strlen(w);
	return p->i + k <= p->n && !memcmp(p->s + p->i, w, k);
}

/* One value: quoted, or up to ',' / ')' at this level (in_tree), or to the
 * end (a top-level filter, where commas belong to the value). */
static int take_value(parser *p, bool in_tree, char *buf, size_t *len)
{
	size_t k = 0;
	if (p->i < p->n && p->s[p->i] == '"') {
		p->i++;
		for (;;) {
			if (p->i >= p->n)
				return syntax(p, "unterminated quoted value");
			char c = p->s[p->i++];
			if (c == '"')
				break;
			if (c == '\\' && p->i < p->n)
				c = p->s[p->i++];
			if (k >= QF_QUERY_MAX_VALUE_TEXT)
				return qf__qp_err(p->err, "query.value", "a value is longer than %d bytes",
				                     QF_QUERY_MAX_VALUE_TEXT);
			buf[k++] = c;
		}
	} else {
		while (p->i < p->n && !(in_tree && (p->s[p->i] == ',' || p->s[p->i] == ')'))) {
			if (k >= QF_QUERY_MAX_VALUE_TEXT)
				return qf__qp_err(p->err, "query.value", "a value is longer than %d bytes",
				                     QF_QUERY_MAX_VALUE_TEXT);
			buf[k++] = p->s[p->i++];
		}
	}
	*len = k;
	return 0;
}

static const struct {
	const char *name;
	qf_qop op;
} ops[] = {
	{"eq", QF_QOP_EQ},   {"neq", QF_QOP_NEQ},     {"lt", QF_QOP_LT},     {"lte", QF_QOP_LTE},
	{"gt", QF_QOP_GT},   {"gte", QF_QOP_GTE},     {"like", QF_QOP_LIKE}, {"ilike", QF_QOP_ILIKE},
	{"in", QF_QOP_IN},   {"is", QF_QOP_IS_NULL},
};

/* "[not.]op.operand" for column col, at p (in a logic tree or not). */
static int parse_filter(parser *p, int col, bool in_tree)
{
	bool negate = false;
	if (starts(p, "not.")) {
		negate = true;
		p->i += 4;
	}
	size_t start = p->i;
	while (p->i < p->n && p->s[p->i] != '.')
		p->i++;
	size_t oplen = p->i - start;
	if (p->i >= p->n)
		return syntax(p, "a filter needs an operator and a value ('eq.5', 'lt.300', 'is.null')");
	p->i++; /* '.' */
	int which = -1;
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
		if (strlen(ops[k].name) == oplen && !memcmp(ops[k].name, p->s + start, oplen))
			which = (int)k;
	if (which < 0) {
		char shown[80];
		return qf__qp_err(p->err, "query.operator",
		                     "unknown or unsupported operator '%s': use eq, neq, lt, lte, gt, gte, "
		                     "like, ilike, in or is",
		                     qf__qp_shown(p->s + start, oplen, shown));
	}
	qf_qop op = ops[which].op;
	char buf[QF_QUERY_MAX_VALUE_TEXT + 1];
	size_t len = 0;
	int node;
	if (op == QF_QOP_IN) {
		if (p->i >= p->n || p->s[p->i] != '(')
			return syntax(p, "'in' takes a list in parentheses: in.(a,b,c)");
		p->i++;
		int first = -1, n = 0;
		if (p->i < p->n && p->s[p->i] == ')') {
			p->i++;
			return qf__qp_err(p->err, "query.value", "'in' needs at least one value");
		}
		for (;;) {
			int rc = take_value(p, true, buf, &len);
			if (rc)
				return rc;
			int v = qf__qp_value(p->q, col, buf, len, p->err);
			if (v < 0)
				return v;
			if (first < 0)
				first = v;
			n++;
			if (p->i < p->n && p->s[p->i] == ',') {
				p->i++;
				continue;
			}
			if (p->i < p->n && p->s[p->i] == ')') {
				p->i++;
				break;
			}
			return syntax(p, "')' is missing after the 'in' list");
		}
		node = qf__qp_cond(p->q, col, QF_QOP_IN, first, n, p->err);
	} else if (op == QF_QOP_IS_NULL) {
		int rc = take_value(p, in_tree, buf, &len);
		if (rc)
			return rc;
		buf[len] = '\0';
		if (qf_streq_ci(buf, "null") || qf_streq_ci(buf, "unknown"))
			op = QF_QOP_IS_NULL;
		else if (qf_streq_ci(buf, "not_null"))
			op = QF_QOP_NOT_NULL;
		else if (qf_streq_ci(buf, "true"))
			op = QF_QOP_IS_TRUE;
		else if (qf_streq_ci(buf, "false"))
			op = QF_QOP_IS_FALSE;
		else
			return qf__qp_err(p->err, "query.value",
			                     "'is' takes null, not_null, true, false or unknown");
		node = qf__qp_cond(p->q, col, op, -1, 0, p->err);
	} else {
		int rc = take_value(p, in_tree, buf, &len);
		if (rc)
			return rc;
		if (op == QF_QOP_LIKE || op == QF_QOP_ILIKE)
			for (size_t k = 0; k < len; k++)
				if (buf[k] == '*')
					buf[k] = '%';
		int v = qf__qp_value(p->q, col, buf, len, p->err);
		if (v < 0)
			return v;
		node = qf__qp_cond(p->q, col, op, v, 1, p->err);
	}
	if (node >= 0 && negate)
		node = qf__qp_group(p->q, QF_QN_NOT, &node, 1, p->err);
	return node;
}

static int parse_items(parser *p, qf_qkind kind);

/* One item of a logic tree. */
static int parse_item(parser *p)
{
	if (++p->depth > QF_QUERY_MAX_DEPTH)
		return qf__qp_err(p->err, "query.too_complex", "more than %d levels of and/or nesting",
		                     QF_QUERY_MAX_DEPTH);
	int rc;
	bool negate = starts(p, "not.and(") || starts(p, "not.or(");
	if (negate)
		p->i += 4;
	if (starts(p, "and(") || starts(p, "or(")) {
		qf_qkind kind = p->s[p->i] == 'a' ? QF_QN_AND : QF_QN_OR;
		p->i += kind == QF_QN_AND ? 4 : 3;
		rc = parse_items(p, kind);
		if (rc >= 0 && negate)
			rc = qf__qp_group(p->q, QF_QN_NOT, &rc, 1, p->err);
	} else {
		size_t start = p->i;
		while (p->i < p->n && p->s[p->i] != '.' && p->s[p->i] != ',' && p->s[p->i] != ')')
			p->i++;
		if (p->i >= p->n || p->s[p->i] != '.' || p->i == start) {
			rc = syntax(p, "a logic tree item must be column.op.value, and(...) or or(...)");
		} else {
			int col = qf__qp_column(p->q, p->s + start, p->i - start, p->err);
			p->i++;
			rc = col < 0 ? col : parse_filter(p, col, true);
		}
	}
	p->depth--;
	return rc;
}

/* "items)" after the opening parenthesis. */
static int parse_items(parser *p, qf_qkind kind)
{
	int kids[QF__QP_MAX_CHILDREN];
	int n = 0;
	for (;;) {
		int k = parse_item(p);
		if (k < 0)
			return k;
		if (n >= QF__QP_MAX_CHILDREN)
			return qf__qp_err(p->err, "query.too_complex", "too many conditions");
		kids[n++] = k;
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->i < p->n && p->s[p->i] == ')') {
			p->i++;
			break;
		}
		return syntax(p, "',' or ')' expected");
	}
	return qf__qp_group(p->q, kind, kids, n, p->err);
}

/* ---- order, limits, headers ------------------------------------------------------- */

static int parse_pg_order(qf_query *q, const char *s, qf_err *err)
{
	q->norder = 0;
	const char *p = s;
	char shown[80];
	for (;;) {
		const char *start = p;
		while (*p && *p != ',')
			p++;
		size_t len = (size_t)(p - start);
		const char *dot = memchr(start, '.', len);
		size_t nlen = dot ? (size_t)(dot - start) : len;
		if (!nlen)
			return qf__qp_err(err, "query.order", "malformed order '%s'",
			                     qf__qp_shown(s, strlen(s), shown));
		int col = qf__qp_column(q, start, nlen, err);
		if (col < 0)
			return col;
		bool desc = false, nulls_given = false, nulls_first = false;
		const char *m = dot;
		while (m && m < p) {
			const char *w = m + 1;
			const char *e = memchr(w, '.', (size_t)(p - w));
			if (!e)
				e = p;
			size_t wl = (size_t)(e - w);
			if (wl == 3 && !memcmp(w, "asc", 3))
				desc = false;
			else if (wl == 4 && !memcmp(w, "desc", 4))
				desc = true;
			else if (wl == 10 && !memcmp(w, "nullsfirst", 10))
				nulls_given = nulls_first = true;
			else if (wl == 9 && !memcmp(w, "nullslast", 9))
				nulls_given = true, nulls_first = false;
			else
				return qf__qp_err(err, "query.order",
				                     "unknown order modifier '%s': use asc, desc, nullsfirst or "
				                     "nullslast",
				                     qf__qp_shown(w, wl, shown));
			m = e < p ? e : NULL;
		}
		/* PostgreSQL's default: NULLs come first in descending order */
		if (!nulls_given)
			nulls_first = desc;
		int rc = qf__qp_add_order(q, col, desc, nulls_first, err);
		if (rc)
			return rc;
		if (!*p)
			return 0;
		p++;
	}
}

static int parse_count(const char *s, const char *what, int64_t *out, qf_err *err)
{
	long v = 0;
	if (!qf_parse_int(s, 0, INT64_MAX, &v))
		return qf__qp_err(err, "query.range", "%s must be a whole number of rows >= 0", what);
	*out = v;
	return 0;
}

/* Range: "a-b" or "a-": offset a, limit b - a + 1. */
static int parse_range(const char *range, int64_t *offset, int64_t *limit, qf_err *err)
{
	const char *r = qf_lskip(range);
	if (!strncmp(r, "items=", 6))
		r += 6;
	char buf[64];
	if (strlen(r) >= sizeof(buf))
		return qf__qp_err(err, "query.range", "malformed Range header: use 0-9 or 10-");
	qf_strlcpy(buf, r, sizeof(buf));
	qf_rstrip(buf);
	char *dash = strchr(buf, '-');
	if (!dash)
		return qf__qp_err(err, "query.range", "malformed Range header: use 0-9 or 10-");
	*dash = '\0';
	int64_t a = 0, b = -1;
	if (parse_count(buf, "the start of the Range", &a, err) ||
	    (dash[1] && parse_count(dash + 1, "the end of the Range", &b, err)))
		return QF_EINVAL;
	if (dash[1] && b < a)
		return qf__qp_err(err, "query.range", "the Range ends before it starts");
	*offset = a;
	*limit = dash[1] ? b - a + 1 : -1;
	return 0;
}

static bool prefer_count(const char *prefer)
{
	if (!prefer)
		return false;
	const char *p = prefer;
	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		size_t n = (size_t)(e - p);
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if ((n == 11 && !memcmp(p, "count=exact", 11)) || (n == 13 && !memcmp(p, "count=planned", 13)) ||
		    (n == 15 && !memcmp(p, "count=estimated", 15)))
			return true;
		p = e;
	}
	return false;
}

/* ---- the query string ------------------------------------------------------------- */

int qf_query_parse_postgrest(qf_query *q, const char *qs, const char *range, const char *prefer,
                             qf_err *err)
{
	if ((qs && strlen(qs) > QF_QUERY_MAX_TEXT) || (range && strlen(range) > QF_QUERY_MAX_TEXT) ||
	    (prefer && strlen(prefer) > QF_QUERY_MAX_TEXT))
		return qf__qp_err(err, "query.too_complex", "the query is longer than %d bytes",
		                     QF_QUERY_MAX_TEXT);
	int64_t limit = -1, offset = 0;
	bool have_limit = false, have_select = false;
	char *key = malloc(QF_QUERY_MAX_TEXT + 1), *val = malloc(QF_QUERY_MAX_TEXT + 1);
	int rc = 0;
	if (!key || !val) {
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		goto out;
	}
	const char *p = qs ? qs : "";
	while (*p && !rc) {
		const char *end = strchr(p, '&');
		if (!end)
			end = p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		size_t klen = 0, vlen = 0;
		if (end == p) {
			p = end + (*end == '&');
			continue;
		}
		if (!eq) {
			char shown[80];
			rc = qf__qp_err(err, "query.syntax", "query parameter '%s' has no value",
			                   qf__qp_shown(p, (size_t)(end - p), shown));
			break;
		}
		if ((rc = decode(p, (size_t)(eq - p), key, QF_QUERY_MAX_TEXT + 1, &klen, err)) ||
		    (rc = decode(eq + 1, (size_t)(end - eq - 1), val, QF_QUERY_MAX_TEXT + 1, &vlen, err)))
			break;
		p = end + (*end == '&');
		parser ps = {q, val, 0, vlen, 0, err};
		if (!strcmp(key, "select")) {
			rc = qf_query_parse_select(q, val, err);
			have_select = true;
		} else if (!strcmp(key, "order")) {
			rc = parse_pg_order(q, val, err);
		} else if (!strcmp(key, "limit")) {
			rc = parse_count(val, "limit", &limit, err);
			have_limit = true;
		} else if (!strcmp(key, "offset")) {
			rc = parse_count(val, "offset", &offset, err);
		} else if (!strcmp(key, "and") || !strcmp(key, "or") || !strcmp(key, "not.and") ||
		           !strcmp(key, "not.or")) {
			bool negate = key[0] == 'n';
			qf_qkind kind = key[negate ? 4 : 0] == 'a' ? QF_QN_AND : QF_QN_OR;
			if (!vlen || val[0] != '(') {
				rc = syntax(&ps, "a logic tree is a list in parentheses: or=(a.eq.1,b.gt.2)");
				break;
			}
			ps.i = 1;
			int node = parse_items(&ps, kind);
			if (node >= 0 && ps.i != ps.n)
				node = syntax(&ps, "text after the closing ')'");
			if (node >= 0 && negate)
				node = qf__qp_group(q, QF_QN_NOT, &node, 1, err);
			rc = node < 0 ? node : qf__qp_and_root(q, node, err);
		} else if (!strcmp(key, "columns") || !strcmp(key, "on_conflict")) {
			rc = qf__qp_err(err, "query.syntax", "'%s' is for writes; this is a read", key);
		} else {
			int col = qf__qp_column(q, key, klen, err);
			int node = col < 0 ? col : parse_filter(&ps, col, false);
			if (node >= 0 && ps.i != ps.n)
				node = syntax(&ps, "text after the value");
			rc = node < 0 ? node : qf__qp_and_root(q, node, err);
		}
		if (rc > 0)
			rc = 0;
	}
	/* no select: every column, as PostgREST answers */
	if (!rc && !have_select)
		rc = qf_query_parse_select(q, "*", err);
	if (rc)
		goto out;
	if (range && *qf_lskip(range)) {
		int64_t ro = 0, rl = -1;
		if ((rc = parse_range(range, &ro, &rl, err)))
			goto out;
		/* limit and offset apply within the range */
		offset += ro;
		if (rl >= 0) {
			int64_t left = rl - (offset - ro);
			if (left < 0)
				left = 0;
			limit = have_limit && limit < left ? limit : left;
		}
	}
	q->limit = limit;
	q->offset = offset;
	q->count = prefer_count(prefer) ? QF_QCOUNT_EXACT : QF_QCOUNT_NONE;
out:
	free(key);
	free(val);
	return rc < 0 ? rc : 0;
}
