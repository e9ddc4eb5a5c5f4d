/*
 * The store's driver layer: one connection, statements with '?'
 * placeholders, typed binds and column getters, transactions, and database
 * errors turned into a qf_err. Two implementations: sqlite.c (libsqlite3)
 * and pg.c (libpq; '?' is rewritten to $1..$n, values travel as text).
 *
 * Everything above this layer (store.c, rows.c, record.c, purge.c) is
 * written once against it; the few places where the SQL differs ask
 * qf__db_dialect().
 *
 * A connection is used by one thread at a time (the store hands it out under
 * a mutex, or from the PostgreSQL pool).
 */
#ifndef QF_STORE_DB_H
#define QF_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qf/err.h"

typedef enum qf__dialect { QF__SQLITE = 0, QF__PG } qf__dialect;

typedef struct qf__db qf__db;
typedef struct qf__stmt qf__stmt;

/* The operations a driver provides (see the wrappers below). */
typedef struct qf__db_ops {
	int (*exec)(qf__db *db, const char *sql, qf_err *err);
	int (*prepare)(qf__db *db, const char *sql, qf__stmt **out, qf_err *err);
	void (*close)(qf__db *db);
} qf__db_ops;

typedef struct qf__stmt_ops {
	int (*bind_text)(qf__stmt *st, int i, const char *s, size_t len);
	int (*bind_int64)(qf__stmt *st, int i, int64_t v);
	int (*bind_double)(qf__stmt *st, int i, double v);
	int (*bind_bool)(qf__stmt *st, int i, bool v);
	int (*bind_null)(qf__stmt *st, int i);
	int (*step)(qf__stmt *st, qf_err *err);
	void (*reset)(qf__stmt *st);
	int (*ncols)(qf__stmt *st);
	const char *(*col_name)(qf__stmt *st, int i);
	bool (*col_null)(qf__stmt *st, int i);
	const char *(*col_text)(qf__stmt *st, int i, size_t *len);
	int64_t (*col_int64)(qf__stmt *st, int i);
	double (*col_double)(qf__stmt *st, int i);
	bool (*col_bool)(qf__stmt *st, int i);
	int64_t (*changes)(qf__stmt *st);
	void (*finalize)(qf__stmt *st);
} qf__stmt_ops;

struct qf__db {
	const qf__db_ops *ops;
	qf__dialect dialect;
};

struct qf__stmt {
	const qf__stmt_ops *ops;
	qf__db *db;
	int nparams; /* number of '?' placeholders */
};

static inline qf__dialect qf__db_dialect(const qf__db *db)
{
	return db->dialect;
}

/* Run SQL without parameters (several statements separated by ';' are
 * allowed; no rows are returned). */
static inline int qf__db_exec(qf__db *db, const char *sql, qf_err *err)
{
	return db->ops->exec(db, sql, err);
}

/* Prepare one statement. Placeholders are '?' (never inside the SQL's own
 * string literals, which the store does not write). */
static inline int qf__db_prepare(qf__db *db, const char *sql, qf__stmt **out, qf_err *err)
{
	return db->ops->prepare(db, sql, out, err);
}

static inline void qf__db_close(qf__db *db)
{
	if (db)
		db->ops->close(db);
}

/* Binds: i is 1-based. A text is copied (it may be freed after the bind). */
static inline int qf__stmt_bind_text(qf__stmt *st, int i, const char *s, size_t len)
{
	return st->ops->bind_text(st, i, s, len);
}
static inline int qf__stmt_bind_str(qf__stmt *st, int i, const char *s)
{
	return s ? st->ops->bind_text(st, i, s, strlen(s)) : st->ops->bind_null(st, i);
}
static inline int qf__stmt_bind_int64(qf__stmt *st, int i, int64_t v)
{
	return st->ops->bind_int64(st, i, v);
}
static inline int qf__stmt_bind_double(qf__stmt *st, int i, double v)
{
	return st->ops->bind_double(st, i, v);
}
static inline int qf__stmt_bind_bool(qf__stmt *st, int i, bool v)
{
	return st->ops->bind_bool(st, i, v);
}
static inline int qf__stmt_bind_null(qf__stmt *st, int i)
{
	return st->ops->bind_null(st, i);
}

/* Execute (first call) or advance: 1 = a row is available, 0 = done,
 * negative = error (err filled). */
static inline int qf__stmt_step(qf__stmt *st, qf_err *err)
{
	return st->ops->step(st, err);
}

/* Make the statement ready to run again; clears the bindings. */
static inline void qf__stmt_reset(qf__stmt *st)
{
	st->ops->reset(st);
}

/* Columns of the current row (0-based). Texts stay valid until the next
 * step, reset or finalize. */
static inline int qf__stmt_ncols(qf__stmt *st)
{
	return st->ops->ncols(st);
}
static inline const char *qf__stmt_col_name(qf__stmt *st, int i)
{
	return st->ops->col_name(st, i);
}
static inline bool qf__stmt_col_null(qf__stmt *st, int i)
{
	return st->ops->col_null(st, i);
}
static inline const char *qf__stmt_col_text(qf__stmt *st, int i, size_t *len)
{
	return st->ops->col_text(st, i, len);
}
static inline int64_t qf__stmt_col_int64(qf__stmt *st, int i)
{
	return st->ops->col_int64(st, i);
}
static inline double qf__stmt_col_double(qf__stmt *st, int i)
{
	return st->ops->col_double(st, i);
}
static inline bool qf__stmt_col_bool(qf__stmt *st, int i)
{
	return st->ops->col_bool(st, i);
}

/* Rows changed by the last INSERT/UPDATE/DELETE run by this statement. */
static inline int64_t qf__stmt_changes(qf__stmt *st)
{
	return st->ops->changes(st);
}

static inline void qf__stmt_finalize(qf__stmt *st)
{
	if (st)
		st->ops->finalize(st);
}

/* ---- opening ---------------------------------------------------------- */

/* SQLite: open (creating) the database file at path with WAL, FULL
 * synchronous, foreign keys and the busy timeout. */
int qf__sqlite_open(qf__db **db, const char *path, int busy_timeout_ms, qf_err *err);

/* PostgreSQL: connect with a libpq URL; adds connect_timeout and TCP
 * keepalives, sets TimeZone UTC and DateStyle ISO. */
int qf__pg_connect(qf__db **db, const char *url, qf_err *err);
/* Whether the connection is still usable (PQstatus); a bad one is reset,
 * which may fail (err: store.unavailable). */
int qf__pg_check(qf__db *db, qf_err *err);
/* Whether a failed call left the connection broken. */
bool qf__pg_broken(qf__db *db);
/* Forget the server-side prepared statements (after a schema change). */
int qf__pg_forget_prepared(qf__db *db, qf_err *err);
/* Rewrite '?' placeholders to $1..$n (outside quotes); *out is heap. */
int qf__pg_rewrite(const char *sql, char **out, int *nparams);

/* ---- helpers shared by the drivers ------------------------------------ */

/* Map a PostgreSQL SQLSTATE (or an SQLite extended code through its own
 * mapping) to a category, return code and stable code string, and fill err
 * with a message naming what failed. The database's own text goes into
 * err->detail when it may name other people's values. */
int qf__db_error(qf_err *err, const char *sqlstate, const char *what, const char *dbmsg);

#endif
