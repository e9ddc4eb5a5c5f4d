/* qf-test: labels=integration,queue,xtb,postgres timeout=600 */
/*
 * The store becomes unreachable in the middle of a batch, and comes back.
 *
 * The workers run optimisations through the gate fixture (tests/data/queue/
 * xtb-gate), which holds every calculation until the test creates the file
 * "gate" beside the jobs root: so the jobs in flight when the store goes are
 * known, and they finish (the gate opens) while it is away.
 *
 * PostgreSQL: a private cluster (the shared one of scripts/with-postgres is
 * in use by other tests at the same time) is stopped with pg_ctl while two
 * workers hold four jobs, stays down a few seconds, and is started again on
 * the same port.
 *
 * SQLite: the workers run as an unprivileged user (tests run as root, which
 * file modes do not stop) on a database and jobs root that user owns; the
 * database's directory and files are made read-only (chmod) and, because a
 * connection opened earlier keeps writing through its open descriptors
 * whatever the modes say, the database file and its WAL are also made
 * immutable (FS_IMMUTABLE_FL: writes through open descriptors fail too); a
 * second worker starts while the database is read-only. Then modes and flags
 * are restored.
 *
 * Both: while the store is away the held jobs finish into their job
 * directories (completed metadata.json) and nothing is committed; the
 * workers see the outage (store errors in their stats, "its result is safe"
 * in their logs) and go on; once the store is back every calculation is in
 * it exactly once (sv_check_exactly_once: none lost, no attempt twice,
 * energies equal to metadata.json), all completed, and the workers exit 0.
 */
#include "survive.h"

#include <linux/fs.h>
#include <sys/ioctl.h>

#define OUTAGE_S 3.0

/* The ids of the running jobs of the batch, once there are n (bounded). */
static json_t *wait_running(const sv_store *s, const char *batch, long long n, sv_proc *w, int nw)
{
	double end = sv_now() + 60;
	for (;;) {
		json_t *rows = sv_rows(s, "SELECT id FROM calculations WHERE batch_id = '%s' AND status = "
		                          "'running'", batch);
		if ((long long)json_array_size(rows) >= n)
			return rows;
		json_decref(rows);
		for (int i = 0; i < nw; i++)
			if (sv_wait(&w[i], 0))
				fail_msg("worker %d ended before holding its jobs (status %d)", i, sv_exit_code(&w[i]));
		if (sv_now() > end)
			fail_msg("fewer than %lld jobs running after 60 s", n);
		sv_sleep(0.05);
	}
}

/* Wait until every job of ids has a completed metadata.json in jobs. */
static void wait_on_disk(const char *jobs, json_t *ids)
{
	double end = sv_now() + 60;
	size_t i;
	json_t *row;
	json_array_foreach(ids, i, row) {
		const char *id = json_string_value(json_array_get(row, 0));
		char dir[QF_MAX_PATH], meta[QF_MAX_PATH];
		qft_join(dir, jobs, id);
		qft_join(meta, dir, "metadata.json");
		for (;;) {
			json_t *doc = json_load_file(meta, 0, NULL);
			const char *st = doc ? json_string_value(json_object_get(doc, "status")) : NULL;
			bool done = st && !strcmp(st, "completed");
			json_decref(doc);
			if (done)
				break;
			if (sv_now() > end)
				fail_msg("job %s did not finish into its directory while the store was away", id);
			sv_sleep(0.05);
		}
	}
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

/* Occurrences of needle in the logs. */
static int in_logs(const char *const *logs, int n, const char *needle)
{
	int count = 0;
	for (int i = 0; i < n; i++) {
		char *text = sv_read(logs[i]);
		for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
			count++;
		free(text);
	}
	return count;
}

/* After the store came back: all of it there once, the held jobs included. */
static void check_after(const sv_store *s, const char *batch, int njobs, json_t *held,
                        const char *const *logs, int nlogs)
{
	long errors = sv_stat_sum(logs, nlogs, "store errors");
	int safe = in_logs(logs, nlogs, "its result is safe in");
	print_message("store errors seen by the workers: %ld; %d result(s) kept in their directories "
	              "until the store came back; completed %ld, synced %ld, stale %ld\n",
	              errors, safe, sv_stat_sum(logs, nlogs, "completed"),
	              sv_stat_sum(logs, nlogs, "synced"), sv_stat_sum(logs, nlogs, "stale"));
	assert_true(errors > 0);
	assert_true(safe > 0);
	sv_outcome o;
	sv_check_exactly_once(s, batch, njobs, &o);
	if (o.completed != njobs) {
		sv_print_unfinished(s, batch);
		fail_msg("%lld of %d completed", o.completed, njobs);
	}
	size_t i;
	json_t *row;
	json_array_foreach(held, i, row)
		assert_int_equal(sv_int(s, "SELECT count(*) FROM calculations WHERE id = '%s' AND status = "
		                           "'completed'", json_string_value(json_array_get(row, 0))),
		                 1);
}

/* ---- PostgreSQL ------------------------------------------------------------------- */

static void test_postgres_down(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH], jobs[QF_MAX_PATH], mols[QF_MAX_PATH], gate[QF_MAX_PATH];
	char fixture[QF_MAX_PATH];
	qft_tmpdir(tmp, "outage-pg");
	qft_join(jobs, tmp, "jobs");
	qft_join(gate, tmp, "gate");
	qft_join(mols, tmp, "molecules.xyz");
	qft_data(fixture, "queue/xtb-gate");
	const int njobs = 30;
	sv_write_xyz(mols, njobs, "ew", 11);

	sv_pg pg;
	sv_pg_init(&pg, "outage-cluster", NULL, "127.0.0.1", NULL);
	sv_pg_start(&pg);
	char server[256];
	sv_pg_url(&pg, server, sizeof(server), "127.0.0.1", "postgres");
	sv_store s;
	sv_store_pg(&s, server, "outage");
	char batch[QF_UUID_STR];
	const char *submit[] = {"--task", "opt", "--xtb", fixture, NULL};
	sv_submit(batch, s.url, mols, submit);

	char logs[2][QF_MAX_PATH];
	const char *lp[2] = {logs[0], logs[1]};
	sv_proc w[2];
	const char *extra[] = {"--exit-when-idle", "--xtb", fixture, NULL};
	for (int i = 0; i < 2; i++) {
		char name[32];
		snprintf(name, sizeof(name), "worker-%d.log", i);
		qft_join(logs[i], tmp, name);
		sv_worker(&w[i], s.url, jobs, logs[i], extra, NULL, NULL, NULL);
	}
	/* two workers hold four jobs; the server goes; the jobs finish */
	json_t *held = wait_running(&s, batch, 4, w, 2);
	sv_pg_stop(&pg, "fast");
	assert_false(pg.running);
	qft_write(gate, "open\n");
	wait_on_disk(jobs, held);
	sv_sleep(OUTAGE_S);
	for (int i = 0; i < 2; i++)
		assert_false(sv_wait(&w[i], 0)); /* waiting for the store, not gone */
	sv_pg_restart(&pg);

	check_workers(w, lp, 2);
	sv_reap_all(10);
	check_after(&s, batch, njobs, held, lp, 2);
	json_decref(held);
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

static void chown_tree(const char *path)
{
	const char *argv[] = {"chown", "-R", "nobody:", path, NULL};
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
	char mols[QF_MAX_PATH], gate[QF_MAX_PATH], fixture[QF_MAX_PATH];
	qft_tmpdir(tmp, "outage-sqlite");
	qft_join(own, tmp, "nobody");
	qft_join(dbdir, own, "db");
	qft_join(jobs, own, "jobs");
	qft_join(gate, own, "gate");
	qft_data(fixture, "queue/xtb-gate");
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_fs_mkdir_p(dbdir, false, &e), 0);
	assert_int_equal(qf_fs_mkdir_p(jobs, false, &e), 0);
	qft_join(mols, tmp, "molecules.xyz");
	const int njobs = 30;
	sv_write_xyz(mols, njobs, "ew", 13);

	sv_store s;
	sv_store_sqlite(&s, dbdir);
	char batch[QF_UUID_STR];
	const char *submit[] = {"--task", "opt", "--xtb", fixture, NULL};
	sv_submit(batch, s.url, mols, submit);
	chown_tree(own);
	assert_int_equal(chmod(tmp, 0755), 0);

	char logs[2][QF_MAX_PATH];
	const char *lp[2] = {logs[0], logs[1]};
	qft_join(logs[0], tmp, "worker-0.log");
	qft_join(logs[1], tmp, "worker-1.log");
	sv_proc w[2];
	const char *extra[] = {"--exit-when-idle", "--xtb", fixture, NULL};
	sv_worker(&w[0], s.url, jobs, logs[0], extra, NULL, NULL, pw);

	/* the worker holds two jobs; the database becomes unwritable */
	json_t *held = wait_running(&s, batch, 2, w, 1);
	database_writable(dbdir, false);
	/* a worker that starts now finds the database read-only */
	sv_worker(&w[1], s.url, jobs, logs[1], extra, NULL, NULL, pw);
	qft_write(gate, "open\n");
	wait_on_disk(jobs, held);
	sv_sleep(OUTAGE_S);
	/* nothing could be committed meanwhile */
	assert_int_equal(sv_count_status(&s, batch, "completed"), 0);
	for (int i = 0; i < 2; i++)
		assert_false(sv_wait(&w[i], 0));
	database_writable(dbdir, true);

	check_workers(w, lp, 2);
	sv_reap_all(10);
	print_message("completed by the worker started before the outage: %ld, by the one started "
	              "during it: %ld\n", sv_stat(logs[0], "completed"), sv_stat(logs[1], "completed"));
	check_after(&s, batch, njobs, held, lp, 2);
	json_decref(held);
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
