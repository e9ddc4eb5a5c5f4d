/*
 * The store: everything the platform knows, behind one interface with two
 * real backends.
 *
 *   sqlite:PATH                 embedded (the default: sqlite:var/qforge.db)
 *   postgresql://USER@HOST/DB   a PostgreSQL server shared by many machines
 *
 * Callers never see SQL nor which backend they use.
 *
 * Isolation, in one place: every call that touches user data takes a
 * qf_actor, and the store layer scopes every read and write by it:
 *
 *   read    system, platform admins: all rows; a user: own rows
 *           (owner = user) and rows of organisations the user is a member
 *           of (any role); anonymous: nothing
 *   insert  system: any; a user: owner = user, and into an organisation only
 *           with role researcher or admin there (a viewer cannot write)
 *   update  system, platform admins: all; a user: own rows (where the
 *   delete  organisation role, if any, is researcher or admin) and any row
 *           of an organisation where the user is admin
 *   viewer  (platform role) as a user for reading; writes nothing but its
 *           own account rows (sessions, API keys, preferences, UI state)
 *
 * A row the actor may not see is indistinguishable from a missing one
 * (QF_ENOENT, code store.not_found). On PostgreSQL, row-level security
 * (FORCE'd, application role without BYPASSRLS) enforces the same rules a
 * second time from the claims each transaction sets first
 * (set_config('qf.user_id', ..., true), set_config('qf.role', ..., true)).
 *
 * Rows cross the interface as JSON objects whose keys are the column names
 * (documented in sql/README.md); times are RFC 3339 UTC strings, ids are
 * UUID strings. Typed calls exist for the hot and transactional paths
 * (recording a job, the queue).
 */
#ifndef QF_STORE_H
#define QF_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qf/buf.h"
#include "qf/err.h"
#include "qf/job.h"
#include "qf/uuid.h"

typedef struct qf_store qf_store;

/* ---- who is asking ------------------------------------------------------ */

typedef enum qf_actor_kind {
	QF_ACTOR_ANONYMOUS = 0, /* sees nothing, writes nothing */
	QF_ACTOR_USER,          /* a signed-in user or an API key */
	QF_ACTOR_SYSTEM,        /* the platform itself: workers, migrations, purge */
} qf_actor_kind;

typedef struct qf_actor {
	qf_actor_kind kind;
	char user_id[QF_UUID_STR]; /* QF_ACTOR_USER only */
	bool is_admin;             /* platform administrator (from users.is_admin) */
	bool viewer;               /* platform role viewer (users.role): reads only, and
	                              writes only its own account rows (sessions, API
	                              keys, preferences, UI state) */
} qf_actor;

/* Organisation roles, weakest first. */
typedef enum qf_role { QF_ROLE_NONE = 0, QF_ROLE_VIEWER, QF_ROLE_RESEARCHER, QF_ROLE_ADMIN } qf_role;
const char *qf_role_name(qf_role r);
int qf_role_parse(const char *s, qf_role *out);

qf_actor qf_actor_system(void);
qf_actor qf_actor_anonymous(void);
/* The built-in local user that owns what `qforge run --store` records when
 * no user is named (created by the first migration). */
#define QF_LOCAL_USER_ID "00000000-0000-7000-8000-000000000001"
qf_actor qf_actor_local(void);
/* An actor for a user id, with is_admin read from the users table. */
int qf_store_actor(qf_store *s, const char *user_id, qf_actor *out, qf_err *err);

/* Register a user (the system acts): the users row and, when
 * password_hash is given, its user_credentials row, in one transaction. The
 * first account of a store without one (the built-in local user aside)
 * becomes an administrator whatever role says ("first": true in *out).
 * auth.email_taken when the address (case-insensitive) has an account.
 * *out gets {"id","email","display_name","is_admin","role","created_at",
 * "first"}. With first_only, only the first account may be made
 * (auth.registration_closed otherwise). */
int qf_store_user_register(qf_store *s, const char *email, const char *display_name,
                           const char *password_hash, const char *role, bool first_only,
                           json_t **out, qf_err *err);

/* ---- two-factor login (src/store/totp.c) -----------------------------------
 * The TOTP columns of user_credentials and the backup codes
 * (user_backup_codes), as the system. Each call is one conditional UPDATE
 * (and what follows it, in the same transaction): *done says whether it
 * changed the row, so that of two requests at once exactly one wins. */

/* Keep a new (sealed) secret for the user, not yet enabled; not done when
 * two-factor login is already on (or the user has no credentials row). */
int qf_store_totp_enroll(qf_store *s, const char *user_id, const char *sealed_secret, bool *done,
                         qf_err *err);
/* Turn it on with the step of the code that confirmed it, replacing the
 * backup codes with code_hashes (ncodes SHA-256 hex); not done when it is on
 * already, nothing was enrolled, or step is not after the last one used. */
int qf_store_totp_activate(qf_store *s, const char *user_id, int64_t step,
                           const char *const *code_hashes, int ncodes, bool *done, qf_err *err);
/* Record that a code of step was used (login, disable): done only when
 * two-factor login is on and step is later than the last step recorded. */
int qf_store_totp_use_step(qf_store *s, const char *user_id, int64_t step, bool *done, qf_err *err);
/* Use a backup code (its hash): done only when it is the user's and unused. */
int qf_store_totp_use_backup(qf_store *s, const char *user_id, const char *code_hash, bool *done,
                             qf_err *err);
/* Turn it off: the secret, the last step and the backup codes go. */
int qf_store_totp_disable(qf_store *s, const char *user_id, qf_err *err);

/* ---- opening -------------------------------------------------------------- */

typedef struct qf_store_opts {
	int pool_size;      /* PostgreSQL connections (default 4; 1..QF_MAX_PG_POOL) */
	bool no_migrate;    /* do not apply pending migrations on open */
	int busy_timeout_ms; /* SQLite busy timeout (default 10000) */
} qf_store_opts;

/* $QF_STORE, else "sqlite:var/qforge.db". */
const char *qf_store_default_url(void);

/* Open (and, unless opts->no_migrate, migrate) the store at url. For
 * PostgreSQL, migrating needs a role that may create tables and roles
 * (superuser or the schema owner with BYPASSRLS and CREATEROLE); an
 * application role without those gets QF_ESYS "store.schema_outdated" when
 * migrations are pending. opts may be NULL. */
int qf_store_open(qf_store **s, const char *url, const qf_store_opts *opts, qf_err *err);
void qf_store_close(qf_store *s);
const char *qf_store_backend(const qf_store *s); /* "sqlite" | "postgresql" */

/* Apply pending numbered migrations from sql/<backend>/, each in its own
 * transaction (a failing one leaves the schema as it was). *applied gets the
 * count (may be NULL). */
int qf_store_migrate(qf_store *s, int *applied, qf_err *err);
/* Highest applied migration version. */
int qf_store_schema_version(qf_store *s, int *version, qf_err *err);

/* ---- generic rows (every table) --------------------------------------------
 * table: one of the table names in sql/README.md. Keys a table does not
 * have, values of the wrong type, and writes to generated columns are
 * validation errors (store.invalid). Ids and timestamps the caller leaves out
 * are filled (uuid v7, qf_clock_now()); the owner column defaults to the
 * actor's user. */

/* Insert one row; *out (may be NULL) gets the row as stored. */
int qf_store_insert(qf_store *s, const qf_actor *a, const char *table, const json_t *row,
                    json_t **out, qf_err *err);
/* Insert every row of a JSON array, in one transaction: all or none (the
 * API usage log and audit writer). */
int qf_store_insert_many(qf_store *s, const qf_actor *a, const char *table, const json_t *rows,
                         qf_err *err);
/* Fetch one row by primary key (text form; composite keys: "k1/k2"). */
int qf_store_get(qf_store *s, const qf_actor *a, const char *table, const char *id,
                 json_t **out, qf_err *err);
/* The same, with its JSON columns as qf_json_raw nodes of their stored text
 * (include/qf/json.h): for a row that goes into an answer as it is. */
int qf_store_get_raw(qf_store *s, const qf_actor *a, const char *table, const char *id,
                     json_t **out, qf_err *err);
/* Update the given columns of one row; QF_ENOENT when not visible/writable. */
int qf_store_update(qf_store *s, const qf_actor *a, const char *table, const char *id,
                    const json_t *changes, qf_err *err);
int qf_store_delete(qf_store *s, const qf_actor *a, const char *table, const char *id,
                    qf_err *err);

/* Filters for listing: equality on indexed columns, a time range on the
 * table's time column, order and paging. */
typedef struct qf_store_filter {
	const json_t *where; /* {"column": value, ...} equality, columns must be
	                        indexed filter columns of the table; may be NULL */
	double since, until; /* on the table's time column; 0 = open */
	const char *order_by; /* a column; NULL = the time column */
	bool descending;
	int limit;           /* 0 = QF_STORE_DEFAULT_LIMIT; capped by QF_STORE_MAX_LIMIT */
	int offset;
	/* Keyset paging (a cursor): only rows after the row whose order column
	 * holds after_value (may be JSON null) and whose key is after_key, in
	 * the listing's order. Tables with a one-column key only. */
	const json_t *after_value;
	const char *after_key; /* NULL: from the start */
	/* JSON columns (but the order column) as qf_json_raw nodes of their
	 * stored text: for rows that go into an answer written by
	 * qf_json_write as they are (include/qf/json.h) */
	bool raw_json;
} qf_store_filter;
#define QF_STORE_DEFAULT_LIMIT 100
#define QF_STORE_MAX_LIMIT 10000

/* *out gets a JSON array of rows. */
int qf_store_list(qf_store *s, const qf_actor *a, const char *table, const qf_store_filter *f,
                  json_t **out, qf_err *err);
/* The listing qf_store_list gives, appended to b as the JSON array that
 * qf_json_write prints of it with f->raw_json set, less the columns named
 * in omit (NULL-terminated; may be NULL), without building the rows as
 * jansson objects: for answers that carry rows as they are. *nrows (may be
 * NULL) gets the number of rows; *last (may be NULL) the last row's order
 * column and key columns as an object (what a page's cursor is made of;
 * NULL when no row), the caller's to free. On failure b is as it was
 * (store.too_large when b's cap was reached). */
int qf_store_list_write(qf_store *s, const qf_actor *a, const char *table, const qf_store_filter *f,
                        const char *const *omit, qf_buf *b, size_t *nrows, json_t **last,
                        qf_err *err);
/* The row qf_store_get_raw gives, appended to b as the JSON object that
 * qf_json_write prints of it, less the columns named in omit, without a
 * jansson tree; *picked (may be NULL) gets the columns named in pick
 * (NULL-terminated) parsed, as an object, the caller's to free. Errors as
 * qf_store_get's; on failure b is as it was. b may be NULL: only the
 * picked columns, then. */
int qf_store_get_write(qf_store *s, const qf_actor *a, const char *table, const char *id,
                       const char *const *omit, qf_buf *b, const char *const *pick,
                       json_t **picked, qf_err *err);
/* Number of visible rows matching f (limit/offset ignored). */
int qf_store_count(qf_store *s, const qf_actor *a, const char *table, const qf_store_filter *f,
                   int64_t *count, qf_err *err);

/* ---- calculations ------------------------------------------------------- */

typedef struct qf_record_opts {
	const char *org_id;   /* organisation the rows belong to (NULL: personal) */
	const char *batch_id; /* NULL: none */
	bool keep_logs;       /* copy stdout/stderr into calculation_execution_metrics */
} qf_record_opts;

/* Record finished jobs (from their metadata): the molecule (found by owner
 * and geometry hash, or created), the calculation (id = job id; insert or
 * update), its atomic_properties, calculation_execution_metrics for its
 * attempt and, when it failed, a calculation_errors row. All n jobs in one
 * transaction. Idempotent: recording the same job twice changes nothing. */
int qf_store_record_jobs(qf_store *s, const qf_actor *a, const qf_job *const *jobs, size_t n,
                         const qf_record_opts *o, qf_err *err);

/* Delete rows past retention, as of `now` (epoch seconds):
 * user_sessions idle > 7 days, performance_metrics and api_usage_logs
 * > 90 days, user_audit_log > 365 days, expired auth_sessions. Never
 * calculations. counts (may be NULL) gets rows deleted per table as
 * {"table": n}. Needs the system actor. */
int qf_store_purge(qf_store *s, const qf_actor *a, double now, json_t **counts, qf_err *err);

/* ---- the queue -------------------------------------------------------------
 * A calculation is a job: queued -> running -> completed | failed |
 * cancelled. `attempt` counts claims; the lease (owner, token, expiry) says
 * who runs it. Every state change of a running job is one transaction
 * guarded by (id, attempt, lease token): a late or duplicate completion
 * changes nothing. */

typedef struct qf_submit_item {
	const qf_mol *mol;      /* as read: name, geometry, charge, uhf */
	const char *input;      /* the record as given (may be NULL) */
	size_t input_len;
	qf_format input_format;
	const char *source;     /* where it came from (may be NULL) */
	int record;             /* 1-based record number (0 unknown) */
} qf_submit_item;

typedef struct qf_submit_opts {
	const char *org_id;      /* NULL: personal */
	const char *batch_id;    /* NULL: none */
	int priority;            /* higher runs first (default 0) */
	int max_attempts;        /* 0: QF_DEFAULT_MAX_ATTEMPTS */
	bool force;              /* rerun even when an identical result is stored */
	const char *xtb_version; /* reuse only results of this xtb version; NULL: no reuse */
} qf_submit_opts;

/* Queue one calculation of spec per item (one transaction). ids[i] gets
 * item i's calculation id. Identical work is done once: unless o->force, an
 * item whose geometry hash, effective charge/uhf, spec and xtb version equal
 * those of a completed calculation visible to the actor is recorded as
 * completed at once with that calculation's results (reused_from set);
 * *reused (may be NULL) counts them. */
int qf_store_submit(qf_store *s, const qf_actor *a, const qf_spec *spec,
                    const qf_submit_item *items, size_t n, const qf_submit_opts *o,
                    char (*ids)[QF_UUID_STR], size_t *reused, qf_err *err);

#define QF_LEASE_TOKEN_STR 33 /* 32 hex digits + NUL */

/* A claimed job: everything a worker needs to run it. */
typedef struct qf_claim {
	char id[QF_UUID_STR];
	int attempt;                        /* this claim's attempt, 1-based */
	char lease_token[QF_LEASE_TOKEN_STR];
	double lease_expires_at;
	char owner_id[QF_UUID_STR];
	char org_id[QF_UUID_STR];           /* "" when personal */
	char batch_id[QF_UUID_STR];         /* "" when none */
	qf_mol mol;          /* the geometry to run (the last geometry of the
	                        previous attempt when resuming an optimisation);
	                        charge and uhf are the effective values */
	bool resumed;        /* mol comes from a previous attempt */
	char *input;         /* the record as given (heap; may be NULL) */
	size_t input_len;
	qf_format input_format;
	char source[QF_MAX_PATH];
	int record;
	qf_spec spec;        /* with the remedies of earlier retries */
	int max_attempts;
	int errors;          /* calculation_errors rows so far (the history) */
	int errors_by_category[QF_CAT_UNKNOWN + 1]; /* the same rows by error_type */
} qf_claim;

void qf_claim_init(qf_claim *c);
void qf_claim_release(qf_claim *c);

/* Claim up to max queued jobs whose not_before has passed, highest priority
 * first, then oldest: one transaction (SQLite: BEGIN IMMEDIATE and UPDATE
 * ... RETURNING; PostgreSQL: FOR UPDATE SKIP LOCKED). No job is ever claimed
 * twice at once. worker names the claimer ("host:pid/slot"). *n gets how
 * many were claimed into out[0..*n). Needs no actor: the system claims. */
int qf_store_claim(qf_store *s, const char *worker, double lease_seconds, int max,
                   qf_claim *out, int *n, qf_err *err);

/* Extend the leases of n running claims (one transaction). lost[i]: the job
 * is no longer this claim's (swept, reclaimed, finished elsewhere); cancel[i]:
 * someone asked to cancel it. Either array may be NULL. */
int qf_store_heartbeat(qf_store *s, qf_claim *const *claims, int n, double lease_seconds,
                       bool *lost, bool *cancel, qf_err *err);

/* What happens after a failed attempt (the retry policy's answer). */
typedef struct qf_retry {
	bool retry;            /* queue again; false: the failure is final */
	double delay;          /* seconds before it may be claimed again */
	qf_spec spec;          /* the next attempt's spec (remedies applied) */
	bool resume_geometry;  /* start the next attempt from the job's last geometry */
	char remedy[160];      /* what changed, for calculation_errors.retry_attempts */
} qf_retry;

/* Finish an attempt, in one transaction: the job's results, atomic
 * properties, calculation_execution_metrics (with worker, logs),
 * performance_metrics samples, a calculation_errors row when it failed
 * (retry_count, retry_attempts history, resolution), the new state
 * (completed; failed; cancelled when job->status says so; queued again with
 * not_before and the remedied spec when retry->retry), and the batch's
 * batch_job_performance brought up to date incrementally.
 * Guarded by (id, attempt, lease token); also accepted when the lease was
 * swept and nobody has claimed the job since (status queued, same attempt).
 * Otherwise QF_ECONFLICT, code queue.stale, and nothing changes. */
int qf_store_finish(qf_store *s, const qf_claim *c, const qf_job *job, const qf_retry *retry,
                    const char *worker, qf_err *err);

/* Give a running job back unfinished (a draining worker): queued again, the
 * attempt not counted, no error row. Guarded like finish. */
int qf_store_release(qf_store *s, const qf_claim *c, qf_err *err);

/* Jobs whose lease expired before now go back to queued, or to failed when
 * their attempts are used up, each with a system / queue.worker_lost
 * calculation_errors row. *requeued and *failed (may be NULL) get counts. */
int qf_store_sweep(qf_store *s, double now, int *requeued, int *failed, qf_err *err);

/* Running jobs held by the workers whose names start with prefix (the
 * workers of one Slurm job array: "slurm:<array job id>_"; src/store/held.c).
 * Count them, or give each back as qf_store_release does (queued again, the
 * attempt not counted, no error row); *released counts those given back
 * (a job that finished or changed hands meanwhile is not). The system's. */
int qf_store_held_count(qf_store *s, const char *prefix, int64_t *n, qf_err *err);
int qf_store_release_held(qf_store *s, const char *prefix, int *released, qf_err *err);

typedef struct qf_queue_counts {
	int64_t queued;      /* waiting, including those not yet eligible */
	int64_t ready;       /* queued and claimable now */
	int64_t running;
	int64_t completed;
	int64_t failed;
	int64_t cancelled;
	double next_ready_at; /* earliest not_before of the queued ones (0: none) */
} qf_queue_counts;

/* Counts of visible jobs (of one batch when batch_id is not NULL). */
int qf_store_queue_counts(qf_store *s, const qf_actor *a, const char *batch_id,
                          qf_queue_counts *c, qf_err *err);

/* One calculation: queued -> cancelled, running -> asked to stop (its
 * worker stops it at its next heartbeat). *status (16 bytes) gets
 * "cancelled", "cancel_requested", or the status it had when it was
 * already finished. store.not_found when a may not change it. */
int qf_store_calc_cancel(qf_store *s, const qf_actor *a, const char *id, char status[16],
                         qf_err *err);
/* One failed calculation back to the queue (as qf_store_batch_retry_failed);
 * store.conflict when it has not failed, or failed validation and not
 * force. */
int qf_store_calc_retry(qf_store *s, const qf_actor *a, const char *id, bool force, bool *requeued,
                        qf_err *err);

/* ---- aggregates ------------------------------------------------------------ */

/* The dashboard over what the actor may read: average job time (and memory)
 * by atom count, method and optimisation level; failures by category and
 * code; the queue's counts; throughput and average time over the last
 * window_s seconds and the window before, in twelve slices too; the queue
 * length samples of the window; and the slow-down alert: the window's
 * average job time above threshold_s (when > 0), else above slow_factor
 * times the previous window's. */
int qf_store_dashboard(qf_store *s, const qf_actor *a, double window_s, double threshold_s,
                       double slow_factor, json_t **out, qf_err *err);
/* Histogram of attempt wall times: cumulative[i] counts those <= bounds[i]
 * (nb bounds, ascending), *count all of them, *sum their total. */
int qf_store_job_durations(qf_store *s, const qf_actor *a, const double *bounds, int nb,
                           int64_t *cumulative, int64_t *count, double *sum, qf_err *err);

/* Rows of "calculations" or "batches" whose updated_at is at or after
 * since, oldest first (at most limit): id, owner_id, org_id, status,
 * updated_at, and batch_id and error_code (calculations) or name and total
 * (batches). The system's view, for live events that the caller then
 * filters per subscriber. */
int qf_store_changes(qf_store *s, const char *table, double since, int limit, json_t **out,
                     qf_err *err);

/* Queued and running calculations per owner: [{"owner_id","queued",
 * "running"}] (the system's view; the queue-length samples). */
int qf_store_queue_by_owner(qf_store *s, json_t **out, qf_err *err);

/* Bytes the store keeps for user_id's own data, against the storage quota:
 * the text of their molecules (atoms, coordinates, the record as given,
 * how it was embedded) and their calculations' results (the system's
 * view; job directories on the workers' disks are not counted). */
int qf_store_storage_used(qf_store *s, const char *user_id, int64_t *bytes, qf_err *err);

/* ---- notifications (the outbox; src/store/outbox.c) ------------------------------
 * Rows are written by the store itself in the transactions that record
 * events (a job's final state, a batch completing), following the owner's
 * preferences; qforge serve's sender (include/qf/notify.h) claims and
 * settles them. */

typedef struct qf_outbox_item {
	char id[QF_UUID_STR];
	char user_id[QF_UUID_STR];
	char channel[8];          /* email | slack */
	char event[32];           /* calculation_completed | calculation_failed |
	                             batch_completed | test */
	char subject_id[QF_UUID_STR]; /* "" when none */
	int attempts;             /* this claim's try, 1-based */
	json_t *payload;
	char *email;              /* users.email (heap; may be NULL) */
	char *sealed_webhook;     /* user_preferences.slack_webhook_url, sealed (heap; may be NULL) */
} qf_outbox_item;

void qf_outbox_item_release(qf_outbox_item *it);

/* Claim up to max notifications due at now (pending, or claimed by a
 * sender whose lease ran out), oldest due first; each becomes the caller's
 * for lease_s seconds and its attempts grow by one. PostgreSQL: FOR UPDATE
 * SKIP LOCKED (several servers share the outbox). The system's. */
int qf_store_outbox_claim(qf_store *s, double now, double lease_s, int max, qf_outbox_item *out,
                          int *n, qf_err *err);

typedef enum qf_outbox_outcome {
	QF_OUTBOX_SENT = 0,
	QF_OUTBOX_RETRY,  /* pending again at next_at */
	QF_OUTBOX_FAILED, /* for good: also a notification_failed entry in user_audit_log */
} qf_outbox_outcome;

/* Record how a claimed notification's try ended (error: why it failed, as
 * the user may read it). QF_ECONFLICT notify.stale when it was claimed
 * again since. */
int qf_store_outbox_settle(qf_store *s, const qf_outbox_item *it, qf_outbox_outcome o,
                           double next_at, const char *error, qf_err *err);

/* Queue a test notification for actor a on each channel it enabled;
 * *queued counts them (0: none is enabled). */
int qf_store_notify_test(qf_store *s, const qf_actor *a, int *queued, qf_err *err);

/* ---- batches ------------------------------------------------------------- */

int qf_store_batch_create(qf_store *s, const qf_actor *a, const char *name, const qf_spec *spec,
                          const char *source, const char *org_id, char id[QF_UUID_STR],
                          qf_err *err);
/* A batch: its row, counts by status, failures by error category and code,
 * and its batch_job_performance row (recomputed from scratch and stored). */
int qf_store_batch_status(qf_store *s, const qf_actor *a, const char *id, json_t **out,
                          qf_err *err);
/* Queued jobs become cancelled; running ones get a cancel request (their
 * worker stops them at its next heartbeat). */
int qf_store_batch_cancel(qf_store *s, const qf_actor *a, const char *id, int *cancelled,
                          int *requested, qf_err *err);
/* Failed jobs go back to the queue with a fresh allowance of attempts
 * (max_attempts = errors so far + QF_DEFAULT_MAX_ATTEMPTS). Validation
 * failures would fail again and are skipped unless force. */
int qf_store_batch_retry_failed(qf_store *s, const qf_actor *a, const char *id, bool force,
                                int *requeued, int *skipped, qf_err *err);

#endif
