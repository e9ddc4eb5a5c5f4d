/*
 * Datasets over HTTP: PostgREST's syntax on the query views (GET
 * /rest/v1/{view}, so that PostgREST clients work unchanged), and exports
 * as downloads (GET /api/v1/exports). Both run the query library
 * (include/qf/query.h) scoped to the caller, and write the answer to a
 * temporary file that the server then sends and removes: memory does not
 * grow with the dataset.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../http_int.h"
#include "qf/export.h"
#include "qf/query.h"
#include "qf/str.h"

/* Query errors are the client's: 400 with the parser's code (query.column,
 * query.value, ...) and message. */
static int query_failed(qf__req *r)
{
	if (r->err.category == QF_CAT_VALIDATION && strncmp(r->err.code, "query.", 6))
		qf_strlcpy(r->err.code, "http.invalid_argument", sizeof(r->err.code));
	return r->err.rc ? r->err.rc : QF_EINVAL;
}

/* The query string as sent, re-encoded from the decoded arguments (the
 * parser decodes it again): every byte but unreserved ones escaped. */
static int query_string(qf__req *r, qf_buf *qs)
{
	static const char hex[] = "0123456789ABCDEF";
	for (int i = 0; i < r->nargs; i++) {
		const char *parts[2] = {r->args[i].k, r->args[i].v};
		if (i && qf_buf_append(qs, "&", 1))
			return -1;
		for (int p = 0; p < 2; p++) {
			if (!parts[p])
				break;
			if (p && qf_buf_append(qs, "=", 1))
				return -1;
			for (const unsigned char *c = (const unsigned char *)parts[p]; *c; c++) {
				bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
				             (*c >= '0' && *c <= '9') || strchr("-_.~", *c);
				char esc[3] = {'%', hex[*c >> 4], hex[*c & 15]};
				if (plain ? qf_buf_append(qs, c, 1) : qf_buf_append(qs, esc, 3))
					return -1;
			}
		}
	}
	return 0;
}

typedef struct sink {
	qf__req *r;
	FILE *f;
	const qf_query *q;
	int64_t total;
} sink;

static int write_sink(void *ctx, const void *data, size_t len)
{
	sink *k = ctx;
	return fwrite(data, 1, len, k->f) == len ? 0 : -1;
}

static int begin_sink(void *ctx, int64_t total)
{
	((sink *)ctx)->total = total;
	return 0;
}

/* A temporary file for the answer, removed once sent (or at once on
 * failure). */
static FILE *temp_answer(qf__req *r, char *path, size_t size)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, size, "%s/qforge-answer-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0) {
		qf__fail(r, QF_ESYS, QF_CAT_SYSTEM, "system.io", "cannot make a temporary file: %s",
		         strerror(errno));
		return NULL;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	}
	return f;
}

/* Hand the finished file to the server: sent, then removed. */
static int answer_file(qf__req *r, const char *path, int64_t bytes, const char *type)
{
	if (!(r->file_path = strdup(path))) {
		unlink(path);
		return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	}
	r->file_temporary = true;
	r->file_size = (size_t)bytes;
	r->content_type = type;
	r->status = 200;
	return 0;
}

static int run_to_file(qf__req *r, const qf_query *q, qf_export_format fmt, bool audited,
                       const char *query_text, int64_t *rows, int64_t *total)
{
	char path[4096];
	sink k = {.r = r, .q = q, .total = -1};
	bool needs_path = qf_export_needs_path(fmt);
	if (!(k.f = temp_answer(r, path, sizeof(path))))
		return r->err.rc;
	if (needs_path) {
		fclose(k.f);
		k.f = NULL;
	}
	qf_export_opts eo = {.format = fmt, .write = write_sink, .ctx = &k, .on_begin = begin_sink,
	                     .path = needs_path ? path : NULL, .query_text = query_text,
	                     .ip_address = r->ip, .user_agent = qf__req_header(r, "User-Agent")};
	qf_export_stats st;
	memset(&st, 0, sizeof(st));
	int rc = audited ? qf_export_run(r->srv->store, &r->actor, q, &eo, &st, &r->err)
	                 : qf_export_write(r->srv->store, &r->actor, q, &eo, &st, &r->err);
	if (k.f && fclose(k.f) && !rc)
		rc = qf__fail(r, QF_ESYS, QF_CAT_SYSTEM, "system.io", "cannot write the answer: %s",
		              strerror(errno));
	if (rc) {
		unlink(path);
		return query_failed(r);
	}
	*rows = st.rows;
	*total = k.total >= 0 ? k.total : st.total;
	return answer_file(r, path, st.bytes, qf_export_content_type(fmt));
}

/* GET /rest/v1/{view}?select=...&mw=lt.300&order=gap.desc&limit=1000 with
 * Range and Prefer: count=exact: a JSON array (text/csv when the client
 * accepts only that), Content-Range as PostgREST sends it. */
int h_rest_select(qf__req *r)
{
	const char *name = qf__req_param(r, "view");
	const qf_qview *v = name ? qf_store_view(name) : NULL;
	if (!v)
		return qf__fail(r, QF_ENOENT, QF_CAT_VALIDATION, "http.not_found",
		                "no such view: %.64s (calculations, molecules)", name ? name : "");
	qf_buf qs;
	qf_buf_init(&qs, QF_HTTP_MAX_HEADER_BYTES);
	if (query_string(r, &qs)) {
		qf_buf_release(&qs);
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_argument",
		                "the query string is too long");
	}
	char *text = qf_buf_detach(&qs, NULL);
	if (!text && !(text = strdup(""))) /* no arguments */
		return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	qf_query q;
	qf_query_init(&q, v);
	const char *range = qf__req_header(r, "Range");
	const char *range_unit = qf__req_header(r, "Range-Unit");
	if (range_unit && strcmp(range_unit, "items")) {
		free(text);
		qf_query_release(&q);
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_argument",
		                "Range-Unit must be items");
	}
	int rc = qf_query_parse_postgrest(&q, text, range, qf__req_header(r, "Prefer"), &r->err);
	if (rc) {
		free(text);
		qf_query_release(&q);
		return query_failed(r);
	}
	const char *accept = qf__req_header(r, "Accept");
	qf_export_format fmt = accept && strstr(accept, "text/csv") && !strstr(accept, "json")
	                           ? QF_EXPORT_CSV
	                           : QF_EXPORT_JSON;
	int64_t rows = 0, total = -1;
	rc = run_to_file(r, &q, fmt, false, text, &rows, &total);
	if (!rc) {
		char cr[96];
		if (!qf_query_content_range(&q, rows, total, cr, sizeof(cr)))
			qf__reply_header(r, "Content-Range", cr);
	}
	free(text);
	qf_query_release(&q);
	return rc;
}

/* GET /api/v1/exports?format=csv&filter=mw<300,gap>3&order=-gap&limit=1000
 * [&view=molecules]: a download of the rows in an ML format, in the audit
 * log. */
int h_export(qf__req *r)
{
	const char *fname = qf__req_arg(r, "format"), *vname = qf__req_arg(r, "view");
	const char *filter = qf__req_arg(r, "filter"), *order = qf__req_arg(r, "order");
	const char *select = qf__req_arg(r, "select");
	qf_export_format fmt;
	if (!fname)
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_argument",
		                "format is needed: csv, jsonl, json, extxyz, sdf, hdf5 or qcschema");
	if (qf_export_format_parse(fname, &fmt, &r->err))
		return query_failed(r);
	const qf_qview *v = qf_store_view(vname ? vname : "calculations");
	if (!v)
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_argument",
		                "no such view: %.64s (calculations, molecules)", vname);
	long limit = -1, offset = 0;
	int rc;
	if ((rc = qf__req_arg_int(r, "limit", 0, INT32_MAX, -1, &limit)) ||
	    (rc = qf__req_arg_int(r, "offset", 0, INT32_MAX, 0, &offset)))
		return rc;
	qf_query q;
	qf_query_init(&q, v);
	if ((filter && *filter && (rc = qf_query_parse_filter(&q, filter, &r->err))) ||
	    (order && *order && (rc = qf_query_parse_order(&q, order, &r->err))) ||
	    (select && *select && (rc = qf_query_parse_select(&q, select, &r->err)))) {
		qf_query_release(&q);
		return query_failed(r);
	}
	q.limit = limit;
	q.offset = offset;
	int64_t rows = 0, total = -1;
	rc = run_to_file(r, &q, fmt, true, filter ? filter : "", &rows, &total);
	qf_query_release(&q);
	if (rc)
		return rc;
	char disp[96];
	snprintf(disp, sizeof(disp), "attachment; filename=\"qforge-%s.%s\"", v ? qf_qview_name(v) : "",
	         fmt == QF_EXPORT_HDF5 ? "h5" : fmt == QF_EXPORT_EXTXYZ ? "extxyz" : fname);
	qf__reply_header(r, "Content-Disposition", disp);
	char n[32];
	snprintf(n, sizeof(n), "%lld", (long long)rows);
	qf__reply_header(r, "X-Rows", n);
	return 0;
}
