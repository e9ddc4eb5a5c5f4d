/* qf-test: labels=integration,queue,xtb,postgres timeout=600 */
/*
 * The store becomes unreachable in the middle of a batch, and comes back.
 *
 * PostgreSQL: a private cluster (the shared one of scripts/with-postgres is
 * in use by other tests at the same time) is stopped with pg_ctl while two
 * workers run a batch of Hessians after optimisation (--task ohess, through
 * the xtb program, so that jobs are in flight), stays down a few seconds and
 * is started again on the same port.
 *
 * SQLite: the workers run as an unprivileged user (tests run as root, which
 * file modes do not stop) on a database and jobs root that user owns; the
 * database's directory and files are made read-only (chmod), and, because a
 * connection opened earlier keeps writing through its open descriptors
 * whatever the modes say, the database file and its WAL are also made
 * immutable (FS_IMMUTABLE_FL: writes through open descriptors fail too); a
 * second worker starts while the database is read-only. Then modes and flags
 * are restored.
 *
 * Both: the workers saw the outage (store errors in their stats), every
 * calculation finished into its job directory, and once the store is back
 * all results are in it: sv_check_exactly_once (none lost, no attempt twice,
 * energies equal to metadata.json), every calculation completed, and the
 * workers ended with status 0.
 */
#include "survive.h"

#include <linux/fs.h>
#include <sys/ioctl.h>

#define OUTAGE_S 4.0

/* Wait until at least n calculations of the batch completed (bounded). */
static void wait_completed(const sv_store *s, const char *batch, long long n, double timeout_s)
{
	double end = sv_now() + timeout_s;
	while (sv_count_status(s, batch, "completed") < n) {
		if (sv_now() > end)
			fail_msg("fewer than %lld calculations completed within %.0f s", n, timeout_s);
		sv_sleep(0.1);
	}
}

/* Calculations of the batch the store says are running. */
static long long running(const sv_store *s, const char *batch)
{
	return sv_count_status(s, batch, "running");
}

static void check_workers(sv_proc *w, const char *const *logs, int n)
{
	for (int i = 0; i < n; i++) {
		sv_wait_or_fail(&w[i], 120, "worker");
		if (sv_exit_code(&w[i]) != 0) {
			char *text = sv_read(logs[i]);
			fail_msg("worker %d ended with status %d:\n%s", i, sv_exit_code(&w[i]), text);
		}
	}
}

/* ---- PostgreSQL ------------------------------------------------------------------- */

static void test_postgres_down(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH], jobs[QF_MAX_PATH], mols[QF_MAX_PATH];
	qft_tmpdir(tmp, "outage-pg");
	qft_join(jobs, tmp, "jobs");
	qft_join(mols, tmp, "molecules.xyz");
	const int njobs = 60;
	sv_write_xyz(mols, njobs, "ew", 11);

	sv_pg pg;
	sv_pg_init(&pg, "outage-cluster", NULL, "127.0.0.1", NULL);
	sv_pg_start(&pg);
	char server[256];
	sv_pg_url(&pg, server, sizeof(server), "127.0.0.1", "postgres");
	sv_store s;
	sv_store_pg(&s, server, "outage");
	char batch[QF_UUID_STR];
	const char *submit[] = {"--task", "ohess", NULL};
	sv_submit(batch, s.url, mols, submit);

	char logs[2][QF_MAX_PATH];
	const char *lp[2] = {logs[0], logs[1]};
	sv_proc w[2];
	const char *extra[] = {"--exit-when-idle", NULL};
	for (int i = 0; i < 2; i++) {
		char name[32];
		snprintf(name, sizeof(name), "worker-%d.log", i);
		qft_join(logs[i], tmp, name);
		sv_worker(&w[i], s.url, jobs, logs[i], extra, NULL, NULL, NULL);
	}
	/* mid-batch, with jobs in flight */
	wait_completed(&s, batch, 6, 120);
	long long in_flight = running(&s, batch), before = sv_count_status(&s, batch, "completed");
	sv_pg_stop(&pg, "fast");
	assert_false(pg.running);
	print_message("server stopped with %lld job(s) running, %lld completed\n", in_flight, before);
	sv_sleep(OUTAGE_S);
	/* the workers are still there, waiting for the store */
	for (int i = 0; i < 2; i++)
		assert_false(sv_wait(&w[i], 0));
	sv_pg_restart(&pg);

	check_workers(w, lp, 2);
	sv_reap_all(10);
	long errors = sv_stat_sum(lp, 2, "store errors");
	print_message("store errors seen by the workers: %ld; completed %ld, synced %ld, stale %ld\n",
	              errors, sv_stat_sum(lp, 2, "completed"), sv_stat_sum(lp, 2, "synced"),
	              sv_stat_sum(lp, 2, "stale"));
	assert_true(errors > 0);
	sv_outcome o;
	sv_check_exactly_once(&s, batch, njobs, &o);
	if (o.completed != njobs) {
		sv_print_unfinished(&s, batch);
		fail_msg("%lld of %d completed", o.completed, njobs);
	}
	sv_store_drop(&s);
	sv_pg_destroy(&pg);
	qf_fs_rm_rf(tmp);
}

/* ---- SQLite ------------------------------------------------------------------------ */

static void set_immutable(const char *path, bool on)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return;
		fail_msg("could not open %s: %s", path, strerror(errno));
	}
	int flags = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags))
		fail_msg("FS_IOC_GETFLAGS %s: %s (the test needs a file system with the immutable flag)",
		         path, strerror(errno));
	flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
	if (on) {
		sv_cleanup c = {.kind = SV_CLEAN_MUTABLE};
		qf_strlcpy(c.path, path, sizeof(c.path));
		sv_defer(&c);
	}
	if (ioctl(fd, FS_IOC_SETFLAGS, &flags))
		fail_msg("FS_IOC_SETFLAGS %s: %s", path, strerror(errno));
	close(fd);
	if (!on)
		sv_undefer(SV_CLEAN_MUTABLE, 0, path);
}

static void chown_tree(const char *path, const struct passwd *pw)
{
	const char *argv[] = {"chown", "-R", "nobody:", path, NULL};
	(void)pw;
	qft_output o;
	qft_run(&o, argv, NULL, NULL, 60);
	if (o.exit_code)
		fail_msg("chown -R %s: %s", path, o.err);
	qft_output_release(&o);
}

/* The database files, read-only (and immutable) or writable again. */
static void database_writable(const char *dbdir, bool writable)
{
	static const char *const files[] = {"qforge.db", "qforge.db-wal", "qforge.db-shm"};
	for (size_t i = 0; i < 3; i++) {
		char path[QF_MAX_PATH];
		qft_join(path, dbdir, files[i]);
		if (!qf_fs_exists(path))
			continue;
		/* the flag forbids changing the mode too: modes while mutable */
		if (writable)
			set_immutable(path, false);
		if (chmod(path, writable ? 0644 : 0444))
			fail_msg("chmod %s: %s", path, strerror(errno));
		if (!writable && i < 2)
			set_immutable(path, true);
	}
	if (chmod(dbdir, writable ? 0755 : 0555))
		fail_msg("chmod %s: %s", dbdir, strerror(errno));
}

static void test_sqlite_unwritable(void **state)
{
	(void)state;
	sv_setup();
	struct passwd *pw = getpwnam("nobody");
	if (!pw)
		fail_msg("no user 'nobody' to run the workers as");
	char tmp[QF_MAX_PATH], own[QF_MAX_PATH], dbdir[QF_MAX_PATH], jobs[QF_MAX_PATH];
	char mols[QF_MAX_PATH];
	qft_tmpdir(tmp, "outage-sqlite");
	qft_join(own, tmp, "nobody");
	qft_join(dbdir, own, "db");
	qft_join(jobs, own, "jobs");
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_fs_mkdir_p(dbdir, false, &e), 0);
	assert_int_equal(qf_fs_mkdir_p(jobs, false, &e), 0);
	qft_join(mols, tmp, "molecules.xyz");
	const int njobs = 60;
	sv_write_xyz(mols, njobs, "ew", 13);

	sv_store s;
	sv_store_sqlite(&s, dbdir);
	char batch[QF_UUID_STR];
	const char *submit[] = {"--task", "ohess", NULL};
	sv_submit(batch, s.url, mols, submit);
	chown_tree(own, pw);
	assert_int_equal(chmod(tmp, 0755), 0);

	char logs[2][QF_MAX_PATH];
	const char *lp[2] = {logs[0], logs[1]};
	qft_join(logs[0], tmp, "worker-0.log");
	qft_join(logs[1], tmp, "worker-1.log");
	sv_proc w[2];
	const char *extra[] = {"--exit-when-idle", NULL};
	sv_worker(&w[0], s.url, jobs, logs[0], extra, NULL, NULL, pw);

	wait_completed(&s, batch, 6, 120);
	database_writable(dbdir, false);
	long long in_flight = running(&s, batch);
	/* a worker that starts now finds the database read-only */
	sv_worker(&w[1], s.url, jobs, logs[1], extra, NULL, NULL, pw);
	sv_sleep(OUTAGE_S);
	long long during = sv_count_status(&s, batch, "completed");
	sv_sleep(1.0);
	/* nothing was committed while the database was unwritable */
	assert_int_equal(sv_count_status(&s, batch, "completed"), during);
	assert_false(sv_wait(&w[0], 0));
	database_writable(dbdir, true);

	check_workers(w, lp, 2);
	sv_reap_all(10);
	long errors = sv_stat_sum(lp, 2, "store errors");
	print_message("%lld job(s) running when the database became read-only; store errors %ld; "
	              "completed %ld + %ld, synced %ld, stale %ld\n",
	              in_flight, errors, sv_stat(logs[0], "completed"), sv_stat(logs[1], "completed"),
	              sv_stat_sum(lp, 2, "synced"), sv_stat_sum(lp, 2, "stale"));
	assert_true(errors > 0);
	sv_outcome o;
	sv_check_exactly_once(&s, batch, njobs, &o);
	if (o.completed != njobs) {
		sv_print_unfinished(&s, batch);
		fail_msg("%lld of %d completed", o.completed, njobs);
	}
	qf_fs_rm_rf(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_postgres_down, sv_teardown),
		cmocka_unit_test_teardown(test_sqlite_unwritable, sv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
