/* Answers: JSON documents, bytes, headers, and the one error shape
 * {"error":{"code","category","message"}} with its status (http_int.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "qf/json.h"
#include "qf/str.h"

int qf__reply_json(qf__req *r, int status, json_t *doc)
{
	r->status = status;
	r->content_type = "application/json";
	qf_buf_clear(&r->out);
	if (!doc)
		return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	/* qf_json_write, not json_dumps: straight into the answer's buffer,
	 * reals without printf's cost where a short decimal reads back exactly,
	 * and a store's JSON columns (raw nodes) copied as they are stored */
	int rc = qf_json_write(&r->out, doc);
	json_decref(doc);
	if (rc) {
		qf_buf_clear(&r->out);
		if (rc == QF_ENOMEM)
			return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "http.too_large",
		                "the answer is too large to send");
	}
	return 0;
}

int qf__reply_bytes(qf__req *r, int status, const char *type, const char *data, size_t len)
{
	r->status = status;
	r->content_type = type;
	qf_buf_clear(&r->out);
	if (len && qf_buf_append(&r->out, data, len))
		return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "http.too_large",
		                "the answer is too large to send");
	return 0;
}

void qf__reply_header(qf__req *r, const char *name, const char *value)
{
	if (r->nreply_headers >= QF__MAX_REPLY_HEADERS)
		return;
	char *v = strdup(value);
	if (!v)
		return;
	r->reply_headers[r->nreply_headers][0] = name;
	r->reply_headers[r->nreply_headers][1] = v;
	r->reply_owned[r->nreply_headers++] = v;
}

int qf__fail(qf__req *r, int rc, qf_category cat, const char *code, const char *fmt, ...)
{
	qf_err_init(&r->err);
	r->err.rc = rc;
	r->err.category = cat;
	qf_strlcpy(r->err.code, code, sizeof(r->err.code));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err.message, sizeof(r->err.message), fmt, ap);
	va_end(ap);
	r->err.user_action = cat == QF_CAT_VALIDATION;
	return rc;
}

/* Error codes with a status of their own; the rest go by category. */
static const struct {
	const char *code; /* exact, or a prefix ending in '.' */
	int status;
} statuses[] = {
	{"store.not_found", 404},
	{"http.not_found", 404},
	{"http.method", 405},
	{"store.forbidden", 403},
	{"auth.forbidden", 403},
	{"auth.csrf", 403},
	{"auth.registration_closed", 403},
	{"auth.invalid_invite", 403},
	{"auth.weak_password", 400},
	{"auth.invalid", 400},
	{"auth.email_taken", 409},
	{"auth.2fa_enabled", 409},
	{"auth.2fa_not_enabled", 409},
	{"auth.2fa_not_enrolled", 409},
	{"auth.throttled", 429},
	{"auth.", 401},
	{"http.too_large", 413},
	{"store.too_large", 413},
	{"http.header_too_large", 431},
	{"http.media_type", 415},
	{"http.rate_limited", 429},
	{"quota.batch_molecules", 413},
	{"quota.storage", 413},
	{"quota.", 429},
	{"auth.throttled", 429},
	{"store.conflict", 409},
	{"http.conflict", 409},
	{"queue.stale", 409},
	{"input.", 422},
	{"query.", 400},
	{"spec.", 422},
	{"http.unavailable", 503},
	{"system.rdkit", 503},
};

int qf__http_status_of(const qf_err *e)
{
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		size_t n = strlen(statuses[i].code);
		bool prefix = statuses[i].code[n - 1] == '.';
		if (prefix ? !strncmp(e->code, statuses[i].code, n) : !strcmp(e->code, statuses[i].code))
			return statuses[i].status;
	}
	if (e->rc == QF_ENOENT)
		return 404;
	if (e->rc == QF_ECONFLICT)
		return 409;
	switch (e->category) {
	case QF_CAT_VALIDATION: return 400;
	case QF_CAT_TIMEOUT:
	case QF_CAT_SYSTEM: return 503;
	default: return 500;
	}
}

void qf__reply_error(qf__req *r)
{
	if (!qf_err_is_set(&r->err))
		qf__fail(r, QF_EUNKNOWN, QF_CAT_UNKNOWN, "http.internal", "the request failed");
	int status = qf__http_status_of(&r->err);
	/* What the operator should know stays in the log; the client gets the
	 * message (written for users) and the code. */
	json_t *doc = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", r->err.code, "category",
	                        qf_category_name(r->err.category), "message", r->err.message);
	qf_buf_clear(&r->out);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	r->status = status;
	r->content_type = "application/json";
	if (!text || qf_buf_puts(&r->out, text))
		qf_buf_puts(&r->out, "{\"error\":{\"code\":\"system.memory\",\"category\":\"system\","
		                     "\"message\":\"out of memory\"}}");
	free(text);
}
