/*
 * Shared by the Slurm tests (tests/integration/slurm/): a real Slurm of the
 * test's own and the helpers of the queue's survival tests (survive.h:
 * stores, molecules, processes, sv_check_exactly_once).
 *
 *   st_enter      run the test under scripts/with-slurm: a single-machine
 *                 cluster (munged with a fresh key, slurmctld, slurmd for
 *                 NodeName=localhost) in a temporary directory, stopped when
 *                 the test ends, pass or fail. When Slurm cannot start here,
 *                 with-slurm says why and the test exits 77: CTest reports it
 *                 skipped (skip_return_code=77 in each test's marker).
 *   st_slurm      `qforge slurm ARGS...` in the foreground
 *   st_submit     `qforge slurm submit ...`: the job id
 *   st_tasks      the array's tasks as squeue sees them ("<task> <state>")
 *   st_wait_ended every task of a job finished (or gone)
 */
#ifndef SLURM_TEST_H
#define SLURM_TEST_H

#include "../queue/survive.h"

#include <dirent.h>

#define ST_SKIP 77

/* Re-run this test program under scripts/with-slurm (unless it already
 * runs under it). Call first thing in main. */
static inline void st_enter(int argc, char **argv)
{
	if (getenv("QF_TEST_SLURM_DIR"))
		return;
	char script[QF_MAX_PATH], self[QF_MAX_PATH];
	snprintf(script, sizeof(script), "%s/scripts/with-slurm", QF_SOURCE_DIR);
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		fprintf(stderr, "cannot find this program: %s\n", strerror(errno));
		exit(1);
	}
	self[n] = '\0';
	char **args = calloc((size_t)argc + 5, sizeof(char *));
	if (!args)
		exit(1);
	int k = 0;
	args[k++] = script;
	args[k++] = "--unavailable-status";
	args[k++] = "77";
	args[k++] = self;
	for (int i = 1; i < argc; i++)
		args[k++] = argv[i];
	args[k] = NULL;
	execv(script, args);
	fprintf(stderr, "cannot run %s: %s\n", script, strerror(errno));
	exit(1);
}

/* `qforge slurm args...` with extra environment env (may be NULL). */
static inline void st_slurm(qft_output *o, const char *const *env, const char *const *args)
{
	const char *argv[96];
	int n = 0;
	argv[n++] = qft_qforge();
	argv[n++] = "slurm";
	for (const char *const *a = args; *a; a++) {
		assert_true(n < 95);
		argv[n++] = *a;
	}
	argv[n] = NULL;
	qft_run(o, argv, env, NULL, 300);
}

/* `qforge slurm submit args...`: the job id it printed. */
static inline void st_submit(char id[32], const char *const *env, const char *const *args)
{
	const char *a[96] = {"submit"};
	int n = 1;
	for (const char *const *p = args; *p; p++) {
		assert_true(n < 95);
		a[n++] = *p;
	}
	a[n] = NULL;
	qft_output o;
	st_slurm(&o, env, a);
	sv_expect_status(&o, 0, "qforge slurm submit");
	size_t len = strcspn(o.out, "\n");
	if (len == 0 || len >= 32 || strspn(o.out, "0123456789") != len)
		fail_msg("qforge slurm submit printed no job id: '%s' (stderr: %s)", o.out, o.err);
	memcpy(id, o.out, len);
	id[len] = '\0';
	qft_output_release(&o);
}

/* A Slurm program's output (heap); fails the test when it fails. */
static inline char *st_tool(const char *const *argv)
{
	qft_output o;
	qft_run(&o, argv, NULL, NULL, 120);
	if (o.exit_code != 0)
		fail_msg("%s failed (%d): %s", argv[0], o.exit_code, o.err);
	char *out = o.out;
	o.out = NULL;
	qft_output_release(&o);
	return out;
}

/* The tasks of job id as squeue knows them, in every state: "<task> <state>"
 * lines (heap). */
static inline char *st_tasks(const char *id)
{
	const char *argv[] = {"squeue", "--noheader", "--array", "--states=all", "--jobs", id,
	                      "--format=%K %T", NULL};
	return st_tool(argv);
}

/* Tasks of job id not yet finished (pending, running, completing, ...). */
static inline int st_alive(const char *id)
{
	const char *argv[] = {"squeue", "--noheader", "--array", "--jobs", id, "--format=%i", NULL};
	qft_output o;
	qft_run(&o, argv, NULL, NULL, 120);
	int n = 0;
	if (o.exit_code == 0)
		for (const char *p = o.out; *p; p++)
			n += *p == '\n';
	qft_output_release(&o);
	return n;
}

/* Wait until every task of id has ended. */
static inline void st_wait_ended(const char *id, double timeout_s)
{
	double end = sv_now() + timeout_s;
	while (st_alive(id) > 0) {
		if (sv_now() > end) {
			char *t = st_tasks(id);
			fail_msg("Slurm job %s still has tasks after %.0f s:\n%s", id, timeout_s, t);
		}
		sv_sleep(0.25);
	}
}

/* Count of the batch's jobs running under the workers of Slurm job id. */
static inline long long st_held(const sv_store *s, const char *batch, const char *id)
{
	return sv_int(s,
	              "SELECT count(*) FROM calculations WHERE batch_id = '%s' AND status = 'running' "
	              "AND lease_owner LIKE 'slurm:%s\\_%%' ESCAPE '\\'",
	              batch, id);
}

/* Wait until the workers of Slurm job id hold n jobs of the batch. */
static inline void st_wait_held(const sv_store *s, const char *batch, const char *id, long long n,
                                const char *logdir)
{
	double end = sv_now() + 120;
	while (st_held(s, batch, id) < n) {
		if (sv_now() > end) {
			char *t = st_tasks(id);
			fail_msg("the workers of Slurm job %s did not get %lld jobs running (logs in %s):\n%s",
			         id, n, logdir, t);
		}
		sv_sleep(0.1);
	}
}

/* SIGKILL every worker process of Slurm job id (found by its --name
 * "slurm:<id>_..." in /proc/PID/cmdline): a node that dies under them.
 * Returns how many were killed. */
static inline int st_kill_workers(const char *id)
{
	char want[64];
	snprintf(want, sizeof(want), "slurm:%s_", id);
	DIR *d = opendir("/proc");
	assert_non_null(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/proc/%.64s/cmdline", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		char buf[8192];
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		/* argv: ... "worker" ... "--name" "slurm:<id>_<task>@<node>:<pid>" */
		bool worker = false, named = false;
		for (size_t i = 0; i < len; i += strlen(buf + i) + 1) {
			if (!strcmp(buf + i, "worker"))
				worker = true;
			if (!strcmp(buf + i, "--name") && i + 7 < len && !strncmp(buf + i + 7, want, strlen(want)))
				named = true;
		}
		if (worker && named && kill((pid_t)strtol(e->d_name, NULL, 10), SIGKILL) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* The whole text of the log of task task of job id in logdir. */
static inline char *st_task_log(const char *logdir, const char *id, int task)
{
	char path[QF_MAX_PATH];
	if (qf_snprintf(path, sizeof(path), "%s/%s_%d.log", logdir, id, task))
		fail_msg("path too long");
	return sv_read(path);
}

/* sv_stat over a task's log. */
static inline long st_task_stat(const char *logdir, const char *id, int task, const char *key)
{
	char path[QF_MAX_PATH];
	if (qf_snprintf(path, sizeof(path), "%s/%s_%d.log", logdir, id, task))
		fail_msg("path too long");
	return sv_stat(path, key);
}

#endif
