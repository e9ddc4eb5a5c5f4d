/*
 * The ASE-style filter of the CLI (qf_query_parse_filter, include/qf/query.h):
 *
 *   filter  := or
 *   or      := and  { ('|' | "or")  and }
 *   and     := unary { (',' | '&' | "and") unary }
 *   unary   := ('!' | "not") unary | '(' or ')' | cond
 *   cond    := name [ op value ]          bare name: not null (bool: true)
 *   op      := '=' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '~'
 *   value   := '"' chars '"' | a run of anything but blanks , & | ( ) "
 *
 * Recursive descent, at most QF_QUERY_MAX_DEPTH levels of nesting.
 */
#include <string.h>

#include "query_int.h"

typedef struct parser {
	qf_query *q;
	const char *s;
	size_t i, n;
	int depth;
	qf_err *err;
} parser;

static bool is_ident(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

static void skip(parser *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
	                       p->s[p->i] == '\r'))
		p->i++;
}

/* The keyword w (any case) as a whole word at the current position. */
static bool word(parser *p, const char *w)
{
	size_t k = strlen(w);
	if (p->i + k > p->n)
		return false;
	for (size_t j = 0; j < k; j++) {
		char c = p->s[p->i + j];
		if ((c | 0x20) != w[j])
			return false;
	}
	return p->i + k == p->n || !is_ident(p->s[p->i + k], false);
}

static int syntax(parser *p, const char *what)
{
	char shown[80];
	size_t at = p->i < p->n ? p->i : p->n;
	if (at >= p->n)
		return qf__qp_err(p->err, "query.syntax", "filter: %s at the end of '%s'", what,
		                     qf__qp_shown(p->s, p->n, shown));
	return qf__qp_err(p->err, "query.syntax", "filter: %s at position %zu ('%s')", what, at + 1,
	                     qf__qp_shown(p->s + at, p->n - at, shown));
}

static int parse_or(parser *p);

static bool value_char(char c)
{
	return c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ',' && c != '&' && c != '|' &&
	       c != '(' && c != ')' && c != '"';
}

static int parse_value(parser *p, int col)
{
	skip(p);
	if (p->i < p->n && p->s[p->i] == '"') {
		char buf[QF_QUERY_MAX_VALUE_TEXT + 1];
		size_t k = 0;
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
				return qf__qp_err(p->err, "query.value", "a quoted value is longer than %d bytes",
				                     QF_QUERY_MAX_VALUE_TEXT);
			buf[k++] = c;
		}
		return qf__qp_value(p->q, col, buf, k, p->err);
	}
	size_t start = p->i;
	while (p->i < p->n && value_char(p->s[p->i]))
		p->i++;
	if (p->i == start)
		return syntax(p, "a value is missing");
	return qf__qp_value(p->q, col, p->s + start, p->i - start, p->err);
}

static int parse_cond(parser *p)
{
	skip(p);
	size_t start = p->i;
	if (p->i >= p->n || !is_ident(p->s[p->i], true))
		return syntax(p, "a column name is expected");
	while (p->i < p->n && is_ident(p->s[p->i], false))
		p->i++;
	int col = qf__qp_column(p->q, p->s + start, p->i - start, p->err);
	if (col < 0)
		return col;
	skip(p);
	qf_qop op;
	char c = p->i < p->n ? p->s[p->i] : '\0';
	char d = p->i + 1 < p->n ? p->s[p->i + 1] : '\0';
	size_t oplen = 1;
	switch (c) {
	case '=': op = QF_QOP_EQ; oplen = d == '=' ? 2 : 1; break;
	case '!':
		if (d != '=')
			return syntax(p, "'!' must be followed by '=' here");
		op = QF_QOP_NEQ;
		oplen = 2;
		break;
	case '<': op = d == '=' ? QF_QOP_LTE : QF_QOP_LT; oplen = d == '=' ? 2 : 1; break;
	case '>': op = d == '=' ? QF_QOP_GTE : QF_QOP_GT; oplen = d == '=' ? 2 : 1; break;
	case '~': op = QF_QOP_ILIKE; break;
	default: {
		/* a bare name: the column has a value (a boolean one: true) */
		bool boolean = qf_qview_column(p->q->view, col)->type == QF_QT_BOOL;
		return qf__qp_cond(p->q, col, boolean ? QF_QOP_IS_TRUE : QF_QOP_NOT_NULL, -1, 0, p->err);
	}
	}
	p->i += oplen;
	int v = parse_value(p, col);
	if (v < 0)
		return v;
	return qf__qp_cond(p->q, col, op, v, 1, p->err);
}

static int parse_unary(parser *p)
{
	skip(p);
	if (++p->depth > QF_QUERY_MAX_DEPTH)
		return qf__qp_err(p->err, "query.too_complex", "filter: more than %d levels of "
		                     "nesting", QF_QUERY_MAX_DEPTH);
	int rc;
	if (p->i < p->n && p->s[p->i] == '!' && !(p->i + 1 < p->n && p->s[p->i + 1] == '=')) {
		p->i++;
		rc = parse_unary(p);
		if (rc >= 0)
			rc = qf__qp_group(p->q, QF_QN_NOT, &rc, 1, p->err);
	} else if (word(p, "not")) {
		p->i += 3;
		rc = parse_unary(p);
		if (rc >= 0)
			rc = qf__qp_group(p->q, QF_QN_NOT, &rc, 1, p->err);
	} else if (p->i < p->n && p->s[p->i] == '(') {
		p->i++;
		rc = parse_or(p);
		skip(p);
		if (rc >= 0) {
			if (p->i >= p->n || p->s[p->i] != ')')
				rc = syntax(p, "')' is missing");
			else
				p->i++;
		}
	} else {
		rc = parse_cond(p);
	}
	p->depth--;
	return rc;
}

/* A list of `item` joined by the separator of its level. */
static int parse_list(parser *p, bool ors)
{
	int kids[QF__QP_MAX_CHILDREN];
	int n = 0;
	for (;;) {
		int k = ors ? parse_list(p, false) : parse_unary(p);
		if (k < 0)
			return k;
		if (n >= QF__QP_MAX_CHILDREN)
			return qf__qp_err(p->err, "query.too_complex", "filter: too many conditions");
		kids[n++] = k;
		skip(p);
		char c = p->i < p->n ? p->s[p->i] : '\0';
		if (ors ? (c == '|') : (c == ',' || c == '&')) {
			p->i++;
			continue;
		}
		if (ors ? word(p, "or") : word(p, "and")) {
			p->i += ors ? 2 : 3;
			continue;
		}
		break;
	}
	return qf__qp_group(p->q, ors ? QF_QN_OR : QF_QN_AND, kids, n, p->err);
}

static int parse_or(parser *p)
{
	return parse_list(p, true);
}

int qf_query_parse_filter(qf_query *q, const char *text, qf_err *err)
{
	if (!text)
		return 0;
	size_t n = strlen(text);
	if (n > QF_QUERY_MAX_TEXT)
		return qf__qp_err(err, "query.too_complex", "the filter is longer than %d bytes",
		                     QF_QUERY_MAX_TEXT);
	parser p = {q, text, 0, n, 0, err};
	skip(&p);
	if (p.i == n)
		return 0; /* an empty filter: every row */
	int root = parse_or(&p);
	if (root < 0)
		return root;
	skip(&p);
	if (p.i < n)
		return syntax(&p, p.s[p.i] == ')' ? "unbalanced ')'" : "',' or '|' expected");
	return qf__qp_and_root(q, root, err);
}
