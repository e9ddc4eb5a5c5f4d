/* qf-test: labels=integration,queue,xtb,postgres timeout=400 */
/*
 * qforge batch, end to end, with real workers and the real xtb.
 *
 *   inputs      submit of a file (a malformed record reported by its record
 *               number, the rest queued; --json) and of a directory (its
 *               molecule files in name order, others ignored)
 *   malformed   a table of malformed inputs and command lines: exit status,
 *               the message, and what the store holds afterwards (no batch
 *               at all when nothing could be queued)
 *   lifecycle   a batch where some molecules fail for real (the fixture
 *               tests/data/queue/xtb-faults: ammonia's SCC limited to one
 *               iteration, methane SIGKILLed, ethylene past --timeout):
 *               `batch wait --timeout` before any worker (exit 11); `batch
 *               wait` without a terminal while a worker runs (plain lines,
 *               then the statistics; exit 12, convergence being the most
 *               frequent failure); `batch status` and `--json` (counts,
 *               failures by category and code, batch_job_performance:
 *               successes, failures, min <= average <= max job time, CPU
 *               hours > 0, efficiency in (0, 1.05]); `batch retry --failed`
 *               and a worker with the real xtb: everything completes, wait
 *               exits 0; sv_check_exactly_once after each round. On SQLite
 *               and PostgreSQL.
 *   terminal    `batch wait` under a pseudo-terminal (forkpty): the progress
 *               bar, redrawn in place, with done/total, rate, ETA and
 *               failures by category
 *   cancel      `batch cancel` while a worker holds two jobs (the gate
 *               fixture): queued ones cancelled, running ones stopped at the
 *               next heartbeat; wait exits 13 (nothing completed)
 */
#include "survive.h"

#include <poll.h>
#include <pty.h>

/* ---- helpers ------------------------------------------------------------------ */

/* qforge batch args... --store url; output in o. */
static void batch_cmd(qft_output *o, const char *url, const char *const *args)
{
	const char *argv[40];
	int n = 0;
	argv[n++] = "batch";
	for (const char *const *a = args; *a; a++) {
		assert_true(n < 36);
		argv[n++] = *a;
	}
	argv[n++] = "--store";
	argv[n++] = url;
	argv[n] = NULL;
	sv_qforge(o, NULL, argv);
}

static void expect_in(const char *text, const char *needle, const char *what)
{
	if (!strstr(text, needle))
		fail_msg("%s: '%s' not in:\n%s", what, needle, text);
}

static json_t *status_json(const char *url, const char *batch)
{
	qft_output o;
	batch_cmd(&o, url, (const char *[]){"status", batch, "--json", NULL});
	sv_expect_status(&o, 0, "batch status --json");
	json_error_t jerr;
	json_t *doc = json_loads(o.out, 0, &jerr);
	if (!doc)
		fail_msg("batch status --json is not JSON (%s):\n%s", jerr.text, o.out);
	qft_output_release(&o);
	return doc;
}

static json_int_t jint(const json_t *doc, const char *obj, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(doc, obj), key));
}

static double jnum(const json_t *doc, const char *obj, const char *key)
{
	json_t *v = json_object_get(json_object_get(doc, obj), key);
	if (!json_is_number(v))
		fail_msg("%s.%s is not a number", obj, key);
	return json_number_value(v);
}

/* A worker to the end (--exit-when-idle) with extra options. */
static void run_worker(const char *url, const char *jobs, const char *log, const char *const *extra)
{
	const char *args[16] = {"--exit-when-idle"};
	int n = 1;
	for (const char *const *e = extra; e && *e; e++)
		args[n++] = *e;
	args[n] = NULL;
	sv_proc w;
	sv_worker(&w, url, jobs, log, args, NULL, NULL, NULL);
	sv_wait_or_fail(&w, 180, "worker");
	if (sv_exit_code(&w) != 0) {
		char *text = sv_read(log);
		fail_msg("worker ended with status %d:\n%s", sv_exit_code(&w), text);
	}
}

/* ---- inputs ---------------------------------------------------------------------- */

static void test_submit_inputs(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH], path[QF_MAX_PATH], dir[QF_MAX_PATH];
	qft_tmpdir(tmp, "batch-inputs");
	sv_store s;
	sv_store_sqlite(&s, tmp);

	/* a file: 4 good frames around a malformed third record */
	char good[QF_MAX_PATH];
	qft_join(good, tmp, "good.xyz");
	sv_write_xyz(good, 4, "we", 31);
	char *g = qft_slurp(good, NULL);
	/* split after the second frame (water: 5 lines, ethanol: 11 lines) */
	const char *cut = g;
	for (int lines = 0; lines < 16; lines++)
		cut = strchr(cut, '\n') + 1;
	char *text = NULL;
	assert_true(asprintf(&text, "%.*s3\nbroken\nO 0 0 0\nH 0 x 1\nH 0 1 0\n%s", (int)(cut - g), g,
	                     cut) > 0);
	qft_join(path, tmp, "five.xyz");
	qft_write(path, text);
	free(text);
	free(g);
	qft_output o;
	batch_cmd(&o, s.url, (const char *[]){"submit", path, "--json", "--name", "five", NULL});
	sv_expect_status(&o, 0, "submit of a file with a malformed record");
	expect_in(o.err, "five.xyz record 3:", "submit stderr");
	expect_in(o.err, "4 calculation(s) queued", "submit stderr");
	json_t *doc = json_loads(o.out, 0, NULL);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "submitted")), 4);
	assert_int_equal(json_integer_value(json_object_get(doc, "unreadable")), 1);
	assert_string_equal(json_string_value(json_object_get(doc, "name")), "five");
	char batch[QF_UUID_STR];
	qf_strlcpy(batch, json_string_value(json_object_get(doc, "batch_id")), sizeof(batch));
	json_decref(doc);
	qft_output_release(&o);
	/* each queued record knows where it came from */
	json_t *rows = sv_rows(&s,
	                       "SELECT input_record, status FROM calculations WHERE batch_id = '%s' ORDER "
	                       "BY input_record",
	                       batch);
	static const int records[] = {1, 2, 4, 5};
	assert_int_equal(json_array_size(rows), 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(json_integer_value(sv_cell(rows, i, 0)), records[i]);
		assert_string_equal(json_string_value(sv_cell(rows, i, 1)), "queued");
	}
	json_decref(rows);
	assert_int_equal(sv_int(&s, "SELECT total FROM batches WHERE id = '%s'", batch), 4);

	/* a directory: molecule files in name order; others ignored */
	qft_join(dir, tmp, "dir");
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_fs_mkdir_p(dir, false, &e), 0);
	qft_join(path, dir, "a.xyz");
	sv_write_xyz(path, 2, "w", 37);
	qft_join(path, dir, "b.xyz");
	qft_write(path, "3\nwater\nO 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692\n"
	                "2\nbroken\nO 0 0 0\n");
	qft_join(path, dir, "c.smi");
	qft_write(path, "CCO ethanol\nC methane\n");
	qft_join(path, dir, "readme.txt");
	qft_write(path, "not molecules\n");
	qft_join(path, dir, ".hidden.xyz");
	qft_write(path, "garbage\n");
	batch_cmd(&o, s.url, (const char *[]){"submit", dir, NULL});
	sv_expect_status(&o, 0, "submit of a directory");
	expect_in(o.err, "b.xyz record 2:", "submit stderr");
	expect_in(o.err, "5 calculation(s) queued", "submit stderr");
	size_t len = strcspn(o.out, "\n");
	assert_int_equal(len, QF_UUID_STR - 1);
	memcpy(batch, o.out, len);
	batch[len] = '\0';
	qft_output_release(&o);
	rows = sv_rows(&s,
	               "SELECT input_source, input_record FROM calculations WHERE batch_id = '%s' ORDER "
	               "BY created_at, id",
	               batch);
	static const char *const files[] = {"a.xyz", "a.xyz", "b.xyz", "c.smi", "c.smi"};
	static const int recs[] = {1, 2, 1, 1, 2};
	assert_int_equal(json_array_size(rows), 5);
	for (size_t i = 0; i < 5; i++) {
		const char *src = json_string_value(sv_cell(rows, i, 0));
		size_t sl = strlen(src), fl = strlen(files[i]);
		if (sl < fl || strcmp(src + sl - fl, files[i]))
			fail_msg("calculation %zu comes from %s, expected %s", i, src, files[i]);
		assert_int_equal(json_integer_value(sv_cell(rows, i, 1)), recs[i]);
	}
	json_decref(rows);
	/* the batch is named after the directory */
	json_t *name = sv_rows(&s, "SELECT name FROM batches WHERE id = '%s'", batch);
	assert_string_equal(json_string_value(sv_cell(name, 0, 0)), "dir");
	json_decref(name);
	qf_fs_rm_rf(tmp);
}

/* ---- malformed input and command lines ---------------------------------------------- */

struct bad_case {
	const char *name;
	const char *file;    /* written into the test directory; NULL: none */
	const char *content;
	size_t len;          /* 0: strlen(content) */
	const char *args[8]; /* after "batch"; "@FILE": the file, "@DIR": the test directory */
	int status;
	const char *needle;  /* in stderr */
	int queued;          /* calculations of a new batch; -1: no batch created */
};

#define WATER "3\nwater\nO 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692\n"
#define UNKNOWN_ID "01a223c4-0000-7000-8000-000000000000"

static const struct bad_case bad_cases[] = {
	{"empty file", "empty.xyz", "", 0, {"submit", "@FILE"}, 10, "is empty", -1},
	{"zero atoms", "zero.xyz", "0\nnothing\n", 0, {"submit", "@FILE"}, 10, "declares 0 atoms", -1},
	{"count not a number", "count.xyz", "three\nwater\nO 0 0 0\n", 0, {"submit", "@FILE"}, 10,
	 "count.xyz record 1:", -1},
	{"truncated frame", "short.xyz", "3\nw\nO 0 0 0\nH 0 0 1\n", 0, {"submit", "@FILE"}, 10,
	 "ends after 2 atom lines", -1},
	{"unknown element", "elem.xyz", "1\nq\nXx 0 0 0\n", 0, {"submit", "@FILE"}, 10,
	 "unknown element 'Xx'", -1},
	{"coordinate not a number", "nan.xyz", "1\nq\nO 0 nan 0\n", 0, {"submit", "@FILE"}, 10,
	 "not a finite number", -1},
	{"coordinate beyond the limit", "far.xyz", "1\nq\nO 0 1e300 0\n", 0, {"submit", "@FILE"}, 10,
	 "beyond the limit", -1},
	{"overlapping atoms", "overlap.xyz", "3\nw\nO 0 0 0.1173\nH 0 0.05 0.1\nH 0 -0.7572 -0.4692\n",
	 0, {"submit", "@FILE"}, 10, "closer than", -1},
	{"odd electrons, no unpaired", "radical.xyz", "1\nh\nH 0 0 0\n", 0, {"submit", "@FILE"}, 10,
	 "record 1:", -1},
	{"binary", "binary.xyz", "3\n\0\1\2water\n", 11, {"submit", "@FILE"}, 10, "binary", -1},
	{"bad SMILES", "ring.smi", "C1CC ring\n", 0, {"submit", "@FILE"}, 10,
	 "could not parse SMILES", -1},
	{"good, malformed, good", "mixed.xyz", WATER "2\nbroken\nO 0 0 0\n" WATER, 0,
	 {"submit", "@FILE"}, 0, "mixed.xyz record 2:", 2},
	{"no such file", NULL, NULL, 0, {"submit", "/nonexistent/molecules.xyz"}, 10,
	 "no such file or directory", -1},
	{"directory without molecule files", "notes.txt", "hello\n", 0, {"submit", "@DIR"}, 10,
	 "holds no .xyz", -1},
	{"unknown format", "w1.xyz", WATER, 0, {"submit", "@FILE", "--format", "pdb"}, 2,
	 "unknown format 'pdb'", -1},
	{"unknown option", "w2.xyz", WATER, 0, {"submit", "@FILE", "--frobnicate"}, 2,
	 "unknown option --frobnicate", -1},
	{"submit without a file", NULL, NULL, 0, {"submit"}, 2, "needs a FILE or DIR", -1},
	{"submit of two files", "w3.xyz", WATER, 0, {"submit", "@FILE", "@FILE"}, 2, "takes one", -1},
	{"unknown task", "w4.xyz", WATER, 0, {"submit", "@FILE", "--task", "dance"}, 2, "task", -1},
	{"no attempts", "w5.xyz", WATER, 0, {"submit", "@FILE", "--max-attempts", "0"}, 2,
	 "--max-attempts", -1},
	{"priority not a number", "w6.xyz", WATER, 0, {"submit", "@FILE", "--priority", "high"}, 2,
	 "--priority", -1},
	{"status of a malformed id", NULL, NULL, 0, {"status", "batch-1"}, 10, "not a lowercase UUID",
	 -1},
	{"status of an unknown batch", NULL, NULL, 0, {"status", UNKNOWN_ID}, 10, "no batch", -1},
	{"status without an id", NULL, NULL, 0, {"status"}, 2, "needs a batch ID", -1},
	{"wait with a negative timeout", NULL, NULL, 0, {"wait", UNKNOWN_ID, "--timeout", "-1"}, 2,
	 "--timeout", -1},
	{"wait with no interval", NULL, NULL, 0, {"wait", UNKNOWN_ID, "--interval", "0"}, 2,
	 "--interval", -1},
	{"wait for an unknown batch", NULL, NULL, 0, {"wait", UNKNOWN_ID}, 10, "no batch", -1},
	{"cancel of an unknown batch", NULL, NULL, 0, {"cancel", UNKNOWN_ID}, 10, "no batch", -1},
	{"retry without --failed", NULL, NULL, 0, {"retry", UNKNOWN_ID}, 2, "needs --failed", -1},
	{"retry of an unknown batch", NULL, NULL, 0, {"retry", UNKNOWN_ID, "--failed"}, 10, "no batch",
	 -1},
	{"unknown subcommand", NULL, NULL, 0, {"explode"}, 2, "unknown subcommand 'explode'", -1},
};

static void test_malformed(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH];
	qft_tmpdir(tmp, "batch-malformed");
	sv_store s;
	sv_store_sqlite(&s, tmp);
	qft_output o;
	sv_qforge(&o, NULL, (const char *[]){"db", "migrate", "--store", s.url, NULL});
	sv_expect_status(&o, 0, "db migrate");
	qft_output_release(&o);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		char dir[QF_MAX_PATH], file[QF_MAX_PATH] = "";
		char sub[32];
		snprintf(sub, sizeof(sub), "case-%02zu", i);
		qft_join(dir, tmp, sub);
		qf_err e;
		qf_err_init(&e);
		assert_int_equal(qf_fs_mkdir_p(dir, false, &e), 0);
		if (c->file) {
			qft_join(file, dir, c->file);
			size_t len = c->len ? c->len : strlen(c->content);
			assert_int_equal(qf_fs_write(file, c->content, len, &e), 0);
		}
		const char *args[12];
		int n = 0;
		for (const char *const *a = c->args; *a; a++)
			args[n++] = !strcmp(*a, "@FILE") ? file : !strcmp(*a, "@DIR") ? dir : *a;
		args[n] = NULL;
		long long batches = sv_int(&s, "SELECT count(*) FROM batches");
		batch_cmd(&o, s.url, args);
		if (o.exit_code != c->status || !strstr(o.err, c->needle))
			fail_msg("case '%s': exit status %d (expected %d), stderr:\n%s\n(expected '%s')", c->name,
			         o.exit_code, c->status, o.err, c->needle);
		long long after = sv_int(&s, "SELECT count(*) FROM batches");
		if (c->queued < 0) {
			if (after != batches)
				fail_msg("case '%s' created a batch", c->name);
			if (o.out[0])
				fail_msg("case '%s' printed on stdout: %s", c->name, o.out);
		} else {
			assert_int_equal(after, batches + 1);
			char id[QF_UUID_STR];
			size_t len = strcspn(o.out, "\n");
			assert_int_equal(len, QF_UUID_STR - 1);
			memcpy(id, o.out, len);
			id[len] = '\0';
			assert_int_equal(sv_int(&s, "SELECT count(*) FROM calculations WHERE batch_id = '%s'", id),
			                 c->queued);
		}
		qft_output_release(&o);
	}
	qf_fs_rm_rf(tmp);
}

/* ---- the lifecycle ------------------------------------------------------------------------ */

/* Every line of plain `batch wait` output before the statistics is a
 * progress line; returns how many. */
static int progress_lines(const char *out, const char *batch)
{
	char prefix[96], stats[96];
	snprintf(prefix, sizeof(prefix), "batch %s: ", batch);
	snprintf(stats, sizeof(stats), "batch %s '", batch);
	assert_null(strchr(out, '\r'));
	assert_null(strstr(out, "\033["));
	int n = 0;
	for (const char *p = out; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (!strncmp(p, stats, strlen(stats)))
			break; /* the statistics begin */
		char line[512];
		qf_strlcpy(line, p, len + 1 < sizeof(line) ? len + 1 : sizeof(line));
		if (strncmp(line, prefix, strlen(prefix)) || !strstr(line, " done (") ||
		    !strstr(line, "/s, ETA "))
			fail_msg("not a progress line: %s", line);
		n++;
		p = eol ? eol + 1 : p + len;
	}
	return n;
}

static void lifecycle(bool pg)
{
	sv_setup();
	char tmp[QF_MAX_PATH], jobs[QF_MAX_PATH], mols[QF_MAX_PATH], log[QF_MAX_PATH];
	char faults[QF_MAX_PATH];
	qft_tmpdir(tmp, pg ? "lifecycle-pg" : "lifecycle-sqlite");
	qft_join(jobs, tmp, "jobs");
	qft_join(mols, tmp, "molecules.xyz");
	qft_data(faults, "queue/xtb-faults");
	/* 5 healthy (water, ethanol), ammonia x2 (SCC), methane (killed), ethylene (timeout) */
	const char *kinds = "weaweamyw";
	const int njobs = (int)strlen(kinds);
	sv_write_xyz(mols, njobs, kinds, 41);
	sv_store s;
	if (pg)
		sv_store_pg(&s, NULL, "lifecycle");
	else
		sv_store_sqlite(&s, tmp);
	char batch[QF_UUID_STR];
	const char *submit[] = {"--task", "opt", "--timeout", "3", "--max-attempts", "1", "--xtb",
	                        faults, NULL};
	sv_submit(batch, s.url, mols, submit);

	/* nobody works on it yet */
	qft_output o;
	batch_cmd(&o, s.url, (const char *[]){"wait", batch, "--timeout", "1", "--interval", "0.2", NULL});
	sv_expect_status(&o, 11, "wait --timeout before any worker");
	expect_in(o.err, "not finished after", "wait stderr");
	qft_output_release(&o);

	/* wait (not a terminal) while a worker runs it */
	qft_join(log, tmp, "worker-1.log");
	sv_proc w;
	const char *extra[] = {"--exit-when-idle", "--xtb", faults, NULL};
	sv_worker(&w, s.url, jobs, log, extra, NULL, NULL, NULL);
	batch_cmd(&o, s.url, (const char *[]){"wait", batch, "--interval", "0.2", NULL});
	sv_expect_status(&o, 12, "wait (most frequent failure: convergence)");
	int lines = progress_lines(o.out, batch);
	assert_true(lines >= 1);
	char last[128];
	snprintf(last, sizeof(last), "%d/%d done (5 completed, 4 failed)", njobs, njobs);
	expect_in(o.out, last, "wait output");
	expect_in(o.out, "calculations    9: 5 completed, 4 failed", "wait statistics");
	qft_output_release(&o);
	sv_wait_or_fail(&w, 120, "worker");
	assert_int_equal(sv_exit_code(&w), 0);
	sv_reap_all(5);

	/* status, human and JSON */
	batch_cmd(&o, s.url, (const char *[]){"status", batch, NULL});
	sv_expect_status(&o, 0, "batch status");
	expect_in(o.out, "convergence 2", "status");
	expect_in(o.out, "system 1", "status");
	expect_in(o.out, "timeout 1", "status");
	expect_in(o.out, "xtb.killed", "status");
	expect_in(o.out, "xtb.timeout", "status");
	expect_in(o.out, "job time        min ", "status");
	qft_output_release(&o);
	json_t *doc = status_json(s.url, batch);
	assert_int_equal(jint(doc, "counts", "total"), njobs);
	assert_int_equal(jint(doc, "counts", "completed"), 5);
	assert_int_equal(jint(doc, "counts", "failed"), 4);
	json_t *fails = json_object_get(doc, "failures");
	assert_int_equal(jint(fails, "by_category", "convergence"), 2);
	assert_int_equal(jint(fails, "by_category", "system"), 1);
	assert_int_equal(jint(fails, "by_category", "timeout"), 1);
	assert_int_equal(jint(fails, "by_code", "xtb.killed"), 1);
	assert_int_equal(jint(fails, "by_code", "xtb.timeout"), 1);
	assert_int_equal(jint(doc, "performance", "successful_jobs"), 5);
	assert_int_equal(jint(doc, "performance", "failed_jobs"), 4);
	assert_int_equal(jint(doc, "performance", "timeout_jobs"), 1);
	assert_int_equal(jint(doc, "performance", "convergence_failure_jobs"), 2);
	double mn = jnum(doc, "performance", "min_job_time_seconds");
	double avg = jnum(doc, "performance", "average_job_time_seconds");
	double mx = jnum(doc, "performance", "max_job_time_seconds");
	double cpu = jnum(doc, "performance", "total_cpu_time_hours");
	double eff = jnum(doc, "performance", "parallelization_efficiency");
	print_message("job time min %.4f avg %.4f max %.4f s, CPU %.3g h, efficiency %.3f\n", mn, avg,
	              mx, cpu, eff);
	assert_true(mn >= 0 && mn <= avg && avg <= mx);
	assert_true(mx >= 3.0); /* the ethylene ran into its 3 s limit */
	assert_true(cpu > 0);
	assert_true(eff > 0 && eff <= 1.05);
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "batch"), "status")),
	                    "completed");
	json_decref(doc);
	sv_outcome out;
	sv_check_exactly_once(&s, batch, njobs, &out);
	assert_int_equal(out.completed, 5);

	/* retry the failed ones; the real xtb completes them */
	batch_cmd(&o, s.url, (const char *[]){"retry", batch, "--failed", NULL});
	sv_expect_status(&o, 0, "batch retry --failed");
	expect_in(o.out, "4 failed calculation(s) queued again", "retry");
	qft_output_release(&o);
	assert_int_equal(sv_count_status(&s, batch, "queued"), 4);
	qft_join(log, tmp, "worker-2.log");
	run_worker(s.url, jobs, log, NULL);
	sv_reap_all(5);
	batch_cmd(&o, s.url, (const char *[]){"wait", batch, NULL});
	sv_expect_status(&o, 0, "wait after the retry");
	snprintf(last, sizeof(last), "%d/%d done (%d completed, 0 failed)", njobs, njobs, njobs);
	expect_in(o.out, last, "wait output after the retry");
	qft_output_release(&o);
	sv_check_exactly_once(&s, batch, njobs, &out);
	assert_int_equal(out.completed, njobs);
	/* the retried ones: their failed first attempt on record, then a second */
	assert_int_equal(sv_int(&s,
	                        "SELECT count(*) FROM calculations WHERE batch_id = '%s' AND attempt = 2",
	                        batch),
	                 4);
	assert_int_equal(sv_int(&s,
	                        "SELECT count(*) FROM calculation_errors e JOIN calculations c ON c.id = "
	                        "e.calculation_id WHERE c.batch_id = '%s' AND e.attempt = 1",
	                        batch),
	                 4);
	doc = status_json(s.url, batch);
	assert_int_equal(jint(doc, "performance", "successful_jobs"), njobs);
	assert_int_equal(jint(doc, "performance", "failed_jobs"), 0);
	json_decref(doc);
	sv_store_drop(&s);
	qf_fs_rm_rf(tmp);
}

static void test_lifecycle_sqlite(void **state)
{
	(void)state;
	lifecycle(false);
}

static void test_lifecycle_postgres(void **state)
{
	(void)state;
	lifecycle(true);
}

/* ---- on a terminal ------------------------------------------------------------------------- */

/* Run argv under a new pseudo-terminal; its output (stdout and stderr) in
 * *out (heap); returns the exit status. */
static int run_pty(const char *const *argv, char **out, double timeout_s)
{
	int master = -1;
	struct winsize ws = {.ws_row = 24, .ws_col = 160};
	pid_t pid = forkpty(&master, NULL, NULL, &ws);
	assert_true(pid >= 0);
	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	assert_non_null(buf);
	double end = sv_now() + timeout_s;
	for (;;) {
		struct pollfd p = {master, POLLIN, 0};
		int r = poll(&p, 1, 100);
		if (r > 0) {
			if (len + 4096 + 1 > cap) {
				cap *= 2;
				buf = realloc(buf, cap);
				assert_non_null(buf);
			}
			ssize_t k = read(master, buf + len, 4096);
			if (k <= 0)
				break; /* EIO: the terminal's other side is closed */
			len += (size_t)k;
		}
		if (sv_now() > end) {
			kill(pid, SIGKILL);
			break;
		}
	}
	buf[len] = '\0';
	close(master);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_wait_terminal(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH], jobs[QF_MAX_PATH], mols[QF_MAX_PATH], log[QF_MAX_PATH];
	char faults[QF_MAX_PATH];
	qft_tmpdir(tmp, "batch-terminal");
	qft_join(jobs, tmp, "jobs");
	qft_join(mols, tmp, "molecules.xyz");
	qft_join(log, tmp, "worker.log");
	qft_data(faults, "queue/xtb-faults");
	const char *kinds = "wewmaaewe";
	const int njobs = (int)strlen(kinds);
	sv_write_xyz(mols, njobs, kinds, 43);
	sv_store s;
	sv_store_sqlite(&s, tmp);
	char batch[QF_UUID_STR];
	const char *submit[] = {"--task", "opt", "--max-attempts", "1", "--xtb", faults, NULL};
	sv_submit(batch, s.url, mols, submit);

	sv_proc w;
	const char *extra[] = {"--exit-when-idle", "--xtb", faults, NULL};
	sv_worker(&w, s.url, jobs, log, extra, NULL, NULL, NULL);
	const char *argv[] = {qft_qforge(), "batch", "wait", batch, "--interval", "0.1", "--store", s.url,
	                      NULL};
	char *out = NULL;
	int status = run_pty(argv, &out, 120);
	sv_wait_or_fail(&w, 60, "worker");
	sv_reap_all(5);
	if (status != 12)
		fail_msg("batch wait on a terminal: status %d (expected 12):\n%s", status, out);
	/* frames redrawn in place: carriage return, bar, erase to end of line */
	int frames = 0;
	const char *lastf = NULL;
	for (const char *p = out; (p = strstr(p, "\r[")); p++) {
		frames++;
		lastf = p + 1;
	}
	if (frames < 1)
		fail_msg("no progress bar in:\n%s", out);
	const char *eol = strstr(lastf, "\033[K");
	assert_non_null(eol);
	char frame[256];
	qf_strlcpy(frame, lastf, (size_t)(eol - lastf) + 1 < sizeof(frame) ? (size_t)(eol - lastf) + 1
	                                                                     : sizeof(frame));
	print_message("%d frame(s); the last: %s\n", frames, frame);
	char done[32];
	snprintf(done, sizeof(done), "] %d/%d ", njobs, njobs);
	expect_in(frame, "[##############################]", "last frame");
	expect_in(frame, done, "last frame");
	expect_in(frame, "/s  ETA ", "last frame");
	expect_in(frame, "failed 3 (", "last frame");
	expect_in(frame, "convergence 2", "last frame");
	expect_in(frame, "system 1", "last frame");
	/* each frame: [bar] done/total  rate/s  ETA t  failed n */
	for (const char *p = out; (p = strstr(p, "\r[")); p++) {
		int d, t;
		double rate;
		char bar[64];
		if (sscanf(p + 1, "[%40[#.]] %d/%d %lf/s  ETA ", bar, &d, &t, &rate) != 4 || strlen(bar) != 30 ||
		    t != njobs || d < 0 || d > t || rate < 0)
			fail_msg("malformed frame: %.80s", p + 1);
	}
	/* then the statistics, not the plain progress lines */
	expect_in(out, "calculations    9: 6 completed, 3 failed", "statistics");
	char plain[96];
	snprintf(plain, sizeof(plain), "batch %s: ", batch);
	assert_null(strstr(out, plain));
	free(out);
	qf_fs_rm_rf(tmp);
}

/* ---- cancel ---------------------------------------------------------------------------------- */

static void test_cancel(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH], jobs[QF_MAX_PATH], mols[QF_MAX_PATH], log[QF_MAX_PATH];
	char gate[QF_MAX_PATH];
	qft_tmpdir(tmp, "batch-cancel");
	qft_join(jobs, tmp, "jobs");
	qft_join(mols, tmp, "molecules.xyz");
	qft_join(log, tmp, "worker.log");
	qft_data(gate, "queue/xtb-gate");
	const int njobs = 6;
	sv_write_xyz(mols, njobs, "we", 47);
	sv_store s;
	sv_store_sqlite(&s, tmp);
	char batch[QF_UUID_STR];
	const char *submit[] = {"--task", "opt", "--xtb", gate, NULL};
	sv_submit(batch, s.url, mols, submit);

	/* the worker holds two jobs at the gate, which never opens */
	sv_proc w;
	const char *extra[] = {"--exit-when-idle", "--xtb", gate, NULL};
	sv_worker(&w, s.url, jobs, log, extra, NULL, NULL, NULL);
	double end = sv_now() + 60;
	while (sv_count_status(&s, batch, "running") < 2) {
		if (sv_now() > end || sv_wait(&w, 0))
			fail_msg("the worker did not get two jobs running");
		sv_sleep(0.05);
	}
	qft_output o;
	batch_cmd(&o, s.url, (const char *[]){"cancel", batch, NULL});
	sv_expect_status(&o, 0, "batch cancel");
	expect_in(o.out, "4 queued calculation(s) cancelled, 2 running one(s) asked to stop", "cancel");
	qft_output_release(&o);
	/* the running ones stop at the worker's next heartbeat; then it is idle */
	sv_wait_or_fail(&w, 60, "worker");
	assert_int_equal(sv_exit_code(&w), 0);
	sv_reap_all(5);
	assert_int_equal(sv_stat(log, "cancelled"), 2);
	assert_int_equal(sv_stat(log, "completed"), 0);
	batch_cmd(&o, s.url, (const char *[]){"wait", batch, NULL});
	sv_expect_status(&o, 13, "wait of a cancelled batch");
	expect_in(o.out, "calculations    6: 0 completed, 0 failed, 6 cancelled", "wait");
	qft_output_release(&o);
	json_t *doc = status_json(s.url, batch);
	assert_int_equal(jint(doc, "counts", "cancelled"), njobs);
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "batch"), "status")),
	                    "cancelled");
	json_decref(doc);
	sv_outcome out;
	sv_check_exactly_once(&s, batch, njobs, &out);
	assert_int_equal(out.cancelled, njobs);
	/* a cancelled batch has nothing left to cancel or retry */
	batch_cmd(&o, s.url, (const char *[]){"cancel", batch, NULL});
	sv_expect_status(&o, 0, "second cancel");
	expect_in(o.out, "0 queued calculation(s) cancelled, 0 running one(s) asked to stop", "cancel");
	qft_output_release(&o);
	qf_fs_rm_rf(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_submit_inputs, sv_teardown),
		cmocka_unit_test_teardown(test_malformed, sv_teardown),
		cmocka_unit_test_teardown(test_lifecycle_sqlite, sv_teardown),
		cmocka_unit_test_teardown(test_lifecycle_postgres, sv_teardown),
		cmocka_unit_test_teardown(test_wait_terminal, sv_teardown),
		cmocka_unit_test_teardown(test_cancel, sv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
