/* qf-test: labels=integration,queue timeout=120 */
/*
 * qforge worker's command line and environment: a table of malformed
 * options (usage errors, exit 2, nothing claimed) and of stores it cannot
 * start on (exit status of the error's category, the reason named), each
 * against a store holding one queued job that must still be queued, never
 * attempted, afterwards.
 */
#include "survive.h"

struct bad_worker {
	const char *name;
	const char *args[8]; /* after "worker"; "@URL": the store, "@JOBS": the jobs root */
	const char *env;     /* one "K=V" or NULL */
	int status;
	const char *needle;  /* in stderr */
};

static const struct bad_worker bad_workers[] = {
	{"no slots", {"--store", "@URL", "--concurrency", "0"}, NULL, 2, "--concurrency"},
	{"too many slots", {"--store", "@URL", "--concurrency", "5000"}, NULL, 2, "--concurrency"},
	{"slots not a number", {"--store", "@URL", "--concurrency", "two"}, NULL, 2, "--concurrency"},
	{"negative lease", {"--store", "@URL", "--lease-seconds", "-1"}, NULL, 2, "--lease-seconds"},
	{"lease not a number", {"--store", "@URL", "--lease-seconds", "1e999"}, NULL, 2,
	 "--lease-seconds"},
	{"heartbeat as long as the lease", {"--store", "@URL", "--lease-seconds", "2",
	                                    "--heartbeat-seconds", "2"}, NULL, 2, "shorter than the lease"},
	{"zero poll", {"--store", "@URL", "--poll-seconds", "0"}, NULL, 2, "--poll-seconds"},
	{"no attempts", {"--store", "@URL", "--max-attempts", "0"}, NULL, 2, "--max-attempts"},
	{"negative backoff", {"--store", "@URL", "--backoff-base", "-3"}, NULL, 2, "--backoff-base"},
	{"backoff cap not a number", {"--store", "@URL", "--backoff-cap", "soon"}, NULL, 2,
	 "--backoff-cap"},
	{"unknown option", {"--store", "@URL", "--turbo"}, NULL, 2, "unknown option --turbo"},
	{"an argument", {"--store", "@URL", "now"}, NULL, 2, "unexpected argument 'now'"},
	{"missing option value", {"--store"}, NULL, 2, "option --store needs a value"},
	{"unknown store", {"--store", "mysql://db/x", "--exit-when-idle"}, NULL, 10, "unknown store URL"},
	{"unreachable PostgreSQL", {"--store", "postgresql://nobody@127.0.0.1:1/none", "--exit-when-idle"},
	 NULL, 13, "127.0.0.1"},
	{"jobs root not a directory", {"--store", "@URL", "--jobs-root", "@FILE", "--exit-when-idle"},
	 NULL, 13, "", /* the category is enough: the message is the file system's */},
	{"commit delay not a number", {"--store", "@URL", "--jobs-root", "@JOBS", "--exit-when-idle"},
	 "QF_FAULT_COMMIT_DELAY_MS=soon", 10, "QF_FAULT_COMMIT_DELAY_MS"},
	{"commit delay too long", {"--store", "@URL", "--jobs-root", "@JOBS", "--exit-when-idle"},
	 "QF_FAULT_COMMIT_DELAY_MS=9999999", 10, "QF_FAULT_COMMIT_DELAY_MS"},
};

static void test_worker_malformed(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH], jobs[QF_MAX_PATH], mols[QF_MAX_PATH], file[QF_MAX_PATH];
	qft_tmpdir(tmp, "worker-cli");
	qft_join(jobs, tmp, "jobs");
	qft_join(mols, tmp, "molecules.xyz");
	qft_join(file, tmp, "plain-file");
	qft_write(file, "not a directory\n");
	sv_write_xyz(mols, 1, "w", 67);
	sv_store s;
	sv_store_sqlite(&s, tmp);
	char batch[QF_UUID_STR];
	sv_submit(batch, s.url, mols, NULL);
	for (size_t i = 0; i < sizeof(bad_workers) / sizeof(bad_workers[0]); i++) {
		const struct bad_worker *c = &bad_workers[i];
		const char *args[16] = {"worker"};
		int n = 1;
		for (const char *const *a = c->args; *a; a++)
			args[n++] = !strcmp(*a, "@URL") ? s.url : !strcmp(*a, "@JOBS") ? jobs
			            : !strcmp(*a, "@FILE") ? file : *a;
		args[n] = NULL;
		const char *env[] = {c->env, NULL};
		qft_output o;
		sv_qforge(&o, env, args);
		if (o.exit_code != c->status || !strstr(o.err, c->needle))
			fail_msg("case '%s': exit status %d (expected %d), stderr:\n%s\n(expected '%s')", c->name,
			         o.exit_code, c->status, o.err, c->needle);
		qft_output_release(&o);
		/* nothing was claimed */
		json_t *row = sv_rows(&s, "SELECT status, attempt FROM calculations WHERE batch_id = '%s'",
		                      batch);
		assert_string_equal(json_string_value(sv_cell(row, 0, 0)), "queued");
		assert_int_equal(json_integer_value(sv_cell(row, 0, 1)), 0);
		json_decref(row);
	}
	/* and with good options it runs */
	qft_output o;
	sv_qforge(&o, NULL,
	          (const char *[]){"worker", "--store", s.url, "--jobs-root", jobs, "--exit-when-idle",
	                           "--concurrency", "1", NULL});
	sv_expect_status(&o, 0, "worker");
	qft_output_release(&o);
	assert_int_equal(sv_count_status(&s, batch, "completed"), 1);
	qf_fs_rm_rf(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_worker_malformed, sv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
