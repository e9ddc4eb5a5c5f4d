/*
 * The parts of qforge slurm that need no cluster: Slurm's time and memory
 * forms, names, worker-name prefixes, the placement read from Slurm's
 * environment, the store URL the workers get (no password, a passfile
 * named), the password file (lines kept and replaced, mode 0600, refused
 * when others may read it), and the script for a table of options (what it
 * must say, what it must never say). sbatch itself judges the scripts in
 * tests/integration/slurm/test_script.c.
 */
#include "qftest.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qf/fs.h"
#include "qf/slurm.h"
#include "qf/uuid.h"

static void test_time(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		bool ok;
		long seconds;
	} rows[] = {
		{"10", true, 600},          {"10:30", true, 630},       {"1:00:00", true, 3600},
		{"01:02:03", true, 3723},   {"2-0", true, 172800},      {"2-01", true, 176400},
		{"1-01:30", true, 91800},   {"1-01:30:05", true, 91805}, {"0", true, -1},
		{"UNLIMITED", true, -1},    {"infinite", true, -1},     {"5-25", true, 522000},
		{"", false, 0},             {"abc", false, 0},          {"1:2:3:4", false, 0},
		{"-1", false, 0},           {"1-", false, 0},           {"-1:00", false, 0},
		{"1::2", false, 0},         {":10", false, 0},          {"10:", false, 0},
		{"1.5", false, 0},          {" 10", false, 0},          {"10 ", false, 0},
		{"1-2-3", false, 0},        {"99999999999", false, 0},  {"1-2:3:4:5", false, 0},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		long t = 12345;
		bool ok = qf_slurm_time_parse(rows[i].s, &t);
		if (ok != rows[i].ok || (ok && t != rows[i].seconds))
			fail_msg("time '%s': %s %ld, expected %s %ld", rows[i].s, ok ? "ok" : "refused", t,
			         rows[i].ok ? "ok" : "refused", rows[i].seconds);
	}
	long t;
	assert_false(qf_slurm_time_parse(NULL, &t));
}

static void test_mem_and_names(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		bool ok;
	} mem[] = {
		{"4G", true}, {"4g", true}, {"512", true}, {"0", true}, {"100T", true}, {"16K", true},
		{"", false},  {"4X", false}, {"-1", false}, {"4GB", false}, {"1.5G", false}, {"G", false},
		{"4 G", false},
	};
	for (size_t i = 0; i < sizeof(mem) / sizeof(mem[0]); i++)
		if (qf_slurm_mem_valid(mem[i].s) != mem[i].ok)
			fail_msg("mem '%s': expected %s", mem[i].s, mem[i].ok ? "ok" : "refused");
	static const struct {
		const char *s;
		bool list, ok;
	} names[] = {
		{"debug", false, true},     {"gpu_a100-x.1+", false, true}, {"a,b", true, true},
		{"a,b", false, false},      {",a", true, false},            {"a,", true, false},
		{"a,,b", true, false},      {"", false, false},             {"a b", false, false},
		{"a;b", false, false},      {"a'b", false, false},          {"a\nb", false, false},
		{"x#y", false, false},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (qf_slurm_name_valid(names[i].s, names[i].list) != names[i].ok)
			fail_msg("name '%s' (list %d): expected %s", names[i].s, names[i].list,
			         names[i].ok ? "ok" : "refused");
}

static void test_prefix_and_placement(void **state)
{
	(void)state;
	char p[64];
	qf_err err;
	qf_err_init(&err);
	assert_int_equal(qf_slurm_worker_prefix("1234", p, sizeof(p), &err), 0);
	assert_string_equal(p, "slurm:1234_");
	assert_int_equal(qf_slurm_worker_prefix("1234_5", p, sizeof(p), &err), 0);
	assert_string_equal(p, "slurm:1234_5@");
	static const char *const bad[] = {"", "x", "12_", "_5", "1_2_3", "12 ", "-1", "1234567890123",
	                                  "12_x", "12;rm"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		qf_err_init(&err);
		if (qf_slurm_worker_prefix(bad[i], p, sizeof(p), &err) != QF_EINVAL)
			fail_msg("job id '%s' was not refused", bad[i]);
		assert_string_equal(err.code, "slurm.job_id");
	}

	qf_job_placement pl;
	unsetenv("SLURM_ARRAY_JOB_ID");
	unsetenv("SLURM_ARRAY_TASK_ID");
	unsetenv("SLURM_JOB_ID");
	unsetenv("SLURMD_NODENAME");
	qf_slurm_placement_from_env(&pl);
	assert_int_equal(pl.slurm_job_id, 0);
	assert_int_equal(pl.slurm_array_task_id, -1);
	setenv("SLURM_JOB_ID", "77", 1);
	setenv("SLURMD_NODENAME", "node07", 1);
	qf_slurm_placement_from_env(&pl);
	assert_int_equal(pl.slurm_job_id, 77);
	assert_int_equal(pl.slurm_array_task_id, -1);
	assert_string_equal(pl.node, "node07");
	setenv("SLURM_ARRAY_JOB_ID", "70", 1);
	setenv("SLURM_ARRAY_TASK_ID", "3", 1);
	qf_slurm_placement_from_env(&pl);
	assert_int_equal(pl.slurm_job_id, 70); /* the array, as squeue names the task: 70_3 */
	assert_int_equal(pl.slurm_array_task_id, 3);
	setenv("SLURM_ARRAY_TASK_ID", "x", 1);
	qf_slurm_placement_from_env(&pl);
	assert_int_equal(pl.slurm_array_task_id, -1);
	setenv("SLURM_ARRAY_JOB_ID", "garbage", 1);
	qf_slurm_placement_from_env(&pl);
	assert_int_equal(pl.slurm_job_id, 0);
	unsetenv("SLURM_ARRAY_JOB_ID");
	unsetenv("SLURM_ARRAY_TASK_ID");
	unsetenv("SLURM_JOB_ID");
	unsetenv("SLURMD_NODENAME");
}

static void test_worker_store(void **state)
{
	(void)state;
	unsetenv("PGPASSWORD");
	static const struct {
		const char *url;
		const char *worker_url; /* with PF for the passfile */
		const char *password;
	} rows[] = {
		{"postgresql://app:s3cret@db.example:5432/qf", "postgresql://app@db.example:5432/qf?passfile=PF",
		 "s3cret"},
		{"postgres://app:p%40ss%3Aw%2Fd@10.0.0.1/qf?sslmode=require",
		 "postgresql://app@10.0.0.1/qf?sslmode=require&passfile=PF", "p@ss:w/d"},
		{"postgresql://app@db/qf", "postgresql://app@db/qf", NULL},
		{"postgresql://app@db/qf?password=hidden&connect_timeout=3",
		 "postgresql://app@db/qf?connect_timeout=3&passfile=PF", "hidden"},
		{"postgresql:///qf?host=/run/postgresql&user=app",
		 "postgresql:///qf?user=app&host=%2Frun%2Fpostgresql", NULL},
		{"postgresql://app:pw@h1:5432,h2:5433/qf",
		 "postgresql:///qf?user=app&host=h1%2Ch2&port=5432%2C5433&passfile=PF", "pw"},
		{"postgresql://app:pw@[::1]:5432/qf", "postgresql://app@[::1]:5432/qf?passfile=PF", "pw"},
		{"postgresql://app@db/qf?passfile=/home/u/mine", "postgresql://app@db/qf?passfile=%2Fhome%2Fu%2Fmine",
		 NULL},
	};
	const char *pf = "/tmp/qf-test/pgpass";
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *url = NULL, *pw = NULL;
		qf_err err;
		qf_err_init(&err);
		if (qf_slurm_worker_store(rows[i].url, pf, &url, &pw, &err))
			fail_msg("%s: %s", rows[i].url, err.message);
		char want[512];
		const char *at = strstr(rows[i].worker_url, "PF");
		if (at)
			snprintf(want, sizeof(want), "%.*s%%2Ftmp%%2Fqf-test%%2Fpgpass%s",
			         (int)(at - rows[i].worker_url), rows[i].worker_url, at + 2);
		else
			snprintf(want, sizeof(want), "%s", rows[i].worker_url);
		if (strcmp(url, want))
			fail_msg("%s:\n  got  %s\n  want %s", rows[i].url, url, want);
		if (rows[i].password)
			assert_string_equal(pw, rows[i].password);
		else
			assert_null(pw);
		/* never the password in what the workers get */
		if (rows[i].password)
			assert_null(strstr(url, rows[i].password));
		free(url);
		free(pw);
	}
	/* PGPASSWORD, when the URL has none, goes the same way */
	setenv("PGPASSWORD", "from-env", 1);
	char *url = NULL, *pw = NULL;
	qf_err err;
	qf_err_init(&err);
	assert_int_equal(qf_slurm_worker_store("postgresql://app@db/qf", pf, &url, &pw, &err), 0);
	assert_string_equal(pw, "from-env");
	assert_non_null(strstr(url, "passfile="));
	free(url);
	free(pw);
	unsetenv("PGPASSWORD");
	/* SQLite: the path made absolute */
	assert_int_equal(qf_slurm_worker_store("sqlite:rel/qf.db", NULL, &url, &pw, &err), 0);
	char cwd[QF_MAX_PATH], want[QF_MAX_PATH + 32];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "sqlite:%s/rel/qf.db", cwd);
	assert_string_equal(url, want);
	assert_null(pw);
	free(url);
	/* malformed URLs: refused, and the message never repeats the URL */
	static const char *const bad[] = {"mysql://x", "postgresql://app:secretpw@db/qf?nosuchoption=1",
	                                  "postgresql://app:secretpw@db:port/qf", "sqlite:"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		qf_err_init(&err);
		url = pw = NULL;
		if (qf_slurm_worker_store(bad[i], pf, &url, &pw, &err) == 0)
			fail_msg("'%s' was not refused (%s)", bad[i], url);
		assert_string_equal(err.code, "store.url");
		assert_null(strstr(err.message, "secretpw"));
		assert_null(url);
		assert_null(pw);
	}
}

static void test_passfile(void **state)
{
	(void)state;
	char dir[QF_MAX_PATH], path[QF_MAX_PATH];
	qft_tmpdir(dir, "passfile");
	qft_join(path, dir, "sub/pgpass");
	qf_err err;
	qf_err_init(&err);
	assert_int_equal(qf_slurm_passfile_put(path, "postgresql://app@db:5432/qf", "a:b\\c", &err), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char sub[QF_MAX_PATH];
	qft_join(sub, dir, "sub");
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	char *text = qft_slurp(path, NULL);
	assert_string_equal(text, "db:5432:qf:app:a\\:b\\\\c\n");
	free(text);
	/* another store is added; the same one replaced; wildcards where the URL says nothing */
	assert_int_equal(qf_slurm_passfile_put(path, "postgresql://other@db2/x", "pw2", &err), 0);
	assert_int_equal(qf_slurm_passfile_put(path, "postgresql://app@db:5432/qf", "new", &err), 0);
	assert_int_equal(qf_slurm_passfile_put(path, "postgresql:///qf?host=/run/pg", "sock", &err), 0);
	text = qft_slurp(path, NULL);
	assert_string_equal(text, "db2:*:x:other:pw2\ndb:5432:qf:app:new\n*:*:qf:*:sock\n");
	free(text);
	/* a file others may read is refused, and left as it was */
	assert_int_equal(chmod(path, 0644), 0);
	qf_err_init(&err);
	assert_int_equal(qf_slurm_passfile_put(path, "postgresql://app@db/qf", "x", &err), QF_EINVAL);
	assert_string_equal(err.code, "slurm.passfile");
	text = qft_slurp(path, NULL);
	assert_null(strstr(text, ":x\n"));
	free(text);
	/* a password with a line break cannot be one line */
	assert_int_equal(chmod(path, 0600), 0);
	qf_err_init(&err);
	assert_int_equal(qf_slurm_passfile_put(path, "postgresql://app@db/qf", "a\nb", &err), QF_EINVAL);
	qf_fs_rm_rf(dir);
}

/* The script for a table of options: the lines it must have, what it must
 * not have; and the options it refuses. */
static void test_script(void **state)
{
	(void)state;
	static const struct {
		const char *what;
		const char *partition, *account, *time, *mem;
		int workers, cpus, threads, drain;
		const char *extra;      /* one --sbatch-arg, or NULL */
		const char *worker_arg; /* one --worker-arg, or NULL */
		const char *jobs_root;
		const char *code;       /* NULL: accepted; else the error code */
		const char *want[6];    /* lines (or parts) the script has */
	} rows[] = {
		{"defaults", NULL, NULL, NULL, NULL, 1, 1, 1, 120, NULL, NULL, "/scratch/jobs", NULL,
		 {"#SBATCH --array=0-0\n", "#SBATCH --cpus-per-task=1\n", "#SBATCH --signal=B:TERM@120\n",
		  "--concurrency 1", "jobs_root='/scratch/jobs'\n", "{ sleep 90;"}},
		{"everything", "debug,short", "chem", "1-00:00:00", "4G", 8, 4, 2, 300, "--qos=high",
		 "--max-attempts=5", "local", NULL,
		 {"#SBATCH --partition=debug,short\n#SBATCH --account=chem\n", "#SBATCH --time=1-00:00:00\n",
		  "#SBATCH --mem=4G\n", "#SBATCH --array=0-7\n", "OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2",
		  "--concurrency 2"}},
		{"extra arg last", NULL, NULL, "30", NULL, 2, 1, 1, 60, "--exclusive", "it's", "/j", NULL,
		 {"#SBATCH --comment=qforge\n#SBATCH --exclusive\n", "'it'\\''s' &\n", "{ sleep 30;",
		  "#SBATCH --signal=B:TERM@60\n", "SLURM_TMPDIR" /* not: checked below */, NULL}},
		{"bad time", NULL, NULL, "1:2:3:4", NULL, 1, 1, 1, 120, NULL, NULL, "/j", "slurm.option", {NULL}},
		{"bad mem", NULL, NULL, NULL, "4X", 1, 1, 1, 120, NULL, NULL, "/j", "slurm.option", {NULL}},
		{"bad partition", "a b", NULL, NULL, NULL, 1, 1, 1, 120, NULL, NULL, "/j", "slurm.option", {NULL}},
		{"bad account", NULL, "ch;em", NULL, NULL, 1, 1, 1, 120, NULL, NULL, "/j", "slurm.option", {NULL}},
		{"drain beyond limit", NULL, NULL, "2", NULL, 1, 1, 1, 120, NULL, NULL, "/j", "slurm.option",
		 {NULL}},
		{"drain too short", NULL, NULL, NULL, NULL, 1, 1, 1, 5, NULL, NULL, "/j", "slurm.option", {NULL}},
		{"threads do not divide", NULL, NULL, NULL, NULL, 1, 3, 2, 120, NULL, NULL, "/j",
		 "slurm.option", {NULL}},
		{"no workers", NULL, NULL, NULL, NULL, 0, 1, 1, 120, NULL, NULL, "/j", "slurm.option", {NULL}},
		{"too many workers", NULL, NULL, NULL, NULL, 1001, 1, 1, 120, NULL, NULL, "/j", "slurm.option",
		 {NULL}},
		{"extra with blank", NULL, NULL, NULL, NULL, 1, 1, 1, 120, "--comment=a b", NULL, "/j",
		 "slurm.option", {NULL}},
		{"extra with #", NULL, NULL, NULL, NULL, 1, 1, 1, 120, "--job-name=x#y", NULL, "/j",
		 "slurm.option", {NULL}},
		{"extra not an option", NULL, NULL, NULL, NULL, 1, 1, 1, 120, "qos=high", NULL, "/j",
		 "slurm.option", {NULL}},
		{"extra --array", NULL, NULL, NULL, NULL, 1, 1, 1, 120, "--array=0-9", NULL, "/j",
		 "slurm.option", {NULL}},
		{"extra -a", NULL, NULL, NULL, NULL, 1, 1, 1, 120, "-a1-3", NULL, "/j", "slurm.option", {NULL}},
		{"extra --signal", NULL, NULL, NULL, NULL, 1, 1, 1, 120, "--signal=USR1@60", NULL, "/j",
		 "slurm.option", {NULL}},
		{"extra $", NULL, NULL, NULL, NULL, 1, 1, 1, 120, "--chdir=$HOME", NULL, "/j", "slurm.option",
		 {NULL}},
		{"worker arg newline", NULL, NULL, NULL, NULL, 1, 1, 1, 120, NULL, "a\nb", "/j", "slurm.option",
		 {NULL}},
	};
	const char *url = "postgresql://app@db/qf?passfile=%2Fh%2F.qforge%2Fpgpass";
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		qf_slurm_submit_opts o;
		qf_slurm_submit_opts_init(&o);
		o.partition = rows[i].partition;
		o.account = rows[i].account;
		o.time_limit = rows[i].time;
		o.mem = rows[i].mem;
		o.workers = rows[i].workers;
		o.cpus_per_worker = rows[i].cpus;
		o.threads_per_job = rows[i].threads;
		o.drain_seconds = rows[i].drain;
		o.jobs_root = rows[i].jobs_root;
		o.output_dir = "/logs";
		o.qforge = "/opt/qforge/bin/qforge";
		const char *extra[1] = {rows[i].extra}, *wargs[1] = {rows[i].worker_arg};
		o.sbatch_args = extra;
		o.nsbatch_args = rows[i].extra ? 1 : 0;
		o.worker_args = wargs;
		o.nworker_args = rows[i].worker_arg ? 1 : 0;
		char *script = NULL;
		qf_err err;
		qf_err_init(&err);
		int rc = qf_slurm_script(&o, url, &script, &err);
		if (rows[i].code) {
			if (rc == 0)
				fail_msg("%s: accepted, expected %s", rows[i].what, rows[i].code);
			assert_string_equal(err.code, rows[i].code);
			assert_null(script);
			continue;
		}
		if (rc)
			fail_msg("%s: %s", rows[i].what, err.message);
		for (int k = 0; k < 6 && rows[i].want[k]; k++) {
			bool has = strstr(script, rows[i].want[k]) != NULL;
			bool negated = !strcmp(rows[i].what, "extra arg last") && k == 4;
			if (has == negated)
				fail_msg("%s: the script %s '%s':\n%s", rows[i].what,
				         negated ? "has" : "lacks", rows[i].want[k], script);
		}
		assert_non_null(strstr(script, "#SBATCH --output=/logs/%A_%a.log\n"));
		assert_non_null(strstr(script, "export QF_STORE='postgresql://app@db/qf?passfile="));
		assert_non_null(strstr(script, "'/opt/qforge/bin/qforge' worker --exit-when-idle"));
		assert_int_equal(strncmp(script, "#!/bin/bash\n", 12), 0);
		free(script);
	}
}

/* metadata.json's "slurm": written from the job's placement, read back,
 * null outside Slurm, malformed values refused. */
static void test_metadata_placement(void **state)
{
	(void)state;
	qf_job j;
	qf_job_init(&j);
	qf_uuid_v7(j.id);
	snprintf(j.input_file, sizeof(j.input_file), "input.xyz");
	memset(j.input_sha256, 'a', 64);
	memset(j.geometry_sha256, 'b', 64);
	json_t *doc = qf_job_to_json(&j);
	assert_true(json_is_null(json_object_get(doc, "slurm")));
	json_decref(doc);
	j.placement.slurm_job_id = 4294967295LL;
	j.placement.slurm_array_task_id = 12;
	snprintf(j.placement.node, sizeof(j.placement.node), "cn-042");
	doc = qf_job_to_json(&j);
	json_t *sl = json_object_get(doc, "slurm");
	assert_int_equal(json_integer_value(json_object_get(sl, "job_id")), 4294967295LL);
	assert_int_equal(json_integer_value(json_object_get(sl, "array_task_id")), 12);
	assert_string_equal(json_string_value(json_object_get(sl, "node")), "cn-042");
	qf_job back;
	qf_job_init(&back);
	qf_err err;
	qf_err_init(&err);
	if (qf_job_from_json(&back, doc, &err))
		fail_msg("%s", err.message);
	assert_int_equal(back.placement.slurm_job_id, 4294967295LL);
	assert_int_equal(back.placement.slurm_array_task_id, 12);
	assert_string_equal(back.placement.node, "cn-042");
	qf_job_release(&back);
	static const char *const bad[] = {"\"x\"", "{}", "{\"job_id\": 0}", "{\"job_id\": \"7\"}",
	                                  "{\"job_id\": 7, \"array_task_id\": -1}",
	                                  "{\"job_id\": 7, \"array_task_id\": 1.5}",
	                                  "{\"job_id\": 7, \"node\": 3}", "[]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object_set_new(doc, "slurm", json_loads(bad[i], JSON_DECODE_ANY, NULL));
		qf_job_init(&back);
		qf_err_init(&err);
		if (qf_job_from_json(&back, doc, &err) == 0)
			fail_msg("slurm %s was accepted", bad[i]);
		assert_string_equal(err.code, "metadata.invalid");
		qf_job_release(&back);
	}
	/* absent (documents written before 007) is fine */
	json_object_del(doc, "slurm");
	qf_job_init(&back);
	assert_int_equal(qf_job_from_json(&back, doc, &err), 0);
	assert_int_equal(back.placement.slurm_job_id, 0);
	qf_job_release(&back);
	json_decref(doc);
	qf_job_release(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_mem_and_names),
		cmocka_unit_test(test_prefix_and_placement),
		cmocka_unit_test(test_worker_store),
		cmocka_unit_test(test_passfile),
		cmocka_unit_test(test_script),
		cmocka_unit_test(test_metadata_placement),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
