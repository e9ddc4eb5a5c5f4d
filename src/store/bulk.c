/*
 * Bulk inserts (see store_int.h): rows appended value by value, written
 *   - on SQLite one row per execution of a prepared INSERT (no round trip,
 *     so this is as fast as SQLite inserts get);
 *   - on PostgreSQL many rows per statement, as one array per column:
 *     INSERT INTO t (cols) SELECT * FROM unnest($1::type[], ...). COPY FROM
 *     would be faster still, but PostgreSQL refuses it for tables with
 *     row-level security, which every user-data table has.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/str.h"
#include "store_int.h"

/* Bytes of one column's array literal: rows stop being added past
 * QF__BULK_FLUSH_BYTES; the cap leaves room for one more value of the
 * largest kind (a JSON document, escaped). */
#define QF__BULK_FLUSH_BYTES (8L * 1024 * 1024)
#define QF__BULK_ARRAY_CAP ((size_t)QF__BULK_FLUSH_BYTES + 2 * (size_t)QF_STORE_MAX_JSON + 64)

static const char *pg_array_type(qf__ctype t, bool big)
{
	switch (t) {
	case QF__TEXT: return "text[]";
	case QF__INT: return big ? "int8[]" : "int4[]";
	case QF__REAL: return "float8[]";
	case QF__BOOL: return "bool[]";
	case QF__JSON: return "jsonb[]";
	case QF__TIME: return "timestamptz[]";
	case QF__UUID: return "uuid[]";
	}
	return "text[]";
}

int qf__bulk_init(qf__bulk *b, qf__db *db, const qf__table *t, const char *const *cols, int ncols,
                  const char *suffix, int max_rows, qf_err *err)
{
	memset(b, 0, sizeof(*b));
	b->db = db;
	b->t = t;
	b->pg = qf__db_dialect(db) == QF__PG;
	b->ncols = ncols;
	b->max_rows = max_rows > 0 ? max_rows : 1;
	if (ncols < 1 || ncols > QF__BULK_MAX_COLS)
		return qf_err_set(err, QF_CAT_SYSTEM, "store.error", "internal: bulk insert of %d columns",
		                  ncols);
	qf_buf sql;
	qf_buf_init(&sql, 16384);
	int rc = qf_buf_printf(&sql, "INSERT INTO \"%s\" (", t->name);
	for (int i = 0; i < ncols && !rc; i++) {
		int ci = qf__table_col(t, cols[i]);
		if (ci < 0) {
			qf_buf_release(&sql);
			return qf_err_set(err, QF_CAT_SYSTEM, "store.error",
			                  "internal: table %s has no column %s", t->name, cols[i]);
		}
		b->col[i] = &t->cols[ci];
		rc = qf_buf_printf(&sql, "%s\"%s\"", i ? ", " : "", cols[i]);
	}
	if (!rc && b->pg) {
		rc = qf_buf_puts(&sql, ") SELECT * FROM unnest(");
		for (int i = 0; i < ncols && !rc; i++)
			rc = qf_buf_printf(&sql, "%s?::%s", i ? ", " : "",
			                   pg_array_type(b->col[i]->type, b->col[i]->flags & QF__C_BIG));
		rc = rc ? rc : qf_buf_puts(&sql, ")");
	} else if (!rc) {
		rc = qf_buf_puts(&sql, ") VALUES (");
		for (int i = 0; i < ncols && !rc; i++)
			rc = qf_buf_puts(&sql, i ? ", ?" : "?");
		rc = rc ? rc : qf_buf_puts(&sql, ")");
	}
	if (!rc && suffix)
		rc = qf_buf_printf(&sql, " %s", suffix);
	if (rc) {
		qf_buf_release(&sql);
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	}
	rc = qf__db_prepare(db, qf_buf_str(&sql), &b->st, err);
	qf_buf_release(&sql);
	if (rc)
		return rc;
	for (int i = 0; i < ncols; i++)
		qf_buf_init(&b->arr[i], QF__BULK_ARRAY_CAP);
	return 0;
}

void qf__bulk_release(qf__bulk *b)
{
	qf__stmt_finalize(b->st);
	b->st = NULL;
	for (int i = 0; i < b->ncols; i++)
		qf_buf_release(&b->arr[i]);
}

/* ---- values --------------------------------------------------------------- */

/* The next column's array, with its separator written. */
static qf_buf *next_array(qf__bulk *b)
{
	if (b->cur >= b->ncols) {
		b->rc = b->rc ? b->rc : QF_EINVAL;
		return NULL;
	}
	qf_buf *a = &b->arr[b->cur++];
	if (qf_buf_puts(a, a->len ? "," : "{"))
		b->rc = b->rc ? b->rc : QF_EINVAL;
	return a;
}

/* A quoted array element: "..." with " and \ escaped. */
static void put_quoted(qf__bulk *b, qf_buf *a, const char *s, size_t n)
{
	int rc = qf_buf_puts(a, "\"");
	const char *p = s, *end = s + n;
	while (!rc && p < end) {
		const char *q = p;
		while (q < end && *q != '"' && *q != '\\')
			q++;
		rc = qf_buf_append(a, p, (size_t)(q - p));
		if (!rc && q < end)
			rc = qf_buf_printf(a, "\\%c", *q++);
		p = q;
	}
	if (!rc)
		rc = qf_buf_puts(a, "\"");
	if (rc)
		b->rc = b->rc ? b->rc : rc;
}

void qf__bulk_text(qf__bulk *b, const char *s)
{
	if (!s) {
		qf__bulk_null(b);
		return;
	}
	if (!b->pg) {
		qf__stmt_bind_text(b->st, ++b->cur, s, strlen(s));
		return;
	}
	qf_buf *a = next_array(b);
	if (a)
		put_quoted(b, a, s, strlen(s));
}

void qf__bulk_int(qf__bulk *b, int64_t v)
{
	if (!b->pg) {
		qf__stmt_bind_int64(b->st, ++b->cur, v);
		return;
	}
	qf_buf *a = next_array(b);
	if (a && qf_buf_printf(a, "%lld", (long long)v))
		b->rc = b->rc ? b->rc : QF_EINVAL;
}

void qf__bulk_real(qf__bulk *b, bool has, double v)
{
	if (!has || !isfinite(v)) {
		qf__bulk_null(b);
		return;
	}
	if (!b->pg) {
		qf__stmt_bind_double(b->st, ++b->cur, v);
		return;
	}
	qf_buf *a = next_array(b);
	if (a && qf_buf_printf(a, "%.17g", v))
		b->rc = b->rc ? b->rc : QF_EINVAL;
}

void qf__bulk_bool(qf__bulk *b, bool has, bool v)
{
	if (!has) {
		qf__bulk_null(b);
		return;
	}
	if (!b->pg) {
		qf__stmt_bind_bool(b->st, ++b->cur, v);
		return;
	}
	qf_buf *a = next_array(b);
	if (a && qf_buf_puts(a, v ? "t" : "f"))
		b->rc = b->rc ? b->rc : QF_EINVAL;
}

void qf__bulk_null(qf__bulk *b)
{
	if (!b->pg) {
		qf__stmt_bind_null(b->st, ++b->cur);
		return;
	}
	qf_buf *a = next_array(b);
	if (a && qf_buf_puts(a, "NULL"))
		b->rc = b->rc ? b->rc : QF_EINVAL;
}

void qf__bulk_time(qf__bulk *b, double t)
{
	if (t <= 0) {
		qf__bulk_null(b);
		return;
	}
	char ts[QF_TIME_STR];
	qf__time_format(t, ts);
	qf__bulk_text(b, ts);
}

int qf__bulk_json(qf__bulk *b, json_t *v, qf_err *err)
{
	if (!v || json_is_null(v)) {
		json_decref(v);
		qf__bulk_null(b);
		return 0;
	}
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
	json_decref(v);
	if (!s)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	size_t n = strlen(s);
	if (n > (size_t)QF_STORE_MAX_JSON) {
		free(s);
		/* Keep the row's column count right; the error stops the call. */
		qf__bulk_null(b);
		return qf_err_set(err, QF_CAT_VALIDATION, "store.too_large",
		                  "a JSON document of %zu bytes is more than the %ld allowed", n,
		                  (long)QF_STORE_MAX_JSON);
	}
	qf__bulk_text(b, s);
	free(s);
	return 0;
}

/* ---- rows ------------------------------------------------------------------- */

int qf__bulk_end_row(qf__bulk *b, qf_err *err)
{
	if (b->rc || b->cur != b->ncols) {
		int rc = b->rc;
		b->rc = 0;
		b->cur = 0;
		if (rc == QF_ENOMEM)
			return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		return qf_err_set(err, QF_CAT_SYSTEM, "store.error",
		                  "internal: a bulk row of %s has a wrong number of values, or too large ones",
		                  b->t->name);
	}
	b->cur = 0;
	b->appended++;
	if (!b->pg) {
		int rc = qf__stmt_step(b->st, err);
		while (rc > 0)
			rc = qf__stmt_step(b->st, err);
		b->changes += qf__stmt_changes(b->st);
		qf__stmt_reset(b->st);
		return rc;
	}
	b->rows++;
	if (b->rows >= b->max_rows)
		return 1;
	for (int i = 0; i < b->ncols; i++)
		if (b->arr[i].len >= (size_t)QF__BULK_FLUSH_BYTES)
			return 1;
	return 0;
}

int qf__bulk_flush(qf__bulk *b, qf_err *err)
{
	if (!b->pg || !b->rows)
		return 0;
	for (int i = 0; i < b->ncols; i++) {
		if (qf_buf_puts(&b->arr[i], "}"))
			return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		qf__stmt_bind_text(b->st, i + 1, b->arr[i].data, b->arr[i].len);
	}
	int rc = qf__stmt_step(b->st, err);
	while (rc > 0)
		rc = qf__stmt_step(b->st, err);
	b->changes += qf__stmt_changes(b->st);
	qf__stmt_reset(b->st);
	for (int i = 0; i < b->ncols; i++)
		qf_buf_clear(&b->arr[i]);
	b->rows = 0;
	return rc;
}
