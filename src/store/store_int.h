/*
 * Inside the store: the qf_store object with its connection slots,
 * transactions that carry the actor's claims, and a small SQL builder whose
 * parameters are bound in one go. Shared by store.c, rows.c, record.c,
 * purge.c and scope.c; the tests use the hooks at the end.
 */
#ifndef QF_STORE_INT_H
#define QF_STORE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "db.h"
#include "migrations.h"
#include "qf/buf.h"
#include "qf/clock.h"
#include "qf/job.h"
#include "qf/limits.h"
#include "qf/store.h"

/* One connection slot. SQLite has a writing one (its connection is shared
 * by the process's threads under the slot's lock) and, for a database file,
 * QF_SQLITE_READERS reading ones (query_only) for read transactions, which
 * in WAL mode neither wait for the writer nor make it wait; PostgreSQL has
 * pool_size. All connected lazily but the first. */
typedef struct qf__slot {
	qf__db *db;
	bool busy;
	bool reader; /* SQLite: read transactions only */
	unsigned schema_gen; /* the store's schema_gen when last checked */
} qf__slot;

struct qf_store {
	qf__dialect dialect;
	char *target; /* SQLite path, or the PostgreSQL URL */
	qf_store_opts opts;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int nslots;
	qf__slot slots[QF_MAX_PG_POOL > 1 + QF_SQLITE_READERS ? QF_MAX_PG_POOL : 1 + QF_SQLITE_READERS];
	unsigned schema_gen; /* bumped when migrations ran: cached plans are stale */
};

/* ---- transactions ------------------------------------------------------ */

typedef struct qf__tx {
	qf_store *s;
	int slot;
	qf__db *db;
	const qf_actor *actor;
	bool open;
} qf__tx;

/* Take a connection and begin a transaction for actor a: BEGIN IMMEDIATE
 * (SQLite, when write) or BEGIN, then on PostgreSQL the claims
 * qf.user_id / qf.role (transaction-local). */
int qf__tx_begin(qf_store *s, const qf_actor *a, bool write, qf__tx *tx, qf_err *err);
/* Commit and give the connection back; on failure the transaction is
 * rolled back. */
int qf__tx_commit(qf__tx *tx, qf_err *err);
/* Roll back (if open) and give the connection back. Safe to call twice. */
void qf__tx_rollback(qf__tx *tx);

/* ---- SQL builder -------------------------------------------------------- */

#define QF__MAX_PARAMS 160

typedef enum qf__pkind { QF__P_NULL = 0, QF__P_TEXT, QF__P_INT, QF__P_REAL, QF__P_BOOL } qf__pkind;

typedef struct qf__param {
	qf__pkind kind;
	const char *s; /* QF__P_TEXT: not owned unless it points into tmp/owned */
	size_t len;
	int64_t i;
	double d;
	bool b;
	char *owned;   /* heap text freed with the query */
	char tmp[40];  /* small formatted texts (times) */
} qf__param;

typedef struct qf__query {
	qf__dialect dialect;
	qf_buf sql;
	qf__param p[QF__MAX_PARAMS];
	int n;
	int rc; /* first error while building (sticky) */
} qf__query;

void qf__query_init(qf__query *q, qf__dialect d);
void qf__query_release(qf__query *q);
/* Append raw SQL (the store's own text, never a caller's). */
void qf__query_sql(qf__query *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append a quoted identifier from the catalogue. */
void qf__query_ident(qf__query *q, const char *name);
/* Append a '?' and its value. The text is not copied: it must outlive the
 * query. */
void qf__query_text(qf__query *q, const char *s);
void qf__query_int(qf__query *q, int64_t v);
void qf__query_real(qf__query *q, double v);
void qf__query_bool(qf__query *q, bool v);
void qf__query_null(qf__query *q);
/* A time (epoch s) as the canonical RFC 3339 text. */
void qf__query_time(qf__query *q, double t);
/* A JSON value already validated for column c ('?' or '?::jsonb'). */
void qf__query_value(qf__query *q, const qf__column *c, const json_t *v);
/* The column list of t ("a", "b", ...) in catalogue order. */
void qf__query_columns(qf__query *q, const qf__table *t);
/* Prepare and bind. */
int qf__query_prepare(qf__query *q, qf__db *db, qf__stmt **st, qf_err *err);
/* Prepare, bind and step once: 1 row / 0 none / negative error. The
 * statement stays open for reading (*st). */
int qf__query_run(qf__query *q, qf__db *db, qf__stmt **st, qf_err *err);
/* Bind a param to a prepared statement at index i (1-based). */
int qf__param_bind(const qf__param *p, qf__stmt *st, int i);
/* Bind params from..q->n (1-based) of q again, to st prepared from q and
 * reset since (the params before them the caller binds itself). */
int qf__query_rebind(const qf__query *q, qf__stmt *st, int from, qf_err *err);
/* Step st to its end (a statement whose rows are not wanted): 0 or the
 * error. */
int qf__stmt_done(qf__stmt *st, qf_err *err);
/* store.error "out of memory" as every store call reports it. */
int qf__oom(qf_err *err);

/* Append a '?' whose text the query takes over (freed with it). */
void qf__query_text_take(qf__query *q, char *s);

/* ---- bulk inserts (bulk.c) ------------------------------------------------ */

#define QF__BULK_MAX_COLS 48

/* Rows for one table, appended value by value in the column order given
 * to qf__bulk_init: SQLite inserts each row as it ends; PostgreSQL gathers
 * up to max_rows rows into one array per column and inserts them with one
 * statement at qf__bulk_flush. */
typedef struct qf__bulk {
	qf__db *db;
	const qf__table *t;
	bool pg;
	int ncols;
	const qf__column *col[QF__BULK_MAX_COLS];
	qf__stmt *st;
	qf_buf arr[QF__BULK_MAX_COLS]; /* PostgreSQL array literals */
	int cur;                       /* values given in the current row */
	int rows;                      /* rows waiting (PostgreSQL) */
	int max_rows;
	int64_t appended;              /* rows ended since init */
	int64_t changes;               /* rows the database inserted */
	int rc;                        /* sticky error while appending */
} qf__bulk;

/* suffix: e.g. "ON CONFLICT (id) DO NOTHING" (may be NULL). */
int qf__bulk_init(qf__bulk *b, qf__db *db, const qf__table *t, const char *const *cols, int ncols,
                  const char *suffix, int max_rows, qf_err *err);
void qf__bulk_release(qf__bulk *b);
void qf__bulk_text(qf__bulk *b, const char *s); /* NULL: SQL NULL */
void qf__bulk_int(qf__bulk *b, int64_t v);
void qf__bulk_real(qf__bulk *b, bool has, double v); /* !has or not finite: NULL */
void qf__bulk_bool(qf__bulk *b, bool has, bool v);
void qf__bulk_null(qf__bulk *b);
void qf__bulk_time(qf__bulk *b, double t);           /* t <= 0: NULL */
int qf__bulk_json(qf__bulk *b, json_t *v, qf_err *err); /* takes the reference */
/* End the row: 0, or 1 when the caller should flush (PostgreSQL: full),
 * or a negative error (SQLite inserts here). */
int qf__bulk_end_row(qf__bulk *b, qf_err *err);
/* Insert the waiting rows (PostgreSQL; nothing to do on SQLite). */
int qf__bulk_flush(qf__bulk *b, qf_err *err);

/* ---- recording (record.c), shared with the queue (queue.c) ------------------ */

/* The calculation columns a finished attempt sets, in this order. */
#define QF__RESULT_COLS                                                                          \
	"status", "attempt", "total_energy", "homo_lumo_gap", "dipole_moment", "is_converged",       \
		"gradient_norm", "xtb_version", "job_dir", "results", "error_category", "error_code", \
		"error_message", "started_at", "finished_at", "updated_at"
#define QF__N_RESULT_COLS 16

/* Append the QF__RESULT_COLS values of job j to b, in that order. status
 * (NULL: j->status) is the state the calculation goes to; now stands in for
 * a finish time j does not have. */
int qf__record_results(qf__bulk *b, const qf_job *j, const char *status, double now, qf_err *err);

/* Whether the job's calculation ran (its metrics are measurements). */
bool qf__job_ran(const qf_job *j);

/* The spec's options that are not columns of their own (the calculations'
 * `parameters`). NULL when out of memory. */
json_t *qf__spec_parameters(const qf_spec *sp);

/* What the rows of one finished attempt carry besides the job. */
typedef struct qf__attempt_rows {
	const char *owner, *org; /* of the calculation */
	const char *worker;      /* calculation_execution_metrics.worker (may be NULL) */
	bool keep_logs;          /* copy the job directory's stdout/stderr tails */
	bool failed;             /* write a calculation_errors row (from j->error) */
	const json_t *history;   /* its retry_attempts (NULL: []) */
	const char *resolution;  /* its resolution (may be NULL) */
	double now;
} qf__attempt_rows;

/* The rows of attempt j->attempt of calculation j->id, in the caller's
 * transaction: its atomic_properties (replacing the calculation's),
 * calculation_execution_metrics, and the calculation_errors row when
 * o->failed. The calculation row itself is the caller's. */
int qf__record_attempt(qf__db *db, const qf_job *j, const qf__attempt_rows *o, qf_err *err);

/* ---- values -------------------------------------------------------------- */

/* Whether v may be written to column c of table t (type, size, NULL);
 * store.invalid naming the column otherwise. */
int qf__value_check(const qf__table *t, const qf__column *c, const json_t *v, qf_err *err);
/* The current row (selected with qf__query_columns) as a JSON object;
 * secret columns only when secrets; when raw, JSON columns as qf_json_raw
 * nodes of their stored text (for an answer written by qf_json_write),
 * not parsed. */
json_t *qf__row_json(qf__stmt *st, const qf__table *t, bool secrets, bool raw);
/* How qf__row_write writes each column of t (plan gets t->ncols entries,
 * at most max, else QF_EINVAL): left out when secret and not secrets or
 * named in omit (NULL-terminated, may be NULL). Made once per listing. */
#define QF__ROW_SKIP 1u
#define QF__ROW_ESCAPE 2u /* a name to escape or too long for the fast path */
int qf__row_plan(const qf__table *t, bool secrets, const char *const *omit, unsigned char *plan,
                 int max);
/* The current row as qf_json_write prints qf__row_json(st, t, secrets,
 * raw = true) of it, less the columns the plan skips, appended to b;
 * column `parsed` (-1: none) as if not raw. 0, or as qf_json_write fails. */
int qf__row_write(qf_buf *b, qf__stmt *st, const qf__table *t, const unsigned char *plan,
                  int parsed);
/* Column i of the current row as JSON for column c. */
json_t *qf__col_json(qf__stmt *st, int i, const qf__column *c);

/* Canonical RFC 3339 UTC with milliseconds ("2026-11-28T18:24:33.123Z")
 * from the forms both databases and callers use; QF_EINVAL when it is not a
 * valid UTC time. */
int qf__time_normalize(const char *in, char out[QF_TIME_STR]);
/* Epoch seconds as that text, rounded to the millisecond. */
void qf__time_format(double t, char out[QF_TIME_STR]);
/* Column i of the current row as epoch seconds (0 when NULL or not a time). */
double qf__stmt_col_time(qf__stmt *st, int i);

/* Text from outside (program output) made safe for a text column: NUL
 * bytes and invalid UTF-8 become '?'. In place. */
void qf__text_sanitize(char *s, size_t len);
/* Whether len bytes at s are valid UTF-8 without NUL bytes (a text column
 * keeps them as they are on both backends). */
bool qf__text_valid(const char *s, size_t len);

/* ---- scoping (scope.c) ---------------------------------------------------- */

typedef enum qf__op { QF__OP_READ = 0, QF__OP_INSERT, QF__OP_UPDATE, QF__OP_DELETE } qf__op;

/* Append "(predicate)" selecting the rows of t actor a may read (QF__OP_READ)
 * or change (QF__OP_UPDATE / QF__OP_DELETE). Columns unqualified. */
void qf__scope_where(qf__query *q, const qf__table *t, const qf_actor *a, qf__op op);
/* May a insert this row (after defaults)? store.forbidden otherwise. */
int qf__scope_check_insert(qf__db *db, const qf__table *t, const qf_actor *a, const json_t *row,
                           qf_err *err);
/* May a give a row of t the owner / organisation new_owner / new_org
 * (NULL = none) by an update? store.forbidden otherwise. */
int qf__scope_check_move(qf__db *db, const qf__table *t, const qf_actor *a, const char *new_owner,
                         const char *new_org, qf_err *err);
/* May a write column c at all (administrator-only columns)? */
int qf__scope_check_column(const qf__table *t, const qf__column *c, const qf_actor *a, qf_err *err);
/* Is the row id of table `table` visible to a? store.constraint (like a
 * missing referenced row) otherwise. */
int qf__scope_check_ref(qf__db *db, const char *table, const qf_actor *a, const char *id,
                        const char *what, qf_err *err);
/* Whether a sees secret columns. */
bool qf__scope_secrets(const qf_actor *a);
/* a's role in organisation org (QF_ROLE_NONE when not a member). */
int qf__scope_org_role(qf__db *db, const qf_actor *a, const char *org, qf_role *role, qf_err *err);

/* ---- batches (batch.c), kept up to date by the queue (queue.c) -------------- */

/* What one change to a batch's jobs does to its batch_job_performance. */
typedef struct qf__bjp_delta {
	int successful, failed;   /* jobs that reached (+1) or left (-1) that final state */
	int timeout, convergence; /* of the failed ones, by error category */
	const char *error_type;   /* calculation_errors rows of this type ... */
	int errors;               /* ... added (+) or removed (-) */
	bool ran;                 /* an attempt that ran finished: */
	double started_at;        /* its start (0 unknown) */
	double finished_at;       /* its end */
	double wall, cpu, memory; /* s, s, MiB */
	const char *worker;       /* the slot that ran it (NULL unknown) */
} qf__bjp_delta;

/* Apply d to batch_id's batch_job_performance (created when missing), in
 * the caller's transaction: one row read (locked on PostgreSQL) and
 * written, and for an attempt from a new worker slot a batch_workers row. */
int qf__bjp_apply(qf__db *db, const char *batch_id, const qf__bjp_delta *d, double now,
                  qf_err *err);
/* The batch id's organisation ("" when personal) when actor a may read
 * (QF__OP_READ) or change (QF__OP_UPDATE) the batch; QF_ENOENT
 * store.not_found otherwise, store.invalid for a malformed id. org may be
 * NULL. */
int qf__batch_find(qf__db *db, const qf_actor *a, const char *id, qf__op op,
                   char org[QF_UUID_STR], qf_err *err);
/* The batch is finished when none of its jobs is queued or running:
 * completed (a cancelled batch stays cancelled), with finished_at. */
int qf__batch_settle(qf__db *db, const char *batch_id, double now, qf_err *err);

/* ---- the notification outbox (outbox.c) --------------------------------------- */

/* Queue the notifications of event for user_id in the caller's transaction:
 * one row per channel the user's preferences enable for it (none when the
 * user has no preferences row). subject_id may be NULL; *queued (may be
 * NULL) counts the rows. */
int qf__outbox_enqueue(qf__db *db, const char *user_id, const char *event, const char *subject_id,
                       const json_t *payload, double now, int *queued, qf_err *err);
/* The notifications of calculation calc_id having reached its final state
 * (completed or failed; nothing for one of a batch, or cancelled). */
int qf__outbox_calculation(qf__db *db, const char *calc_id, double now, qf_err *err);
/* The notifications of batch_id having completed (nothing when cancelled). */
int qf__outbox_batch(qf__db *db, const char *batch_id, double now, qf_err *err);

/* ---- test hooks ------------------------------------------------------------ */

/* Apply pending migrations from list (ends with {0, 0, 0}). */
int qf__store_migrate_with(qf_store *s, const qf__migration *list, int *applied, qf_err *err);
/* Run SQL without parameters as the system (tests: PRAGMA, counting). */
int qf__store_exec(qf_store *s, const char *sql, qf_err *err);
/* First column of the first row of a query as int64 (system actor). */
int qf__store_query_int(qf_store *s, const char *sql, int64_t *out, qf_err *err);

#endif
