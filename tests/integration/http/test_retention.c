/* qf-test: labels=integration,http,retention,postgres timeout=300 */
/*
 * Scheduled retention in a running `qforge serve --retention-interval 1`,
 * on SQLite and on PostgreSQL: rows past retention written into the store
 * behind the server's back (a UI state idle 8 days, a login expired an
 * hour ago, a usage-log row of 100 days) are deleted by the server on its
 * own, while fresh ones (the live login of the test, a UI state of today)
 * stay; the run is in the log, in /metrics (qforge_retention_runs_total,
 * qforge_retention_rows_deleted_total by table,
 * qforge_retention_last_run_timestamp_seconds) and in the dashboard's
 * "retention"; requests are answered meanwhile. `qforge serve --help`
 * documents the option, and a malformed value is a usage error.
 */
#include "http_test.h"

#include "qf/clock.h"

static void start(ht_server *s, const char *name, bool pg)
{
	char tmp[QF_MAX_PATH];
	ht_store(s, name, pg, tmp);
	const char *extra[] = {"--retention-interval", "1", NULL};
	ht_serve(s, tmp, 0, extra);
}

/* The value of a /metrics sample line that starts with name (-1: absent). */
static double metric(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; p && *p;) {
		if (!strncmp(p, name, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

static void walk(const char *name, bool pg)
{
	sv_setup();
	ht_server s;
	start(&s, name, pg);
	char token[QF_MAX_PATH], uid[QF_UUID_STR];
	ht_register(&s, "keeper@example.org", token, uid);
	char old8[QF_TIME_STR], hour_ago[QF_TIME_STR], old100[QF_TIME_STR], now[QF_TIME_STR];
	double t = qf_clock_now();
	qf_clock_format(t - 8 * 86400.0, old8);
	qf_clock_format(t - 3600.0, hour_ago);
	qf_clock_format(t - 100 * 86400.0, old100);
	qf_clock_format(t, now);
	/* the stale rows, and a fresh UI state */
	json_decref(sv_rows(&s.store,
	                    "INSERT INTO user_sessions (id, user_id, session_token, last_activity, "
	                    "created_at) VALUES ('01900000-0000-7000-8000-00000000aaa1', '%s', 'stale-ui', "
	                    "'%s', '%s'), ('01900000-0000-7000-8000-00000000aaa2', '%s', 'fresh-ui', '%s', "
	                    "'%s') RETURNING 1",
	                    uid, old8, old8, uid, now, now));
	json_decref(sv_rows(&s.store,
	                    "INSERT INTO auth_sessions (id, user_id, token_hash, created_at, expires_at) "
	                    "VALUES ('01900000-0000-7000-8000-00000000bbb1', '%s', 'expired-login', '%s', "
	                    "'%s') RETURNING 1",
	                    uid, old8, hour_ago));
	json_decref(sv_rows(&s.store,
	                    "INSERT INTO api_usage_logs (user_id, endpoint, method, status_code, "
	                    "response_time_ms, created_at) VALUES ('%s', '/old', 'GET', 200, 1, '%s') "
	                    "RETURNING 1",
	                    uid, old100));
	/* the server deletes them on its own (first run after 1 s) */
	double end = sv_now() + 30;
	for (;;) {
		long long left =
			sv_int(&s.store, "SELECT count(*) FROM user_sessions WHERE session_token = 'stale-ui'") +
			sv_int(&s.store, "SELECT count(*) FROM auth_sessions WHERE token_hash = 'expired-login'") +
			sv_int(&s.store, "SELECT count(*) FROM api_usage_logs WHERE endpoint = '/old'");
		if (!left)
			break;
		if (sv_now() > end) {
			char *log = sv_read(s.log);
			fail_msg("%lld stale rows still there after 30 s; server log:\n%s", left, log);
		}
		/* requests are answered while it runs */
		ht_resp r;
		ht_expect(&r, &s, "GET", "/api/v1/auth/me", token, NULL, 200);
		ht_resp_release(&r);
		sv_sleep(0.2);
	}
	/* fresh rows stay, the test's login still works */
	assert_int_equal(sv_int(&s.store, "SELECT count(*) FROM user_sessions WHERE session_token = 'fresh-ui'"), 1);
	ht_resp r;
	ht_expect(&r, &s, "GET", "/api/v1/auth/me", token, NULL, 200);
	ht_resp_release(&r);

	/* /metrics and the dashboard say so */
	ht_expect(&r, &s, "GET", "/metrics", NULL, NULL, 200);
	double runs = metric(r.body, "qforge_retention_runs_total");
	double ui = metric(r.body, "qforge_retention_rows_deleted_total{table=\"user_sessions\"}");
	double auth = metric(r.body, "qforge_retention_rows_deleted_total{table=\"auth_sessions\"}");
	double logs = metric(r.body, "qforge_retention_rows_deleted_total{table=\"api_usage_logs\"}");
	double last = metric(r.body, "qforge_retention_last_run_timestamp_seconds");
	if (runs < 1 || ui < 1 || auth < 1 || logs < 1 || last < t - 60 ||
	    metric(r.body, "qforge_retention_failures_total") != 0)
		fail_msg("/metrics does not show the retention runs: %s", r.body);
	ht_resp_release(&r);
	ht_expect(&r, &s, "GET", "/api/v1/dashboard", token, NULL, 200);
	json_t *ret = json_object_get(r.json, "retention");
	if (!json_is_true(json_object_get(ret, "enabled")) ||
	    json_integer_value(json_object_get(ret, "runs")) < 1 ||
	    json_integer_value(json_object_get(ret, "rows_deleted_total")) < 3 ||
	    !json_is_string(json_object_get(ret, "last_run_at")) ||
	    !json_is_object(json_object_get(ret, "last_deleted")) ||
	    json_real_value(json_object_get(ret, "interval_seconds")) != 1.0)
		fail_msg("the dashboard's retention: %s", r.body);
	ht_resp_release(&r);
	assert_int_equal(ht_stop(&s, 60), 0);
	char *log = sv_read(s.log);
	if (!strstr(log, "rows past retention"))
		fail_msg("no retention run in the server's log:\n%s", log);
	free(log);
	sv_store_drop(&s.store);
	sv_teardown(NULL);
}

static void test_retention_sqlite(void **state)
{
	(void)state;
	walk("retention_sqlite", false);
}

static void test_retention_postgres(void **state)
{
	(void)state;
	walk("retention_pg", true);
}

static void test_option(void **state)
{
	(void)state;
	qft_output o;
	const char *help[] = {"serve", "--help", NULL};
	sv_qforge(&o, NULL, help);
	sv_expect_status(&o, 0, "qforge serve --help");
	assert_non_null(strstr(o.out, "--retention-interval S"));
	qft_output_release(&o);
	const char *bad[] = {"serve", "--retention-interval", "soon", NULL};
	sv_qforge(&o, NULL, bad);
	if (o.exit_code == 0 || !strstr(o.err, "--retention-interval"))
		fail_msg("a malformed --retention-interval: exit %d, %s", o.exit_code, o.err);
	qft_output_release(&o);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_option),
		cmocka_unit_test_teardown(test_retention_sqlite, sv_teardown),
		cmocka_unit_test_teardown(test_retention_postgres, sv_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
