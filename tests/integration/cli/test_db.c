/* qf-test: labels=integration,cli,store,postgres timeout=600 */
/*
 * `qforge db migrate` and `qforge db purge` on both backends.
 *
 * migrate: a fresh store gets every migration, a second run applies none;
 * on PostgreSQL the application role cannot migrate (and leaves nothing
 * behind). purge: rows are created in the past with a pinned clock, then
 * `qforge db purge` runs at a "now" pinned through QF_FAKE_NOW: rows past
 * retention go (one per rule), rows just inside it stay, calculations are
 * never touched, the counts printed (text and --json) are the rows that
 * went, and a second purge deletes nothing. Malformed command lines are
 * refused (table-driven).
 */
#include "store_cli.h"

#include <glob.h>

#include "qf/clock.h"

#define DAY 86400.0
/* "now" for purge: 2027-01-15T08:00:00Z */
#define NOW 1800000000.0
#define NOW_ENV "QF_FAKE_NOW=1800000000"

/* The migrations of a backend: how many, and the highest version. */
static int migration_count(const char *backend_dir, int *highest)
{
	char pattern[QF_MAX_PATH];
	snprintf(pattern, sizeof(pattern), "%s/sql/%s/[0-9][0-9][0-9]_*.sql", QF_SOURCE_DIR, backend_dir);
	glob_t g;
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	int n = (int)g.gl_pathc;
	assert_true(n >= 1);
	char num[4];
	memcpy(num, strrchr(g.gl_pathv[n - 1], '/') + 1, 3);
	num[3] = '\0';
	long v = 0;
	assert_true(qf_parse_int(num, 1, 999, &v));
	*highest = (int)v;
	globfree(&g);
	return n;
}

static void migrate_twice(ts_backend kind)
{
	test_store t;
	ts_create(&t, kind, "migrate");
	int highest = 0;
	int n = migration_count(kind == TS_SQLITE ? "sqlite" : "postgres", &highest);
	char first[128], second[128];
	snprintf(first, sizeof(first), "%s store: applied %d migration%s, schema version %d", ts_name(&t),
	         n, n == 1 ? "" : "s", highest);
	snprintf(second, sizeof(second), "%s store: applied 0 migrations, schema version %d", ts_name(&t),
	         highest);
	qft_output o;
	const char *args[] = {"db", "migrate", "--store", t.url, NULL};
	ts_qforge(&o, NULL, args);
	ts_expect(&o, 0, "first migrate", (const char *const[]){first, NULL});
	qft_output_release(&o);
	json_t *before = ts_snapshot(&t);
	ts_qforge(&o, NULL, args);
	ts_expect(&o, 0, "second migrate", (const char *const[]){second, NULL});
	qft_output_release(&o);
	json_t *after = ts_snapshot(&t);
	ts_assert_same(before, after, "a second migrate");
	/* the schema is there: the built-in local user exists */
	qf_store *s = ts_open(&t);
	qf_actor sys = qf_actor_system();
	json_t *row = NULL;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_store_get(s, &sys, "users", QF_LOCAL_USER_ID, &row, &e), 0);
	json_decref(row);
	int version = 0;
	assert_int_equal(qf_store_schema_version(s, &version, &e), 0);
	assert_int_equal(version, highest);
	qf_store_close(s);
	json_decref(before);
	json_decref(after);
	ts_destroy(&t);
}

static void test_migrate_sqlite(void **state)
{
	(void)state;
	migrate_twice(TS_SQLITE);
}

static void test_migrate_postgres(void **state)
{
	(void)state;
	migrate_twice(TS_POSTGRES);
}

/* The application role may not migrate: it fails, and the database stays
 * empty. (A migrated database first, so that the role exists.) */
static void test_migrate_postgres_as_application_role(void **state)
{
	(void)state;
	test_store done, fresh;
	ts_create(&done, TS_POSTGRES, "migrated");
	qft_output o;
	ts_qforge(&o, NULL, (const char *const[]){"db", "migrate", "--store", done.url, NULL});
	ts_expect(&o, 0, "migrate as superuser", NULL);
	qft_output_release(&o);

	ts_create(&fresh, TS_POSTGRES, "as_app");
	char app_url[1024];
	ts_pg_db_url(app_url, sizeof(app_url), fresh.db, "qforge_app");
	ts_qforge(&o, NULL, (const char *const[]){"db", "migrate", "--store", app_url, NULL});
	if (o.exit_code == 0 || !o.err[0])
		fail_msg("migrate as qforge_app: exit %d, stderr '%s'", o.exit_code, o.err);
	assert_non_null(strstr(o.err, "qforge:"));
	qft_output_release(&o);
	PGconn *c = ts_pg_connect(fresh.db);
	PGresult *r = PQexec(c, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "0");
	PQclear(r);
	PQfinish(c);
	ts_destroy(&fresh);
	ts_destroy(&done);
}

/* One row per purge rule just past retention, one just inside it, as of
 * NOW; and an old calculation. Created in this process with the clock
 * pinned in the past (for the columns the store fills itself). */
static void create_rows(const test_store *t)
{
	qf_clock_set_fake(NOW - 1000 * DAY);
	qf_store *s = ts_open(t);
	qf_actor sys = qf_actor_system();
	char at[8][QF_TIME_STR];
	const double when[8] = {
		NOW - 8 * DAY,   NOW - 6 * DAY,   /* user_sessions: idle > 7 days / not */
		NOW - 91 * DAY,  NOW - 89 * DAY,  /* metrics and usage logs: > 90 days / not */
		NOW - 366 * DAY, NOW - 364 * DAY, /* audit: > 365 days / not */
		NOW - 3600,      NOW + DAY,       /* auth sessions: expired / valid */
	};
	for (int i = 0; i < 8; i++)
		qf_clock_format(when[i], at[i]);
	struct {
		const char *table;
		json_t *row;
	} rows[] = {
		{"user_sessions", json_pack("{s:s,s:s,s:s}", "user_id", QF_LOCAL_USER_ID, "session_token",
		                            "old", "last_activity", at[0])},
		{"user_sessions", json_pack("{s:s,s:s,s:s}", "user_id", QF_LOCAL_USER_ID, "session_token",
		                            "recent", "last_activity", at[1])},
		{"performance_metrics", json_pack("{s:s,s:s,s:f,s:s}", "metric_type", "queue", "metric_name",
		                                  "depth", "value", 3.0, "timestamp", at[2])},
		{"performance_metrics", json_pack("{s:s,s:s,s:f,s:s}", "metric_type", "queue", "metric_name",
		                                  "depth", "value", 1.0, "timestamp", at[3])},
		{"api_usage_logs", json_pack("{s:s,s:s,s:i,s:i,s:s}", "endpoint", "/api/molecules", "method",
		                             "GET", "status_code", 200, "response_time_ms", 4, "created_at",
		                             at[2])},
		{"api_usage_logs", json_pack("{s:s,s:s,s:i,s:i,s:s}", "endpoint", "/api/molecules", "method",
		                             "GET", "status_code", 200, "response_time_ms", 5, "created_at",
		                             at[3])},
		{"user_audit_log", json_pack("{s:s,s:s,s:s,s:s}", "user_id", QF_LOCAL_USER_ID, "action",
		                             "login", "status", "success", "created_at", at[4])},
		{"user_audit_log", json_pack("{s:s,s:s,s:s,s:s}", "user_id", QF_LOCAL_USER_ID, "action",
		                             "login", "status", "success", "created_at", at[5])},
		{"auth_sessions", json_pack("{s:s,s:s,s:s}", "user_id", QF_LOCAL_USER_ID, "token_hash",
		                            "expired", "expires_at", at[6])},
		{"auth_sessions", json_pack("{s:s,s:s,s:s}", "user_id", QF_LOCAL_USER_ID, "token_hash",
		                            "valid", "expires_at", at[7])},
		{"molecules", json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:[i,i],s:[[f,f,f],[f,f,f]],s:s,s:s}",
		                        "id", "00000000-0000-7000-8000-00000000c001", "owner_id",
		                        QF_LOCAL_USER_ID, "name", "h2", "formula", "H2", "natoms", 2,
		                        "charge", 0, "uhf", 0, "atomic_numbers", 1, 1, "coordinates", 0.0,
		                        0.0, 0.0, 0.0, 0.0, 0.74, "input_sha256", "in", "geometry_sha256",
		                        "geo")},
		{"calculations",
		 json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:{},s:{},s:s}", "id",
		           "00000000-0000-7000-8000-00000000c002", "molecule_id",
		           "00000000-0000-7000-8000-00000000c001", "method", "gfn2", "task", "sp",
		           "optimization_level", "normal", "status", "completed", "charge", 0, "uhf", 0,
		           "parameters", "spec", "owner_id", QF_LOCAL_USER_ID)},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_non_null(rows[i].row);
		qf_err e;
		qf_err_init(&e);
		if (qf_store_insert(s, &sys, rows[i].table, rows[i].row, NULL, &e))
			fail_msg("insert into %s: %s", rows[i].table, e.message);
		json_decref(rows[i].row);
	}
	qf_store_close(s);
	qf_clock_set_fake(0);
}

static const char *const purged[] = {"user_sessions", "performance_metrics", "api_usage_logs",
                                     "user_audit_log", "auth_sessions"};
#define NPURGED (sizeof(purged) / sizeof(purged[0]))

/* The count printed for table in purge's text output. */
static long printed_count(const char *out, const char *table)
{
	char key[64];
	snprintf(key, sizeof(key), "  %s ", table);
	const char *p = strstr(out, key);
	if (!p)
		fail_msg("purge printed no count for %s:\n%s", table, out);
	p += strlen(key);
	while (*p == ' ')
		p++;
	char num[32];
	size_t k = 0;
	while (p[k] >= '0' && p[k] <= '9' && k < sizeof(num) - 1) {
		num[k] = p[k];
		k++;
	}
	num[k] = '\0';
	long v = -1;
	if (!qf_parse_int(num, 0, 1000000, &v))
		fail_msg("purge printed '%s' for %s", num, table);
	return v;
}

static void purge(ts_backend kind)
{
	test_store t;
	ts_create(&t, kind, "purge");
	create_rows(&t);
	json_t *before = ts_snapshot(&t);
	for (size_t i = 0; i < NPURGED; i++)
		assert_int_equal(ts_snap_count(before, purged[i]), 2);

	qft_output o;
	const char *env[] = {NOW_ENV, NULL};
	ts_qforge(&o, env, (const char *const[]){"db", "purge", "--store", t.url, NULL});
	ts_expect(&o, 0, "purge", (const char *const[]){"as of 2027-01-15T08:00:00.000Z", NULL});
	for (size_t i = 0; i < NPURGED; i++)
		if (printed_count(o.out, purged[i]) != 1)
			fail_msg("purge printed %ld for %s, expected 1:\n%s", printed_count(o.out, purged[i]),
			         purged[i], o.out);
	assert_int_equal(printed_count(o.out, "total"), (long)NPURGED);
	qft_output_release(&o);

	/* what went is what was past retention; the rest is as it was */
	json_t *after = ts_snapshot(&t);
	for (int i = 0; i < TS_NTABLES; i++) {
		bool rule = false;
		for (size_t k = 0; k < NPURGED; k++)
			rule |= !strcmp(ts_tables[i], purged[k]);
		json_int_t want = ts_snap_count(before, ts_tables[i]) - (rule ? 1 : 0);
		if (ts_snap_count(after, ts_tables[i]) != want)
			fail_msg("%s has %lld rows after purge, expected %lld", ts_tables[i],
			         (long long)ts_snap_count(after, ts_tables[i]), (long long)want);
		if (!rule)
			assert_true(json_equal(json_object_get(before, ts_tables[i]),
			                       json_object_get(after, ts_tables[i])));
	}
	qf_store *s = ts_open(&t);
	qf_actor sys = qf_actor_system();
	static const struct {
		const char *table;
		const char *column;
		const char *value; /* of the row that must remain */
	} kept[] = {
		{"user_sessions", "session_token", "recent"},
		{"auth_sessions", "token_hash", "valid"},
	};
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		qf_store_filter f = {0};
		json_t *rows = NULL;
		qf_err e;
		qf_err_init(&e);
		assert_int_equal(qf_store_list(s, &sys, kept[i].table, &f, &rows, &e), 0);
		assert_int_equal(json_array_size(rows), 1);
		json_t *v = json_object_get(json_array_get(rows, 0), kept[i].column);
		/* secrets may be masked in listings; when shown, it is the kept one */
		if (json_is_string(v) && strcmp(json_string_value(v), "***"))
			assert_string_equal(json_string_value(v), kept[i].value);
		json_decref(rows);
	}
	qf_store_close(s);

	/* again, as JSON: nothing left to purge */
	ts_qforge(&o, env, (const char *const[]){"db", "purge", "--json", "--store", t.url, NULL});
	ts_expect(&o, 0, "second purge", NULL);
	json_error_t je;
	json_t *counts = json_loads(o.out, 0, &je);
	if (!json_is_object(counts))
		fail_msg("purge --json printed no JSON object: %s", o.out);
	for (size_t i = 0; i < NPURGED; i++) {
		json_t *v = json_object_get(counts, purged[i]);
		if (!json_is_integer(v) || json_integer_value(v) != 0)
			fail_msg("second purge: %s is %s", purged[i], o.out);
	}
	json_decref(counts);
	qft_output_release(&o);
	json_t *again = ts_snapshot(&t);
	ts_assert_same(after, again, "a second purge");

	json_decref(before);
	json_decref(after);
	json_decref(again);
	ts_destroy(&t);
}

static void test_purge_sqlite(void **state)
{
	(void)state;
	purge(TS_SQLITE);
}

static void test_purge_postgres(void **state)
{
	(void)state;
	purge(TS_POSTGRES);
}

/* Malformed command lines (table-driven). */
static void test_db_malformed_command_lines(void **state)
{
	(void)state;
	test_store t;
	ts_create(&t, TS_SQLITE, "db-cli");
	char dir_as_db[QF_MAX_PATH + 16];
	snprintf(dir_as_db, sizeof(dir_as_db), "sqlite:%s", t.dir);
	const struct {
		const char *args[8];
		int status;
		const char *text;
	} cases[] = {
		{{"db", NULL}, QF_EXIT_USAGE, "usage: qforge db"},
		{{"db", "frobnicate", NULL}, QF_EXIT_USAGE, "unknown subcommand 'frobnicate'"},
		{{"db", "migrate", "extra", NULL}, QF_EXIT_USAGE, "takes no arguments"},
		{{"db", "migrate", "--json", NULL}, QF_EXIT_USAGE, "--json is an option of 'db purge'"},
		{{"db", "purge", "--store", NULL}, QF_EXIT_USAGE, "needs a value"},
		{{"db", "purge", "--frobnicate", NULL}, QF_EXIT_USAGE, "unknown option"},
		{{"db", "migrate", "--store", "mysql://db", NULL}, 10, "unknown store URL"},
		{{"db", "purge", "--store", "sqlite:", NULL}, 10, "names no file"},
		{{"db", "migrate", "--store", dir_as_db, NULL}, 13, "qforge:"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		qft_output o;
		ts_qforge(&o, NULL, cases[i].args);
		char where[128];
		snprintf(where, sizeof(where), "case %zu (db %s %s)", i,
		         cases[i].args[1] ? cases[i].args[1] : "",
		         cases[i].args[1] && cases[i].args[2] ? cases[i].args[2] : "");
		ts_expect(&o, cases[i].status, where, (const char *const[]){cases[i].text, NULL});
		qft_output_release(&o);
	}
	qft_output o;
	ts_qforge(&o, NULL, (const char *const[]){"db", "--help", NULL});
	ts_expect(&o, 0, "db --help", (const char *const[]){"qforge db purge", NULL});
	qft_output_release(&o);
	ts_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_sqlite),
		cmocka_unit_test(test_migrate_postgres),
		cmocka_unit_test(test_migrate_postgres_as_application_role),
		cmocka_unit_test(test_purge_sqlite),
		cmocka_unit_test(test_purge_postgres),
		cmocka_unit_test(test_db_malformed_command_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
