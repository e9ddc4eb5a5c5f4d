/*
 * Exports (include/qf/export.h): the table of formats, the buffered output,
 * running a query through a format, and the audit entry of every export.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "export_int.h"
#include "qf/store.h"
#include "qf/str.h"

static const qf__xformat *const formats[] = {
	[QF_EXPORT_CSV] = &qf__xf_csv,       [QF_EXPORT_JSONL] = &qf__xf_jsonl,
	[QF_EXPORT_JSON] = &qf__xf_json,     [QF_EXPORT_TABLE] = &qf__xf_table,
	[QF_EXPORT_EXTXYZ] = &qf__xf_extxyz, [QF_EXPORT_SDF] = &qf__xf_sdf,
	[QF_EXPORT_HDF5] = &qf__xf_hdf5,     [QF_EXPORT_QCSCHEMA] = &qf__xf_qcschema,
};
#define NFORMATS ((int)(sizeof(formats) / sizeof(formats[0])))

static const qf__xformat *format_of(qf_export_format f)
{
	return (unsigned)f < (unsigned)NFORMATS ? formats[f] : NULL;
}

int qf_export_format_parse(const char *name, qf_export_format *out, qf_err *err)
{
	for (int i = 0; name && i < NFORMATS; i++)
		if (!strcmp(name, formats[i]->name) || (formats[i]->alias && !strcmp(name, formats[i]->alias))) {
			*out = (qf_export_format)i;
			return 0;
		}
	return qf_err_set(err, QF_CAT_VALIDATION, "export.format",
	                  "unknown export format '%s': use csv, jsonl, json, table, extxyz, sdf, hdf5 or "
	                  "qcschema",
	                  name ? name : "");
}

const char *qf_export_format_name(qf_export_format f)
{
	const qf__xformat *x = format_of(f);
	return x ? x->name : "?";
}

const char *qf_export_content_type(qf_export_format f)
{
	const qf__xformat *x = format_of(f);
	return x ? x->content_type : "application/octet-stream";
}

bool qf_export_needs_path(qf_export_format f)
{
	const qf__xformat *x = format_of(f);
	return x && x->path;
}

/* ---- output ------------------------------------------------------------------ */

void qf__xout_init(qf__xout *o, qf_write_fn write, void *ctx)
{
	memset(o, 0, sizeof(*o));
	/* one row is at most a few QF_QUERY_MAX_SELECT values of text columns,
	 * or one frame of QF_MAX_ATOMS atoms (~1 MB): never more than this */
	qf_buf_init(&o->b, 64L * 1024 * 1024);
	o->write = write;
	o->ctx = ctx;
}

void qf__xout_release(qf__xout *o)
{
	qf_buf_release(&o->b);
}

void qf__xout_put(qf__xout *o, const char *s, size_t len)
{
	if (!o->rc && qf_buf_append(&o->b, s, len))
		o->rc = QF_ENOMEM;
}

void qf__xout_puts(qf__xout *o, const char *s)
{
	qf__xout_put(o, s, strlen(s));
}

void qf__xout_printf(qf__xout *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (!o->rc && qf_buf_vprintf(&o->b, fmt, ap))
		o->rc = QF_ENOMEM;
	va_end(ap);
}

void qf__fmt_real(char *buf, size_t size, double d)
{
	snprintf(buf, size, "%.15g", d);
	if (strtod(buf, NULL) != d)
		snprintf(buf, size, "%.17g", d);
}

void qf__xout_real(qf__xout *o, double d)
{
	char buf[40];
	qf__fmt_real(buf, sizeof(buf), d);
	qf__xout_puts(o, buf);
}

void qf__xout_json_str(qf__xout *o, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	qf__xout_put(o, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		qf__xout_put(o, s + run, i - run);
		run = i + 1;
		char esc[8] = {'\\', (char)c, 0};
		if (c == '\n')
			esc[1] = 'n';
		else if (c == '\t')
			esc[1] = 't';
		else if (c == '\r')
			esc[1] = 'r';
		else if (c < 0x20)
			snprintf(esc, sizeof(esc), "\\u00%c%c", hex[c >> 4], hex[c & 15]);
		qf__xout_puts(o, esc);
	}
	qf__xout_put(o, s + run, len - run);
	qf__xout_put(o, "\"", 1);
}

void qf__xout_json_cell(qf__xout *o, const qf_qcolumn *c, const qf_qcell *v)
{
	if (v->null) {
		qf__xout_put(o, "null", 4);
		return;
	}
	switch (c->type) {
	case QF_QT_REAL: qf__xout_real(o, v->d); break;
	case QF_QT_INT: qf__xout_printf(o, "%lld", (long long)v->i); break;
	case QF_QT_BOOL: qf__xout_puts(o, v->b ? "true" : "false"); break;
	default: qf__xout_json_str(o, v->s, v->len); break;
	}
}

int qf__xout_flush(qf__xout *o, bool force)
{
	if (o->rc || (!force && o->b.len < QF__XOUT_FLUSH) || !o->b.len)
		return o->rc;
	if (o->write && o->write(o->ctx, o->b.data, o->b.len))
		o->rc = QF_ESYS;
	o->bytes += (int64_t)o->b.len;
	qf_buf_clear(&o->b);
	return o->rc;
}

/* ---- running ---------------------------------------------------------------- */

static const char *const extra_names[XE_N] = {
	[XE_ID] = "id", [XE_NAME] = "name", [XE_CHARGE] = "charge", [XE_UHF] = "uhf",
	[XE_METHOD] = "method", [XE_STATUS] = "status", [XE_ENERGY] = "total_energy_hartree",
};

typedef struct run_ctx {
	qf__exporter *x;
	const qf__xformat *f;
} run_ctx;

static int out_err(qf__exporter *x, qf_err *err)
{
	if (x->out.rc == QF_ENOMEM)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	return qf_err_set(err, QF_CAT_SYSTEM, "export.write",
	                  "the export could not be written (the receiver stopped taking it)");
}

static int on_begin(void *ctx, int64_t total, qf_err *err)
{
	run_ctx *r = ctx;
	r->x->st.total = total;
	if (r->x->o->on_begin && r->x->o->on_begin(r->x->o->ctx, total))
		return qf_err_set(err, QF_CAT_SYSTEM, "export.write", "the receiver refused the export");
	int rc = r->f->begin ? r->f->begin(r->x, err) : 0;
	if (!rc && qf__xout_flush(&r->x->out, false))
		rc = out_err(r->x, err);
	return rc;
}

static int on_row(void *ctx, const qf_qcell *cells, const qf_qatoms *atoms, qf_err *err)
{
	run_ctx *r = ctx;
	int rc = r->f->row(r->x, cells, atoms, err);
	if (!rc && qf__xout_flush(&r->x->out, false))
		rc = out_err(r->x, err);
	return rc;
}

static int on_end(void *ctx, int64_t nrows, qf_err *err)
{
	(void)nrows;
	run_ctx *r = ctx;
	int rc = r->f->end ? r->f->end(r->x, err) : 0;
	if (!rc && qf__xout_flush(&r->x->out, true))
		rc = out_err(r->x, err);
	return rc;
}

/* The audit entry: who exported what, how much, and whether it worked. */
static int audit(qf_store *s, const qf_actor *a, const qf_query *q, const qf_export_opts *o,
                 const qf_export_stats *st, const qf_err *failure, qf_err *err)
{
	if (a->kind == QF_ACTOR_ANONYMOUS)
		return 0; /* nothing was read, and nobody to name */
	json_t *row = json_pack("{s:s, s:s, s:{s:s, s:s?, s:I, s:I, s:I}, s:s, s:s?, s:s?, s:s?}",
	                        "action", "data_export", "entity_type", qf_qview_name(q->view),
	                        "changes", "format", qf_export_format_name(o->format), "query",
	                        o->query_text, "rows", (json_int_t)st->rows, "skipped",
	                        (json_int_t)st->skipped, "bytes", (json_int_t)st->bytes, "status",
	                        failure ? "failure" : "success", "reason",
	                        failure ? failure->message : NULL, "ip_address", o->ip_address,
	                        "user_agent", o->user_agent);
	if (!row)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	if (a->kind == QF_ACTOR_USER)
		json_object_set_new(row, "user_id", json_string(a->user_id));
	/* texts past the columns' caps are cut, never refused */
	json_t *c = json_object_get(row, "changes");
	const char *qt = json_string_value(json_object_get(c, "query"));
	if (qt && strlen(qt) > 4096)
		json_object_set_new(c, "query", json_stringn(qt, 4096));
	const char *ua = json_string_value(json_object_get(row, "user_agent"));
	if (ua && strlen(ua) > 1024)
		json_object_set_new(row, "user_agent", json_stringn(ua, 1024));
	const char *ip = json_string_value(json_object_get(row, "ip_address"));
	if (ip && strlen(ip) > 64)
		json_object_del(row, "ip_address");
	int rc = qf_store_insert(s, a, "user_audit_log", row, NULL, err);
	json_decref(row);
	return rc;
}

static int run(qf_store *s, const qf_actor *a, const qf_query *q, const qf_export_opts *o,
               bool record, qf_export_stats *stats, qf_err *err)
{
	if (stats)
		memset(stats, 0, sizeof(*stats));
	const qf__xformat *f = format_of(o->format);
	if (!f)
		return qf_err_set(err, QF_CAT_VALIDATION, "export.format", "unknown export format");
	if (f->structure && !qf_qview_has_atoms(q->view))
		return qf_err_set(err, QF_CAT_VALIDATION, "export.format",
		                  "%s exports hold calculations (atoms and energies): query the "
		                  "calculations view",
		                  f->name);
	if (f->path ? !o->path || !*o->path : !o->write)
		return qf_err_set(err, QF_CAT_VALIDATION, "export.output",
		                  f->path ? "the %s export needs a file to write (-o FILE)"
		                          : "the %s export needs somewhere to write",
		                  f->name);
	qf__exporter x;
	memset(&x, 0, sizeof(x));
	x.st.total = -1;
	x.q = q;
	x.o = o;
	qf__xout_init(&x.out, o->write, o->ctx);
	x.nsel = qf_query_nselected(q);
	x.cols = calloc((size_t)x.nsel + 1, sizeof(*x.cols));
	x.labels = calloc((size_t)x.nsel + 1, sizeof(*x.labels));
	int rc = 0;
	if (!x.cols || !x.labels) {
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		goto out;
	}
	for (int i = 0; i < x.nsel; i++)
		x.cols[i] = qf_query_selected(q, i, &x.labels[i]);
	if (f->structure) {
		for (int i = 0; i < XE_N; i++)
			x.extra[i] = qf_qview_find(q->view, extra_names[i], strlen(extra_names[i]));
		x.nextra = XE_N;
	}
	run_ctx r = {&x, f};
	qf_select_cb cb = {.begin = on_begin, .row = on_row, .end = on_end, .ctx = &r,
	                   .atoms = f->structure, .extra = x.extra, .nextra = x.nextra};
	rc = qf_store_select(s, a, q, &cb, NULL, err);
	if (rc && f->abort)
		f->abort(&x);
	if (!f->path)
		x.st.bytes = x.out.bytes;
	if (record) {
		qf_err aerr;
		qf_err_init(&aerr);
		int arc = audit(s, a, q, o, &x.st, rc ? err : NULL, &aerr);
		if (arc && !rc) {
			if (err)
				*err = aerr;
			qf_err_prefix(err, "the export was written but could not be recorded in the audit log");
			rc = arc;
		}
	}
out:
	if (stats)
		*stats = x.st;
	qf__xout_release(&x.out);
	free(x.cols);
	free(x.labels);
	return rc;
}

int qf_export_run(qf_store *s, const qf_actor *a, const qf_query *q, const qf_export_opts *o,
                  qf_export_stats *stats, qf_err *err)
{
	return run(s, a, q, o, true, stats, err);
}

int qf_export_write(qf_store *s, const qf_actor *a, const qf_query *q, const qf_export_opts *o,
                    qf_export_stats *stats, qf_err *err)
{
	return run(s, a, q, o, false, stats, err);
}
