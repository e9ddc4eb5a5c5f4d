/* What the handlers share: rows for clients, body members, roles. */
#include <stdatomic.h>
#include <string.h>

#include "../http_int.h"
#include "qf/str.h"

static int get_row(qf__req *r, const char *table, const char *id, bool raw, json_t **out)
{
	*out = NULL;
	int rc = raw ? qf_store_get_raw(r->srv->store, &r->actor, table, id, out, &r->err)
	             : qf_store_get(r->srv->store, &r->actor, table, id, out, &r->err);
	if (rc == QF_ENOENT || (rc && !strcmp(r->err.code, "store.invalid")))
		return qf__fail(r, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found", "no such %.*s: %.64s",
		                (int)strlen(table) - 1, table, id);
	return rc;
}

int qf__get_row(qf__req *r, const char *table, const char *id, json_t **out)
{
	return get_row(r, table, id, false, out);
}

int qf__get_row_raw(qf__req *r, const char *table, const char *id, json_t **out)
{
	return get_row(r, table, id, true, out);
}

/* Columns a client never sees, whoever asks: secrets and the queue's own
 * bookkeeping. */
static const struct {
	const char *table, *col;
} hidden[] = {
	{"*", "key_hash"},        {"*", "token_hash"},          {"*", "code_hash"},
	{"*", "password_hash"},   {"*", "totp_secret"},         {"*", "session_token"},
	{"calculations", "lease_token"}, {"calculations", "spec_key"},
	{"calculations", "resume_coordinates"}, {"calculations", "input_text"},
	{"molecules", "input_text"},
};

json_t *qf__public_row(const char *table, json_t *row)
{
	for (size_t i = 0; row && i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (!strcmp(hidden[i].table, "*") || !strcmp(hidden[i].table, table))
			json_object_del(row, hidden[i].col);
	return row;
}

void qf__hidden_columns(const char *table, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; n + 1 < max && i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (!strcmp(hidden[i].table, "*") || !strcmp(hidden[i].table, table))
			out[n++] = hidden[i].col;
	out[n] = NULL;
}

bool qf__may_write(const qf__req *r)
{
	return r->actor.kind == QF_ACTOR_USER && !r->actor.viewer;
}

int qf__body_string(qf__req *r, const char *key, bool required, size_t max, const char **out)
{
	*out = NULL;
	json_t *v = json_object_get(r->json, key);
	if (!v || json_is_null(v)) {
		if (required)
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			                "the body needs '%s'", key);
		return 0;
	}
	if (!json_is_string(v))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		                "'%s' must be a string", key);
	if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		                "'%s' must be text of at most %zu bytes", key, max);
	*out = json_string_value(v);
	return 0;
}

int qf__body_only(qf__req *r, const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach(r->json, key, v) {
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = !strcmp(allowed[i], key);
		if (!ok) {
			char list[512] = "";
			for (size_t i = 0; allowed[i]; i++) {
				size_t n = strlen(list);
				snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", allowed[i]);
			}
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			                "'%.64s' may not be set here (allowed: %s)", key, list);
		}
	}
	return 0;
}

/* ---- fields of uploads ----------------------------------------------------- */

int qf__int_field(qf__req *r, const json_t *fields, const char *key, long min, long max, long def,
                  long *out)
{
	json_t *v = json_object_get(fields, key);
	*out = def;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max) {
		*out = (long)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && qf_parse_int(json_string_value(v), min, max, out))
		return 0;
	return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
	                "'%s' must be an integer from %ld to %ld", key, min, max);
}

/* ---- embedding slots ------------------------------------------------------- */

static atomic_int embedding;

int qf__embed_enter(qf__req *r)
{
	if (atomic_fetch_add(&embedding, 1) >= QF_HTTP_EMBED_REQUESTS) {
		atomic_fetch_sub(&embedding, 1);
		qf__reply_header(r, "Retry-After", "2");
		return qf__fail(r, QF_EINVAL, QF_CAT_SYSTEM, "http.unavailable",
		                "%d requests are making 3D structures from SMILES already; try again in 2 s",
		                QF_HTTP_EMBED_REQUESTS);
	}
	return 0;
}

void qf__embed_leave(void)
{
	atomic_fetch_sub(&embedding, 1);
}
