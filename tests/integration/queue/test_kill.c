/* qf-test: labels=integration,queue,xtb,postgres timeout=600 */
/*
 * SIGKILL workers at random moments across a batch, and nothing is lost or
 * done twice.
 *
 * A batch of small molecules (water, methane, ethanol) is run by the real `qforge worker`, started again after every
 * SIGKILL, in rounds of three kinds:
 *   random    singlepoints through the in-process engine, killed after a
 *             random delay (up to 0.4 s: a round does a few jobs);
 *   program   the same through the xtb program (--no-engine), so kills also
 *             land while xtb runs (up to 0.5 s);
 *   sweep     every commit delayed by 1 s (the test hook), killed after 2.6 to
 *             3.4 s: long enough to sweep the expired leases (2 s) of what
 *             earlier rounds left running and to claim those jobs again;
 *   window    with the test hook QF_FAULT_COMMIT_DELAY_MS (every commit
 *             delayed), killed as soon as a job's directory holds its
 *             completed metadata.json while the store still says it runs:
 *             the kill lands between "result on disk" and "result committed",
 *             which the test confirms in the store after the kill.
 * Work done between kills varies a lot (a round of the in-process engine may
 * finish dozens of jobs), so when the batch ends before MIN_KILLS kills (one
 * in the window) another batch of new molecules is submitted, up to
 * MAX_BATCHES: the kills always happen, and every batch is checked.
 * After a bounded number of rounds a last worker runs to the end
 * (--exit-when-idle). Then sv_check_exactly_once: every job final and
 * completed, none lost, no attempt recorded twice, exactly one successful
 * attempt per calculation, one atomic_properties row per atom, energies equal
 * to metadata.json; and every window kill was later committed from the job
 * directory (the worker's sync) rather than computed again, with the killed
 * attempt recorded as queue.worker_lost.
 */
#include "survive.h"

#define KILL_ROUNDS 40
#define MIN_KILLS 10
#define MAX_BATCHES 4
#define COMMIT_DELAY_MS "300"
#define SWEEP_COMMIT_DELAY_MS "1000"

struct kill_run {
	sv_store store;
	char tmp[QF_MAX_PATH];
	char jobs[QF_MAX_PATH];
	char batches[MAX_BATCHES][QF_UUID_STR];
	int nbatches;
	int njobs;
	unsigned seed;
	/* window kills confirmed in the store: job id and the killed attempt */
	char window_ids[KILL_ROUNDS][QF_UUID_STR];
	long long window_attempts[KILL_ROUNDS];
	int nwindow;
	int kills;
	char logs[KILL_ROUNDS + 1][QF_MAX_PATH];
	int nlogs;
};

static double uniform(unsigned *seed, double lo, double hi)
{
	return lo + (hi - lo) * ((double)rand_r(seed) / RAND_MAX);
}

static bool window_killed(const struct kill_run *k, const char *id)
{
	for (int i = 0; i < k->nwindow; i++)
		if (!strcmp(k->window_ids[i], id))
			return true;
	return false;
}

/* A running job of the batch whose directory already holds its completed
 * metadata.json for the attempt the store has: the worker is between the
 * two. Jobs killed so once already are left alone (the next claim commits
 * them from their directory, which is delayed like any commit: they would
 * otherwise be killed again and again, first in every claim order). Fills
 * id and attempt. */
static bool in_window(struct kill_run *k, pid_t worker, char id[QF_UUID_STR], long long *attempt)
{
	/* only this worker's jobs (its slots are "host:pid/slot"): a job of a
	 * worker killed before stays running until its lease is swept */
	json_t *rows = sv_rows(&k->store,
	                       "SELECT id, attempt FROM calculations WHERE status = 'running' AND "
	                       "lease_owner LIKE '%%:%ld/%%'",
	                       (long)worker);
	bool found = false;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		const char *cid = json_string_value(json_array_get(row, 0));
		long long att = json_integer_value(json_array_get(row, 1));
		if (window_killed(k, cid))
			continue;
		char dir[QF_MAX_PATH], meta[QF_MAX_PATH];
		qft_join(dir, k->jobs, cid);
		qft_join(meta, dir, "metadata.json");
		json_t *doc = json_load_file(meta, 0, NULL);
		if (doc && !strcmp(json_string_value(json_object_get(doc, "status")) ? json_string_value(json_object_get(doc, "status")) : "", "completed") &&
		    json_integer_value(json_object_get(doc, "attempt")) == att) {
			qf_strlcpy(id, cid, QF_UUID_STR);
			*attempt = att;
			found = true;
		}
		json_decref(doc);
		if (found)
			break;
	}
	json_decref(rows);
	return found;
}

static const char *round_kind(int r)
{
	static const char *const kinds[] = {"random", "window", "program", "sweep"};
	return kinds[r % 4];
}

/* One round: a worker, killed (or ending by itself when nothing is left). */
static void kill_round(struct kill_run *k, int r)
{
	const char *kind = round_kind(r);
	char log[QF_MAX_PATH], name[64];
	snprintf(name, sizeof(name), "worker-%02d-%s.log", r, kind);
	qft_join(log, k->tmp, name);
	qf_strlcpy(k->logs[k->nlogs++], log, QF_MAX_PATH);
	const char *env_delay[] = {"QF_FAULT_COMMIT_DELAY_MS=" COMMIT_DELAY_MS, NULL};
	const char *env_slow[] = {"QF_FAULT_COMMIT_DELAY_MS=" SWEEP_COMMIT_DELAY_MS, NULL};
	const char *extra_engine[] = {"--exit-when-idle", "--max-attempts", "100", NULL};
	const char *extra_program[] = {"--exit-when-idle", "--max-attempts", "100", "--no-engine", NULL};
	bool window = !strcmp(kind, "window"), sweep = !strcmp(kind, "sweep");
	sv_proc w;
	sv_worker(&w, k->store.url, k->jobs, log, !strcmp(kind, "program") ? extra_program : extra_engine,
	          window ? env_delay : sweep ? env_slow : NULL, NULL, NULL);

	if (window) {
		/* kill as soon as a result is on disk but not committed (bounded) */
		char id[QF_UUID_STR] = "";
		long long attempt = 0;
		bool seen = false;
		double end = sv_now() + 60;
		while (sv_now() < end && !sv_wait(&w, 0)) {
			if ((seen = in_window(k, w.pid, id, &attempt)))
				break;
			sv_sleep(0.01);
		}
		sv_kill(&w, SIGKILL);
		sv_wait_or_fail(&w, 30, "killed worker");
		if (sv_exit_code(&w) == -SIGKILL)
			k->kills++;
		/* confirmed only when the store still has the attempt running */
		if (seen && sv_int(&k->store,
		                   "SELECT count(*) FROM calculations WHERE id = '%s' AND status = "
		                   "'running' AND attempt = %lld",
		                   id, attempt) == 1) {
			qf_strlcpy(k->window_ids[k->nwindow], id, QF_UUID_STR);
			k->window_attempts[k->nwindow++] = attempt;
		}
	} else {
		double delay = sweep ? uniform(&k->seed, 2.6, 3.4)
		                     : uniform(&k->seed, 0.05, !strcmp(kind, "program") ? 0.5 : 0.4);
		if (!sv_wait(&w, delay)) {
			sv_kill(&w, SIGKILL);
			sv_wait_or_fail(&w, 30, "killed worker");
			k->kills++;
		} else if (sv_exit_code(&w) != 0) {
			char *text = sv_read(log);
			fail_msg("worker of round %d ended with status %d:\n%s", r, sv_exit_code(&w), text);
		}
	}
	sv_reap();
}

/* Occurrences of needle in the logs. */
static int count_in_logs(struct kill_run *k, const char *needle)
{
	int n = 0;
	for (int i = 0; i < k->nlogs; i++) {
		char *text = sv_read(k->logs[i]);
		for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
			n++;
		free(text);
	}
	return n;
}

/* Another batch of njobs new molecules (its own geometries: identical work
 * would be deduplicated), left queued. */
static void submit_batch(struct kill_run *k)
{
	char mols[QF_MAX_PATH], name[32];
	snprintf(name, sizeof(name), "molecules-%d.xyz", k->nbatches + 1);
	qft_join(mols, k->tmp, name);
	sv_write_xyz(mols, k->njobs, "wme", 7 + (unsigned)k->nbatches);
	const char *submit[] = {"--max-attempts", "100", NULL};
	sv_submit(k->batches[k->nbatches++], k->store.url, mols, submit);
}

static void kill_test(bool pg, int njobs)
{
	static struct kill_run k; /* large */
	memset(&k, 0, sizeof(k));
	sv_setup();
	k.njobs = njobs;
	k.seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	print_message("kill test on %s, %d jobs, seed %u\n", pg ? "postgresql" : "sqlite", njobs, k.seed);
	qft_tmpdir(k.tmp, pg ? "kill-pg" : "kill-sqlite");
	qft_join(k.jobs, k.tmp, "jobs");
	if (pg)
		sv_store_pg(&k.store, NULL, "kill");
	else
		sv_store_sqlite(&k.store, k.tmp);
	submit_batch(&k);
	int r = 0;
	for (; r < KILL_ROUNDS; r++) {
		if (sv_batch_done(&k.store, k.batches[k.nbatches - 1])) {
			if ((k.kills >= MIN_KILLS && k.nwindow >= 1) || k.nbatches == MAX_BATCHES)
				break;
			submit_batch(&k);
		}
		kill_round(&k, r);
	}

	/* the last worker: to the end */
	char log[QF_MAX_PATH];
	qft_join(log, k.tmp, "worker-last.log");
	qf_strlcpy(k.logs[k.nlogs++], log, QF_MAX_PATH);
	const char *extra[] = {"--exit-when-idle", "--max-attempts", "100", NULL};
	sv_proc w;
	sv_worker(&w, k.store.url, k.jobs, log, extra, NULL, NULL, NULL);
	sv_wait_or_fail(&w, 240, "last worker");
	if (sv_exit_code(&w) != 0) {
		char *text = sv_read(log);
		fail_msg("last worker ended with status %d:\n%s", sv_exit_code(&w), text);
	}
	sv_reap_all(10);

	sv_outcome o = {0};
	for (int b = 0; b < k.nbatches; b++) {
		sv_outcome ob;
		sv_check_exactly_once(&k.store, k.batches[b], njobs, &ob);
		if (ob.completed != njobs) {
			sv_print_unfinished(&k.store, k.batches[b]);
			fail_msg("batch %d: %lld of %d completed", b + 1, ob.completed, njobs);
		}
		o.completed += ob.completed;
		o.worker_lost += ob.worker_lost;
		if (ob.max_attempt > o.max_attempt)
			o.max_attempt = ob.max_attempt;
	}
	int synced = count_in_logs(&k, "committed from its job directory");
	print_message("%d batches, %d rounds, %d kills (%d between result and commit), %d results "
	              "committed from their job directories, %lld lost leases swept, highest attempt "
	              "%lld\n",
	              k.nbatches, r, k.kills, k.nwindow, synced, o.worker_lost, o.max_attempt);
	/* the kills happened, some of them in the window */
	if (k.kills < MIN_KILLS || k.nwindow < 1)
		fail_msg("%d batches ended after %d kills (%d in the window): the test needs %d and 1",
		         k.nbatches, k.kills, k.nwindow, MIN_KILLS);
	/* every window kill: the killed attempt was swept as lost, and the job's
	 * result committed from its directory later (never computed again) */
	for (int i = 0; i < k.nwindow; i++) {
		long long lost = sv_int(&k.store,
		                        "SELECT count(*) FROM calculation_errors WHERE calculation_id = '%s' "
		                        "AND attempt = %lld AND error_code = 'queue.worker_lost'",
		                        k.window_ids[i], k.window_attempts[i]);
		if (lost != 1)
			fail_msg("job %s killed between result and commit at attempt %lld: %lld worker_lost "
			         "rows for that attempt", k.window_ids[i], k.window_attempts[i], lost);
		/* computed again, its directory would have been moved aside (named
		 * after the attempt in its metadata.json, k or later) */
		for (long long a = k.window_attempts[i]; a <= o.max_attempt; a++) {
			char aside[QF_MAX_PATH];
			if (qf_snprintf(aside, sizeof(aside), "%s/%s.attempt-%lld", k.jobs, k.window_ids[i], a))
				fail_msg("path too long");
			if (qf_fs_exists(aside))
				fail_msg("job %s, killed between result and commit at attempt %lld, was computed "
				         "again (%s exists)", k.window_ids[i], k.window_attempts[i], aside);
		}
	}

	sv_store_drop(&k.store);
	qf_fs_rm_rf(k.tmp);
}

static void test_kill_sqlite(void **state)
{
	(void)state;
	kill_test(false, 60);
}

static void test_kill_postgres(void **state)
{
	(void)state;
	kill_test(true, 60);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_kill_sqlite, sv_teardown),
		cmocka_unit_test_teardown(test_kill_postgres, sv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
