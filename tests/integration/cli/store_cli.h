/*
 * Shared by the tests of the store commands (qforge db, qforge reindex): a
 * fresh store on either backend, running qforge, and a snapshot of every
 * table to tell whether a command changed anything.
 *
 *   SQLite      sqlite:<fresh temp dir>/qforge.db
 *   PostgreSQL  a fresh database qf_cli_<name>_<pid>_<n> on QF_TEST_PG_URL
 *               (a superuser URL; scripts/with-postgres provides it), dropped
 *               by ts_destroy
 */
#ifndef STORE_CLI_H
#define STORE_CLI_H

#include "qftest.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qf/err.h"
#include "qf/fs.h"
#include "qf/store.h"
#include "qf/str.h"

typedef enum ts_backend { TS_SQLITE, TS_POSTGRES } ts_backend;

typedef struct test_store {
	ts_backend kind;
	char url[QF_MAX_PATH + 32];
	char dir[QF_MAX_PATH]; /* SQLite: the temp directory */
	char db[96];           /* PostgreSQL: the database */
} test_store;

/* Every table a store has, but schema_migrations. */
static const char *const ts_tables[] = {
	"organisations", "users", "memberships", "api_keys", "auth_sessions", "molecules",
	"batches", "calculations", "atomic_properties", "user_sessions",
	"calculation_execution_metrics", "calculation_errors", "performance_metrics",
	"user_preferences", "api_usage_logs", "molecule_properties_computed",
	"batch_job_performance", "user_audit_log",
};
#define TS_NTABLES ((int)(sizeof(ts_tables) / sizeof(ts_tables[0])))

static inline const char *ts_pg_url(void)
{
	const char *url = getenv("QF_TEST_PG_URL");
	if (!url || !*url)
		fail_msg("QF_TEST_PG_URL is not set: the PostgreSQL half of this test needs a superuser "
		         "URL; run it through scripts/with-postgres (make test always does), e.g. "
		         "scripts/with-postgres ctest --test-dir BUILD -R cli");
	return url;
}

static inline void ts_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* A superuser connection to dbname (NULL: the one in QF_TEST_PG_URL). */
static inline PGconn *ts_pg_connect(const char *dbname)
{
	const char *keys[3] = {"dbname", dbname ? "dbname" : NULL, NULL};
	const char *vals[3] = {ts_pg_url(), dbname, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c || PQstatus(c) != CONNECTION_OK)
		fail_msg("could not connect to PostgreSQL: %s", c ? PQerrorMessage(c) : "out of memory");
	PQsetNoticeProcessor(c, ts_quiet, NULL);
	return c;
}

static inline void ts_pg_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char msg[512];
		qf_strlcpy(msg, PQresultErrorMessage(r), sizeof(msg));
		PQclear(r);
		fail_msg("%s: %s", sql, msg);
	}
	PQclear(r);
}

/* postgresql://user@host:port/db of a database on the test server, as the
 * given role (NULL: the superuser of QF_TEST_PG_URL). */
static inline void ts_pg_db_url(char *out, size_t size, const char *db, const char *role)
{
	PGconn *c = ts_pg_connect(NULL);
	if (qf_snprintf(out, size, "postgresql://%s@%s:%s/%s", role ? role : PQuser(c), PQhost(c),
	                PQport(c), db))
		fail_msg("database URL too long");
	PQfinish(c);
}

static inline void ts_create(test_store *t, ts_backend kind, const char *name)
{
	static int counter;
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	if (kind == TS_SQLITE) {
		qft_tmpdir(t->dir, name);
		snprintf(t->url, sizeof(t->url), "sqlite:%s/qforge.db", t->dir);
		return;
	}
	snprintf(t->db, sizeof(t->db), "qf_cli_%s_%ld_%d", name, (long)getpid(), counter++);
	for (char *p = t->db; *p; p++) /* an identifier: letters, digits, _ */
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	PGconn *c = ts_pg_connect(NULL);
	char sql[256];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", t->db);
	ts_pg_exec(c, sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", t->db);
	ts_pg_exec(c, sql);
	PQfinish(c);
	ts_pg_db_url(t->url, sizeof(t->url), t->db, NULL);
}

static inline void ts_destroy(test_store *t)
{
	if (t->kind == TS_SQLITE) {
		if (t->dir[0])
			qf_fs_rm_rf(t->dir);
	} else if (t->db[0]) {
		PGconn *c = ts_pg_connect(NULL);
		char sql[256];
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->db);
		ts_pg_exec(c, sql);
		PQfinish(c);
	}
	memset(t, 0, sizeof(*t));
}

static inline const char *ts_name(const test_store *t)
{
	return t->kind == TS_SQLITE ? "sqlite" : "postgresql";
}

/* The store, opened in this process (migrated). */
static inline qf_store *ts_open(const test_store *t)
{
	qf_store *s = NULL;
	qf_err e;
	qf_err_init(&e);
	if (qf_store_open(&s, t->url, NULL, &e))
		fail_msg("could not open the %s store: %s", ts_name(t), e.message);
	return s;
}

static inline int64_t ts_count(qf_store *s, const char *table)
{
	qf_actor sys = qf_actor_system();
	qf_store_filter f = {0};
	int64_t n = -1;
	qf_err e;
	qf_err_init(&e);
	if (qf_store_count(s, &sys, table, &f, &n, &e))
		fail_msg("count of %s: %s", table, e.message);
	return n;
}

static inline int ts_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every row of every table, as the system sees it: {"table": {"count": n,
 * "rows": ["<row as sorted JSON>", ... sorted]}}. Two snapshots are equal
 * (json_equal) when nothing was added, removed or changed. */
static inline json_t *ts_snapshot(const test_store *t)
{
	qf_store *s = ts_open(t);
	qf_actor sys = qf_actor_system();
	json_t *snap = json_object();
	for (int i = 0; i < TS_NTABLES; i++) {
		int64_t n = ts_count(s, ts_tables[i]);
		assert_true(n < QF_STORE_MAX_LIMIT);
		qf_store_filter f = {.limit = QF_STORE_MAX_LIMIT};
		json_t *rows = NULL;
		qf_err e;
		qf_err_init(&e);
		if (qf_store_list(s, &sys, ts_tables[i], &f, &rows, &e))
			fail_msg("list of %s: %s", ts_tables[i], e.message);
		size_t k = json_array_size(rows);
		assert_int_equal((int64_t)k, n);
		char **texts = calloc(k + 1, sizeof(char *));
		assert_non_null(texts);
		for (size_t r = 0; r < k; r++) {
			texts[r] = json_dumps(json_array_get(rows, r), JSON_COMPACT | JSON_SORT_KEYS);
			assert_non_null(texts[r]);
		}
		qsort(texts, k, sizeof(char *), ts_cmp_str);
		json_t *sorted = json_array();
		for (size_t r = 0; r < k; r++) {
			json_array_append_new(sorted, json_string(texts[r]));
			free(texts[r]);
		}
		free(texts);
		json_decref(rows);
		json_object_set_new(snap, ts_tables[i], json_pack("{s:I,s:o}", "count", (json_int_t)n,
		                                                  "rows", sorted));
	}
	qf_store_close(s);
	return snap;
}

/* Fail, naming the tables that differ, unless the snapshots are equal. */
static inline void ts_assert_same(json_t *before, json_t *after, const char *what)
{
	if (json_equal(before, after))
		return;
	for (int i = 0; i < TS_NTABLES; i++) {
		json_t *a = json_object_get(before, ts_tables[i]), *b = json_object_get(after, ts_tables[i]);
		if (!json_equal(a, b))
			print_error("%s changed table %s: %lld rows before, %lld after\n", what, ts_tables[i],
			            (long long)json_integer_value(json_object_get(a, "count")),
			            (long long)json_integer_value(json_object_get(b, "count")));
	}
	fail_msg("%s changed the store", what);
}

static inline int64_t ts_snap_count(json_t *snap, const char *table)
{
	return json_integer_value(json_object_get(json_object_get(snap, table), "count"));
}

/* Run qforge with args (NULL-terminated), extra environment env (may be
 * NULL). */
static inline void ts_qforge(qft_output *o, const char *const *env, const char *const *args)
{
	const char *argv[64];
	int n = 0;
	argv[n++] = qft_qforge();
	for (const char *const *a = args; *a && n < 63; a++)
		argv[n++] = *a;
	argv[n] = NULL;
	qft_run(o, argv, env, NULL, 600);
}

/* Fail unless the output has the exit status and the texts (NULL ends). */
static inline void ts_expect(const qft_output *o, int status, const char *where, const char *const *texts)
{
	if (o->exit_code != status)
		fail_msg("%s: exit status %d, expected %d\nstdout:\n%s\nstderr:\n%s", where, o->exit_code,
		         status, o->out, o->err);
	for (const char *const *t = texts; t && *t; t++)
		if (!strstr(o->out, *t) && !strstr(o->err, *t))
			fail_msg("%s: '%s' not in the output\nstdout:\n%s\nstderr:\n%s", where, *t, o->out,
			         o->err);
}

#endif
