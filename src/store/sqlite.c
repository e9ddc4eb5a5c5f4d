/*
 * The SQLite driver (see db.h).
 *
 * Durability: WAL with synchronous=FULL. In WAL mode NORMAL already keeps
 * every committed transaction across a process crash (SIGKILL: the WAL
 * frames are in the OS page cache), but can lose the last ones on a power
 * cut or kernel panic. "Nothing is lost" (DESIGN.md, invariant 1) is about
 * the machine too, and a commit costs one WAL fsync, which the batched
 * writes (record_jobs: all jobs in one transaction) pay once per batch.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "qf/log.h"
#include "qf/str.h"

/* Prepared statements kept per connection, by SQL text: the store prepares
 * the same few dozen statements over and over (every HTTP request reads a
 * session, a row, a page), and SQLite's parser and planner cost more than
 * most of those statements' execution. */
#define SQ_CACHE 64

typedef struct sq_stmt sq_stmt;

typedef struct sq_db {
	qf__db base;
	sqlite3 *h;
	sq_stmt *cache[SQ_CACHE];
	int ncache;
	unsigned evict; /* next slot to give up when the cache is full */
	char *path;          /* to reopen a connection SQLite opened read-only */
	int busy_timeout_ms;
	bool write_refused;  /* a write failed with SQLITE_READONLY (of any kind) */
} sq_db;

struct sq_stmt {
	qf__stmt base;
	sqlite3_stmt *h;
	int64_t changes;
	bool done;
	char *sql;   /* cached: the key */
	bool cached; /* in its connection's cache: finalize only resets it */
	bool in_use;
};

/* SQLite result codes as the SQLSTATE classes qf__db_error understands. */
static const char *sq_state(int code)
{
	switch (code) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return "23505";
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return "23503";
	case SQLITE_CONSTRAINT_NOTNULL:
		return "23502";
	case SQLITE_CONSTRAINT_CHECK:
		return "23514";
	default:
		break;
	}
	switch (code & 0xff) {
	case SQLITE_CONSTRAINT: return "23000";
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return "55P03";
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CORRUPT:
	case SQLITE_CANTOPEN:
	case SQLITE_NOTADB:
	case SQLITE_READONLY:
	case SQLITE_PERM: return "58030";
	case SQLITE_MISMATCH:
	case SQLITE_RANGE: return "22000";
	case SQLITE_TOOBIG: return "54000";
	case SQLITE_NOMEM: return "53200";
	default: return "XX000";
	}
}

static int sq_error(sqlite3 *h, int code, const char *what, qf_err *err)
{
	return qf__db_error(err, sq_state(code), what, h ? sqlite3_errmsg(h) : sqlite3_errstr(code));
}

/* ---- statements ------------------------------------------------------- */

static int sq_bind_rc(int rc)
{
	return rc == SQLITE_OK ? 0 : (rc == SQLITE_NOMEM ? QF_ENOMEM : QF_EINVAL);
}

static int sq_bind_text(qf__stmt *st, int i, const char *s, size_t len)
{
	sq_stmt *q = (sq_stmt *)st;
	if (len > INT_MAX)
		return QF_EINVAL;
	return sq_bind_rc(sqlite3_bind_text(q->h, i, s, (int)len, SQLITE_TRANSIENT));
}

static int sq_bind_int64(qf__stmt *st, int i, int64_t v)
{
	return sq_bind_rc(sqlite3_bind_int64(((sq_stmt *)st)->h, i, v));
}

static int sq_bind_double(qf__stmt *st, int i, double v)
{
	return sq_bind_rc(sqlite3_bind_double(((sq_stmt *)st)->h, i, v));
}

static int sq_bind_bool(qf__stmt *st, int i, bool v)
{
	return sq_bind_rc(sqlite3_bind_int(((sq_stmt *)st)->h, i, v ? 1 : 0));
}

static int sq_bind_null(qf__stmt *st, int i)
{
	return sq_bind_rc(sqlite3_bind_null(((sq_stmt *)st)->h, i));
}

static int sq_step(qf__stmt *st, qf_err *err)
{
	sq_stmt *q = (sq_stmt *)st;
	if (q->done)
		return 0;
	sqlite3 *h = ((sq_db *)st->db)->h;
	int rc = sqlite3_step(q->h);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE) {
		q->done = true;
		q->changes = sqlite3_changes64(h);
		return 0;
	}
	q->done = true;
	int ext = sqlite3_extended_errcode(h);
	if ((ext & 0xff) == SQLITE_READONLY)
		((sq_db *)st->db)->write_refused = true;
	int r = sq_error(h, ext, "database statement", err);
	sqlite3_reset(q->h);
	return r;
}

static void sq_reset(qf__stmt *st)
{
	sq_stmt *q = (sq_stmt *)st;
	sqlite3_reset(q->h);
	sqlite3_clear_bindings(q->h);
	q->done = false;
	q->changes = 0;
}

static int sq_ncols(qf__stmt *st)
{
	return sqlite3_column_count(((sq_stmt *)st)->h);
}

static const char *sq_col_name(qf__stmt *st, int i)
{
	return sqlite3_column_name(((sq_stmt *)st)->h, i);
}

static bool sq_col_null(qf__stmt *st, int i)
{
	return sqlite3_column_type(((sq_stmt *)st)->h, i) == SQLITE_NULL;
}

static const char *sq_col_text(qf__stmt *st, int i, size_t *len)
{
	sqlite3_stmt *h = ((sq_stmt *)st)->h;
	const char *s = (const char *)sqlite3_column_text(h, i);
	if (len)
		*len = s ? (size_t)sqlite3_column_bytes(h, i) : 0;
	return s;
}

static int64_t sq_col_int64(qf__stmt *st, int i)
{
	return sqlite3_column_int64(((sq_stmt *)st)->h, i);
}

static double sq_col_double(qf__stmt *st, int i)
{
	return sqlite3_column_double(((sq_stmt *)st)->h, i);
}

static bool sq_col_bool(qf__stmt *st, int i)
{
	return sqlite3_column_int64(((sq_stmt *)st)->h, i) != 0;
}

static int64_t sq_changes(qf__stmt *st)
{
	return ((sq_stmt *)st)->changes;
}

static void sq_free(sq_stmt *q)
{
	sqlite3_finalize(q->h);
	free(q->sql);
	free(q);
}

static void sq_finalize(qf__stmt *st)
{
	sq_stmt *q = (sq_stmt *)st;
	if (q->cached) {
		sq_reset(st);
		q->in_use = false;
		return;
	}
	sq_free(q);
}

/* Before the connection closes: the cached statements go with it (one in
 * use, there is none between transactions, is freed by its finalize). */
static void sq_cache_clear(sq_db *d)
{
	for (int i = 0; i < d->ncache; i++) {
		if (d->cache[i]->in_use)
			d->cache[i]->cached = false;
		else
			sq_free(d->cache[i]);
		d->cache[i] = NULL;
	}
	d->ncache = 0;
}

/* A cached statement for sql that is not in use, reset; or NULL. */
static sq_stmt *sq_cache_take(sq_db *d, const char *sql)
{
	for (int i = 0; i < d->ncache; i++) {
		sq_stmt *q = d->cache[i];
		if (!q->in_use && (q->sql == sql || !strcmp(q->sql, sql))) {
			sq_reset(&q->base);
			q->in_use = true;
			return q;
		}
	}
	return NULL;
}

/* Keep q (just prepared from sql) in the cache, giving up an idle entry when
 * it is full; when every entry is in use q stays uncached. */
static void sq_cache_put(sq_db *d, sq_stmt *q, const char *sql)
{
	if (!(q->sql = strdup(sql)))
		return;
	int slot = -1;
	if (d->ncache < SQ_CACHE) {
		slot = d->ncache++;
	} else {
		for (int k = 0; k < SQ_CACHE && slot < 0; k++) {
			unsigned i = (d->evict + (unsigned)k) % SQ_CACHE;
			if (!d->cache[i]->in_use) {
				sq_free(d->cache[i]);
				slot = (int)i;
			}
		}
		d->evict = (unsigned)(slot + 1) % SQ_CACHE;
	}
	if (slot < 0) {
		free(q->sql);
		q->sql = NULL;
		return;
	}
	d->cache[slot] = q;
	q->cached = true;
	q->in_use = true;
}

static const qf__stmt_ops sq_stmt_ops = {
	.bind_text = sq_bind_text,
	.bind_int64 = sq_bind_int64,
	.bind_double = sq_bind_double,
	.bind_bool = sq_bind_bool,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.reset = sq_reset,
	.ncols = sq_ncols,
	.col_name = sq_col_name,
	.col_null = sq_col_null,
	.col_text = sq_col_text,
	.col_int64 = sq_col_int64,
	.col_double = sq_col_double,
	.col_bool = sq_col_bool,
	.changes = sq_changes,
	.finalize = sq_finalize,
};

/* ---- connection ------------------------------------------------------- */

static int sq_exec(qf__db *db, const char *sql, qf_err *err);

/* The settings of every connection (see the top of this file). */
static int sq_setup(sq_db *d, qf_err *err)
{
	sqlite3_extended_result_codes(d->h, 1);
	sqlite3_busy_timeout(d->h, d->busy_timeout_ms);
	/* journal_mode returns a row; sqlite3_exec ignores it. */
	return sq_exec(&d->base,
	               "PRAGMA journal_mode = WAL;"
	               "PRAGMA synchronous = FULL;"
	               "PRAGMA foreign_keys = ON;"
	               "PRAGMA temp_store = MEMORY;"
	               /* 32 MiB of page cache (the default is 2 MiB): recording
	                * thousands of calculations touches the pages of several
	                * indexes at once, which otherwise go back and forth to the
	                * OS cache. One connection per process. */
	               "PRAGMA cache_size = -32768;",
	               err);
}

/* Whether the database file, its directory and its WAL and shared-memory
 * files (when they exist) may be written by this process now. */
static bool sq_writable_now(const char *path)
{
	char other[PATH_MAX];
	if (access(path, W_OK))
		return false;
	static const char *const suffixes[] = {"-wal", "-shm"};
	for (size_t i = 0; i < 2; i++) {
		if (qf_snprintf(other, sizeof(other), "%s%s", path, suffixes[i]))
			return false;
		if (access(other, F_OK) == 0 && access(other, W_OK))
			return false;
	}
	qf_strlcpy(other, path, sizeof(other));
	char *slash = strrchr(other, '/');
	if (slash == other)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		qf_strlcpy(other, ".", sizeof(other));
	return access(other, W_OK) == 0;
}

static int sq_connect(sq_db *d, qf_err *err);

/* SQLite opens a database it may not write (the file or its directory
 * read-only at that moment) read-only without a word, and such a connection
 * stays read-only after the file becomes writable again: a long-lived
 * process (a worker started while the database was read-only) could then
 * never write. Before a write transaction, such a connection is replaced by
 * a fresh one once the files are writable; until then the transaction fails
 * as before (read-only database: the store is unavailable, the caller
 * retries). The old connection is closed first: SQLite shares a database's
 * shared-memory index between the connections of a process, read-only when
 * the first one opened it so. No statement is open at that point
 * (statements live inside transactions), so the close is immediate. */
static void sq_reopen_if_read_only(sq_db *d)
{
	/* Not only a read-only main database: a connection whose shared-memory
	 * index or WAL could not be opened for writing (their owner or mode
	 * changed under it) refuses writes with SQLITE_READONLY_* while
	 * sqlite3_db_readonly() says writable. */
	if (!d->h || (sqlite3_db_readonly(d->h, "main") != 1 && !d->write_refused) ||
	    !sq_writable_now(d->path))
		return;
	d->write_refused = false;
	sq_cache_clear(d);
	sqlite3_close_v2(d->h);
	d->h = NULL;
	sq_connect(d, NULL); /* should it fail, the transaction reports why */
}

/* A connection for d when it has none (its reopening failed). */
static int sq_connect(sq_db *d, qf_err *err)
{
	if (d->h)
		return 0;
	if (sqlite3_open_v2(d->path, &d->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		int rc = qf_err_set(err, QF_CAT_SYSTEM, "store.unavailable",
		                    "could not open the SQLite database %s again: %s", d->path,
		                    d->h ? sqlite3_errmsg(d->h) : "out of memory");
		sqlite3_close_v2(d->h);
		d->h = NULL;
		return rc;
	}
	sq_setup(d, NULL); /* as at the first open; a failure shows in the next statement */
	return 0;
}

static int sq_prepare(qf__db *db, const char *sql, qf__stmt **out, qf_err *err);

/* The statements that open and close every transaction, run from the
 * statement cache: sqlite3_exec would parse them again each time, and a
 * read of one row costs little more than that parse. */
static bool sq_is_tx_control(const char *sql)
{
	return !strcmp(sql, "BEGIN") || !strcmp(sql, "BEGIN IMMEDIATE") || !strcmp(sql, "COMMIT") ||
	       !strcmp(sql, "ROLLBACK");
}

static int sq_exec(qf__db *db, const char *sql, qf_err *err)
{
	if (!strncmp(sql, "BEGIN IMMEDIATE", 15))
		sq_reopen_if_read_only((sq_db *)db);
	int crc = sq_connect((sq_db *)db, err);
	if (crc)
		return crc;
	if (sq_is_tx_control(sql)) {
		qf__stmt *st;
		int rc = sq_prepare(db, sql, &st, err);
		if (rc)
			return rc;
		rc = sq_step(st, err);
		sq_finalize(st);
		return rc < 0 ? rc : 0;
	}
	sqlite3 *h = ((sq_db *)db)->h;
	char *msg = NULL;
	int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		return 0;
	if ((sqlite3_extended_errcode(h) & 0xff) == SQLITE_READONLY)
		((sq_db *)db)->write_refused = true;
	int r = qf__db_error(err, sq_state(sqlite3_extended_errcode(h)), "database statement",
	                     msg ? msg : sqlite3_errmsg(h));
	sqlite3_free(msg);
	return r;
}

static int sq_prepare(qf__db *db, const char *sql, qf__stmt **out, qf_err *err)
{
	int crc = sq_connect((sq_db *)db, err);
	if (crc)
		return crc;
	sq_db *d = (sq_db *)db;
	sq_stmt *q = sq_cache_take(d, sql);
	if (q) {
		*out = &q->base;
		return 0;
	}
	sqlite3 *h = d->h;
	q = calloc(1, sizeof(*q));
	if (!q)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	int rc = sqlite3_prepare_v3(h, sql, -1, SQLITE_PREPARE_PERSISTENT, &q->h, NULL);
	if (rc != SQLITE_OK) {
		free(q);
		return sq_error(h, sqlite3_extended_errcode(h), "preparing a database statement", err);
	}
	q->base.ops = &sq_stmt_ops;
	q->base.db = db;
	q->base.nparams = sqlite3_bind_parameter_count(q->h);
	sq_cache_put(d, q, sql);
	*out = &q->base;
	return 0;
}

static void sq_close(qf__db *db)
{
	sq_db *d = (sq_db *)db;
	sq_cache_clear(d);
	sqlite3_close_v2(d->h);
	free(d->path);
	free(d);
}

static const qf__db_ops sq_db_ops = {
	.exec = sq_exec,
	.prepare = sq_prepare,
	.close = sq_close,
};

/* SQLite counts the memory it holds under one process-wide mutex on every
 * allocation: with a server's threads reading at once that mutex is
 * contended (futex waits in the profile of bench/api). Nothing here reads
 * those counts, so they are turned off before SQLite starts. */
static void sq_configure(void)
{
	if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
		qf_log_debug("store", "SQLite was started before its memory statistics could be turned off");
}

static pthread_once_t sq_once = PTHREAD_ONCE_INIT;

int qf__sqlite_open(qf__db **out, const char *path, int busy_timeout_ms, qf_err *err)
{
	pthread_once(&sq_once, sq_configure);
	sq_db *d = calloc(1, sizeof(*d));
	if (!d)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	d->base.ops = &sq_db_ops;
	d->base.dialect = QF__SQLITE;
	d->busy_timeout_ms = busy_timeout_ms;
	/* no mutex of its own: the store hands the connection to one thread at a
	 * time (its slot), and SQLite's lock around every call would only add to
	 * that */
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int rc = sqlite3_open_v2(path, &d->h, flags, NULL);
	if (rc != SQLITE_OK || !(d->path = strdup(path))) {
		int r = qf_err_set(err, QF_CAT_SYSTEM, "store.unavailable",
		                   "could not open the SQLite database %s: %s", path,
		                   rc != SQLITE_OK ? (d->h ? sqlite3_errmsg(d->h) : sqlite3_errstr(rc))
		                                   : "out of memory");
		sqlite3_close_v2(d->h);
		free(d);
		return r;
	}
	rc = sq_setup(d, err);
	if (rc) {
		/* Typically a locked or read-only file: the machine, not the caller. */
		char why[QF_MAX_ERR_MSG];
		qf_strlcpy(why, err ? err->message : "", sizeof(why));
		sq_close(&d->base);
		return qf_err_set(err, QF_CAT_SYSTEM, "store.unavailable",
		                  "could not set up the SQLite database %s: %s", path, why);
	}
	*out = &d->base;
	return 0;
}
