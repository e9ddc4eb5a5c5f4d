/*
 * Row formats: CSV (RFC 4180), JSON Lines, a JSON array (PostgREST's
 * response body) and an aligned table, all keyed by the selected columns'
 * labels (canonical names carry their units: total_energy_hartree).
 */
#include <stdio.h>
#include <string.h>

#include "export_int.h"

/* ---- CSV ---------------------------------------------------------------------- */

static void csv_text(qf__xout *o, const char *s, size_t len)
{
	bool quote = false;
	for (size_t i = 0; i < len && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
	if (!quote) {
		qf__xout_put(o, s, len);
		return;
	}
	qf__xout_put(o, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '"') {
			qf__xout_put(o, s + run, i + 1 - run);
			qf__xout_put(o, "\"", 1);
			run = i + 1;
		}
	qf__xout_put(o, s + run, len - run);
	qf__xout_put(o, "\"", 1);
}

static int csv_begin(qf__exporter *x, qf_err *err)
{
	(void)err;
	for (int i = 0; i < x->nsel; i++) {
		if (i)
			qf__xout_put(&x->out, ",", 1);
		csv_text(&x->out, x->labels[i], strlen(x->labels[i]));
	}
	qf__xout_put(&x->out, "\r\n", 2);
	return 0;
}

static int csv_row(qf__exporter *x, const qf_qcell *cells, const qf_qatoms *atoms, qf_err *err)
{
	(void)atoms;
	(void)err;
	for (int i = 0; i < x->nsel; i++) {
		const qf_qcell *c = &cells[i];
		if (i)
			qf__xout_put(&x->out, ",", 1);
		if (c->null)
			continue;
		switch (x->cols[i]->type) {
		case QF_QT_REAL: qf__xout_real(&x->out, c->d); break;
		case QF_QT_INT: qf__xout_printf(&x->out, "%lld", (long long)c->i); break;
		case QF_QT_BOOL: qf__xout_puts(&x->out, c->b ? "true" : "false"); break;
		default: csv_text(&x->out, c->s, c->len); break;
		}
	}
	qf__xout_put(&x->out, "\r\n", 2);
	x->st.rows++;
	return 0;
}

/* ---- JSON -------------------------------------------------------------------- */

static void json_object_row(qf__exporter *x, const qf_qcell *cells)
{
	qf__xout_put(&x->out, "{", 1);
	for (int i = 0; i < x->nsel; i++) {
		if (i)
			qf__xout_put(&x->out, ",", 1);
		qf__xout_json_str(&x->out, x->labels[i], strlen(x->labels[i]));
		qf__xout_put(&x->out, ":", 1);
		qf__xout_json_cell(&x->out, x->cols[i], &cells[i]);
	}
	qf__xout_put(&x->out, "}", 1);
}

static int jsonl_row(qf__exporter *x, const qf_qcell *cells, const qf_qatoms *atoms, qf_err *err)
{
	(void)atoms;
	(void)err;
	json_object_row(x, cells);
	qf__xout_put(&x->out, "\n", 1);
	x->st.rows++;
	return 0;
}

static int json_begin(qf__exporter *x, qf_err *err)
{
	(void)err;
	qf__xout_put(&x->out, "[", 1);
	return 0;
}

static int json_row(qf__exporter *x, const qf_qcell *cells, const qf_qatoms *atoms, qf_err *err)
{
	(void)atoms;
	(void)err;
	if (x->st.rows)
		qf__xout_put(&x->out, ",\n", 2);
	json_object_row(x, cells);
	x->st.rows++;
	return 0;
}

static int json_end(qf__exporter *x, qf_err *err)
{
	(void)err;
	qf__xout_put(&x->out, "]\n", 2);
	return 0;
}

/* ---- table -------------------------------------------------------------------- */

/* Width of a column's cells: the type's, or the label's when longer. */
static int table_width(const qf__exporter *x, int i)
{
	int w;
	switch (x->cols[i]->type) {
	case QF_QT_REAL: w = 14; break;
	case QF_QT_INT: w = 8; break;
	case QF_QT_BOOL: w = 5; break;
	case QF_QT_UUID: w = 36; break;
	case QF_QT_TIME: w = 24; break;
	default: w = 20; break;
	}
	int l = (int)strlen(x->labels[i]);
	return l > w ? l : w;
}

static int table_begin(qf__exporter *x, qf_err *err)
{
	(void)err;
	for (int i = 0; i < x->nsel; i++)
		qf__xout_printf(&x->out, "%s%-*s", i ? "  " : "", table_width(x, i), x->labels[i]);
	qf__xout_put(&x->out, "\n", 1);
	return 0;
}

static int table_row(qf__exporter *x, const qf_qcell *cells, const qf_qatoms *atoms, qf_err *err)
{
	(void)atoms;
	(void)err;
	for (int i = 0; i < x->nsel; i++) {
		const qf_qcell *c = &cells[i];
		int w = table_width(x, i);
		const char *sep = i ? "  " : "";
		if (c->null) {
			qf__xout_printf(&x->out, "%s%-*s", sep, w, "-");
			continue;
		}
		switch (x->cols[i]->type) {
		case QF_QT_REAL: qf__xout_printf(&x->out, "%s%*.6f", sep, w, c->d); break;
		case QF_QT_INT: qf__xout_printf(&x->out, "%s%*lld", sep, w, (long long)c->i); break;
		case QF_QT_BOOL: qf__xout_printf(&x->out, "%s%-*s", sep, w, c->b ? "true" : "false"); break;
		default: {
			/* one line: control characters shown as '?', long texts cut */
			char buf[64];
			size_t n = c->len < (size_t)w && c->len < sizeof(buf) ? c->len : (size_t)w < sizeof(buf) - 1 ? (size_t)w : sizeof(buf) - 1;
			for (size_t k = 0; k < n; k++)
				buf[k] = (unsigned char)c->s[k] < 0x20 ? '?' : c->s[k];
			buf[n] = '\0';
			qf__xout_printf(&x->out, "%s%-*s", sep, w, buf);
			break;
		}
		}
	}
	qf__xout_put(&x->out, "\n", 1);
	x->st.rows++;
	return 0;
}

const qf__xformat qf__xf_csv = {"csv", NULL, "text/csv", false, false, csv_begin, csv_row, NULL, NULL};
const qf__xformat qf__xf_jsonl = {"jsonl", "ndjson", "application/x-ndjson", false, false, NULL,
                                  jsonl_row, NULL, NULL};
const qf__xformat qf__xf_json = {"json", NULL, "application/json", false, false, json_begin, json_row,
                                 json_end, NULL};
const qf__xformat qf__xf_table = {"table", NULL, "text/plain", false, false, table_begin, table_row,
                                  NULL, NULL};
