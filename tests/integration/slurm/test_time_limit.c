/* qf-test: labels=integration,slurm,queue,xtb,postgres timeout=900 skip_return_code=77 resource_lock=slurm */
/*
 * A worker's Slurm time limit reached mid-job (a real Slurm: scripts/with-slurm,
 * which checks time limits every 30 s as Slurm does; PostgreSQL).
 *
 * The worker (one task, two CPUs: two calculations at once) runs
 * tests/data/queue/xtb-gate as its xtb, which holds every calculation until
 * the test opens the gate: both slots are mid-job when the limit comes.
 * Leases are long (600 s): nothing here is left to the lease sweep.
 *
 *   drain       --time 1 --drain-seconds 30: Slurm signals the batch shell
 *               about 30 s before the limit, the worker drains (claims
 *               nothing more), 15 s later is told to stop and gives both jobs
 *               back, uncounted, and ends before the limit (task COMPLETED).
 *   at the limit --time 10, then the limit cut to 1 minute while both slots
 *               hold a job (scontrol update): Slurm itself ends the task at
 *               the limit (TIMEOUT), signalling every process; the worker
 *               gives both jobs back uncounted all the same.
 * Each time a later array (gate open) completes everything, exactly once,
 * the given-back jobs at their first counted attempt.
 */
#include "slurm_test.h"

#define NJOBS 3

struct scene {
	sv_store store;
	char tmp[QF_MAX_PATH], jobs[QF_MAX_PATH], gate[QF_MAX_PATH], out[QF_MAX_PATH];
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
	sv_write_xyz(mols, NJOBS, "ew", 77);
	sv_store_pg(&sc->store, NULL, name);
	const char *submit[] = {"--task", "opt", "--xtb", wrapper, NULL};
	sv_submit(sc->batch, sc->store.url, mols, submit);
}

/* One worker with two slots; time and drain as given (NULL: defaults). */
static void scene_submit(struct scene *sc, char id[32], const char *time_limit, const char *drain)
{
	const char *args[32] = {"--store", sc->store.url, "--batch", sc->batch, "--workers", "1",
	                        "--cpus-per-worker", "2", "--output-dir", sc->out, "--jobs-root", sc->jobs,
	                        "--worker-arg", sc->xtb_arg, "--worker-arg=--lease-seconds=600",
	                        "--worker-arg=--poll-seconds=0.2"};
	int n = 16;
	if (time_limit) {
		args[n++] = "--time";
		args[n++] = time_limit;
	}
	if (drain) {
		args[n++] = "--drain-seconds";
		args[n++] = drain;
	}
	args[n] = NULL;
	st_submit(id, NULL, args);
}

/* The state squeue gives task 0 of id. */
static void task_state(const char *id, char *out, size_t size)
{
	char *t = st_tasks(id);
	const char *sp = strchr(t, ' ');
	qf_strlcpy(out, sp ? sp + 1 : "?", size);
	out[strcspn(out, "\n")] = '\0';
	free(t);
}

/* What the worker gave back: both held jobs queued again, attempt 0, no
 * error nor metrics rows; then a later array completes everything. */
static void check_given_back_then_finish(struct scene *sc, const char *id, json_t *held)
{
	assert_int_equal(st_task_stat(sc->out, id, 0, "claimed"), 2);
	assert_int_equal(st_task_stat(sc->out, id, 0, "released"), 2);
	assert_int_equal(st_task_stat(sc->out, id, 0, "completed"), 0);
	assert_int_equal(sv_int(&sc->store, "SELECT count(*) FROM calculations WHERE batch_id = '%s' AND "
	                                   "status = 'queued' AND attempt = 0", sc->batch),
	                 NJOBS);
	assert_int_equal(sv_int(&sc->store, "SELECT count(*) FROM calculation_errors e JOIN calculations c "
	                                   "ON c.id = e.calculation_id WHERE c.batch_id = '%s'", sc->batch),
	                 0);
	assert_int_equal(sv_int(&sc->store, "SELECT count(*) FROM calculation_execution_metrics m JOIN "
	                                   "calculations c ON c.id = m.calculation_id WHERE c.batch_id = '%s'",
	                        sc->batch),
	                 0);

	qft_write(sc->gate, "open\n");
	char id2[32];
	scene_submit(sc, id2, NULL, NULL);
	double end = sv_now() + 300;
	while (!sv_batch_done(&sc->store, sc->batch)) {
		if (sv_now() > end) {
			sv_print_unfinished(&sc->store, sc->batch);
			fail_msg("the later array %s did not finish the batch; logs in %s", id2, sc->out);
		}
		sv_sleep(0.2);
	}
	st_wait_ended(id2, 120);
	sv_outcome oc;
	sv_check_exactly_once(&sc->store, sc->batch, NJOBS, &oc);
	assert_int_equal(oc.completed, NJOBS);
	assert_int_equal(oc.worker_lost, 0);
	assert_int_equal(oc.max_attempt, 1);
	for (size_t i = 0; i < json_array_size(held); i++) {
		const char *jid = json_string_value(sv_cell(held, i, 0));
		assert_int_equal(sv_int(&sc->store, "SELECT m.slurm_job_id FROM calculation_execution_metrics m "
		                                   "WHERE m.calculation_id = '%s'", jid),
		                 strtoll(id2, NULL, 10));
	}
}

static void test_drain_before_limit(void **state)
{
	(void)state;
	struct scene sc;
	scene_setup(&sc, "slurm-drain");
	char id[32];
	double t0 = sv_now();
	scene_submit(&sc, id, "1", "30");
	st_wait_held(&sc.store, sc.batch, id, 2, sc.out);
	json_t *held = sv_rows(&sc.store, "SELECT id FROM calculations WHERE batch_id = '%s' AND status "
	                                  "= 'running'", sc.batch);
	st_wait_ended(id, 240);
	double took = sv_now() - t0;
	char st[64];
	task_state(id, st, sizeof(st));
	print_message("task ended %.0f s after the submit, %s\n", took, st);
	/* it ended by itself, before Slurm's limit */
	assert_string_equal(st, "COMPLETED");
	char *log = st_task_log(sc.out, id, 0);
	assert_null(strstr(log, "DUE TO TIME LIMIT"));
	free(log);
	check_given_back_then_finish(&sc, id, held);
	json_decref(held);
	sv_store_drop(&sc.store);
	qf_fs_rm_rf(sc.tmp);
}

static void test_limit_reached(void **state)
{
	(void)state;
	struct scene sc;
	scene_setup(&sc, "slurm-limit");
	char id[32];
	scene_submit(&sc, id, "10", NULL);
	st_wait_held(&sc.store, sc.batch, id, 2, sc.out);
	json_t *held = sv_rows(&sc.store, "SELECT id FROM calculations WHERE batch_id = '%s' AND status "
	                                  "= 'running'", sc.batch);
	char task[48];
	snprintf(task, sizeof(task), "JobId=%s_0", id);
	const char *cut[] = {"scontrol", "update", task, "TimeLimit=1", NULL};
	char *t = st_tool(cut);
	free(t);
	double t0 = sv_now();
	st_wait_ended(id, 240);
	char st[64];
	task_state(id, st, sizeof(st));
	print_message("task ended %.0f s after its limit was cut, %s\n", sv_now() - t0, st);
	assert_string_equal(st, "TIMEOUT");
	check_given_back_then_finish(&sc, id, held);
	json_decref(held);
	sv_store_drop(&sc.store);
	qf_fs_rm_rf(sc.tmp);
}

int main(int argc, char **argv)
{
	st_enter(argc, argv);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_drain_before_limit, sv_teardown),
		cmocka_unit_test_teardown(test_limit_reached, sv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
