/* qf-test: labels=integration,slurm,queue,xtb,postgres timeout=600 skip_return_code=77 resource_lock=slurm */
/*
 * A batch through a real Slurm (scripts/with-slurm): 40 molecules, `qforge
 * slurm submit --workers 2`, the store a PostgreSQL server of the test's own
 * that asks the application role for its password (scram-sha-256).
 *
 *   - every job completes exactly once (sv_check_exactly_once), by the
 *     array's workers ("slurm:<job>_<task>@localhost:<pid>/<slot>"); every
 *     attempt records its Slurm job, array task and node, in
 *     calculation_execution_metrics and in its metadata.json;
 *   - the energies are those of `qforge run` on the same molecules, to the
 *     bit (the workers run the xtb program here: --worker-arg=--no-engine);
 *   - the password reaches the workers only through the password file (mode
 *     0600): it is in no command line while the batch runs (every process's
 *     /proc/PID/cmdline), in no worker's environment (PGPASSWORD was set
 *     for the submit: sbatch runs without it), not in the script, not in
 *     what Slurm keeps and shows (squeue, scontrol show job, the stored batch
 *     script), not in the tasks' logs;
 *   - `qforge slurm status` shows the array's tasks completed, nothing held,
 *     the batch done.
 * And --jobs-root local: the job directories on the node's scratch.
 */
#include "slurm_test.h"

#include <dirent.h>

#define NMOL 40

/* Whether text holds needle. */
static bool has(const char *text, const char *needle)
{
	return text && strstr(text, needle) != NULL;
}

/* Fails when any process's command line, or any worker's environment,
 * holds the password. Returns the number of worker processes seen. */
static int scan_processes(const char *password)
{
	DIR *d = opendir("/proc");
	assert_non_null(d);
	struct dirent *e;
	int workers = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char path[64];
		static const char *const files[] = {"cmdline", "environ"};
		for (int f = 0; f < 2; f++) {
			if (qf_snprintf(path, sizeof(path), "/proc/%s/%s", e->d_name, files[f]))
				continue;
			FILE *fp = fopen(path, "r");
			if (!fp)
				continue;
			char buf[65536];
			size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
			fclose(fp);
			for (size_t i = 0; i < n; i++)
				if (!buf[i])
					buf[i] = ' ';
			buf[n] = '\0';
			if (f == 0 && has(buf, " worker --exit-when-idle"))
				workers++;
			if (has(buf, password))
				fail_msg("the password is in /proc/%s/%s: %.300s", e->d_name, files[f], buf);
		}
	}
	closedir(d);
	return workers;
}

static char *tool_text(const char *const *argv)
{
	qft_output o;
	qft_run(&o, argv, NULL, NULL, 120);
	size_t n = strlen(o.out) + strlen(o.err) + 2;
	char *t = malloc(n);
	assert_non_null(t);
	snprintf(t, n, "%s\n%s", o.out, o.err);
	qft_output_release(&o);
	return t;
}

static void test_batch_through_slurm(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH], mols[QF_MAX_PATH], jobs[QF_MAX_PATH], out[QF_MAX_PATH];
	char home[QF_MAX_PATH], runjobs[QF_MAX_PATH];
	qft_tmpdir(tmp, "slurm-submit");
	qft_join(mols, tmp, "molecules.xyz");
	qft_join(jobs, tmp, "jobs");
	qft_join(runjobs, tmp, "run-jobs");
	qft_join(out, tmp, "slurm");
	qft_join(home, tmp, "home");
	assert_int_equal(qf_fs_mkdir_p(home, false, NULL), 0);
	sv_write_xyz(mols, NMOL, "wamye", 4242);

	/* PostgreSQL that wants the application role's password */
	sv_pg pg;
	sv_pg_init(&pg, "slurm-pg", NULL, "127.0.0.1", NULL);
	char hba[QF_MAX_PATH];
	qft_join(hba, pg.data, "pg_hba.conf");
	qft_write(hba, "local all all trust\n"
	               "host all postgres 127.0.0.1/32 trust\n"
	               "host all all 127.0.0.1/32 scram-sha-256\n");
	sv_pg_start(&pg);
	sv_store s;
	memset(&s, 0, sizeof(s));
	s.pg = true;
	qf_strlcpy(s.db, "slurm_submit", sizeof(s.db));
	sv_pg_url(&pg, s.server, sizeof(s.server), "127.0.0.1", "postgres");
	sv_pg_url(&pg, s.url, sizeof(s.url), "127.0.0.1", s.db);
	sv_pg_exec(s.server, "CREATE DATABASE slurm_submit");
	qft_output o;
	const char *migrate[] = {"db", "migrate", "--store", s.url, NULL};
	sv_qforge(&o, NULL, migrate);
	sv_expect_status(&o, 0, "db migrate");
	qft_output_release(&o);
	char password[40], sql[128], app_url[256];
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	snprintf(password, sizeof(password), "pw-%08x%08x", rand_r(&seed), rand_r(&seed));
	snprintf(sql, sizeof(sql), "ALTER ROLE qforge_app PASSWORD '%s'", password);
	sv_pg_exec(s.url, sql);
	snprintf(app_url, sizeof(app_url), "postgresql://qforge_app:%s@127.0.0.1:%d/slurm_submit",
	         password, pg.port);
	/* without the password the role gets nowhere: the passfile will be what works */
	char nopw[256];
	snprintf(nopw, sizeof(nopw), "postgresql://qforge_app@127.0.0.1:%d/slurm_submit?passfile=/nonexistent",
	         pg.port);
	PGconn *c = PQconnectdb(nopw);
	assert_int_not_equal(PQstatus(c), CONNECTION_OK);
	PQfinish(c);

	char batch[QF_UUID_STR];
	sv_submit(batch, s.url, mols, NULL);

	/* the password travels in QF_STORE and PGPASSWORD, never on a command line */
	char env_store[300], env_pw[80], env_home[QF_MAX_PATH + 8];
	snprintf(env_store, sizeof(env_store), "QF_STORE=%s", app_url);
	snprintf(env_pw, sizeof(env_pw), "PGPASSWORD=%s", password);
	snprintf(env_home, sizeof(env_home), "HOME=%s", home);
	const char *env[] = {env_store, env_pw, env_home, NULL};
	const char *args[] = {"--batch", batch, "--workers", "2", "--output-dir", out, "--jobs-root",
	                      jobs, "--worker-arg=--no-engine", "--worker-arg=--poll-seconds=0.2", NULL};
	char id[32];
	double t0 = sv_now();
	st_submit(id, env, args);
	print_message("Slurm job %s\n", id);

	/* while it runs: no password in any command line or worker environment,
	 * nor in what squeue shows */
	int max_workers = 0;
	double end = sv_now() + 300;
	while (!sv_batch_done(&s, batch)) {
		int w = scan_processes(password);
		if (w > max_workers)
			max_workers = w;
		const char *sq[] = {"squeue", "--states=all", "--format=%all", NULL};
		char *text = tool_text(sq);
		if (has(text, password))
			fail_msg("squeue shows the password:\n%s", text);
		free(text);
		if (sv_now() > end) {
			char *t = st_tasks(id);
			sv_print_unfinished(&s, batch);
			fail_msg("the batch did not finish in 300 s; tasks:\n%s\nlogs in %s", t, out);
		}
		sv_sleep(0.2);
	}
	print_message("batch done %.1f s after the submit; up to %d workers seen at once\n",
	              sv_now() - t0, max_workers);
	st_wait_ended(id, 120);

	/* exactly once, by the array's workers */
	sv_outcome oc;
	sv_check_exactly_once(&s, batch, NMOL, &oc);
	assert_int_equal(oc.completed, NMOL);
	assert_int_equal(oc.max_attempt, 1);
	long done0 = st_task_stat(out, id, 0, "completed"), done1 = st_task_stat(out, id, 1, "completed");
	print_message("task 0 completed %ld, task 1 completed %ld\n", done0, done1);
	assert_true(done0 >= 0 && done1 >= 0);
	assert_int_equal(done0 + done1, NMOL);
	char *tasks = st_tasks(id);
	print_message("tasks:\n%s", tasks);
	assert_true(has(tasks, "0 COMPLETED") && has(tasks, "1 COMPLETED"));
	free(tasks);

	/* where each attempt ran: the metrics rows and metadata.json */
	json_t *rows = sv_rows(&s,
	                       "SELECT c.id, m.worker, m.slurm_job_id, m.slurm_array_task_id, m.slurm_node, "
	                       "c.job_dir FROM calculations c JOIN calculation_execution_metrics m ON "
	                       "m.calculation_id = c.id WHERE c.batch_id = '%s' ORDER BY c.id",
	                       batch);
	assert_int_equal(json_array_size(rows), NMOL);
	char prefix[48];
	snprintf(prefix, sizeof(prefix), "slurm:%s_", id);
	for (size_t i = 0; i < NMOL; i++) {
		const char *worker = json_string_value(sv_cell(rows, i, 1));
		long long task = json_integer_value(sv_cell(rows, i, 3));
		assert_non_null(worker);
		if (strncmp(worker, prefix, strlen(prefix)))
			fail_msg("attempt by %s, not by a worker of Slurm job %s", worker, id);
		assert_int_equal(json_integer_value(sv_cell(rows, i, 2)), strtoll(id, NULL, 10));
		assert_true(task == 0 || task == 1);
		char want[64];
		snprintf(want, sizeof(want), "slurm:%s_%lld@localhost:", id, task);
		assert_int_equal(strncmp(worker, want, strlen(want)), 0);
		assert_string_equal(json_string_value(sv_cell(rows, i, 4)), "localhost");
		char meta[QF_MAX_PATH];
		qft_join(meta, json_string_value(sv_cell(rows, i, 5)), "metadata.json");
		json_t *doc = json_load_file(meta, 0, NULL);
		assert_non_null(doc);
		json_t *sl = json_object_get(doc, "slurm");
		assert_true(json_is_object(sl));
		assert_int_equal(json_integer_value(json_object_get(sl, "job_id")), strtoll(id, NULL, 10));
		assert_int_equal(json_integer_value(json_object_get(sl, "array_task_id")), task);
		assert_string_equal(json_string_value(json_object_get(sl, "node")), "localhost");
		/* the job directory is where it was asked for */
		assert_int_equal(strncmp(json_string_value(sv_cell(rows, i, 5)), jobs, strlen(jobs)), 0);
		json_decref(doc);
	}
	json_decref(rows);

	/* energies: `qforge run` on the same molecules, to the bit */
	const char *run[] = {"run", mols, "--json", "--jobs-root", runjobs, NULL};
	sv_qforge(&o, NULL, run);
	sv_expect_status(&o, 0, "qforge run --json");
	int k = 0;
	for (char *line = o.out; *line; k++) {
		char *eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		json_t *doc = json_loads(line, 0, NULL);
		assert_non_null(doc);
		const char *name = json_string_value(json_object_get(doc, "name"));
		double e = json_number_value(json_object_get(json_object_get(doc, "results"),
		                                             "total_energy_hartree"));
		json_t *st = sv_rows(&s,
		                     "SELECT c.total_energy FROM calculations c JOIN molecules m ON m.id = "
		                     "c.molecule_id WHERE c.batch_id = '%s' AND m.name = '%s'",
		                     batch, name);
		assert_int_equal(json_array_size(st), 1);
		double stored = json_number_value(sv_cell(st, 0, 0));
		if (stored != e)
			fail_msg("%s: stored %.17g, qforge run %.17g", name, stored, e);
		json_decref(st);
		json_decref(doc);
		line = eol ? eol + 1 : line + strlen(line);
	}
	assert_int_equal(k, NMOL);
	qft_output_release(&o);

	/* the password: only in the password file, mode 0600 */
	char pf[QF_MAX_PATH];
	qft_join(pf, home, ".qforge/pgpass");
	struct stat stt;
	assert_int_equal(stat(pf, &stt), 0);
	assert_int_equal(stt.st_mode & 0777, 0600);
	char *pass = qft_slurp(pf, NULL);
	char line[200];
	snprintf(line, sizeof(line), "127.0.0.1:%d:slurm_submit:qforge_app:%s\n", pg.port, password);
	assert_string_equal(pass, line);
	free(pass);
	char script[QF_MAX_PATH], name[64];
	snprintf(name, sizeof(name), "%s.sbatch", id);
	qft_join(script, out, name);
	char *text = qft_slurp(script, NULL);
	assert_false(has(text, password));
	assert_true(has(text, "passfile="));
	free(text);
	char task0[48];
	snprintf(task0, sizeof(task0), "%s_0", id);
	const char *show[] = {"scontrol", "show", "job", "-d", id, NULL};
	const char *stored_script[] = {"scontrol", "write", "batch_script", task0, "-", NULL};
	const char *const *views[] = {show, stored_script};
	for (int v = 0; v < 2; v++) {
		text = tool_text(views[v]);
		if (has(text, password))
			fail_msg("%s %s shows the password:\n%s", views[v][0], views[v][1], text);
		if (v == 1)
			assert_true(has(text, "passfile="));
		free(text);
	}
	for (int t = 0; t < 2; t++) {
		text = st_task_log(out, id, t);
		assert_false(has(text, password));
		free(text);
	}

	/* status: the tasks completed, nothing held, the batch done */
	const char *status[] = {"status", id, "--json", NULL};
	st_slurm(&o, env, status);
	sv_expect_status(&o, 0, "slurm status");
	assert_false(has(o.out, password) || has(o.err, password));
	json_t *doc = json_loads(o.out, 0, NULL);
	assert_int_equal(json_array_size(doc), 1);
	json_t *arr = json_array_get(doc, 0);
	assert_string_equal(json_string_value(json_object_get(arr, "batch_id")), batch);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(arr, "states"), "COMPLETED")), 2);
	assert_int_equal(json_integer_value(json_object_get(arr, "held")), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(arr, "queue"), "completed")),
	                 NMOL);
	json_decref(doc);
	qft_output_release(&o);

	sv_pg_destroy(&pg);
	qf_fs_rm_rf(tmp);
}

/* --jobs-root local: the job directories go to the node's scratch
 * ($SLURM_TMPDIR, else $TMPDIR: here a TMPDIR given to the submit, which
 * sbatch passes on), the results to the store, and the store and
 * metadata.json say where each directory is. */
static void test_node_local_jobs_root(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH], mols[QF_MAX_PATH], out[QF_MAX_PATH], scratch[QF_MAX_PATH];
	qft_tmpdir(tmp, "slurm-local");
	qft_join(mols, tmp, "molecules.xyz");
	qft_join(out, tmp, "slurm");
	qft_join(scratch, tmp, "node-scratch");
	assert_int_equal(qf_fs_mkdir_p(scratch, false, NULL), 0);
	sv_write_xyz(mols, 6, "wm", 9);
	sv_store s;
	sv_store_pg(&s, NULL, "slurm_local");
	char batch[QF_UUID_STR];
	sv_submit(batch, s.url, mols, NULL);
	char env_tmp[QF_MAX_PATH + 8];
	snprintf(env_tmp, sizeof(env_tmp), "TMPDIR=%s", scratch);
	const char *env[] = {env_tmp, "SLURM_TMPDIR=", NULL};
	const char *args[] = {"--store", s.url, "--batch", batch, "--workers", "2", "--output-dir", out,
	                      "--jobs-root", "local", NULL};
	char id[32];
	st_submit(id, env, args);
	double end = sv_now() + 120;
	while (!sv_batch_done(&s, batch)) {
		if (sv_now() > end)
			fail_msg("the batch did not finish; logs in %s", out);
		sv_sleep(0.2);
	}
	st_wait_ended(id, 60);
	sv_check_exactly_once(&s, batch, 6, NULL);
	char root[QF_MAX_PATH];
	qft_join(root, scratch, "qforge-jobs/");
	json_t *rows = sv_rows(&s, "SELECT job_dir FROM calculations WHERE batch_id = '%s'", batch);
	assert_int_equal(json_array_size(rows), 6);
	for (size_t i = 0; i < 6; i++) {
		const char *dir = json_string_value(sv_cell(rows, i, 0));
		if (strncmp(dir, root, strlen(root)))
			fail_msg("job directory %s is not under %s", dir, root);
	}
	json_decref(rows);
	sv_store_drop(&s);
	qf_fs_rm_rf(tmp);
}

int main(int argc, char **argv)
{
	st_enter(argc, argv);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_batch_through_slurm, sv_teardown),
		cmocka_unit_test_teardown(test_node_local_jobs_root, sv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
