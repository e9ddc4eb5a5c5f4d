/* qf-test: labels=integration,xtb,cli timeout=900 */
/*
 * `qforge run` end to end with the real xtb: its energies equal a separate,
 * direct xtb run on the same geometry (1e-8 Eh) for sp, opt, ohess and ALPB
 * water; charged SDF molecules get their total charge; multi-molecule files
 * give one JSON document per line; every error category gives its own exit
 * status; malformed command lines are refused with a clear message.
 */
#include "qftest.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/fs.h"
#include "qf/store.h"
#include "qf/str.h"

static char jobs_root[QF_MAX_PATH];

static int setup(void **state)
{
	(void)state;
	qft_tmpdir(jobs_root, "cli-run-jobs");
	return 0;
}

/* Run qforge run with args (NULL-terminated) plus --json --jobs-root. */
static void qforge_json(qft_output *o, const char *const *args)
{
	const char *argv[64];
	int n = 0;
	argv[n++] = qft_qforge();
	argv[n++] = "run";
	for (const char *const *a = args; *a; a++)
		argv[n++] = *a;
	argv[n++] = "--json";
	argv[n++] = "--jobs-root";
	argv[n++] = jobs_root;
	argv[n] = NULL;
	qft_run(o, argv, NULL, NULL, 600);
}

/* Parse the i-th JSON line of out (0-based). */
static json_t *json_line(const char *out, int i)
{
	const char *p = out;
	for (int k = 0; k < i; k++) {
		p = strchr(p, '\n');
		if (!p)
			fail_msg("fewer than %d JSON lines in output:\n%s", i + 1, out);
		p++;
	}
	const char *end = strchr(p, '\n');
	size_t len = end ? (size_t)(end - p) : strlen(p);
	json_error_t e;
	json_t *j = json_loadb(p, len, 0, &e);
	if (!j)
		fail_msg("line %d is not JSON (%s): %.*s", i + 1, e.text, (int)len, p);
	return j;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static double jnum(json_t *doc, const char *path)
{
	/* path: "results.total_energy_hartree" */
	char buf[256];
	qf_strlcpy(buf, path, sizeof(buf));
	json_t *cur = doc;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, tok);
	if (!json_is_number(cur))
		fail_msg("%s is not a number", path);
	return json_number_value(cur);
}

static const char *jstr(json_t *doc, const char *section, const char *key)
{
	json_t *o = section ? json_object_get(doc, section) : doc;
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * The independent reference: xtb run directly on the geometry qforge ran,
 * in a fresh directory, with the given flags; its last TOTAL ENERGY line is
 * read here, not by qforge's parser.
 */
static double direct_xtb(const char *job_dir, const char *const *flags)
{
	char dir[QF_MAX_PATH], src[QF_MAX_PATH], dst[QF_MAX_PATH];
	qft_tmpdir(dir, "direct-xtb");
	qft_join(src, job_dir, "geometry.xyz");
	qft_join(dst, dir, "mol.xyz");
	size_t len;
	char *geom = qft_slurp(src, &len);
	qft_write(dst, geom);
	free(geom);
	const char *argv[32] = {"xtb", "mol.xyz"};
	int n = 2;
	for (const char *const *f = flags; *f; f++)
		argv[n++] = *f;
	argv[n] = NULL;
	static const char *const env[] = {"OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1",
	                                  "OMP_STACKSIZE=1G", NULL};
	qft_output o;
	qft_run(&o, argv, env, dir, 600);
	assert_int_equal(o.exit_code, 0);
	double e = 0;
	bool found = false;
	for (char *p = o.out; (p = strstr(p, "TOTAL ENERGY")); p++) {
		if (sscanf(p, "TOTAL ENERGY %lf Eh", &e) == 1)
			found = true;
	}
	if (!found)
		fail_msg("no TOTAL ENERGY in direct xtb output");
	qft_output_release(&o);
	return e;
}

static void compare(const char *file, const char *const *qf_args, const char *const *xtb_flags)
{
	char path[QF_MAX_PATH];
	qft_data(path, file);
	const char *args[32] = {path};
	int n = 1;
	for (const char *const *a = qf_args; *a; a++)
		args[n++] = *a;
	args[n] = NULL;
	qft_output o;
	qforge_json(&o, args);
	if (o.exit_code != 0)
		fail_msg("qforge run %s failed (%d): %s", file, o.exit_code, o.err);
	assert_int_equal(count_lines(o.out), 1);
	json_t *doc = json_line(o.out, 0);
	assert_string_equal(jstr(doc, NULL, "status"), "completed");
	double e = jnum(doc, "results.total_energy_hartree");
	double ref = direct_xtb(jstr(doc, NULL, "job_dir"), xtb_flags);
	assert_close(e, ref, 1e-8);
	json_decref(doc);
	qft_output_release(&o);
}

static void test_sp_matches_direct_xtb(void **state)
{
	(void)state;
	compare("../../examples/caffeine.xyz", (const char *const[]){NULL},
	        (const char *const[]){"--gfn", "2", NULL});
}

static void test_opt_matches_direct_xtb(void **state)
{
	(void)state;
	compare("cli/ethanol.xyz", (const char *const[]){"--task", "opt", "--level", "tight", NULL},
	        (const char *const[]){"--opt", "tight", NULL});
}

/* A flexible drug-like molecule (66 atoms, RDKit's embedding of a ChEMBL
 * SMILES): its optimisation follows tiny differences in the numbers, so it
 * reaches the direct run's minimum only if xtb runs exactly as a plain `xtb`
 * does. With XTBPATH set for GFN2 (xtb then reads its parameter file
 * instead of its built-in parameters) it ended 1.4e-4 Eh away. */
static void test_flexible_opt_matches_direct_xtb(void **state)
{
	(void)state;
	compare("cli/chembl3688952.xyz", (const char *const[]){"--task", "opt", NULL},
	        (const char *const[]){"--opt", "normal", NULL});
}

static void test_ohess_matches_direct_xtb(void **state)
{
	(void)state;
	compare("cli/ethanol.xyz", (const char *const[]){"--task", "ohess", NULL},
	        (const char *const[]){"--ohess", "normal", NULL});
}

static void test_alpb_water_matches_direct_xtb(void **state)
{
	(void)state;
	compare("../../examples/caffeine.xyz", (const char *const[]){"--alpb", "water", NULL},
	        (const char *const[]){"--alpb", "water", NULL});
}

static void test_gfn1_matches_direct_xtb(void **state)
{
	(void)state;
	compare("cli/ethanol.xyz", (const char *const[]){"--method", "gfn1", NULL},
	        (const char *const[]){"--gfn", "1", NULL});
}

/* Charged molecules from SDF: the formal charges give the total charge, and
 * the energy equals a direct run with that charge. */
static void test_sdf_charge(void **state)
{
	(void)state;
	compare("cli/acetate.sdf", (const char *const[]){NULL},
	        (const char *const[]){"--chrg", "-1", NULL});
	compare("cli/glycine_zwitterion.sdf", (const char *const[]){NULL},
	        (const char *const[]){"--chrg", "0", NULL});

	char path[QF_MAX_PATH];
	qft_output o;
	qforge_json(&o, (const char *const[]){qft_data(path, "cli/acetate.sdf"), NULL});
	json_t *doc = json_line(o.out, 0);
	assert_int_equal((int)jnum(doc, "molecule.charge"), -1);
	assert_int_equal((int)jnum(doc, "molecule.uhf"), 0);
	assert_string_equal(jstr(doc, "molecule", "formula"), "C2H3O2");
	json_decref(doc);
	qft_output_release(&o);
}

/* The metadata document: stable keys, the job directory's contents. */
static void test_metadata_document(void **state)
{
	(void)state;
	char path[QF_MAX_PATH];
	qft_output o;
	qforge_json(&o, (const char *const[]){qft_data(path, "cli/ethanol.xyz"), "--task", "opt", NULL});
	assert_int_equal(o.exit_code, 0);
	json_t *doc = json_line(o.out, 0);
	static const char *const keys[] = {
		"status", "job_id", "name",
		"results.total_energy_hartree", "results.homo_lumo_gap_ev", "results.dipole_debye",
		"metrics.wall_time_seconds", "metrics.cpu_time_seconds", "metrics.memory_peak_mb",
		"metrics.scf_cycles", "metrics.optimization_cycles", "metrics.is_converged",
		"metrics.xtb_version", "error",
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char buf[128];
		qf_strlcpy(buf, keys[i], sizeof(buf));
		char *dot = strchr(buf, '.');
		json_t *v = doc;
		if (dot) {
			*dot = '\0';
			v = json_object_get(v, buf);
			v = json_object_get(v, dot + 1);
		} else {
			v = json_object_get(v, buf);
		}
		if (!v)
			fail_msg("metadata lacks %s", keys[i]);
	}
	assert_string_equal(jstr(doc, NULL, "name"), "ethanol");
	assert_true(json_is_null(json_object_get(doc, "error")));
	assert_true(json_is_true(json_object_get(json_object_get(doc, "metrics"), "is_converged")));
	assert_true(jnum(doc, "metrics.optimization_cycles") >= 1);
	assert_true(jnum(doc, "metrics.scf_cycles") >= 1);
	assert_true(jnum(doc, "metrics.wall_time_seconds") > 0);
	assert_true(jnum(doc, "metrics.memory_peak_mb") > 1);
	assert_string_equal(jstr(doc, "metrics", "xtb_version"), "6.5.1");
	json_t *charges = json_object_get(json_object_get(doc, "results"), "partial_charges");
	assert_int_equal((int)json_array_size(charges), 9);

	/* The job directory: input as given (byte for byte), geometry as run,
	 * logs, and metadata.json equal to what was printed. */
	const char *dir = jstr(doc, NULL, "job_dir");
	char p[QF_MAX_PATH];
	size_t a_len, b_len;
	char *given = qft_slurp(qft_data(path, "cli/ethanol.xyz"), &a_len);
	qft_join(p, dir, "input.xyz");
	char *stored = qft_slurp(p, &b_len);
	assert_int_equal(a_len, b_len);
	assert_memory_equal(given, stored, a_len);
	free(given);
	free(stored);
	static const char *const files[] = {"geometry.xyz", "xcontrol.inp", "stdout.log",
	                                    "stderr.log", "xtbopt.xyz", "metadata.json"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		qft_join(p, dir, files[i]);
		if (!qf_fs_exists(p))
			fail_msg("job directory lacks %s", files[i]);
	}
	qft_join(p, dir, "metadata.json");
	json_error_t je;
	json_t *disk = json_load_file(p, 0, &je);
	assert_non_null(disk);
	assert_true(json_equal(disk, doc));
	json_decref(disk);
	json_decref(doc);
	qft_output_release(&o);
}

/* Several molecules: one JSON document per line; a broken record is
 * reported by number and does not stop the others. */
static void test_multi_molecule(void **state)
{
	(void)state;
	char path[QF_MAX_PATH];
	qft_output o;
	qforge_json(&o, (const char *const[]){qft_data(path, "cli/three_frames.xyz"), NULL});
	assert_int_equal(o.exit_code, 0);
	assert_int_equal(count_lines(o.out), 3);
	static const char *const names[] = {"water", "ammonia", "methane"};
	char ids[3][64];
	for (int i = 0; i < 3; i++) {
		json_t *doc = json_line(o.out, i);
		assert_string_equal(jstr(doc, NULL, "status"), "completed");
		assert_string_equal(jstr(doc, NULL, "name"), names[i]);
		qf_strlcpy(ids[i], jstr(doc, NULL, "job_id"), sizeof(ids[i]));
		json_decref(doc);
	}
	assert_string_not_equal(ids[0], ids[1]);
	assert_string_not_equal(ids[1], ids[2]);
	qft_output_release(&o);

	qforge_json(&o, (const char *const[]){qft_data(path, "cli/three_one_broken.sdf"), NULL});
	assert_int_equal(o.exit_code, 10); /* validation */
	assert_int_equal(count_lines(o.out), 3);
	json_t *d0 = json_line(o.out, 0), *d1 = json_line(o.out, 1), *d2 = json_line(o.out, 2);
	assert_string_equal(jstr(d0, NULL, "status"), "completed");
	assert_string_equal(jstr(d1, NULL, "status"), "failed");
	assert_true(json_is_null(json_object_get(d1, "job_id")));
	assert_int_equal((int)jnum(d1, "input.record"), 2);
	assert_string_equal(jstr(d1, "error", "category"), "validation");
	assert_string_equal(jstr(d2, NULL, "status"), "completed");
	assert_string_equal(jstr(d2, NULL, "name"), "methane");
	assert_non_null(strstr(o.err, "three_one_broken.sdf"));
	json_decref(d0);
	json_decref(d1);
	json_decref(d2);
	qft_output_release(&o);
}

/* Each error category has its own exit status and JSON error. */
static void test_exit_status_per_category(void **state)
{
	(void)state;
	char caffeine[QF_MAX_PATH], path[QF_MAX_PATH];
	qft_data(caffeine, "../../examples/caffeine.xyz");
	static const struct {
		const char *what;
		const char *args[8];
		int status;
		const char *category;
		const char *code;
	} rows[] = {
		{"scc", {"--max-scc-iterations", "2", NULL}, 12, "convergence", "xtb.scc_not_converged"},
		{"opt cycles", {"--task", "opt", "--max-opt-cycles", "1", NULL}, 12, "convergence", "xtb.opt_not_converged"},
		{"parity", {"--charge", "1", NULL}, 10, "validation", "input.parity"},
		{"xtb missing", {"--xtb", "/nonexistent/xtb", NULL}, 13, "system", "xtb.not_found"},
		{"timeout", {"--task", "ohess", "--timeout", "0.3", NULL}, 11, "timeout", "xtb.timeout"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *args[16] = {caffeine};
		int n = 1;
		for (int k = 0; rows[i].args[k]; k++)
			args[n++] = rows[i].args[k];
		args[n] = NULL;
		qft_output o;
		qforge_json(&o, args);
		if (o.exit_code != rows[i].status)
			fail_msg("%s: exit %d, expected %d; stderr: %s", rows[i].what, o.exit_code,
			         rows[i].status, o.err);
		json_t *doc = json_line(o.out, 0);
		assert_string_equal(jstr(doc, NULL, "status"), "failed");
		assert_string_equal(jstr(doc, "error", "category"), rows[i].category);
		assert_string_equal(jstr(doc, "error", "code"), rows[i].code);
		assert_non_null(jstr(doc, "error", "message"));
		json_decref(doc);
		qft_output_release(&o);
	}
	(void)path;
}

/* Malformed command lines and inputs: a clear message, a non-zero status,
 * nothing run. */
static void test_malformed_command_lines(void **state)
{
	(void)state;
	char caffeine[QF_MAX_PATH], empty[QF_MAX_PATH], dir[QF_MAX_PATH];
	qft_data(caffeine, "../../examples/caffeine.xyz");
	qft_tmpdir(dir, "cli-bad");
	qft_join(empty, dir, "empty.xyz");
	qft_write(empty, "");
	static const struct {
		const char *args[8];
		int status;
		const char *in_stderr;
	} rows[] = {
		{{NULL}, 2, "give a FILE"},
		{{"@C", "--bogus", NULL}, 2, "unknown option"},
		{{"@C", "--level", "superfine", NULL}, 2, "superfine"},
		{{"@C", "--task", "md", NULL}, 2, "md"},
		{{"@C", "--method", "gfn3", NULL}, 2, "gfn3"},
		{{"@C", "--alpb", "nonsense", NULL}, 2, "nonsense"},
		{{"@C", "--gbsa", "aniline", NULL}, 2, "aniline"}, /* ALPB only */
		{{"@C", "--threads", "0", NULL}, 2, "threads"},
		{{"@C", "--timeout", "-1", NULL}, 2, "timeout"},
		{{"@C", "--charge", "one", NULL}, 2, "charge"},
		{{"@C", "--uhf", "-1", NULL}, 2, "uhf"},
		{{"@C", "--etemp", "nan", NULL}, 2, "etemp"},
		{{"@C", "--format", "pdb", NULL}, 2, "pdb"},
		{{"/nonexistent.xyz", NULL}, 10, "/nonexistent.xyz"},
		{{"@E", NULL}, 10, "empty"},
		{{"@C", "@C", NULL}, 2, "one FILE"},
		{{"--smiles", "C1CC", NULL}, 10, "C1CC"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *argv[16] = {qft_qforge(), "run"};
		int n = 2;
		for (int k = 0; rows[i].args[k]; k++) {
			const char *a = rows[i].args[k];
			argv[n++] = !strcmp(a, "@C") ? caffeine : !strcmp(a, "@E") ? empty : a;
		}
		argv[n++] = "--jobs-root";
		argv[n++] = dir;
		argv[n] = NULL;
		qft_output o;
		qft_run(&o, argv, NULL, NULL, 120);
		if (o.exit_code != rows[i].status || !strstr(o.err, rows[i].in_stderr))
			fail_msg("row %zu: exit %d (expected %d), stderr '%s' (expected to mention '%s')", i,
			         o.exit_code, rows[i].status, o.err, rows[i].in_stderr);
		qft_output_release(&o);
	}
}

/* The readable summary names the energy in Eh and eV, the gap and dipole. */
static void test_summary(void **state)
{
	(void)state;
	char caffeine[QF_MAX_PATH];
	const char *argv[] = {qft_qforge(), "run", qft_data(caffeine, "../../examples/caffeine.xyz"),
	                      "--jobs-root", jobs_root, NULL};
	qft_output o;
	qft_run(&o, argv, NULL, NULL, 120);
	assert_int_equal(o.exit_code, 0);
	static const char *const needles[] = {"caffeine", "C8H10N4O2", "total energy", " Eh",
	                                      " eV", "HOMO-LUMO gap", "dipole", " D\n", "converged",
	                                      "wall", "cpu", "memory"};
	for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
		if (!strstr(o.out, needles[i]))
			fail_msg("summary lacks '%s':\n%s", needles[i], o.out);
	qft_output_release(&o);
}

/* GFN0 singlepoints run through the library (the xtb 6.5.1 program crashes on
 * GFN0); the result is a real GFN0 energy, distinct from GFN2's. */
static void test_gfn0_singlepoint(void **state)
{
	(void)state;
	char path[QF_MAX_PATH];
	qft_output o;
	qforge_json(&o, (const char *const[]){qft_data(path, "../../examples/caffeine.xyz"), "--method",
	                                      "gfn0", NULL});
	if (o.exit_code != 0)
		fail_msg("gfn0 failed (%d): %s", o.exit_code, o.err);
	json_t *doc = json_line(o.out, 0);
	assert_string_equal(jstr(doc, "metrics", "method"), "GFN0-xTB");
	double e0 = jnum(doc, "results.total_energy_hartree");
	assert_true(e0 < -30 && e0 > -50);
	char p[QF_MAX_PATH];
	assert_true(qf_fs_exists(qft_join(p, jstr(doc, NULL, "job_dir"), "geometry.xyz")));
	json_decref(doc);
	qft_output_release(&o);
	qforge_json(&o, (const char *const[]){qft_data(path, "../../examples/caffeine.xyz"), NULL});
	doc = json_line(o.out, 0);
	assert_true(fabs(jnum(doc, "results.total_energy_hartree") - e0) > 0.1);
	json_decref(doc);
	qft_output_release(&o);
}

/* --store records each calculation (here in a fresh SQLite store). */
static void test_store_records(void **state)
{
	(void)state;
	char dir[QF_MAX_PATH], db[QF_MAX_PATH], url[QF_MAX_PATH + 16], path[QF_MAX_PATH];
	qft_tmpdir(dir, "cli-run-store");
	qft_join(db, dir, "q.db");
	snprintf(url, sizeof(url), "sqlite:%s", db);
	qft_output o;
	qforge_json(&o, (const char *const[]){qft_data(path, "cli/three_frames.xyz"), "--store", url, NULL});
	assert_int_equal(o.exit_code, 0);
	qf_store *s = NULL;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_store_open(&s, url, NULL, &e), 0);
	qf_actor sys = qf_actor_system();
	for (int i = 0; i < 3; i++) {
		json_t *doc = json_line(o.out, i), *row = NULL;
		if (qf_store_get(s, &sys, "calculations", jstr(doc, NULL, "job_id"), &row, &e))
			fail_msg("calculation %d not recorded: %s", i, e.message);
		assert_string_equal(json_string_value(json_object_get(row, "status")), "completed");
		assert_close(json_number_value(json_object_get(row, "total_energy")),
		             jnum(doc, "results.total_energy_hartree"), 1e-12);
		json_decref(row);
		json_decref(doc);
	}
	int64_t n = 0;
	assert_int_equal(qf_store_count(s, &sys, "atomic_properties", NULL, &n, &e), 0);
	assert_int_equal((int)n, 3 + 4 + 5); /* water, ammonia, methane */
	qf_store_close(s);
	qft_output_release(&o);

	/* an unusable store is refused before anything runs */
	qforge_json(&o, (const char *const[]){qft_data(path, "cli/ethanol.xyz"), "--store",
	                                      "mysql://nowhere", NULL});
	assert_int_not_equal(o.exit_code, 0);
	assert_string_equal(o.out, "");
	qft_output_release(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sp_matches_direct_xtb),
		cmocka_unit_test(test_opt_matches_direct_xtb),
		cmocka_unit_test(test_flexible_opt_matches_direct_xtb),
		cmocka_unit_test(test_ohess_matches_direct_xtb),
		cmocka_unit_test(test_alpb_water_matches_direct_xtb),
		cmocka_unit_test(test_gfn1_matches_direct_xtb),
		cmocka_unit_test(test_sdf_charge),
		cmocka_unit_test(test_metadata_document),
		cmocka_unit_test(test_multi_molecule),
		cmocka_unit_test(test_exit_status_per_category),
		cmocka_unit_test(test_malformed_command_lines),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_store_records),
		cmocka_unit_test(test_gfn0_singlepoint),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
