/* qf-test: labels=integration,slurm,queue,xtb,postgres timeout=600 skip_return_code=77 resource_lock=slurm */
/*
 * Cancelling the Slurm array in the middle of a batch loses nothing and does
 * nothing twice (a real Slurm: scripts/with-slurm; PostgreSQL).
 *
 * The workers run the xtb program given with --worker-arg=--xtb=...:
 * tests/data/queue/xtb-gate, which holds every calculation until the test
 * creates the file "gate" beside the jobs root. So the test knows which jobs
 * the array's workers hold when it cancels.
 *
 *   scancel     the array, as a user would, while both workers hold a job:
 *               Slurm signals every process of the job (the xtb too), the
 *               workers stop and give their jobs back uncounted: all still
 *               queued at attempt 0, no error rows. A new submit
 *               (gate open) completes the batch, every job exactly once.
 *   killed      the array's workers SIGKILLed (a node that dies under
 *               them; Slurm then ends the tasks), leases long: the two jobs
 *               stay "running" under dead workers. `qforge slurm cancel JOB`
 *               gives exactly those two back at once (queued, attempt not
 *               counted, no error rows, no lease to wait for); a new submit
 *               completes the batch exactly once, no worker_lost row.
 *   by batch    `qforge slurm cancel --batch ID` on a live array: its tasks
 *               end, nothing of the batch is left running, and a new submit
 *               completes it exactly once.
 */
#include "slurm_test.h"

#define NJOBS 8

struct scene {
	sv_store store;
	char tmp[QF_MAX_PATH];
	char jobs[QF_MAX_PATH];
	char gate[QF_MAX_PATH];
	char out[QF_MAX_PATH];
	char xtb_arg[QF_MAX_PATH + 16];
	char batch[QF_UUID_STR];
};

static void scene_setup(struct scene *sc, const char *name)
{
	memset(sc, 0, sizeof(*sc));
	sv_setup();
	qft_tmpdir(sc->tmp, name);
	qft_join(sc->jobs, sc->tmp, "jobs");
	qft_join(sc->gate, sc->tmp, "gate");
	qft_join(sc->out, sc->tmp, "slurm");
	char wrapper[QF_MAX_PATH], mols[QF_MAX_PATH];
	qft_data(wrapper, "queue/xtb-gate");
	snprintf(sc->xtb_arg, sizeof(sc->xtb_arg), "--xtb=%s", wrapper);
	qft_join(mols, sc->tmp, "molecules.xyz");
	sv_write_xyz(mols, NJOBS, "ewm", 31);
	sv_store_pg(&sc->store, NULL, name);
	const char *submit[] = {"--task", "opt", "--xtb", wrapper, NULL};
	sv_submit(sc->batch, sc->store.url, mols, submit);
}

/* Two workers of one CPU each; lease: their --lease-seconds. */
static void scene_submit(struct scene *sc, char id[32], const char *lease)
{
	char lease_arg[48];
	snprintf(lease_arg, sizeof(lease_arg), "--worker-arg=--lease-seconds=%s", lease);
	const char *args[] = {"--store", sc->store.url, "--batch", sc->batch, "--workers", "2",
	                      "--output-dir", sc->out, "--jobs-root", sc->jobs, "--worker-arg",
	                      sc->xtb_arg, lease_arg, "--worker-arg=--heartbeat-seconds=0.5",
	                      "--worker-arg=--poll-seconds=0.2", "--worker-arg=--backoff-base=0.1",
	                      "--worker-arg=--backoff-cap=1", NULL};
	st_submit(id, NULL, args);
}

static void print_jobs(struct scene *sc, const char *when)
{
	json_t *rows = sv_rows(&sc->store,
	                       "SELECT status, attempt, count(*) FROM calculations WHERE batch_id = '%s' "
	                       "GROUP BY status, attempt ORDER BY status, attempt",
	                       sc->batch);
	char *t = json_dumps(rows, JSON_COMPACT);
	print_message("%s: [status, attempt, jobs] %s\n", when, t);
	free(t);
	json_decref(rows);
}

/* Gate open, a new array of workers; every job completed exactly once, by it. */
static void finish_with_new_array(struct scene *sc, const char *old_id, sv_outcome *oc)
{
	qft_write(sc->gate, "open\n");
	char id[32];
	scene_submit(sc, id, "3");
	double end = sv_now() + 300;
	while (!sv_batch_done(&sc->store, sc->batch)) {
		if (sv_now() > end) {
			sv_print_unfinished(&sc->store, sc->batch);
			fail_msg("the second array (%s) did not finish the batch; logs in %s", id, sc->out);
		}
		sv_sleep(0.2);
	}
	st_wait_ended(id, 120);
	sv_check_exactly_once(&sc->store, sc->batch, NJOBS, oc);
	if (oc->completed != NJOBS) {
		sv_print_unfinished(&sc->store, sc->batch);
		fail_msg("%lld of %d completed", oc->completed, NJOBS);
	}
	/* no result came from the cancelled array */
	assert_int_equal(sv_int(&sc->store,
	                        "SELECT count(*) FROM calculation_execution_metrics m JOIN calculations c "
	                        "ON c.id = m.calculation_id WHERE c.batch_id = '%s' AND m.slurm_job_id = %s "
	                        "AND NOT EXISTS (SELECT 1 FROM calculation_errors e WHERE e.calculation_id "
	                        "= m.calculation_id AND e.attempt = m.attempt)",
	                        sc->batch, old_id),
	                 0);
	assert_int_equal(sv_int(&sc->store,
	                        "SELECT count(*) FROM calculation_execution_metrics m JOIN calculations c "
	                        "ON c.id = m.calculation_id WHERE c.batch_id = '%s' AND m.slurm_job_id = %s",
	                        sc->batch, id),
	                 NJOBS);
}

static void test_scancel(void **state)
{
	(void)state;
	struct scene sc;
	scene_setup(&sc, "slurm-scancel");
	char id[32];
	scene_submit(&sc, id, "3");
	st_wait_held(&sc.store, sc.batch, id, 2, sc.out);
	const char *scancel[] = {"scancel", id, NULL};
	char *t = st_tool(scancel);
	free(t);
	st_wait_ended(id, 60);
	print_jobs(&sc, "after scancel");
	/* nothing is left running for a dead worker: given back, or (killed
	 * first) found by the next workers' sweep */
	long given = st_task_stat(sc.out, id, 0, "released") + st_task_stat(sc.out, id, 1, "released");
	print_message("the workers gave back %ld job(s) themselves\n", given);
	assert_int_equal(given, 2);
	assert_int_equal(sv_int(&sc.store, "SELECT count(*) FROM calculations WHERE batch_id = '%s' AND "
	                                  "status = 'queued' AND attempt = 0", sc.batch),
	                 NJOBS);
	assert_int_equal(sv_int(&sc.store, "SELECT count(*) FROM calculation_errors e JOIN calculations "
	                                  "c ON c.id = e.calculation_id WHERE c.batch_id = '%s'", sc.batch),
	                 0);
	sv_outcome oc;
	finish_with_new_array(&sc, id, &oc);
	assert_int_equal(oc.worker_lost, 0);
	assert_int_equal(oc.max_attempt, 1);
	sv_store_drop(&sc.store);
	qf_fs_rm_rf(sc.tmp);
}

static void test_killed_then_cancel(void **state)
{
	(void)state;
	struct scene sc;
	scene_setup(&sc, "slurm-killed");
	char id[32];
	scene_submit(&sc, id, "600");
	st_wait_held(&sc.store, sc.batch, id, 2, sc.out);
	json_t *held = sv_rows(&sc.store,
	                       "SELECT id FROM calculations WHERE batch_id = '%s' AND status = 'running'",
	                       sc.batch);
	assert_int_equal(json_array_size(held), 2);
	assert_int_equal(st_kill_workers(id), 2);
	st_wait_ended(id, 60);
	/* dead workers, long leases: still "running" */
	sv_sleep(1);
	assert_int_equal(st_held(&sc.store, sc.batch, id), 2);

	const char *cancel[] = {"cancel", id, "--store", sc.store.url, "--wait", "30", NULL};
	qft_output o;
	st_slurm(&o, NULL, cancel);
	sv_expect_status(&o, 0, "qforge slurm cancel");
	print_message("%s", o.out);
	assert_non_null(strstr(o.out, "2 job(s) its workers still held given back"));
	qft_output_release(&o);
	for (size_t i = 0; i < 2; i++) {
		const char *jid = json_string_value(sv_cell(held, i, 0));
		json_t *row = sv_rows(&sc.store, "SELECT status, attempt, lease_owner FROM calculations "
		                                 "WHERE id = '%s'", jid);
		assert_string_equal(json_string_value(sv_cell(row, 0, 0)), "queued");
		assert_int_equal(json_integer_value(sv_cell(row, 0, 1)), 0);
		assert_true(json_is_null(sv_cell(row, 0, 2)));
		json_decref(row);
		assert_int_equal(sv_int(&sc.store, "SELECT count(*) FROM calculation_errors WHERE "
		                                   "calculation_id = '%s'", jid),
		                 0);
	}
	sv_outcome oc;
	finish_with_new_array(&sc, id, &oc);
	assert_int_equal(oc.worker_lost, 0);
	assert_int_equal(oc.max_attempt, 1);
	/* the two given back completed at their first counted attempt */
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(sv_int(&sc.store, "SELECT attempt FROM calculations WHERE id = '%s'",
		                        json_string_value(sv_cell(held, i, 0))),
		                 1);
	json_decref(held);
	sv_store_drop(&sc.store);
	qf_fs_rm_rf(sc.tmp);
}

static void test_cancel_by_batch(void **state)
{
	(void)state;
	struct scene sc;
	scene_setup(&sc, "slurm-cancel-batch");
	char id[32];
	scene_submit(&sc, id, "3");
	st_wait_held(&sc.store, sc.batch, id, 2, sc.out);
	/* status sees the array with the two jobs its workers hold */
	const char *status[] = {"status", "--batch", sc.batch, "--store", sc.store.url, "--json", NULL};
	qft_output o;
	st_slurm(&o, NULL, status);
	sv_expect_status(&o, 0, "slurm status --batch");
	json_t *doc = json_loads(o.out, 0, NULL);
	assert_int_equal(json_array_size(doc), 1);
	json_t *arr = json_array_get(doc, 0);
	assert_string_equal(json_string_value(json_object_get(arr, "job_id")), id);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(arr, "states"), "RUNNING")), 2);
	assert_int_equal(json_integer_value(json_object_get(arr, "held")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(arr, "queue"), "running")), 2);
	json_decref(doc);
	qft_output_release(&o);

	const char *cancel[] = {"cancel", "--batch", sc.batch, "--store", sc.store.url, NULL};
	st_slurm(&o, NULL, cancel);
	sv_expect_status(&o, 0, "qforge slurm cancel --batch");
	print_message("%s", o.out);
	char line[64];
	snprintf(line, sizeof(line), "cancelled Slurm job %s\n", id);
	assert_non_null(strstr(o.out, line));
	qft_output_release(&o);
	assert_int_equal(st_alive(id), 0);
	assert_int_equal(sv_count_status(&sc.store, sc.batch, "running"), 0);
	print_jobs(&sc, "after qforge slurm cancel --batch");
	assert_int_equal(sv_int(&sc.store, "SELECT count(*) FROM calculations WHERE batch_id = '%s' AND "
	                                  "status = 'queued' AND attempt = 0", sc.batch),
	                 NJOBS);
	sv_outcome oc;
	finish_with_new_array(&sc, id, &oc);
	sv_store_drop(&sc.store);
	qf_fs_rm_rf(sc.tmp);
}

int main(int argc, char **argv)
{
	st_enter(argc, argv);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_scancel, sv_teardown),
		cmocka_unit_test_teardown(test_killed_then_cancel, sv_teardown),
		cmocka_unit_test_teardown(test_cancel_by_batch, sv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
