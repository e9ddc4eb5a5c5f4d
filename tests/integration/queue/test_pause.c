/* qf-test: labels=integration,queue,xtb timeout=300 */
/*
 * A worker paused past its lease, on the same machine (the same jobs root)
 * as another worker: two workers of one `qforge serve`, or a suspended
 * process.
 *
 * Worker A claims an optimisation (through the gate fixture, which holds it)
 * and is stopped with SIGSTOP; its xtb runs on. Its lease expires; worker B
 * sweeps it and claims the job again. The gate opens, A is continued a few
 * seconds later, notices that the job is no longer its own and does not
 * commit. Asserted: the job completed exactly once (sv_check_exactly_once:
 * among others, the job directory's metadata.json says completed at the
 * attempt the store has: before, A's stale result of the earlier attempt
 * was written over the directory B had taken over), B waited for the
 * directory A still held instead of running in it, and both workers exit 0.
 */
#include "survive.h"

static void test_paused_worker(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH], jobs[QF_MAX_PATH], mols[QF_MAX_PATH], gate[QF_MAX_PATH];
	char fixture[QF_MAX_PATH], log_a[QF_MAX_PATH], log_b[QF_MAX_PATH];
	qft_tmpdir(tmp, "pause");
	qft_join(jobs, tmp, "jobs");
	qft_join(gate, tmp, "gate");
	qft_join(mols, tmp, "molecules.xyz");
	qft_join(log_a, tmp, "worker-a.log");
	qft_join(log_b, tmp, "worker-b.log");
	qft_data(fixture, "queue/xtb-gate");
	sv_write_xyz(mols, 1, "e", 61);
	sv_store s;
	sv_store_sqlite(&s, tmp);
	char batch[QF_UUID_STR];
	const char *submit[] = {"--task", "opt", "--xtb", fixture, NULL};
	sv_submit(batch, s.url, mols, submit);

	const char *one[] = {"--concurrency", "1", "--xtb", fixture, NULL};
	const char *one_idle[] = {"--concurrency", "1", "--xtb", fixture, "--exit-when-idle", NULL};
	sv_proc a, b;
	sv_worker(&a, s.url, jobs, log_a, one, NULL, NULL, NULL);
	double end = sv_now() + 60;
	char owner[64];
	snprintf(owner, sizeof(owner), "%%:%ld/%%", (long)a.pid);
	while (sv_int(&s, "SELECT count(*) FROM calculations WHERE status = 'running' AND lease_owner "
	                  "LIKE '%s'", owner) == 0) {
		if (sv_now() > end || sv_wait(&a, 0))
			fail_msg("worker A did not claim the job");
		sv_sleep(0.05);
	}
	kill(a.pid, SIGSTOP);

	/* B sweeps the expired lease and claims the job again */
	sv_worker(&b, s.url, jobs, log_b, one_idle, NULL, NULL, NULL);
	snprintf(owner, sizeof(owner), "%%:%ld/%%", (long)b.pid);
	end = sv_now() + 60;
	while (sv_int(&s, "SELECT count(*) FROM calculations WHERE status = 'running' AND attempt = 2 "
	                  "AND lease_owner LIKE '%s'", owner) == 0) {
		if (sv_now() > end || sv_wait(&b, 0)) {
			kill(a.pid, SIGCONT);
			fail_msg("worker B did not claim the job again");
		}
		sv_sleep(0.05);
	}
	qft_write(gate, "open\n");
	/* A's xtb finishes while A is stopped; A comes back later */
	end = sv_now() + 3;
	while (sv_now() < end && sv_count_status(&s, batch, "completed") == 0)
		sv_sleep(0.05);
	sv_sleep(0.5);
	kill(a.pid, SIGCONT);

	sv_wait_or_fail(&b, 60, "worker B");
	assert_int_equal(sv_exit_code(&b), 0);
	sv_kill(&a, SIGTERM);
	sv_wait_or_fail(&a, 60, "worker A");
	assert_int_equal(sv_exit_code(&a), 0);
	sv_reap_all(5);
	sv_outcome o;
	sv_check_exactly_once(&s, batch, 1, &o);
	assert_int_equal(o.completed, 1);
	assert_int_equal(o.worker_lost, 1);
	char *text = sv_read(log_b);
	if (!strstr(text, "its directory is still in use"))
		fail_msg("worker B did not wait for the directory worker A held:\n%s", text);
	free(text);
	assert_int_equal(sv_stat(log_a, "completed"), 0);
	assert_int_equal(sv_stat(log_b, "completed"), 1);
	qf_fs_rm_rf(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_paused_worker, sv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
