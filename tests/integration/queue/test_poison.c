/* qf-test: labels=integration,queue,xtb,postgres timeout=300 */
/*
 * A poison job: one molecule whose xtb is always killed.
 *
 * The worker runs the xtb program given with --xtb: tests/data/queue/
 * xtb-poison, a fixture that is the real xtb except that it SIGKILLs itself
 * when the geometry has exactly 5 atoms (methane). A batch of optimisations
 * (--task opt: the xtb program, not the engine) of water and ethanol holds one
 * methane. The methane job fails as a system error (xtb.killed) each time,
 * is retried with backoff until the attempt cap (3), and ends failed: one
 * calculation_errors row per attempt (system, xtb.killed), the retry history
 * (retry_attempts) one entry longer each time, the first two resolved as
 * automatic retries. Every other job completes (sv_check_exactly_once), and
 * the batch's statistics count one failure. On SQLite and PostgreSQL.
 */
#include "survive.h"

#define ATTEMPTS 3

static void poison_test(bool pg)
{
	sv_setup();
	char tmp[QF_MAX_PATH], jobs[QF_MAX_PATH], mols[QF_MAX_PATH], log[QF_MAX_PATH];
	char wrapper[QF_MAX_PATH];
	qft_tmpdir(tmp, pg ? "poison-pg" : "poison-sqlite");
	qft_join(jobs, tmp, "jobs");
	qft_join(mols, tmp, "molecules.xyz");
	qft_join(log, tmp, "worker.log");
	qft_data(wrapper, "queue/xtb-poison");
	const char *kinds = "wewewmwewewe";
	const int njobs = (int)strlen(kinds);
	sv_write_xyz(mols, njobs, kinds, 17);

	sv_store s;
	if (pg)
		sv_store_pg(&s, NULL, "poison");
	else
		sv_store_sqlite(&s, tmp);
	char batch[QF_UUID_STR];
	const char *submit[] = {"--task", "opt", "--xtb", wrapper, NULL};
	sv_submit(batch, s.url, mols, submit);

	sv_proc w;
	const char *extra[] = {"--exit-when-idle", "--xtb", wrapper, "--max-attempts", "3", NULL};
	sv_worker(&w, s.url, jobs, log, extra, NULL, NULL, NULL);
	sv_wait_or_fail(&w, 180, "worker");
	if (sv_exit_code(&w) != 0) {
		char *text = sv_read(log);
		fail_msg("worker ended with status %d:\n%s", sv_exit_code(&w), text);
	}
	sv_reap_all(5);
	print_message("worker: completed %ld, failed %ld, retried %ld (xtb program %ld)\n",
	              sv_stat(log, "completed"), sv_stat(log, "failed"), sv_stat(log, "retried"),
	              sv_stat(log, "xtb program"));

	sv_outcome o;
	sv_check_exactly_once(&s, batch, njobs, &o);
	assert_int_equal(o.completed, njobs - 1);
	assert_int_equal(o.failed, 1);
	assert_int_equal(sv_stat(log, "failed"), 1);
	assert_int_equal(sv_stat(log, "retried"), ATTEMPTS - 1);
	assert_int_equal(sv_stat(log, "engine"), 0);

	/* the failed one is the methane, at the cap, killed each time */
	json_t *rows = sv_rows(&s,
	                       "SELECT c.id, c.attempt, c.error_category, c.error_code, mo.natoms FROM "
	                       "calculations c JOIN molecules mo ON mo.id = c.molecule_id WHERE "
	                       "c.batch_id = '%s' AND c.status = 'failed'",
	                       batch);
	assert_int_equal(json_array_size(rows), 1);
	char id[QF_UUID_STR];
	qf_strlcpy(id, json_string_value(sv_cell(rows, 0, 0)), sizeof(id));
	assert_int_equal(json_integer_value(sv_cell(rows, 0, 1)), ATTEMPTS);
	assert_string_equal(json_string_value(sv_cell(rows, 0, 2)), "system");
	assert_string_equal(json_string_value(sv_cell(rows, 0, 3)), "xtb.killed");
	assert_int_equal(json_integer_value(sv_cell(rows, 0, 4)), 5);
	json_decref(rows);

	/* one error row per attempt, the history growing */
	json_t *errs = sv_rows(&s,
	                       "SELECT attempt, error_type, error_code, retry_attempts, resolution FROM "
	                       "calculation_errors WHERE calculation_id = '%s' ORDER BY attempt",
	                       id);
	assert_int_equal(json_array_size(errs), ATTEMPTS);
	for (int k = 0; k < ATTEMPTS; k++) {
		assert_int_equal(json_integer_value(sv_cell(errs, k, 0)), k + 1);
		assert_string_equal(json_string_value(sv_cell(errs, k, 1)), "system");
		assert_string_equal(json_string_value(sv_cell(errs, k, 2)), "xtb.killed");
		json_t *hist = json_loads(json_string_value(sv_cell(errs, k, 3)), 0, NULL);
		if (!json_is_array(hist))
			fail_msg("retry_attempts of attempt %d is not an array", k + 1);
		/* attempt k+1 adds its own entry to the history of the earlier ones */
		assert_int_equal(json_array_size(hist), k + 1);
		for (int a = 0; a <= k; a++) {
			json_t *entry = json_array_get(hist, (size_t)a);
			assert_int_equal(json_integer_value(json_object_get(entry, "attempt")), a + 1);
			assert_string_equal(json_string_value(json_object_get(entry, "error_code")),
			                    "xtb.killed");
		}
		const char *resolution = json_string_value(sv_cell(errs, k, 4));
		if (k < ATTEMPTS - 1)
			assert_string_equal(resolution ? resolution : "(null)", "auto_retry");
		json_decref(hist);
	}
	json_decref(errs);
	/* the other jobs never failed */
	assert_int_equal(sv_int(&s,
	                        "SELECT count(*) FROM calculation_errors e JOIN calculations c ON c.id = "
	                        "e.calculation_id WHERE c.batch_id = '%s' AND c.id <> '%s'",
	                        batch, id),
	                 0);
	sv_store_drop(&s);
	qf_fs_rm_rf(tmp);
}

static void test_poison_sqlite(void **state)
{
	(void)state;
	poison_test(false);
}

static void test_poison_postgres(void **state)
{
	(void)state;
	poison_test(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_poison_sqlite, sv_teardown),
		cmocka_unit_test_teardown(test_poison_postgres, sv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
