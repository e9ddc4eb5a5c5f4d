/* qf-test: labels=integration,queue,xtb timeout=300 */
/*
 * Identical work is done once, and the worker's two ways of running a
 * calculation agree with `qforge run`.
 *
 * Reuse: a batch of singlepoints is run; the same molecules and spec
 * submitted again are completed at once, without a worker (reused_from names
 * the earlier calculation, same energies, atoms copied), and a file with two
 * new molecules among them queues only those; --force queues everything again
 * and a worker computes it anew (same energies); a different spec reuses
 * nothing.
 *
 * Engine or program: a batch of GFN2 singlepoints (vacuum), one with GBSA
 * water (both through the in-process engine: the worker's stats line says
 * engine N, xtb program 0) and one with ALPB water (the C API has no ALPB:
 * through the xtb program, engine 0); every stored energy equals that of
 * `qforge run --json` on the same molecules (the xtb program) to 1e-7 Eh.
 */
#include "survive.h"

/* submit with --json; returns the document (batch_id, submitted, reused). */
static json_t *submit_json(const char *url, const char *path, const char *const *extra)
{
	const char *args[24] = {"batch", "submit", path, "--store", url, "--json"};
	int n = 6;
	for (const char *const *e = extra; e && *e; e++)
		args[n++] = *e;
	args[n] = NULL;
	qft_output o;
	sv_qforge(&o, NULL, args);
	sv_expect_status(&o, 0, "batch submit --json");
	json_t *doc = json_loads(o.out, 0, NULL);
	if (!doc)
		fail_msg("batch submit --json printed no JSON:\n%s", o.out);
	qft_output_release(&o);
	return doc;
}

static void run_worker(const char *url, const char *jobs, const char *log)
{
	sv_proc w;
	const char *extra[] = {"--exit-when-idle", NULL};
	sv_worker(&w, url, jobs, log, extra, NULL, NULL, NULL);
	sv_wait_or_fail(&w, 120, "worker");
	if (sv_exit_code(&w) != 0) {
		char *text = sv_read(log);
		fail_msg("worker ended with status %d:\n%s", sv_exit_code(&w), text);
	}
	sv_reap_all(5);
}

/* Energies of a batch by record number (1-based; index 0 unused). */
static void batch_energies(const sv_store *s, const char *batch, double *e, int n)
{
	json_t *rows = sv_rows(s,
	                       "SELECT input_record, total_energy FROM calculations WHERE batch_id = '%s' "
	                       "AND status = 'completed' ORDER BY input_record",
	                       batch);
	assert_int_equal(json_array_size(rows), n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(json_integer_value(sv_cell(rows, (size_t)i, 0)), i + 1);
		e[i + 1] = json_number_value(sv_cell(rows, (size_t)i, 1));
	}
	json_decref(rows);
}

static void test_reuse(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH], jobs[QF_MAX_PATH], mols[QF_MAX_PATH], more[QF_MAX_PATH];
	char log[QF_MAX_PATH];
	qft_tmpdir(tmp, "reuse");
	qft_join(jobs, tmp, "jobs");
	qft_join(mols, tmp, "molecules.xyz");
	qft_join(more, tmp, "more.xyz");
	const int n = 8;
	sv_write_xyz(mols, n, "wemay", 53);
	sv_write_xyz(more, n + 2, "wemay", 53); /* the same 8, then 2 new */
	sv_store s;
	sv_store_sqlite(&s, tmp);

	json_t *doc = submit_json(s.url, mols, NULL);
	char first[QF_UUID_STR];
	qf_strlcpy(first, json_string_value(json_object_get(doc, "batch_id")), sizeof(first));
	assert_int_equal(json_integer_value(json_object_get(doc, "reused")), 0);
	json_decref(doc);
	qft_join(log, tmp, "worker-1.log");
	run_worker(s.url, jobs, log);
	assert_int_equal(sv_stat(log, "completed"), n);
	sv_check_exactly_once(&s, first, n, NULL);
	double e1[16];
	batch_energies(&s, first, e1, n);

	/* the same again: done at once */
	doc = submit_json(s.url, mols, NULL);
	char again[QF_UUID_STR];
	qf_strlcpy(again, json_string_value(json_object_get(doc, "batch_id")), sizeof(again));
	assert_int_equal(json_integer_value(json_object_get(doc, "submitted")), n);
	assert_int_equal(json_integer_value(json_object_get(doc, "reused")), n);
	json_decref(doc);
	assert_true(sv_batch_done(&s, again));
	assert_int_equal(sv_count_status(&s, again, "completed"), n);
	qft_output o;
	sv_qforge(&o, NULL, (const char *[]){"batch", "wait", again, "--store", s.url, NULL});
	sv_expect_status(&o, 0, "wait of a reused batch");
	qft_output_release(&o);
	json_t *rows = sv_rows(&s,
	                       "SELECT c.input_record, c.total_energy, r.input_record, r.batch_id, "
	                       "(SELECT count(*) FROM atomic_properties a WHERE a.calculation_id = c.id), "
	                       "m.natoms FROM calculations c JOIN calculations r ON r.id = c.reused_from "
	                       "JOIN molecules m ON m.id = c.molecule_id WHERE c.batch_id = '%s' ORDER BY "
	                       "c.input_record",
	                       again);
	assert_int_equal(json_array_size(rows), n);
	for (size_t i = 0; i < (size_t)n; i++) {
		long long rec = json_integer_value(sv_cell(rows, i, 0));
		assert_int_equal(json_integer_value(sv_cell(rows, i, 2)), rec);
		assert_string_equal(json_string_value(sv_cell(rows, i, 3)), first);
		assert_true(json_number_value(sv_cell(rows, i, 1)) == e1[rec]);
		assert_int_equal(json_integer_value(sv_cell(rows, i, 4)),
		                 json_integer_value(sv_cell(rows, i, 5)));
	}
	json_decref(rows);

	/* two new among them: only those are queued */
	doc = submit_json(s.url, more, NULL);
	char mixed[QF_UUID_STR];
	qf_strlcpy(mixed, json_string_value(json_object_get(doc, "batch_id")), sizeof(mixed));
	assert_int_equal(json_integer_value(json_object_get(doc, "submitted")), n + 2);
	assert_int_equal(json_integer_value(json_object_get(doc, "reused")), n);
	json_decref(doc);
	assert_int_equal(sv_count_status(&s, mixed, "queued"), 2);

	/* another spec reuses nothing */
	doc = submit_json(s.url, mols, (const char *[]){"--etemp", "500", NULL});
	char other[QF_UUID_STR];
	qf_strlcpy(other, json_string_value(json_object_get(doc, "batch_id")), sizeof(other));
	assert_int_equal(json_integer_value(json_object_get(doc, "reused")), 0);
	json_decref(doc);
	assert_int_equal(sv_count_status(&s, other, "queued"), n);

	/* --force: all again, computed anew */
	doc = submit_json(s.url, mols, (const char *[]){"--force", NULL});
	char forced[QF_UUID_STR];
	qf_strlcpy(forced, json_string_value(json_object_get(doc, "batch_id")), sizeof(forced));
	assert_int_equal(json_integer_value(json_object_get(doc, "reused")), 0);
	json_decref(doc);
	assert_int_equal(sv_count_status(&s, forced, "queued"), n);
	qft_join(log, tmp, "worker-2.log");
	run_worker(s.url, jobs, log);
	assert_int_equal(sv_stat(log, "completed"), 2 * n + 2);
	sv_check_exactly_once(&s, forced, n, NULL);
	sv_check_exactly_once(&s, other, n, NULL);
	assert_int_equal(sv_int(&s, "SELECT count(*) FROM calculations WHERE batch_id = '%s' AND "
	                            "reused_from IS NOT NULL", forced),
	                 0);
	double e2[16];
	batch_energies(&s, forced, e2, n);
	for (int i = 1; i <= n; i++)
		assert_close(e2[i], e1[i], 1e-10);
	/* the new two of the mixed batch ran; its eight reused did not */
	assert_int_equal(sv_count_status(&s, mixed, "completed"), n + 2);
	assert_int_equal(sv_int(&s, "SELECT count(*) FROM calculation_execution_metrics m JOIN "
	                            "calculations c ON c.id = m.calculation_id WHERE c.batch_id = '%s'",
	                            mixed),
	                 2);
	qf_fs_rm_rf(tmp);
}

/* `qforge run --json` energies of the molecules of path, in file order
 * (1-based). */
static void run_energies(const char *path, const char *jobs, const char *const *spec, double *e, int n)
{
	const char *args[16] = {"run", path, "--json", "--jobs-root", jobs};
	int k = 5;
	for (const char *const *a = spec; a && *a; a++)
		args[k++] = *a;
	args[k] = NULL;
	qft_output o;
	sv_qforge(&o, NULL, args);
	sv_expect_status(&o, 0, "qforge run --json");
	int i = 0;
	for (char *line = o.out; *line && i < n;) {
		char *eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		json_t *doc = json_loads(line, 0, NULL);
		if (!doc)
			fail_msg("qforge run printed a line that is not JSON: %s", line);
		json_t *v = json_object_get(json_object_get(doc, "results"), "total_energy_hartree");
		assert_true(json_is_number(v));
		e[++i] = json_number_value(v);
		json_decref(doc);
		line = eol ? eol + 1 : line + strlen(line);
	}
	assert_int_equal(i, n);
	qft_output_release(&o);
}

static void test_engine_and_program(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH], jobs[QF_MAX_PATH], runjobs[QF_MAX_PATH], mols[QF_MAX_PATH];
	qft_tmpdir(tmp, "engine-program");
	qft_join(jobs, tmp, "jobs");
	qft_join(runjobs, tmp, "run-jobs");
	qft_join(mols, tmp, "molecules.xyz");
	const int n = 10;
	sv_write_xyz(mols, n, "wemay", 59);
	sv_store s;
	sv_store_sqlite(&s, tmp);

	static const struct {
		const char *name;
		const char *spec[3];
		bool engine;
	} ways[] = {
		{"vacuum", {NULL}, true},
		{"gbsa", {"--gbsa", "water", NULL}, true},
		{"alpb", {"--alpb", "water", NULL}, false},
	};
	for (size_t w = 0; w < sizeof(ways) / sizeof(ways[0]); w++) {
		char batch[QF_UUID_STR];
		sv_submit(batch, s.url, mols, ways[w].spec);
		char log[QF_MAX_PATH], name[64];
		snprintf(name, sizeof(name), "worker-%s.log", ways[w].name);
		qft_join(log, tmp, name);
		run_worker(s.url, jobs, log);
		sv_check_exactly_once(&s, batch, n, NULL);
		long engine = sv_stat(log, "engine"), program = sv_stat(log, "xtb program");
		print_message("%s: engine %ld, xtb program %ld\n", ways[w].name, engine, program);
		assert_int_equal(engine, ways[w].engine ? n : 0);
		assert_int_equal(program, ways[w].engine ? 0 : n);
		double stored[16], direct[16];
		batch_energies(&s, batch, stored, n);
		run_energies(mols, runjobs, ways[w].spec, direct, n);
		for (int i = 1; i <= n; i++)
			assert_close(stored[i], direct[i], 1e-7);
	}
	qf_fs_rm_rf(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_reuse, sv_teardown),
		cmocka_unit_test_teardown(test_engine_and_program, sv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
