/*
 * The query representation (include/qf/query.h): building it (values typed
 * by their column, conditions, and/or/not nodes), the select and order
 * lists, limits, and what both parsers (cli.c, postgrest.c) share.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/clock.h"
#include "qf/str.h"
#include "qf/uuid.h"
#include "query_int.h"

void qf_query_init(qf_query *q, const qf_qview *v)
{
	memset(q, 0, sizeof(*q));
	q->view = v;
	q->root = -1;
	q->limit = -1;
}

void qf_query_release(qf_query *q)
{
	for (int i = 0; i < q->nvalues; i++)
		free(q->values[i].s);
	const qf_qview *v = q->view;
	qf_query_init(q, v);
}

int qf__qp_err(qf_err *err, const char *code, const char *fmt, ...)
{
	char msg[QF_MAX_ERR_MSG];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return qf_err_set(err, QF_CAT_VALIDATION, code, "%s", msg);
}

/* A name as the user wrote it, shortened and made printable for messages. */
const char *qf__qp_shown(const char *s, size_t len, char out[80])
{
	size_t n = len < 60 ? len : 60, k = 0;
	for (size_t i = 0; i < n; i++)
		out[k++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (len > n) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
	return out;
}

int qf__qp_column(const qf_query *q, const char *name, size_t len, qf_err *err)
{
	int c = qf_qview_find(q->view, name, len);
	if (c < 0) {
		char shown[80];
		return qf__qp_err(err, "query.column",
		                     "unknown column '%s' of %s: see the README (section \"qforge "
		                     "query\") for the columns",
		                     qf__qp_shown(name, len, shown), qf_qview_name(q->view));
	}
	return c;
}

static const char *type_words(qf_qtype t)
{
	switch (t) {
	case QF_QT_TEXT: return "text";
	case QF_QT_INT: return "an integer";
	case QF_QT_REAL: return "a number";
	case QF_QT_BOOL: return "true or false";
	case QF_QT_UUID: return "a lowercase UUID";
	case QF_QT_TIME: return "an RFC 3339 UTC time (2026-01-31T12:00:00Z) or a date";
	}
	return "?";
}

/* Whether len bytes at s are valid UTF-8 without NUL or control bytes. */
static bool text_ok(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned c = s[i];
		size_t k = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		if (!k || i + k > len || (k == 1 && c < 0x20) || (k == 2 && c < 0xc2))
			return false;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		i += k;
	}
	return true;
}

int qf__qp_value(qf_query *q, int col, const char *s, size_t len, qf_err *err)
{
	const qf_qcolumn *c = qf_qview_column(q->view, col);
	char shown[80];
	if (q->nvalues >= QF_QUERY_MAX_VALUES)
		return qf__qp_err(err, "query.too_complex", "a filter takes at most %d values",
		                     QF_QUERY_MAX_VALUES);
	if (len > QF_QUERY_MAX_VALUE_TEXT)
		return qf__qp_err(err, "query.value", "a value of column '%s' is longer than %d bytes",
		                     c->name, QF_QUERY_MAX_VALUE_TEXT);
	if (!text_ok((const unsigned char *)s, len))
		return qf__qp_err(err, "query.value",
		                     "a value of column '%s' is not valid UTF-8 text (or holds control "
		                     "characters)",
		                     c->name);
	char buf[QF_QUERY_MAX_VALUE_TEXT + 1];
	memcpy(buf, s, len);
	buf[len] = '\0';
	qf_qvalue v = {.type = c->type};
	bool ok = true;
	switch (c->type) {
	case QF_QT_REAL:
		ok = qf_parse_double(buf, &v.d);
		break;
	case QF_QT_INT: {
		long x = 0;
		ok = qf_parse_int(buf, INT64_MIN + 1, INT64_MAX, &x);
		v.i = x;
		break;
	}
	case QF_QT_BOOL:
		if (qf_streq_ci(buf, "true") || qf_streq_ci(buf, "t") || !strcmp(buf, "1") ||
		    qf_streq_ci(buf, "yes"))
			v.b = true;
		else if (qf_streq_ci(buf, "false") || qf_streq_ci(buf, "f") || !strcmp(buf, "0") ||
		         qf_streq_ci(buf, "no"))
			v.b = false;
		else
			ok = false;
		break;
	case QF_QT_UUID:
		ok = qf_uuid_valid(buf);
		v.s = ok ? strdup(buf) : NULL;
		break;
	case QF_QT_TIME: {
		double t = 0;
		char full[64];
		/* a date alone is its midnight, UTC */
		if (len == 10 && buf[4] == '-' && buf[7] == '-')
			snprintf(full, sizeof(full), "%.10sT00:00:00Z", buf);
		else
			qf_strlcpy(full, buf, sizeof(full));
		ok = len < 40 && qf_clock_parse(full, &t) == 0 && t >= 0;
		if (ok) {
			char canon[QF_TIME_STR];
			qf_clock_format(t, canon);
			v.s = strdup(canon);
		}
		break;
	}
	case QF_QT_TEXT:
		v.s = strdup(buf);
		break;
	}
	if (!ok)
		return qf__qp_err(err, "query.value", "column '%s' takes %s, got '%s'", c->name,
		                     type_words(c->type), qf__qp_shown(s, len, shown));
	if ((c->type == QF_QT_TEXT || c->type == QF_QT_UUID || c->type == QF_QT_TIME) && !v.s)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	q->values[q->nvalues] = v;
	return q->nvalues++;
}

static int new_node(qf_query *q, qf_qkind kind, qf_err *err)
{
	if (q->nnodes >= QF_QUERY_MAX_NODES)
		return qf__qp_err(err, "query.too_complex", "a filter takes at most %d conditions and "
		                     "groups", QF_QUERY_MAX_NODES);
	qf_qnode *n = &q->nodes[q->nnodes];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->value = -1;
	n->child = n->next = -1;
	return q->nnodes++;
}

static const char *op_name(qf_qop op)
{
	static const char *const names[] = {"=", "!=", "<", "<=", ">", ">=", "like", "ilike",
	                                    "in", "is null", "is not null", "is true", "is false"};
	return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

int qf__qp_cond(qf_query *q, int col, qf_qop op, int value, int nvalues, qf_err *err)
{
	const qf_qcolumn *c = qf_qview_column(q->view, col);
	bool text = c->type == QF_QT_TEXT, boolean = c->type == QF_QT_BOOL;
	bool fits = true;
	switch (op) {
	case QF_QOP_LIKE:
	case QF_QOP_ILIKE: fits = text; break;
	case QF_QOP_IS_TRUE:
	case QF_QOP_IS_FALSE: fits = boolean; break;
	case QF_QOP_LT:
	case QF_QOP_LTE:
	case QF_QOP_GT:
	case QF_QOP_GTE: fits = !boolean && c->type != QF_QT_UUID; break;
	default: break;
	}
	if (!fits)
		return qf__qp_err(err, "query.operator", "column '%s' (%s) cannot be compared with '%s'",
		                     c->name, type_words(c->type), op_name(op));
	int n = new_node(q, QF_QN_COND, err);
	if (n < 0)
		return n;
	q->nodes[n].col = col;
	q->nodes[n].op = op;
	q->nodes[n].value = value;
	q->nodes[n].nvalues = nvalues;
	return n;
}

int qf__qp_group(qf_query *q, qf_qkind kind, const int *children, int n, qf_err *err)
{
	if (n == 1 && kind != QF_QN_NOT)
		return children[0];
	int g = new_node(q, kind, err);
	if (g < 0)
		return g;
	int prev = -1;
	for (int i = 0; i < n; i++) {
		q->nodes[children[i]].next = -1;
		if (prev < 0)
			q->nodes[g].child = children[i];
		else
			q->nodes[prev].next = children[i];
		prev = children[i];
	}
	return g;
}

int qf__qp_and_root(qf_query *q, int node, qf_err *err)
{
	if (q->root < 0) {
		q->root = node;
		return 0;
	}
	int kids[2] = {q->root, node};
	int g = qf__qp_group(q, QF_QN_AND, kids, 2, err);
	if (g < 0)
		return g;
	q->root = g;
	return 0;
}

/* ---- select and order -------------------------------------------------------- */

static bool ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int add_select(qf_query *q, int col, const char *label, size_t len, qf_err *err)
{
	if (q->nselect >= QF_QUERY_MAX_SELECT)
		return qf__qp_err(err, "query.too_complex", "at most %d columns may be selected",
		                     QF_QUERY_MAX_SELECT);
	if (len >= sizeof(q->select[0].label))
		return qf__qp_err(err, "query.select", "a column label is longer than %zu bytes",
		                     sizeof(q->select[0].label) - 1);
	qf_qselect *s = &q->select[q->nselect++];
	s->col = col;
	memcpy(s->label, label, len);
	s->label[len] = '\0';
	return 0;
}

int qf_query_parse_select(qf_query *q, const char *text, qf_err *err)
{
	if (!text)
		return 0;
	if (strlen(text) > QF_QUERY_MAX_TEXT)
		return qf__qp_err(err, "query.too_complex", "the select list is longer than %d bytes",
		                     QF_QUERY_MAX_TEXT);
	q->nselect = 0;
	const char *p = text;
	char shown[80];
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *start = p;
		while (*p && *p != ',')
			p++;
		const char *end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		size_t len = (size_t)(end - start);
		if (!len)
			return qf__qp_err(err, "query.select", "empty column name in the select list");
		if (len == 1 && *start == '*') {
			for (int i = 0; i < qf_qview_ncols(q->view); i++) {
				const char *name = qf_qview_column(q->view, i)->name;
				int rc = add_select(q, i, name, strlen(name), err);
				if (rc)
					return rc;
			}
		} else {
			if (memchr(start, '(', len))
				return qf__qp_err(err, "query.select",
				                  "embedded resources ('%s') are not supported: the views already "
				                  "hold the related columns",
				                  qf__qp_shown(start, len, shown));
			const char *colon = memchr(start, ':', len);
			const char *name = start, *label = start;
			size_t nlen = len, llen = len;
			if (colon) {
				if (colon + 1 < end && colon[1] == ':')
					return qf__qp_err(err, "query.select",
					                     "casts ('%s') are not supported in the select list",
					                     qf__qp_shown(start, len, shown));
				llen = (size_t)(colon - start);
				name = colon + 1;
				nlen = (size_t)(end - name);
			}
			for (size_t i = 0; i < llen; i++)
				if (!ident_char(label[i]))
					goto bad;
			for (size_t i = 0; i < nlen; i++)
				if (!ident_char(name[i]))
					goto bad;
			if (!llen || !nlen)
				goto bad;
			int col = qf__qp_column(q, name, nlen, err);
			if (col < 0)
				return col;
			int rc = add_select(q, col, label, llen, err);
			if (rc)
				return rc;
		}
		if (!*p)
			return 0;
		p++;
		continue;
	bad:
		return qf__qp_err(err, "query.select", "malformed column '%s' in the select list: "
		                     "use name or label:name",
		                     qf__qp_shown(start, len, shown));
	}
}

int qf__qp_add_order(qf_query *q, int col, bool desc, bool nulls_first, qf_err *err)
{
	if (q->norder >= QF_QUERY_MAX_ORDER)
		return qf__qp_err(err, "query.too_complex", "at most %d order columns",
		                     QF_QUERY_MAX_ORDER);
	q->order[q->norder++] = (qf_qsort){col, desc, nulls_first};
	return 0;
}

int qf_query_parse_order(qf_query *q, const char *text, qf_err *err)
{
	if (!text)
		return 0;
	if (strlen(text) > QF_QUERY_MAX_TEXT)
		return qf__qp_err(err, "query.too_complex", "the order is longer than %d bytes",
		                     QF_QUERY_MAX_TEXT);
	q->norder = 0;
	const char *p = text;
	for (;;) {
		while (*p == ' ')
			p++;
		bool desc = false;
		if (*p == '-' || *p == '+') {
			desc = *p == '-';
			p++;
		}
		const char *start = p;
		while (ident_char(*p))
			p++;
		size_t len = (size_t)(p - start);
		while (*p == ' ')
			p++;
		if (!len || (*p && *p != ',')) {
			char shown[80];
			return qf__qp_err(err, "query.order",
			                     "malformed order '%s': give columns separated by commas, each "
			                     "with '-' in front for descending (-gap,mw)",
			                     qf__qp_shown(text, strlen(text), shown));
		}
		int col = qf__qp_column(q, start, len, err);
		if (col < 0)
			return col;
		int rc = qf__qp_add_order(q, col, desc, false, err);
		if (rc)
			return rc;
		if (!*p)
			return 0;
		p++;
	}
}

/* ---- what a response needs ------------------------------------------------------ */

int qf_query_nselected(const qf_query *q)
{
	if (q->nselect)
		return q->nselect;
	int n = 0;
	for (int i = 0; i < qf_qview_ncols(q->view); i++)
		if (qf_qview_column(q->view, i)->flags & QF_QCOL_DEFAULT)
			n++;
	return n;
}

const qf_qcolumn *qf_query_selected(const qf_query *q, int i, const char **label)
{
	if (q->nselect) {
		if (i < 0 || i >= q->nselect)
			return NULL;
		if (label)
			*label = q->select[i].label;
		return qf_qview_column(q->view, q->select[i].col);
	}
	for (int c = 0, k = 0; c < qf_qview_ncols(q->view); c++) {
		const qf_qcolumn *col = qf_qview_column(q->view, c);
		if (!(col->flags & QF_QCOL_DEFAULT))
			continue;
		if (k++ == i) {
			if (label)
				*label = col->name;
			return col;
		}
	}
	return NULL;
}

int qf_query_content_range(const qf_query *q, int64_t nrows, int64_t total, char *out, size_t size)
{
	char tot[32];
	if (total < 0)
		qf_strlcpy(tot, "*", sizeof(tot));
	else
		snprintf(tot, sizeof(tot), "%" PRId64, total);
	if (nrows <= 0)
		return qf_snprintf(out, size, "*/%s", tot);
	return qf_snprintf(out, size, "%" PRId64 "-%" PRId64 "/%s", q->offset, q->offset + nrows - 1, tot);
}
