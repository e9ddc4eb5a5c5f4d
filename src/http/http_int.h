/*
 * Inside the HTTP server: the request as handlers see it, the route table,
 * and the server's parts (authentication cache, rate limits, login
 * throttle, the usage-log writer, metrics, live events, the worker
 * supervisor). Handlers (src/http/handlers/) see requests only through
 * this header: nothing of libmicrohttpd, so that requests can also come from
 * the fuzz target (qf_server_handle).
 */
#ifndef QF_HTTP_INT_H
#define QF_HTTP_INT_H

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "qf/auth.h"
#include "qf/buf.h"
#include "qf/err.h"
#include "qf/http.h"
#include "qf/store.h"
#include "qf/uuid.h"

struct qf__req;
typedef struct qf__req qf__req;

/* A handler fills r->status and the answer (qf__reply_*), or returns a
 * negative code with r->err set (the error answer is made from it). */
typedef int (*qf__handler)(qf__req *r);

/* How a route takes its body. */
enum {
	QF__BODY_NONE = 0, /* none (one given is ignored) */
	QF__BODY_JSON,     /* a JSON object: application/json, 415 otherwise */
	QF__BODY_UPLOAD,   /* JSON, or a file: multipart/form-data or text */
};

/* Route flags. */
enum {
	QF__R_NO_CSRF = 1u << 0, /* login and register: no session yet */
	QF__R_STREAM = 1u << 1,  /* Server-Sent Events: the handler keeps the connection */
	QF__R_NO_LOG = 1u << 2,  /* not in the API usage log (probes, metrics, static files) */
	QF__R_AUTH = 1u << 3,    /* login and register: throttled like logins */
};

typedef struct qf__route {
	const char *method;
	const char *path; /* segments, "{name}" for a parameter */
	qf__handler fn;
	int access;       /* QF_HTTP_* */
	int body;         /* QF__BODY_* */
	unsigned flags;
	const char *summary;
} qf__route;

#define QF__MAX_PARAMS_PATH 4
#define QF__MAX_HEADERS 64
#define QF__MAX_ARGS 64
#define QF__MAX_REPLY_HEADERS 8

typedef struct qf__kv {
	const char *k, *v;
} qf__kv;

typedef enum qf__auth_kind {
	QF__AUTH_NONE = 0,
	QF__AUTH_COOKIE,  /* browser session cookie (CSRF checked) */
	QF__AUTH_BEARER,  /* Authorization: Bearer <session token> */
	QF__AUTH_API_KEY, /* Authorization: Bearer qf_... */
} qf__auth_kind;

struct qf__req {
	qf_server *srv;
	const qf__route *route;
	int route_index;
	char method[16];
	char path[1024];                   /* decoded path, without the query */
	char params[QF__MAX_PARAMS_PATH][256];
	const char *param_names[QF__MAX_PARAMS_PATH];
	int nparams;
	qf__kv headers[QF__MAX_HEADERS];
	int nheaders;
	size_t header_bytes;
	qf__kv args[QF__MAX_ARGS];         /* query arguments, decoded */
	int nargs;
	char ip[64];
	double t0;                          /* monotonic start */

	/* the body */
	qf_buf body;
	bool body_too_large;
	json_t *json;                       /* parsed QF__BODY_JSON body (object) */

	/* who is asking */
	qf__auth_kind auth;
	qf_actor actor;                     /* anonymous until authenticated */
	char role[16];                      /* platform role: admin|researcher|viewer */
	char email[320];
	char session_id[QF_UUID_STR];       /* the auth_sessions row */
	char key_id[QF_UUID_STR];           /* the api_keys row */
	char token_hash[QF_SHA256_HEX];
	int rate_limit;                     /* per minute for this caller */

	/* the answer */
	int status;
	qf_buf out;
	const char *content_type;
	const char *reply_headers[QF__MAX_REPLY_HEADERS][2];
	char *reply_owned[QF__MAX_REPLY_HEADERS]; /* header values the request frees */
	int nreply_headers;
	char *file_path;                    /* answer with this file instead of out (heap) */
	bool file_temporary;                /* remove file_path once opened to send (or at release) */
	size_t file_size;
	qf_err err;
	bool logged;                        /* usage already recorded */

	/* streaming (SSE): set by the handler, run by the server glue */
	void *stream;
};

/* ---- request helpers (request.c) ---------------------------------------------- */

/* A header by name (case-insensitive), or NULL. */
const char *qf__req_header(const qf__req *r, const char *name);
/* A query argument by name, or NULL. */
const char *qf__req_arg(const qf__req *r, const char *name);
/* A path parameter ("{id}") by name, or NULL. */
const char *qf__req_param(const qf__req *r, const char *name);
/* A cookie's value from the Cookie header into out; false when absent. */
bool qf__req_cookie(const qf__req *r, const char *name, char *out, size_t size);
/* Query arguments as numbers: def when absent; http.invalid when malformed
 * or out of [min, max]. */
int qf__req_arg_int(qf__req *r, const char *name, long min, long max, long def, long *out);
int qf__req_arg_time(qf__req *r, const char *name, double *out);
int qf__req_arg_bool(qf__req *r, const char *name, bool def, bool *out);
/* A path parameter that must be a lowercase UUID: 404 otherwise (a malformed
 * id names nothing). */
int qf__req_uuid(qf__req *r, const char *name, const char **out);

/* The file of an upload route: a JSON body's "data" (and "filename"), a
 * multipart/form-data body's "file" part (with its filename), or a text
 * body itself (?filename=). *fields gets the other members (JSON), form
 * fields (multipart) or query arguments (text), as a JSON object of
 * strings (JSON: as given). data points into the request. */
int qf__req_upload(qf__req *r, const char **data, size_t *len, char *filename, size_t fsize,
                   json_t **fields);

/* ---- answers (reply.c) ------------------------------------------------------------ */

/* Answer status with a JSON document (takes the reference). */
int qf__reply_json(qf__req *r, int status, json_t *doc);
/* Answer with bytes of a content type (copied). */
int qf__reply_bytes(qf__req *r, int status, const char *type, const char *data, size_t len);
/* Add a header to the answer (name must be a literal; value copied). */
void qf__reply_header(qf__req *r, const char *name, const char *value);
/* Fill r->err and return its code. */
int qf__fail(qf__req *r, int rc, qf_category cat, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* The HTTP status of an error. */
int qf__http_status_of(const qf_err *e);
/* SMILES embedding in a request: at most QF_HTTP_EMBED_REQUESTS at once
 * (503 with Retry-After past it). qf__embed_leave after a 0. */
int qf__embed_enter(qf__req *r);
void qf__embed_leave(void);
/* The error answer of r->err. */
void qf__reply_error(qf__req *r);
/* Whether the client asked for a page: limit (1..QF_HTTP_MAX_PAGE) and an
 * opaque cursor (base64url of JSON [value, key]). */
int qf__req_page(qf__req *r, int *limit, json_t **after_value, char *after_key, size_t key_size);
/* The cursor of the next page after row (order column col, key column
 * key); NULL when the page was not full. */
char *qf__page_cursor(const json_t *row, const char *col, const char *key);

/* ---- authentication (auth.c) ------------------------------------------------------- */

/* Who is asking: the session cookie, or a bearer session token or API key.
 * Fills r->actor and the rest; leaves it anonymous when no credentials are
 * given; 401 (auth.invalid_token) for credentials that are not valid. For a
 * cookie on a request that changes something, checks the CSRF header. */
int qf__auth_request(qf__req *r);
/* Forget a cached token (logout, revocation, role change) at once. */
void qf__auth_forget(qf_server *s, const char *token_hash);
/* Forget every cached token of a user (disabled, role changed). */
void qf__auth_forget_user(qf_server *s, const char *user_id);
/* Start a browser session for user (login, register): a new token, the
 * session row, the cookies (HttpOnly session, readable CSRF token), and
 * {"token","csrf_token","expires_at"} into doc. */
int qf__auth_start_session(qf__req *r, const char *user_id, json_t *doc);
/* Cookie attributes for the answer's Set-Cookie headers. */
void qf__auth_clear_cookies(qf__req *r);

/* ---- rate limits and the login throttle (limits.c) --------------------------------- */

typedef struct qf__buckets qf__buckets;
qf__buckets *qf__buckets_new(int capacity);
void qf__buckets_free(qf__buckets *b);
/* Take one token from key's bucket (refilled at per_min per minute, holding
 * per_min). false with *retry_after (s) when empty. */
bool qf__buckets_take(qf__buckets *b, const char *key, int per_min, double now, double *retry_after);

typedef struct qf__throttle qf__throttle;
qf__throttle *qf__throttle_new(int capacity);
void qf__throttle_free(qf__throttle *t);
/* Seconds key must still wait before its next attempt (0: may try). */
double qf__throttle_wait(qf__throttle *t, const char *key, double now);
void qf__throttle_fail(qf__throttle *t, const char *key, double now);
void qf__throttle_clear(qf__throttle *t, const char *key);
/* The other policy of the same table: at most max failures of key within
 * window seconds of its first one; the seconds to wait before the next
 * attempt (0: may try), and a failure counted. */
double qf__throttle_window_wait(qf__throttle *t, const char *key, int max, double window, double now);
void qf__throttle_window_fail(qf__throttle *t, const char *key, double window, double now);

/* Counts kept per key for a while: the quotas' per-user counts. */
typedef struct qf__tally qf__tally;
qf__tally *qf__tally_new(int capacity);
void qf__tally_free(qf__tally *t);
/* key's count and how many seconds before now it was set (false: none, or
 * forgotten: an infinite age). */
bool qf__tally_get(qf__tally *t, const char *key, double now, int64_t *count, double *age);
void qf__tally_set(qf__tally *t, const char *key, double now, int64_t count);
/* Add n to key's count, if it has one. */
void qf__tally_add(qf__tally *t, const char *key, int64_t n);
/* key's count is stale: the next get misses. */
void qf__tally_forget(qf__tally *t, const char *key);

/* ---- the writer of the API usage log and the audit log (usage.c) -------------------- */

typedef struct qf__writer qf__writer;
int qf__writer_new(qf__writer **out, qf_store *store, qf_err *err);
/* Queue a row for table ("api_usage_logs" or "user_audit_log"); takes the
 * reference. Never blocks: a full queue drops the row (counted). */
void qf__writer_put(qf__writer *w, const char *table, json_t *row);
/* Write what is queued now and wait for it (shutdown, tests). */
void qf__writer_flush(qf__writer *w);
void qf__writer_free(qf__writer *w);
int64_t qf__writer_dropped(const qf__writer *w);
int64_t qf__writer_written(const qf__writer *w);

/* Record an audit entry for r: action, what it acted on, what changed (may
 * be NULL; takes the reference), status ("success" or "denied") and why. */
void qf__audit(qf__req *r, const char *action, const char *entity_type, const char *entity_id,
               json_t *changes, const char *status, const char *reason);
/* The same for a user who is not (yet) the request's actor (a failed login
 * names the account tried). */
void qf__audit_user(qf__req *r, const char *user_id, const char *action, const char *entity_type,
                    const char *entity_id, json_t *changes, const char *status, const char *reason);

/* ---- metrics (metrics.c) ------------------------------------------------------------ */

typedef struct qf__metrics qf__metrics;
qf__metrics *qf__metrics_new(size_t nroutes);
void qf__metrics_free(qf__metrics *m);
/* One request of route index ri (-1: no route) answered with status. */
void qf__metrics_request(qf__metrics *m, int ri, int status, double seconds);
/* The Prometheus text of everything (the store's counts included). */
int qf__metrics_render(qf_server *s, qf_buf *out, qf_err *err);

/* ---- live events (sse.c) --------------------------------------------------------------- */

typedef struct qf__hub qf__hub;
int qf__hub_new(qf__hub **out, qf_server *s, qf_err *err);
void qf__hub_free(qf__hub *h);
/* A subscriber for r's actor; the server glue reads from it. */
typedef struct qf__sub qf__sub;
int qf__hub_subscribe(qf__hub *h, qf__req *r, qf__sub **out);
/* Copy up to max pending bytes; 0 when nothing is pending, -1 when the
 * subscriber is closed (server stopping, too slow). */
long qf__sub_read(qf__sub *sub, char *buf, size_t max);
/* Called (once) when a subscriber has bytes pending or closed: the glue
 * resumes its connection. */
void qf__sub_on_ready(qf__sub *sub, void (*fn)(void *), void *arg);
void qf__sub_free(qf__sub *sub);
/* Stop every subscriber (shutdown). */
void qf__hub_close_all(qf__hub *h);

/* ---- the server (server.c) --------------------------------------------------------------- */

typedef struct qf__supervisor qf__supervisor;
typedef struct qf__retention qf__retention;

struct qf_server {
	qf_server_opts o;
	char store_url[1024];
	qf_store *store;
	void *daemon;                /* struct MHD_Daemon */
	int port;
	char web_root[4096];
	unsigned char secret_key[QF_SECRET_KEY_BYTES];
	bool have_secret_key;

	const qf__route *routes;
	size_t nroutes;

	/* authentication cache: token hash -> who */
	pthread_mutex_t auth_mu;
	void *auth_cache;
	pthread_mutex_t pw_mu;       /* password hashes at once (QF_MAX_CONCURRENT_PWHASH) */
	pthread_cond_t pw_cv;
	int pw_running;

	pthread_mutex_t limits_mu;
	qf__buckets *rate;
	qf__throttle *throttle;
	qf__throttle *totp_throttle; /* failed two-factor codes per user */
	qf__tally *active_jobs;      /* per user, for the quotas (QF_QUOTA_RECOUNT_SECONDS) */
	qf__tally *storage_used;

	qf__writer *writer;
	qf__metrics *metrics;
	qf__hub *hub;
	qf__supervisor *sup;
	qf_notifier *notifier;       /* the outbox's sender (NULL: in-process servers) */
	qf_notify_policy policy;     /* where webhooks may go */
	qf__retention *retention;
	atomic_int stopping;

	/* cached store counts for /metrics and /readyz */
	pthread_mutex_t cache_mu;
	double counts_at;
	json_t *counts;

	/* the tails of calculation answers (handlers/calculations.c) */
	pthread_mutex_t tails_mu;
	struct qf__calc_tail *tails; /* QF_HTTP_CALC_TAILS slots */
};
void qf__calc_tails_free(qf_server *s);
/* FNV-1a of a NUL-terminated key, for the server's fixed-size tables. */
size_t qf__hash_key(const char *k);

/* Run the route's handler for a request whose headers, arguments and body
 * are in r (the glue of server.c, and qf_server_handle). */
void qf__dispatch(qf__req *r);
void qf__req_init(qf__req *r, qf_server *s);
void qf__req_release(qf__req *r);
/* Record r in the API usage log and the metrics (once). */
void qf__req_log(qf__req *r);
/* Tell the workers there is new work (after a submission's commit). */
void qf__wake_workers(qf_server *s);
/* Take and give back a password-hashing permit. */
void qf__pw_enter(qf_server *s);
void qf__pw_leave(qf_server *s);

/* ---- the worker supervisor (supervisor.c) ------------------------------------------------- */

typedef struct qf__supervisor_opts {
	int workers;
	const char *qforge_path;
	const char *store_url;
	const char *jobs_root;
	const char *extra_args; /* blank-separated */
} qf__supervisor_opts;

int qf__supervisor_start(qf__supervisor **out, const qf__supervisor_opts *o, qf_err *err);
/* Wake every worker (new work was committed). */
void qf__supervisor_wake(qf__supervisor *s);
/* SIGTERM each worker (they drain: running jobs finish and are committed)
 * and wait for them to end; when *stop reaches 2 (a second signal to the
 * server; stop NULL: at once) a second SIGTERM stops their running jobs and
 * gives them back to the queue. */
void qf__supervisor_stop(qf__supervisor *s, volatile sig_atomic_t *stop);
void qf__supervisor_free(qf__supervisor *s);
int qf__supervisor_running(const qf__supervisor *s);
int64_t qf__supervisor_restarts(const qf__supervisor *s);

/* ---- scheduled retention (retention.c) ---------------------------------------------------- */

/* A thread running qf_store_purge every interval seconds (the first run
 * after QF_RETENTION_FIRST_S, or interval when shorter). */
int qf__retention_start(qf__retention **out, qf_store *store, double interval, qf_err *err);
/* Stop the thread (a run under way finishes first). */
void qf__retention_stop(qf__retention *t);
void qf__retention_free(qf__retention *t);
/* {"enabled","interval_seconds","runs","failures","rows_deleted_total",
 * "last_run_at","last_run_seconds","last_deleted":{table:n},
 * "deleted_by_table":{table:n},"last_error"}; t NULL: {"enabled":false}. */
json_t *qf__retention_status(qf__retention *t);

/* ---- the route table (routes.c) --------------------------------------------------------- */

extern const qf__route qf__routes[];
extern const size_t qf__nroutes;

/* ---- handlers (handlers/) ---------------------------------------------------------------- */

#define QF__HANDLERS(X)                                                                           \
	X(h_livez) X(h_readyz) X(h_metrics) X(h_openapi) X(h_static)                             \
	X(h_register) X(h_login) X(h_logout) X(h_me) X(h_password)                              \
	X(h_2fa_enroll) X(h_2fa_confirm) X(h_2fa_disable)                                        \
	X(h_molecules_create) X(h_molecules_list) X(h_molecules_get) X(h_molecules_delete)      \
	X(h_calcs_submit) X(h_calcs_list) X(h_calcs_get) X(h_calcs_cancel) X(h_calcs_retry)     \
	X(h_calcs_metrics) X(h_calcs_files) X(h_calcs_file)                                     \
	X(h_batches_create) X(h_batches_list) X(h_batches_get) X(h_batches_performance)         \
	X(h_batches_cancel) X(h_batches_retry)                                                   \
	X(h_dashboard)                                                                            \
	X(h_prefs_get) X(h_prefs_put) X(h_session_get) X(h_session_put)                         \
	X(h_keys_create) X(h_keys_list) X(h_keys_revoke)                                         \
	X(h_orgs_create) X(h_orgs_list) X(h_orgs_get) X(h_members_list) X(h_members_put)        \
	X(h_members_delete)                                                                       \
	X(h_users_list) X(h_users_get) X(h_users_patch) X(h_invites_create) X(h_invites_list)   \
	X(h_audit_list) X(h_events) X(h_rest_select) X(h_export)                                \
	X(h_notify_list) X(h_notify_test)
#define QF__DECLARE(name) int name(qf__req *r);
QF__HANDLERS(QF__DECLARE)
#undef QF__DECLARE

/* Shared by handlers (handlers/common.c). */

/* Visible row of table by id, 404 when it is not (missing or foreign). */
int qf__get_row(qf__req *r, const char *table, const char *id, json_t **out);
/* The same with its JSON columns raw (qf_store_get_raw): for a row that
 * goes into the answer as it is. */
int qf__get_row_raw(qf__req *r, const char *table, const char *id, json_t **out);
/* A row for the client: secret columns and internal columns removed. */
json_t *qf__public_row(const char *table, json_t *row);
/* The columns qf__public_row removes from a row of table, NULL-terminated
 * in out (max entries with the NULL): for rows written straight from the
 * store (qf_store_list_write). */
void qf__hidden_columns(const char *table, const char **out, size_t max);
/* The user's platform role may write (researcher or admin). */
bool qf__may_write(const qf__req *r);
/* A JSON body's member of a type, or an error naming it. */
int qf__body_string(qf__req *r, const char *key, bool required, size_t max, const char **out);
/* A listing of table for the caller: equality filters named in filters
 * (query arguments), since/until on the time column, order=[-]column,
 * limit and cursor; {"items": [...], "next_cursor": ...}. */
int qf__list(qf__req *r, const char *table, const char *const *filters, const char *time_col);
/* The same with equality conditions the caller cannot change (fixed, may be
 * NULL): "one's own" listings. */
int qf__list_where(qf__req *r, const char *table, const char *const *filters, const char *time_col,
                   const json_t *fixed);
/* The molecule of a molecules row. */
struct qf_mol;
int qf__mol_from_row(const json_t *row, struct qf_mol *m, qf_err *err);
/* The format of an upload (its "format" field, else its file name). */
#include "qf/molio.h"
int qf__upload_format(qf__req *r, const json_t *fields, const char *filename, qf_format *out);
/* An integer form field or JSON member from min to max (a string of digits
 * from a form too); def when absent or null; else 400 naming the key. */
int qf__int_field(qf__req *r, const json_t *fields, const char *key, long min, long max, long def,
                  long *out);
/* The xtb version identical work is reused for (NULL when unknown). */
const char *qf__xtb_version(void);
/* A spec from a JSON member (NULL or absent: the defaults), validated. */
#include "qf/spec.h"
int qf__spec_of(qf__req *r, const json_t *j, qf_spec *spec);
/* Refuse a submission of `adding` more calculations past the caller's quota
 * of calculations queued or running at once (quota.active_jobs, 429). */
int qf__check_active_quota(qf__req *r, size_t adding);
/* The storage quota, with bytes more (413 quota.storage past it). */
int qf__check_storage_quota(qf__req *r, size_t adding);
/* user_id's stored data shrank (a delete): count it again next time. */
void qf__storage_changed(qf_server *s, const char *user_id);
/* Whether pw matches a password hash (NULL: no account; as slow as a real
 * check), under the server's limit of hashes at once (handlers/auth.c). */
bool qf__password_ok(qf__req *r, const char *hash, const char *pw);
/* The second factor of a login (handlers/twofactor.c), for user uid whose
 * user_credentials row is cred and has two-factor login on: 0 when totp (a
 * code) or backup (a backup code) is valid and unused (and is then used);
 * else auth.2fa_required (neither given), auth.2fa_invalid or
 * auth.throttled, each audited. */
int qf__2fa_login(qf__req *r, const char *uid, const json_t *cred, const char *totp,
                  const char *backup);
/* Refuse members of the body not in allowed (NULL-terminated): mass
 * assignment of owner, role, status or results is a 400, never ignored. */
int qf__body_only(qf__req *r, const char *const *allowed);

#endif
