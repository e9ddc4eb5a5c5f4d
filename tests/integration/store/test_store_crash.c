/* qf-test: labels=integration,store timeout=600 */
/*
 * Crash safety of the SQLite store: a child process opens the store and
 * writes in a loop (single-row inserts through the generic API, and
 * record_jobs batches of several calculations with their atoms), printing
 * each id to a pipe only after the commit returned. It is killed with
 * SIGKILL at a random moment (5-200 ms) 50 times. After each kill the
 * database must pass PRAGMA integrity_check, hold every id the child
 * reported, and hold no half-recorded batch (each calculation with all its
 * atoms, each batch complete).
 */
#include "qftest.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qf/clock.h"
#include "qf/fs.h"
#include "qf/hash.h"
#include "qf/job.h"
#include "qf/store.h"
#include "qf/str.h"
#include "qf/uuid.h"

#define KILLS 50
#define BATCH 4 /* jobs per record_jobs call */

static char db_path[QF_MAX_PATH];
static char url[QF_MAX_PATH + 16];

/* A water job (no xtb run: the store only reads the struct). */
static void water(qf_job *j)
{
	qf_err e;
	qf_err_init(&e);
	qf_job_init(j);
	qf_uuid_v7(j->id);
	qf_strlcpy(j->name, "water", sizeof(j->name));
	j->status = QF_JOB_COMPLETED;
	j->input_format = QF_FMT_XYZ;
	qf_sha256_hex(j->id, strlen(j->id), j->input_sha256);
	if (qf_mol_resize(&j->mol, 3, &e))
		_exit(3);
	int z[3] = {8, 1, 1};
	double xyz[9] = {0, 0, 0.117, 0, 0.757, -0.467, 0, -0.757, -0.467};
	memcpy(j->mol.z, z, sizeof(z));
	memcpy(j->mol.xyz, xyz, sizeof(xyz));
	qf_job_geometry_hash(&j->mol, 0, 0, j->geometry_sha256);
	qf_result *r = &j->result;
	r->has_energy = true;
	r->total_energy = -5.07;
	r->natoms = 3;
	r->charges = calloc(3, sizeof(double));
	r->z = calloc(3, sizeof(int));
	if (!r->charges || !r->z)
		_exit(3);
	memcpy(r->z, z, sizeof(z));
	j->metrics.exit_code = 0;
	j->started_at = j->finished_at = qf_clock_now();
}

/* The child: write until killed; report each id after its commit. */
static void writer(int fd)
{
	qf_store *s = NULL;
	qf_err e;
	qf_err_init(&e);
	if (qf_store_open(&s, url, NULL, &e))
		_exit(2);
	qf_actor sys = qf_actor_system();
	qf_actor local = qf_actor_local();
	char line[128];
	for (unsigned n = 0;; n++) {
		if (n % 2 == 0) {
			json_t *row = json_pack("{s:s,s:s,s:f}", "metric_type", "crash", "metric_name", "probe",
			                        "value", (double)n);
			json_t *out = NULL;
			if (qf_store_insert(s, &sys, "performance_metrics", row, &out, &e))
				_exit(4);
			snprintf(line, sizeof(line), "m %lld\n",
			         (long long)json_integer_value(json_object_get(out, "id")));
			json_decref(out);
			json_decref(row);
			if (write(fd, line, strlen(line)) < 0)
				_exit(5);
		} else {
			qf_job jobs[BATCH];
			const qf_job *ptr[BATCH];
			for (int k = 0; k < BATCH; k++) {
				water(&jobs[k]);
				ptr[k] = &jobs[k];
			}
			if (qf_store_record_jobs(s, &local, ptr, BATCH, NULL, &e))
				_exit(6);
			for (int k = 0; k < BATCH; k++) {
				(void)qf_snprintf(line, sizeof(line), "c %s\n", jobs[k].id);
				if (write(fd, line, strlen(line)) < 0)
					_exit(5);
				qf_job_release(&jobs[k]);
			}
		}
	}
}

static long long one_int(sqlite3 *db, const char *sql, const char *text)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("%s: no row: %s", sql, sqlite3_errmsg(db));
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Read what the child reported until EOF (it is dead). */
static char *drain(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		if (len + 1024 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		ssize_t k = read(fd, buf + len, cap - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	buf[len] = '\0';
	return buf;
}

static void check_database(const char *reported, long long *n_metrics, long long *n_calcs)
{
	sqlite3 *db;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		fail_msg("could not open %s after the kill", db_path);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const char *verdict = (const char *)sqlite3_column_text(st, 0);
	if (!verdict || strcmp(verdict, "ok"))
		fail_msg("integrity_check: %s", verdict ? verdict : "(null)");
	sqlite3_finalize(st);
	assert_int_equal(one_int(db, "SELECT count(*) FROM pragma_foreign_key_check", NULL), 0);

	/* Every reported id is there (complete lines only: a line is written
	 * with one write() after its commit). */
	const char *p = reported;
	while (*p) {
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		char line[128];
		size_t n = (size_t)(nl - p);
		assert_true(n < sizeof(line));
		memcpy(line, p, n);
		line[n] = '\0';
		if (line[0] == 'm') {
			char sql[256];
			(void)qf_snprintf(sql, sizeof(sql), "SELECT count(*) FROM performance_metrics WHERE id = %s", line + 2);
			if (one_int(db, sql, NULL) != 1)
				fail_msg("committed metric %s is missing after the kill", line + 2);
			(*n_metrics)++;
		} else {
			if (one_int(db, "SELECT count(*) FROM calculations WHERE id = ?", line + 2) != 1)
				fail_msg("committed calculation %s is missing after the kill", line + 2);
			(*n_calcs)++;
		}
		p = nl + 1;
	}
	/* No half-recorded batch: every calculation has its three atoms and
	 * its metrics row, and the calculations come in whole batches. */
	assert_int_equal(one_int(db,
	                         "SELECT count(*) FROM calculations c WHERE (SELECT count(*) FROM "
	                         "atomic_properties a WHERE a.calculation_id = c.id) != 3 OR (SELECT "
	                         "count(*) FROM calculation_execution_metrics m WHERE m.calculation_id = "
	                         "c.id) != 1",
	                         NULL),
	                 0);
	assert_int_equal(one_int(db, "SELECT count(*) FROM calculations", NULL) % BATCH, 0);
	sqlite3_close(db);
}

static void test_kill_while_writing(void **state)
{
	(void)state;
	char dir[QF_MAX_PATH];
	qft_tmpdir(dir, "store-crash");
	if (qf_snprintf(db_path, sizeof(db_path), "%s/var/qforge.db", dir))
		fail_msg("test directory path too long: %s", dir);
	snprintf(url, sizeof(url), "sqlite:%s", db_path);
	qf_store *s = NULL;
	qf_err e;
	qf_err_init(&e);
	if (qf_store_open(&s, url, NULL, &e))
		fail_msg("open: %s", e.message);
	qf_store_close(s);

	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	printf("# random seed %u\n", seed);
	srand(seed);
	long long total_m = 0, total_c = 0;
	for (int round = 0; round < KILLS; round++) {
		int fds[2];
		assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			writer(fds[1]);
			_exit(0);
		}
		close(fds[1]);
		long delay_ms = 5 + rand() % 196;
		struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		assert_int_equal(kill(pid, SIGKILL), 0);
		int status = 0;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		/* Killed by us, not dead of its own failure. */
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("round %d: the writer ended by itself (status %d)", round, status);
		char *reported = drain(fds[0]);
		close(fds[0]);
		long long m = 0, c = 0;
		check_database(reported, &m, &c);
		total_m += m;
		total_c += c;
		free(reported);
	}
	printf("# %lld metrics and %lld calculations reported committed over %d kills\n", total_m, total_c,
	       KILLS);
	/* The child got to write: the checks above were not vacuous. */
	assert_true(total_m > 0);
	assert_true(total_c > 0);
	qf_fs_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_while_writing),
	};
	return cmocka_run_group_tests_name("store crash safety (sqlite)", tests, NULL, NULL);
}
