/*
 * The PostgreSQL driver (see db.h), over libpq.
 *
 * Values travel as text (format 0) with unknown parameter types, so the
 * server infers each parameter's type from where it is used (a uuid column,
 * a jsonb column, ...); the store adds casts only where there is no context
 * (unnest arrays). '?' placeholders are rewritten to $1..$n.
 *
 * A statement that is run more than once (record_jobs reuses its statements
 * across jobs; the queue runs the same few statements for every claim and
 * finish) is prepared on the server once per connection and kept in a small
 * per-connection cache keyed by its SQL text: the second time a text is
 * seen on a connection, whether by the same statement object or by a new
 * one. Planning is most of the cost of a short statement under row-level
 * security (the policies are planned with it), and a prepared statement
 * is planned once.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "qf/buf.h"
#include "qf/log.h"
#include "qf/str.h"

/* Server-side prepared statements kept per connection. record_jobs uses
 * about ten, the queue about forty; the rest is headroom. Past it
 * statements run unprepared. */
#define PG_CACHE 128
/* Hashes of SQL texts run once on a connection (a text seen again is
 * prepared); a ring, so one-off texts do not take cache slots. */
#define PG_SEEN 256

typedef struct pg_prepared {
	char *sql;
	char name[16];
} pg_prepared;

typedef struct pg_db {
	qf__db base;
	PGconn *conn;
	bool broken;
	pg_prepared cache[PG_CACHE];
	int ncache;
	unsigned counter;
	uint64_t seen[PG_SEEN];
	unsigned nseen;
} pg_db;

typedef struct pg_stmt {
	qf__stmt base;
	char *sql;   /* with $n placeholders */
	char **vals; /* nparams values (NULL = SQL NULL), owned */
	PGresult *res;
	int row, nrows;
	int64_t changes;
	bool executed;
	int runs; /* executions so far (a second one prepares it) */
} pg_stmt;

/* ---- placeholders ----------------------------------------------------- */

/* Rewrite '?' to $1..$n, leaving quoted literals and identifiers alone. */
static int rewrite(const char *sql, char **out, int *nparams)
{
	qf_buf b;
	qf_buf_init(&b, strlen(sql) * 4 + 64);
	int n = 0;
	char quote = 0;
	int rc = 0;
	for (const char *p = sql; *p && !rc; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
			rc = qf_buf_append(&b, p, 1);
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
			rc = qf_buf_append(&b, p, 1);
		} else if (*p == '?') {
			rc = qf_buf_printf(&b, "$%d", ++n);
		} else {
			rc = qf_buf_append(&b, p, 1);
		}
	}
	if (!rc && !b.data)
		rc = qf_buf_puts(&b, "");
	if (rc) {
		qf_buf_release(&b);
		return rc;
	}
	*out = qf_buf_detach(&b, NULL);
	*nparams = n;
	return 0;
}

/* ---- errors ----------------------------------------------------------- */

static int pg_fail(pg_db *d, PGresult *res, const char *what, qf_err *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!msg || !*msg)
		msg = PQerrorMessage(d->conn);
	if (PQstatus(d->conn) != CONNECTION_OK) {
		d->broken = true;
		state = "08006";
	}
	return qf__db_error(err, state ? state : "XX000", what, msg);
}

/* ---- statements ------------------------------------------------------- */

static int set_val(pg_stmt *q, int i, const char *s, size_t len)
{
	if (i < 1 || i > q->base.nparams)
		return QF_EINVAL;
	char *v = NULL;
	if (s) {
		v = malloc(len + 1);
		if (!v)
			return QF_ENOMEM;
		memcpy(v, s, len);
		v[len] = '\0';
	}
	free(q->vals[i - 1]);
	q->vals[i - 1] = v;
	return 0;
}

static int pg_bind_text(qf__stmt *st, int i, const char *s, size_t len)
{
	return set_val((pg_stmt *)st, i, s ? s : "", s ? len : 0);
}

static int pg_bind_int64(qf__stmt *st, int i, int64_t v)
{
	char t[32];
	snprintf(t, sizeof(t), "%lld", (long long)v);
	return set_val((pg_stmt *)st, i, t, strlen(t));
}

static int pg_bind_double(qf__stmt *st, int i, double v)
{
	char t[40];
	snprintf(t, sizeof(t), "%.17g", v);
	return set_val((pg_stmt *)st, i, t, strlen(t));
}

static int pg_bind_bool(qf__stmt *st, int i, bool v)
{
	return set_val((pg_stmt *)st, i, v ? "true" : "false", v ? 4 : 5);
}

static int pg_bind_null(qf__stmt *st, int i)
{
	return set_val((pg_stmt *)st, i, NULL, 0);
}

/* FNV-1a of the SQL text (0 is kept for "empty slot"). */
static uint64_t sql_hash(const char *sql)
{
	uint64_t h = 14695981039346656037ULL;
	for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h ? h : 1;
}

/* Whether sql ran on this connection before (and note that it has now). */
static bool seen_before(pg_db *d, const char *sql)
{
	uint64_t h = sql_hash(sql);
	for (unsigned i = 0; i < PG_SEEN; i++)
		if (d->seen[i] == h)
			return true;
	d->seen[d->nseen++ % PG_SEEN] = h;
	return false;
}

static const char *cached_name(pg_db *d, const char *sql)
{
	for (int i = 0; i < d->ncache; i++)
		if (!strcmp(d->cache[i].sql, sql))
			return d->cache[i].name;
	return NULL;
}

/* Prepare sql on the server under a new cached name; NULL when the cache is
 * full (the statement then runs unprepared). */
static const char *prepare_cached(pg_db *d, const char *sql, int nparams, qf_err *err, int *rc)
{
	*rc = 0;
	if (d->ncache >= PG_CACHE)
		return NULL;
	pg_prepared *p = &d->cache[d->ncache];
	snprintf(p->name, sizeof(p->name), "qf_%u", d->counter++);
	PGresult *res = PQprepare(d->conn, p->name, sql, nparams, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		*rc = pg_fail(d, res, "preparing a database statement", err);
		PQclear(res);
		return NULL;
	}
	PQclear(res);
	if (!(p->sql = strdup(sql))) {
		*rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		return NULL;
	}
	d->ncache++;
	return p->name;
}

static int pg_step(qf__stmt *st, qf_err *err)
{
	pg_stmt *q = (pg_stmt *)st;
	pg_db *d = (pg_db *)st->db;
	if (q->executed) {
		if (q->row + 1 < q->nrows) {
			q->row++;
			return 1;
		}
		q->row = q->nrows;
		return 0;
	}
	q->executed = true;
	if (d->broken)
		return qf_err_set(err, QF_CAT_SYSTEM, "store.unavailable",
		                  "the database connection was lost: retry later");
	const char *name = cached_name(d, q->sql);
	int rc = 0;
	if (!name && (q->runs > 0 || seen_before(d, q->sql)) &&
	    !(name = prepare_cached(d, q->sql, st->nparams, err, &rc)) && rc)
		return rc;
	q->runs++;
	const char *const *vals = (const char *const *)q->vals;
	if (name)
		q->res = PQexecPrepared(d->conn, name, st->nparams, vals, NULL, NULL, 0);
	else
		q->res = PQexecParams(d->conn, q->sql, st->nparams, NULL, vals, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(q->res);
	if (s == PGRES_TUPLES_OK) {
		q->nrows = PQntuples(q->res);
		const char *ct = PQcmdTuples(q->res);
		q->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
		q->row = 0;
		if (q->nrows > 0)
			return 1;
		return 0;
	}
	if (s == PGRES_COMMAND_OK) {
		const char *ct = PQcmdTuples(q->res);
		q->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
		q->nrows = 0;
		return 0;
	}
	return pg_fail(d, q->res, "database statement", err);
}

static void pg_reset(qf__stmt *st)
{
	pg_stmt *q = (pg_stmt *)st;
	PQclear(q->res);
	q->res = NULL;
	for (int i = 0; i < st->nparams; i++) {
		free(q->vals[i]);
		q->vals[i] = NULL;
	}
	q->executed = false;
	q->row = q->nrows = 0;
	q->changes = 0;
}

static int pg_ncols(qf__stmt *st)
{
	pg_stmt *q = (pg_stmt *)st;
	return q->res ? PQnfields(q->res) : 0;
}

static const char *pg_col_name(qf__stmt *st, int i)
{
	pg_stmt *q = (pg_stmt *)st;
	return q->res ? PQfname(q->res, i) : NULL;
}

static bool pg_col_null(qf__stmt *st, int i)
{
	pg_stmt *q = (pg_stmt *)st;
	return !q->res || q->row >= q->nrows || PQgetisnull(q->res, q->row, i);
}

static const char *pg_col_text(qf__stmt *st, int i, size_t *len)
{
	pg_stmt *q = (pg_stmt *)st;
	if (pg_col_null(st, i)) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = (size_t)PQgetlength(q->res, q->row, i);
	return PQgetvalue(q->res, q->row, i);
}

static int64_t pg_col_int64(qf__stmt *st, int i)
{
	const char *s = pg_col_text(st, i, NULL);
	return s ? strtoll(s, NULL, 10) : 0;
}

static double pg_col_double(qf__stmt *st, int i)
{
	const char *s = pg_col_text(st, i, NULL);
	return s ? strtod(s, NULL) : 0.0;
}

static bool pg_col_bool(qf__stmt *st, int i)
{
	const char *s = pg_col_text(st, i, NULL);
	return s && (s[0] == 't' || s[0] == '1');
}

static int64_t pg_changes(qf__stmt *st)
{
	return ((pg_stmt *)st)->changes;
}

static void pg_finalize(qf__stmt *st)
{
	pg_stmt *q = (pg_stmt *)st;
	pg_reset(st);
	free(q->vals);
	free(q->sql);
	free(q);
}

static const qf__stmt_ops pg_stmt_ops = {
	.bind_text = pg_bind_text,
	.bind_int64 = pg_bind_int64,
	.bind_double = pg_bind_double,
	.bind_bool = pg_bind_bool,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.reset = pg_reset,
	.ncols = pg_ncols,
	.col_name = pg_col_name,
	.col_null = pg_col_null,
	.col_text = pg_col_text,
	.col_int64 = pg_col_int64,
	.col_double = pg_col_double,
	.col_bool = pg_col_bool,
	.changes = pg_changes,
	.finalize = pg_finalize,
};

/* ---- connection ------------------------------------------------------- */

static int pg_exec(qf__db *db, const char *sql, qf_err *err)
{
	pg_db *d = (pg_db *)db;
	if (d->broken)
		return qf_err_set(err, QF_CAT_SYSTEM, "store.unavailable",
		                  "the database connection was lost: retry later");
	PGresult *res = PQexec(d->conn, sql);
	ExecStatusType s = PQresultStatus(res);
	int rc = 0;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY)
		rc = pg_fail(d, res, "database statement", err);
	PQclear(res);
	return rc;
}

static int pg_prepare(qf__db *db, const char *sql, qf__stmt **out, qf_err *err)
{
	pg_stmt *q = calloc(1, sizeof(*q));
	if (!q)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	int n = 0;
	if (rewrite(sql, &q->sql, &n)) {
		free(q);
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	}
	q->vals = calloc(n ? (size_t)n : 1, sizeof(char *));
	if (!q->vals) {
		free(q->sql);
		free(q);
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	}
	q->base.ops = &pg_stmt_ops;
	q->base.db = db;
	q->base.nparams = n;
	*out = &q->base;
	return 0;
}

static void clear_cache(pg_db *d)
{
	for (int i = 0; i < d->ncache; i++)
		free(d->cache[i].sql);
	d->ncache = 0;
	memset(d->seen, 0, sizeof(d->seen));
	d->nseen = 0;
}

static void pg_close(qf__db *db)
{
	pg_db *d = (pg_db *)db;
	clear_cache(d);
	PQfinish(d->conn);
	free(d);
}

static const qf__db_ops pg_db_ops = {
	.exec = pg_exec,
	.prepare = pg_prepare,
	.close = pg_close,
};

/* Server notices (e.g. "relation already exists, skipping") are operator
 * detail, never output. */
static void notice(void *arg, const char *message)
{
	(void)arg;
	qf_log_debug("store", "postgresql: %s", message);
}

static int session_setup(pg_db *d, qf_err *err)
{
	PQsetNoticeProcessor(d->conn, notice, NULL);
	return pg_exec(&d->base, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'", err);
}

int qf__pg_connect(qf__db **out, const char *url, qf_err *err)
{
	pg_db *d = calloc(1, sizeof(*d));
	if (!d)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	d->base.ops = &pg_db_ops;
	d->base.dialect = QF__PG;
	/* Our defaults first: what the URL itself says wins (libpq processes the
	 * keywords in order and the expanded dbname comes last). A server that
	 * does not answer fails the call in 5 s; keepalives notice a dead peer. */
	const char *keys[] = {"connect_timeout", "keepalives", "keepalives_idle",
	                      "keepalives_interval", "keepalives_count", "application_name",
	                      "dbname", NULL};
	const char *vals[] = {"5", "1", "30", "10", "3", "qforge", url, NULL};
	d->conn = PQconnectdbParams(keys, vals, 1);
	if (!d->conn || PQstatus(d->conn) != CONNECTION_OK) {
		char msg[QF_MAX_ERR_MSG];
		qf_strlcpy(msg, d->conn ? PQerrorMessage(d->conn) : "out of memory", sizeof(msg));
		qf_rstrip(msg);
		PQfinish(d->conn);
		free(d);
		return qf_err_set(err, QF_CAT_SYSTEM, "store.unavailable",
		                  "could not connect to PostgreSQL: %s", msg);
	}
	int rc = session_setup(d, err);
	if (rc) {
		pg_close(&d->base);
		return rc;
	}
	*out = &d->base;
	return 0;
}

int qf__pg_check(qf__db *db, qf_err *err)
{
	pg_db *d = (pg_db *)db;
	if (!d->broken && PQstatus(d->conn) == CONNECTION_OK &&
	    PQtransactionStatus(d->conn) == PQTRANS_IDLE)
		return 0;
	/* A lost or confused connection: start it again, and with it the
	 * server-side prepared statements. */
	clear_cache(d);
	PQreset(d->conn);
	if (PQstatus(d->conn) != CONNECTION_OK) {
		char msg[QF_MAX_ERR_MSG];
		qf_strlcpy(msg, PQerrorMessage(d->conn), sizeof(msg));
		qf_rstrip(msg);
		d->broken = true;
		return qf_err_set(err, QF_CAT_SYSTEM, "store.unavailable",
		                  "the PostgreSQL connection was lost and could not be re-established: %s",
		                  msg);
	}
	d->broken = false;
	return session_setup(d, err);
}

bool qf__pg_broken(qf__db *db)
{
	pg_db *d = (pg_db *)db;
	return d->broken || PQstatus(d->conn) != CONNECTION_OK;
}

int qf__pg_forget_prepared(qf__db *db, qf_err *err)
{
	pg_db *d = (pg_db *)db;
	if (!d->ncache)
		return 0;
	clear_cache(d);
	return pg_exec(db, "DEALLOCATE ALL", err);
}

int qf__pg_rewrite(const char *sql, char **out, int *nparams)
{
	return rewrite(sql, out, nparams);
}
