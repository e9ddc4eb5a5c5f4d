/* qf-test: labels=integration,queue,xtb,postgres timeout=300 */
/*
 * SIGTERM to a worker in the middle of a batch.
 *
 * The worker runs the xtb program given with --xtb: tests/data/queue/
 * xtb-gate, a fixture that holds every calculation until the test creates
 * the file "gate" beside the jobs root, then is the real xtb. So the test
 * knows which jobs are running when it signals, and the worker's slots could
 * claim more as soon as those finish.
 *
 * Drain (one SIGTERM, both slots running held jobs): the worker keeps running
 * while they are held, and once the gate opens they complete and are
 * committed by it; it claims nothing else (every other job is still queued,
 * never attempted) and exits 0. A second worker finishes the rest: every job
 * completed exactly once, the two drained ones at their first attempt.
 *
 * Stop (two SIGTERMs, both slots running held jobs): the running xtb are
 * stopped and the jobs given back: queued again, the attempt not counted,
 * no error or metrics rows; the worker exits 0. A second worker completes
 * them (at attempt 1) and the rest.
 *
 * Both on SQLite and PostgreSQL; sv_check_exactly_once at the end.
 */
#include "survive.h"

struct drain {
	sv_store store;
	char tmp[QF_MAX_PATH];
	char jobs[QF_MAX_PATH];
	char gate[QF_MAX_PATH];
	char wrapper[QF_MAX_PATH];
	char batch[QF_UUID_STR];
	int njobs;
};

static void drain_setup(struct drain *d, bool pg, const char *name)
{
	memset(d, 0, sizeof(*d));
	sv_setup();
	qft_tmpdir(d->tmp, name);
	qft_join(d->jobs, d->tmp, "jobs");
	qft_join(d->gate, d->tmp, "gate");
	qft_data(d->wrapper, "queue/xtb-gate");
	char mols[QF_MAX_PATH];
	qft_join(mols, d->tmp, "molecules.xyz");
	d->njobs = 10;
	sv_write_xyz(mols, d->njobs, "ew", 23);
	if (pg)
		sv_store_pg(&d->store, NULL, name);
	else
		sv_store_sqlite(&d->store, d->tmp);
	const char *submit[] = {"--task", "opt", "--xtb", d->wrapper, NULL};
	sv_submit(d->batch, d->store.url, mols, submit);
}

/* A worker without --exit-when-idle: only a signal ends it. */
static void start_worker(struct drain *d, sv_proc *w, const char *log, bool until_idle)
{
	const char *extra[] = {"--xtb", d->wrapper, until_idle ? "--exit-when-idle" : NULL, NULL};
	sv_worker(w, d->store.url, d->jobs, log, extra, NULL, NULL, NULL);
}

/* Jobs of the batch running under worker pid's slots. */
static long long running_for(struct drain *d, pid_t pid)
{
	return sv_int(&d->store,
	              "SELECT count(*) FROM calculations WHERE batch_id = '%s' AND status = 'running' "
	              "AND lease_owner LIKE '%%:%ld/%%'",
	              d->batch, (long)pid);
}

/* Wait until both slots of w hold a job (held at the gate). */
static void wait_both_running(struct drain *d, sv_proc *w, const char *log)
{
	double end = sv_now() + 60;
	while (running_for(d, w->pid) < 2) {
		if (sv_now() > end || sv_wait(w, 0)) {
			char *text = sv_read(log);
			fail_msg("the worker did not get two jobs running:\n%s", text);
		}
		sv_sleep(0.05);
	}
}

static void open_gate(struct drain *d)
{
	qft_write(d->gate, "open\n");
}

/* The rest, by a second worker, then the invariants; all completed. */
static void finish_rest(struct drain *d)
{
	char log[QF_MAX_PATH];
	qft_join(log, d->tmp, "worker-rest.log");
	sv_proc w;
	start_worker(d, &w, log, true);
	sv_wait_or_fail(&w, 120, "second worker");
	if (sv_exit_code(&w) != 0) {
		char *text = sv_read(log);
		fail_msg("second worker ended with status %d:\n%s", sv_exit_code(&w), text);
	}
	sv_reap_all(5);
	sv_outcome o;
	sv_check_exactly_once(&d->store, d->batch, d->njobs, &o);
	if (o.completed != d->njobs) {
		sv_print_unfinished(&d->store, d->batch);
		fail_msg("%lld of %d completed", o.completed, d->njobs);
	}
	/* nobody's attempt was lost or failed */
	assert_int_equal(o.worker_lost, 0);
	assert_int_equal(sv_int(&d->store,
	                        "SELECT count(*) FROM calculation_errors e JOIN calculations c ON c.id = "
	                        "e.calculation_id WHERE c.batch_id = '%s'",
	                        d->batch),
	                 0);
	assert_int_equal(o.max_attempt, 1);
}

static void drain_test(bool pg)
{
	struct drain d;
	drain_setup(&d, pg, pg ? "drain-pg" : "drain-sqlite");
	char log[QF_MAX_PATH];
	qft_join(log, d.tmp, "worker-drained.log");
	sv_proc w;
	start_worker(&d, &w, log, false);
	wait_both_running(&d, &w, log);

	sv_kill(&w, SIGTERM);
	/* held at the gate: draining means waiting for them */
	sv_sleep(1.0);
	assert_false(sv_wait(&w, 0));
	assert_int_equal(running_for(&d, w.pid), 2);
	open_gate(&d);
	sv_wait_or_fail(&w, 60, "draining worker");
	if (sv_exit_code(&w) != 0) {
		char *text = sv_read(log);
		fail_msg("draining worker ended with status %d:\n%s", sv_exit_code(&w), text);
	}
	/* the two running jobs were committed by it, and it claimed no other */
	assert_int_equal(sv_stat(log, "claimed"), 2);
	assert_int_equal(sv_stat(log, "completed"), 2);
	assert_int_equal(sv_stat(log, "released"), 0);
	char owner[64];
	snprintf(owner, sizeof(owner), "%%:%ld/%%", (long)w.pid);
	assert_int_equal(sv_int(&d.store,
	                        "SELECT count(*) FROM calculations c WHERE c.batch_id = '%s' AND "
	                        "c.status = 'completed' AND EXISTS (SELECT 1 FROM "
	                        "calculation_execution_metrics m WHERE m.calculation_id = c.id AND "
	                        "m.worker LIKE '%s')",
	                        d.batch, owner),
	                 2);
	assert_int_equal(sv_int(&d.store,
	                        "SELECT count(*) FROM calculations WHERE batch_id = '%s' AND status = "
	                        "'queued' AND attempt = 0",
	                        d.batch),
	                 d.njobs - 2);
	finish_rest(&d);
	sv_store_drop(&d.store);
	qf_fs_rm_rf(d.tmp);
}

static void stop_test(bool pg)
{
	struct drain d;
	drain_setup(&d, pg, pg ? "stop-pg" : "stop-sqlite");
	char log[QF_MAX_PATH];
	qft_join(log, d.tmp, "worker-stopped.log");
	sv_proc w;
	start_worker(&d, &w, log, false);
	wait_both_running(&d, &w, log);
	json_t *held = sv_rows(&d.store,
	                       "SELECT id FROM calculations WHERE batch_id = '%s' AND status = 'running'",
	                       d.batch);
	assert_int_equal(json_array_size(held), 2);

	sv_kill(&w, SIGTERM);
	sv_sleep(0.3);
	sv_kill(&w, SIGTERM);
	sv_wait_or_fail(&w, 60, "stopped worker");
	if (sv_exit_code(&w) != 0) {
		char *text = sv_read(log);
		fail_msg("stopped worker ended with status %d:\n%s", sv_exit_code(&w), text);
	}
	assert_int_equal(sv_stat(log, "released"), 2);
	assert_int_equal(sv_stat(log, "completed"), 0);
	/* given back: queued, the attempt not counted, nothing recorded */
	for (size_t i = 0; i < 2; i++) {
		const char *id = json_string_value(sv_cell(held, i, 0));
		json_t *row = sv_rows(&d.store, "SELECT status, attempt FROM calculations WHERE id = '%s'", id);
		assert_string_equal(json_string_value(sv_cell(row, 0, 0)), "queued");
		assert_int_equal(json_integer_value(sv_cell(row, 0, 1)), 0);
		json_decref(row);
		assert_int_equal(sv_int(&d.store,
		                        "SELECT count(*) FROM calculation_execution_metrics WHERE "
		                        "calculation_id = '%s'",
		                        id),
		                 0);
		assert_int_equal(sv_int(&d.store,
		                        "SELECT count(*) FROM calculation_errors WHERE calculation_id = '%s'",
		                        id),
		                 0);
	}
	open_gate(&d);
	finish_rest(&d);
	/* the released ones completed later, by the other worker */
	for (size_t i = 0; i < 2; i++) {
		const char *id = json_string_value(sv_cell(held, i, 0));
		json_t *row = sv_rows(&d.store,
		                      "SELECT c.status, c.attempt, m.worker FROM calculations c JOIN "
		                      "calculation_execution_metrics m ON m.calculation_id = c.id WHERE c.id = '%s'",
		                      id);
		assert_int_equal(json_array_size(row), 1);
		assert_string_equal(json_string_value(sv_cell(row, 0, 0)), "completed");
		assert_int_equal(json_integer_value(sv_cell(row, 0, 1)), 1);
		char mine[64];
		snprintf(mine, sizeof(mine), ":%ld/", (long)w.pid);
		assert_null(strstr(json_string_value(sv_cell(row, 0, 2)), mine));
		json_decref(row);
	}
	json_decref(held);
	sv_store_drop(&d.store);
	qf_fs_rm_rf(d.tmp);
}

static void test_drain_sqlite(void **state)
{
	(void)state;
	drain_test(false);
}

static void test_drain_postgres(void **state)
{
	(void)state;
	drain_test(true);
}

static void test_stop_sqlite(void **state)
{
	(void)state;
	stop_test(false);
}

static void test_stop_postgres(void **state)
{
	(void)state;
	stop_test(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_drain_sqlite, sv_teardown),
		cmocka_unit_test_teardown(test_drain_postgres, sv_teardown),
		cmocka_unit_test_teardown(test_stop_sqlite, sv_teardown),
		cmocka_unit_test_teardown(test_stop_postgres, sv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
