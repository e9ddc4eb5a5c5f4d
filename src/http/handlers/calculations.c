/* Calculations: submit, list, get (with results and per-atom properties),
 * cancel, retry, metrics and errors, the job's files. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../http_int.h"
#include "qf/clock.h"
#include "qf/json.h"
#include "qf/molio.h"
#include "qf/runner.h"
#include "qf/spec.h"
#include "qf/str.h"

/* The xtb version results are reused for (asked of `xtb --version` once, in
 * a child process: the server itself never runs xtb). */
static pthread_once_t version_once = PTHREAD_ONCE_INIT;
static char xtb_version[32];

static void find_version(void)
{
	qf_err err;
	qf_err_init(&err);
	if (qf_xtb_version(NULL, xtb_version, sizeof(xtb_version), &err))
		xtb_version[0] = '\0';
}

const char *qf__xtb_version(void)
{
	pthread_once(&version_once, find_version);
	return xtb_version[0] ? xtb_version : NULL;
}

/* The spec of a body member (may be absent: the defaults). */
int qf__spec_of(qf__req *r, const json_t *j, qf_spec *spec)
{
	qf_spec_init(spec);
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_object(j))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "spec.invalid",
		                "'spec' must be an object such as {\"task\": \"opt\", \"method\": \"gfn2\"}");
	int rc = qf_spec_from_json(spec, j, &r->err);
	if (!rc)
		rc = qf_spec_validate(spec, &r->err);
	return rc;
}

/* The caller's calculations queued or running, counted in the store. */
static int count_active(qf__req *r, int64_t *active)
{
	*active = 0;
	static const char *const states[] = {"queued", "running"};
	for (int i = 0; i < 2; i++) {
		json_t *where = json_pack("{s:s,s:s}", "owner_id", r->actor.user_id, "status", states[i]);
		qf_store_filter f = {.where = where};
		int64_t n = 0;
		int rc = qf_store_count(r->srv->store, &r->actor, "calculations", &f, &n, &r->err);
		json_decref(where);
		if (rc)
			return rc;
		*active += n;
	}
	return 0;
}

static int count_storage(qf__req *r, int64_t *bytes)
{
	return qf_store_storage_used(r->srv->store, r->actor.user_id, bytes, &r->err);
}

/* The caller's users row's column col, or dflt when unset. */
static double user_limit(qf__req *r, const char *col, double dflt)
{
	json_t *u = NULL;
	double limit = dflt;
	if (!qf_store_get(r->srv->store, &r->actor, "users", r->actor.user_id, &u, &r->err)) {
		json_t *m = json_object_get(u, col);
		if (json_is_number(m) && json_number_value(m) >= 0)
			limit = json_number_value(m);
	}
	json_decref(u);
	qf_err_init(&r->err);
	return limit;
}

/* Whether adding more of what count() counts keeps the caller within limit:
 * the store is counted at most once per admit_age seconds per user, what
 * this server admits in between added to the count (with a deep queue or
 * many molecules the count is the request's main cost); a refusal is only
 * decided on a count at most refuse_age seconds old (0: always a fresh
 * one). *used gets the count. */
static int within_quota(qf__req *r, qf__tally *t, int (*count)(qf__req *, int64_t *),
                        int64_t adding, double limit, double admit_age, double refuse_age,
                        int64_t *used, bool *ok)
{
	qf_server *s = r->srv;
	const char *uid = r->actor.user_id;
	double now = qf_clock_mono();
	double age = INFINITY;
	pthread_mutex_lock(&s->limits_mu);
	if (!qf__tally_get(t, uid, now, used, &age))
		age = INFINITY;
	pthread_mutex_unlock(&s->limits_mu);
	if (age > admit_age || ((double)(*used + adding) > limit && age > refuse_age)) {
		int rc = count(r, used);
		if (rc)
			return rc;
		pthread_mutex_lock(&s->limits_mu);
		qf__tally_set(t, uid, now, *used);
		pthread_mutex_unlock(&s->limits_mu);
	}
	*ok = (double)(*used + adding) <= limit;
	if (*ok) {
		pthread_mutex_lock(&s->limits_mu);
		qf__tally_add(t, uid, adding);
		pthread_mutex_unlock(&s->limits_mu);
	}
	return 0;
}

void qf__storage_changed(qf_server *s, const char *user_id)
{
	pthread_mutex_lock(&s->limits_mu);
	qf__tally_forget(s->storage_used, user_id);
	pthread_mutex_unlock(&s->limits_mu);
}

/* Calculations the caller has queued or running, against the quota. */
int qf__check_active_quota(qf__req *r, size_t adding)
{
	double limit = user_limit(r, "max_concurrent_jobs", QF_QUOTA_ACTIVE_JOBS);
	int64_t active = 0;
	bool ok = false;
	int rc = within_quota(r, r->srv->active_jobs, count_active, (int64_t)adding, limit,
	                      QF_QUOTA_RECOUNT_SECONDS, 0, &active, &ok);
	if (!rc && !ok)
		rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "quota.active_jobs",
		              "%lld calculations are queued or running and %zu more would pass your "
		              "quota of %.0f: wait for some to finish",
		              (long long)active, adding, limit);
	return rc;
}

/* What the caller keeps in the store, and bytes more, against the storage
 * quota (users.storage_quota_mb, in MiB). */
int qf__check_storage_quota(qf__req *r, size_t adding)
{
	double limit = user_limit(r, "storage_quota_mb", QF_QUOTA_STORAGE_MB) * 1048576.0;
	int64_t used = 0;
	bool ok = false;
	int rc = within_quota(r, r->srv->storage_used, count_storage, (int64_t)adding, limit,
	                      QF_QUOTA_STORAGE_RECOUNT_SECONDS, QF_QUOTA_STORAGE_REFUSE_SECONDS, &used,
	                      &ok);
	if (!rc && !ok)
		rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "quota.storage",
		              "your molecules and results take %.3f MiB and %.3f MiB more would pass "
		              "your storage quota of %.3f MiB: delete some first",
		              (double)used / 1048576.0, (double)adding / 1048576.0, limit / 1048576.0);
	return rc;
}

int h_calcs_submit(qf__req *r)
{
	static const char *const allowed[] = {"molecule_id", "molecule_ids", "spec", "org_id", "priority",
	                                      "max_attempts", "force", "batch_id", NULL};
	int rc = qf__body_only(r, allowed);
	if (rc)
		return rc;
	json_t *one = json_object_get(r->json, "molecule_id"), *many = json_object_get(r->json, "molecule_ids");
	json_t *ids = json_array();
	if (!ids)
		return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	if (json_is_string(one) && !many)
		json_array_append(ids, one);
	else if (json_is_array(many) && !one)
		json_array_extend(ids, many);
	size_t n = json_array_size(ids);
	if (n == 0 || n > QF_QUEUE_MAX_SUBMIT) {
		json_decref(ids);
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		                "give 'molecule_id', or 'molecule_ids' with 1 to %d ids (molecules are "
		                "created at /api/v1/molecules; files of many at /api/v1/batches)",
		                QF_QUEUE_MAX_SUBMIT);
	}
	qf_spec spec;
	if ((rc = qf__spec_of(r, json_object_get(r->json, "spec"), &spec))) {
		json_decref(ids);
		return rc;
	}
	qf_submit_opts so;
	memset(&so, 0, sizeof(so));
	json_t *v;
	if ((v = json_object_get(r->json, "org_id")) && !json_is_null(v)) {
		if (!json_is_string(v) || !qf_uuid_valid(json_string_value(v)))
			rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			              "'org_id' must be an organisation's id");
		so.org_id = json_string_value(v);
	}
	if (!rc && (v = json_object_get(r->json, "batch_id")) && !json_is_null(v)) {
		if (!json_is_string(v) || !qf_uuid_valid(json_string_value(v)))
			rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			              "'batch_id' must be a batch's id");
		so.batch_id = json_string_value(v);
	}
	if (!rc && (v = json_object_get(r->json, "priority")) && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < -1000000 || json_integer_value(v) > 1000000)
			rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			              "'priority' must be an integer from -1000000 to 1000000");
		so.priority = (int)json_integer_value(v);
	}
	if (!rc && (v = json_object_get(r->json, "max_attempts")) && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > QF_QUEUE_MAX_ATTEMPTS)
			rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			              "'max_attempts' must be 1 to %d", QF_QUEUE_MAX_ATTEMPTS);
		so.max_attempts = (int)json_integer_value(v);
	}
	if (!rc && (v = json_object_get(r->json, "force")) && !json_is_null(v)) {
		if (!json_is_boolean(v))
			rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body", "'force' must be true or false");
		so.force = json_is_true(v);
	}
	if (!rc)
		rc = qf__check_active_quota(r, n);
	if (rc) {
		json_decref(ids);
		return rc;
	}
	so.xtb_version = qf__xtb_version();
	qf_mol *mols = calloc(n, sizeof(*mols));
	qf_submit_item *items = calloc(n, sizeof(*items));
	json_t *rows = json_array();
	char(*out)[QF_UUID_STR] = calloc(n, QF_UUID_STR);
	if (!mols || !items || !rows || !out)
		rc = qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	for (size_t i = 0; !rc && i < n; i++) {
		json_t *idv = json_array_get(ids, i);
		const char *id = json_string_value(idv);
		if (!id || !qf_uuid_valid(id)) {
			rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			              "molecule id %zu is not an id", i + 1);
			break;
		}
		json_t *row = NULL;
		if ((rc = qf__get_row(r, "molecules", id, &row)))
			break;
		json_array_append_new(rows, row);
		if ((rc = qf__mol_from_row(row, &mols[i], &r->err)))
			break;
		const char *text = json_string_value(json_object_get(row, "input_text"));
		const char *fmt = json_string_value(json_object_get(row, "input_format"));
		items[i].mol = &mols[i];
		items[i].input = text;
		items[i].input_len = text ? strlen(text) : 0;
		items[i].input_format = fmt ? qf_format_parse(fmt) : QF_FMT_UNKNOWN;
		items[i].source = "api";
		if (!so.org_id && json_is_string(json_object_get(row, "org_id")))
			so.org_id = json_string_value(json_object_get(row, "org_id"));
	}
	size_t reused = 0;
	if (!rc)
		rc = qf_store_submit(r->srv->store, &r->actor, &spec, items, n, &so, out, &reused, &r->err);
	json_t *doc = NULL;
	if (!rc) {
		qf__wake_workers(r->srv);
		json_t *list = json_array();
		for (size_t i = 0; list && i < n; i++)
			json_array_append_new(list, json_string(out[i]));
		doc = json_pack("{s:o,s:I}", "ids", list, "reused", (json_int_t)reused);
		if (n == 1 && doc)
			json_object_set_new(doc, "id", json_string(out[0]));
	}
	for (size_t i = 0; mols && i < n; i++)
		qf_mol_release(&mols[i]);
	free(mols);
	free(items);
	free(out);
	json_decref(rows);
	json_decref(ids);
	if (rc)
		return rc;
	return qf__reply_json(r, 201, doc);
}

int h_calcs_list(qf__req *r)
{
	static const char *const filters[] = {"status", "method", "task", "batch_id", "molecule_id",
	                                      "org_id", "error_category", NULL};
	return qf__list(r, "calculations", filters, "created_at");
}

/* The tail of a calculation's answer (its per-atom rows and its molecule's
 * summary, the costly part: 41 atoms' reals are most of a 19 KB answer), per
 * caller and calculation. It is reused only while the calculation's row,
 * read under the caller's scope on every request, is byte for byte the row
 * it was made with (and has the same owner and organisation): per-atom rows
 * change only in the transaction that changes the row (src/store/record.c),
 * and no request changes a molecule's summary. */
struct qf__calc_tail {
	char key[4 * QF_UUID_STR]; /* caller/calculation/owner/organisation */
	char *row, *tail;
	size_t row_len, tail_len;
};

void qf__calc_tails_free(qf_server *s)
{
	for (size_t i = 0; s->tails && i < QF_HTTP_CALC_TAILS; i++) {
		free(s->tails[i].row);
		free(s->tails[i].tail);
	}
	free(s->tails);
	s->tails = NULL;
}

static struct qf__calc_tail *tail_slot(qf_server *s, const char *key)
{
	if (!s->tails && !(s->tails = calloc(QF_HTTP_CALC_TAILS, sizeof(*s->tails))))
		return NULL;
	return &s->tails[qf__hash_key(key) % QF_HTTP_CALC_TAILS];
}

/* Append the kept tail when the row in b (its object still open) is the one
 * it was made with; false when there is none. */
static bool tail_reuse(qf__req *r, const char *key, bool *failed)
{
	qf_server *s = r->srv;
	qf_buf *b = &r->out;
	bool hit = false;
	pthread_mutex_lock(&s->tails_mu);
	struct qf__calc_tail *t = tail_slot(s, key);
	if (t && t->row && !strcmp(t->key, key) && t->row_len == b->len &&
	    !memcmp(t->row, b->data, b->len)) {
		hit = true;
		*failed = qf_buf_append(b, t->tail, t->tail_len) != 0;
	}
	pthread_mutex_unlock(&s->tails_mu);
	return hit;
}

static void tail_keep(qf__req *r, const char *key, size_t row_len)
{
	qf_server *s = r->srv;
	const qf_buf *b = &r->out;
	size_t tail_len = b->len - row_len;
	if (tail_len > QF_HTTP_CALC_TAIL_MAX)
		return;
	char *row = malloc(row_len + 1), *tail = malloc(tail_len + 1);
	if (!row || !tail) {
		free(row);
		free(tail);
		return;
	}
	memcpy(row, b->data, row_len);
	memcpy(tail, b->data + row_len, tail_len);
	pthread_mutex_lock(&s->tails_mu);
	struct qf__calc_tail *t = tail_slot(s, key);
	if (t) {
		free(t->row);
		free(t->tail);
		*t = (struct qf__calc_tail){.row = row, .tail = tail, .row_len = row_len, .tail_len = tail_len};
		qf_strlcpy(t->key, key, sizeof(t->key));
		row = tail = NULL;
	}
	pthread_mutex_unlock(&s->tails_mu);
	free(row);
	free(tail);
}

/* The answer is written straight into the reply buffer: the calculation's
 * row as JSON text from the store (its JSON columns as stored), its
 * per-atom rows the same way (41 rows of 13 columns as jansson objects cost
 * more than the rest of the answer), and its molecule's summary. */
int h_calcs_get(qf__req *r)
{
	/* what a client does not see of a per-atom row: its calculation's
	 * columns */
	static const char *const atom_hidden[] = {"calculation_id", "owner_id", "org_id", NULL};
	static const char *const pick[] = {"molecule_id", "owner_id", "org_id", NULL};
	const char *id;
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)))
		return rc;
	const char *hidden[16];
	qf__hidden_columns("calculations", hidden, sizeof(hidden) / sizeof(hidden[0]));
	qf_buf *b = &r->out;
	qf_buf_clear(b);
	qf_buf_reserve(b, 32 * 1024); /* a 40-atom result is ~20 KB: grown once */
	json_t *picked = NULL;
	rc = qf_store_get_write(r->srv->store, &r->actor, "calculations", id, hidden, b, pick, &picked,
	                        &r->err);
	if (rc == QF_ENOENT || (rc && !strcmp(r->err.code, "store.invalid")))
		return qf__fail(r, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found",
		                "no such calculation: %.64s", id);
	if (rc)
		return rc;
	char mid[QF_UUID_STR] = "", key[4 * QF_UUID_STR];
	const char *m = json_string_value(json_object_get(picked, "molecule_id"));
	if (m)
		qf_strlcpy(mid, m, sizeof(mid));
	const char *owner = json_string_value(json_object_get(picked, "owner_id"));
	const char *org = json_string_value(json_object_get(picked, "org_id"));
	snprintf(key, sizeof(key), "%s/%s/%s/%s", r->actor.user_id, id, owner ? owner : "",
	         org ? org : "");
	json_decref(picked);
	/* the row's object stays open for the members that follow */
	b->len--;
	b->data[b->len] = '\0';
	size_t row_len = b->len;
	bool failed = false;
	if (tail_reuse(r, key, &failed)) {
		if (failed)
			return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "http.too_large",
			                "the answer is too large to send");
		r->status = 200;
		r->content_type = "application/json";
		return 0;
	}
	json_t *where = json_pack("{s:s}", "calculation_id", id);
	qf_store_filter f = {.where = where, .order_by = "atom_index", .limit = QF_STORE_MAX_LIMIT,
	                     .raw_json = true};
	rc = where ? qf_buf_puts(b, ",\"atomic_properties\":") : QF_ENOMEM;
	if (rc)
		rc = qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "http.too_large", "the answer is too large to send");
	else
		rc = qf_store_list_write(r->srv->store, &r->actor, "atomic_properties", &f, atom_hidden, b,
		                         NULL, NULL, &r->err);
	json_decref(where);
	if (rc)
		return rc;
	static const char *const summary_cols[] = {"name", "formula", "natoms", "smiles", NULL};
	json_t *mol = NULL, *summary = NULL;
	if (mid[0] && !qf_store_get_write(r->srv->store, &r->actor, "molecules", mid, NULL, NULL,
	                                  summary_cols, &mol, &r->err))
		summary = json_pack("{s:O,s:O,s:O,s:O?}", "name", json_object_get(mol, "name"), "formula",
		                    json_object_get(mol, "formula"), "natoms",
		                    json_object_get(mol, "natoms"), "smiles", json_object_get(mol, "smiles"));
	json_decref(mol);
	bool whole = summary || !mid[0]; /* a summary failed to read is not kept */
	qf_err_init(&r->err);
	rc = summary ? qf_buf_puts(b, ",\"molecule\":") : 0;
	if (!rc && summary)
		rc = qf_json_write(b, summary);
	json_decref(summary);
	if (!rc)
		rc = qf_buf_append(b, "}", 1);
	if (rc)
		return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, rc == QF_ENOMEM ? "system.memory" : "http.too_large",
		                rc == QF_ENOMEM ? "out of memory" : "the answer is too large to send");
	if (whole)
		tail_keep(r, key, row_len);
	r->status = 200;
	r->content_type = "application/json";
	return 0;
}

int h_calcs_cancel(qf__req *r)
{
	const char *id;
	char status[16];
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) ||
	    (rc = qf_store_calc_cancel(r->srv->store, &r->actor, id, status, &r->err)))
		return rc;
	/* cancelling what already ended is a conflict, except a second cancel */
	if (!strcmp(status, "completed") || !strcmp(status, "failed"))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.conflict",
		                "calculation %s has already %s: there is nothing to cancel", id, status);
	return qf__reply_json(r, 200, json_pack("{s:s,s:s}", "id", id, "status", status));
}

int h_calcs_retry(qf__req *r)
{
	static const char *const allowed[] = {"force", NULL};
	const char *id;
	bool requeued = false;
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = qf__body_only(r, allowed)) ||
	    (rc = qf__check_active_quota(r, 1)) ||
	    (rc = qf_store_calc_retry(r->srv->store, &r->actor, id,
	                              json_is_true(json_object_get(r->json, "force")), &requeued, &r->err)))
		return rc;
	qf__wake_workers(r->srv);
	return qf__reply_json(r, 200, json_pack("{s:s,s:s}", "id", id, "status", "queued"));
}

static int rows_of(qf__req *r, const char *table, const char *id, json_t **out)
{
	json_t *where = json_pack("{s:s}", "calculation_id", id);
	qf_store_filter f = {.where = where, .limit = QF_STORE_MAX_LIMIT, .order_by = "created_at"};
	int rc = qf_store_list(r->srv->store, &r->actor, table, &f, out, &r->err);
	json_decref(where);
	return rc;
}

int h_calcs_metrics(qf__req *r)
{
	const char *id;
	json_t *calc = NULL, *metrics = NULL, *errors = NULL;
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = qf__get_row(r, "calculations", id, &calc)))
		return rc;
	if ((rc = rows_of(r, "calculation_execution_metrics", id, &metrics)) ||
	    (rc = rows_of(r, "calculation_errors", id, &errors))) {
		json_decref(calc);
		json_decref(metrics);
		return rc;
	}
	return qf__reply_json(r, 200,
	                      json_pack("{s:o,s:o,s:o}", "calculation", qf__public_row("calculations", calc),
	                                "metrics", metrics, "errors", errors));
}

/* The calculation's job directory, when it is on this machine. */
static int job_dir(qf__req *r, const char *id, char *out, size_t size)
{
	json_t *calc = NULL;
	int rc = qf__get_row(r, "calculations", id, &calc);
	if (rc)
		return rc;
	const char *d = json_string_value(json_object_get(calc, "job_dir"));
	struct stat st;
	bool ok = d && *d && qf_strlcpy(out, d, size) < size && stat(out, &st) == 0 && S_ISDIR(st.st_mode);
	json_decref(calc);
	if (!ok)
		return qf__fail(r, QF_ENOENT, QF_CAT_VALIDATION, "http.not_found",
		                "calculation %s has no job directory on this machine (not run yet, or run "
		                "on another machine)",
		                id);
	return 0;
}

int h_calcs_files(qf__req *r)
{
	const char *id;
	char dir[PATH_MAX];
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = job_dir(r, id, dir, sizeof(dir))))
		return rc;
	DIR *d = opendir(dir);
	if (!d)
		return qf__fail(r, QF_ENOENT, QF_CAT_VALIDATION, "http.not_found", "the job directory cannot be read");
	json_t *files = json_array();
	struct dirent *e;
	while (files && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		json_t *nm = json_string(e->d_name);
		if (nm)
			json_array_append_new(files, json_pack("{s:o,s:I}", "name", nm, "size", (json_int_t)st.st_size));
	}
	closedir(d);
	return qf__reply_json(r, 200, json_pack("{s:s,s:o}", "id", id, "files", files));
}

int h_calcs_file(qf__req *r)
{
	const char *id, *name = qf__req_param(r, "name");
	char dir[PATH_MAX], path[PATH_MAX + 256];
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = job_dir(r, id, dir, sizeof(dir))))
		return rc;
	struct stat st;
	if (!name || !*name || name[0] == '.' || strchr(name, '/') ||
	    snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) || lstat(path, &st) ||
	    !S_ISREG(st.st_mode))
		return qf__fail(r, QF_ENOENT, QF_CAT_VALIDATION, "http.not_found",
		                "no file '%.100s' in the job directory", name ? name : "");
	if ((unsigned long)st.st_size > (unsigned long)QF_HTTP_MAX_DOWNLOAD)
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.too_large",
		                "the file is larger than %ld bytes", (long)QF_HTTP_MAX_DOWNLOAD);
	const char *dot = strrchr(name, '.');
	bool text = dot && (!strcmp(dot, ".log") || !strcmp(dot, ".xyz") || !strcmp(dot, ".json") ||
	                    !strcmp(dot, ".inp") || !strcmp(dot, ".mol") || !strcmp(dot, ".sdf") ||
	                    !strcmp(dot, ".smi") || !strcmp(dot, ".txt"));
	r->status = 200;
	r->content_type = !strcmp(dot ? dot : "", ".json") ? "application/json"
	                  : text || !dot ? "text/plain; charset=utf-8"
	                                 : "application/octet-stream";
	char cd[400];
	snprintf(cd, sizeof(cd), "attachment; filename=\"%.200s\"", name);
	qf__reply_header(r, "Content-Disposition", cd);
	r->file_path = strdup(path);
	r->file_size = (size_t)st.st_size;
	return r->file_path ? 0 : qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
}
