/* qf-test: labels=integration,rdkit timeout=600 */
/*
 * Bounded, parallel SMILES embedding (include/qf/embed.h): the children of
 * qf_embed_many give exactly the structures embedding in this process gives
 * (the same SMILES, the same geometry, whichever child took it); the three
 * SMILES that held `qforge batch submit` for minutes end at once with
 * input.embedding; the time and the memory limit each end one molecule with
 * input.embedding naming the limit while the others of the same call
 * complete; the SMILES's own errors come back as they are; and `qforge batch
 * submit` queues the good records of a file that mixes all of these.
 */
#include "qftest.h"

#include <jansson.h>
#include <sqlite3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../queue/survive.h"
#include "qf/embed.h"
#include "qf/limits.h"
#include "qf/molio.h"

#define CHEMBL QF_SOURCE_DIR "/bench/data/chembl-drug-like.smi"
#define SAME_AS_IN_PROCESS 60 /* bench molecules compared */

static char *repeat(const char *unit, int n)
{
	size_t len = strlen(unit);
	char *s = malloc(len * (size_t)n + 1);
	assert_non_null(s);
	for (int i = 0; i < n; i++)
		memcpy(s + len * (size_t)i, unit, len);
	s[len * (size_t)n] = '\0';
	return s;
}

/* The first n SMILES of the bench file (the first field of each line). */
static size_t bench_smiles(char **out, size_t n)
{
	FILE *f = fopen(CHEMBL, "r");
	assert_non_null(f);
	char line[4096];
	size_t k = 0;
	while (k < n && fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, " \t\r\n")] = '\0';
		out[k] = strdup(line);
		assert_non_null(out[k]);
		k++;
	}
	fclose(f);
	return k;
}

/* mols[i] as qf_embed_many takes them: checked, without 3D; ptr[i] the
 * pointers it takes. */
static void check_all(const char *const *smi, qf_mol *mols, qf_mol **ptr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ptr[i] = &mols[i];
		qf_err e;
		qf_err_init(&e);
		qf_mol_init(&mols[i]);
		if (qf_smiles_check(smi[i], NULL, &mols[i], &e))
			fail_msg("%s: %s", smi[i], e.message);
	}
}

static void test_children_give_in_process_structures(void **state)
{
	(void)state;
	char *smi[SAME_AS_IN_PROCESS];
	size_t n = bench_smiles(smi, SAME_AS_IN_PROCESS);
	assert_int_equal(n, SAME_AS_IN_PROCESS);
	qf_mol mols[SAME_AS_IN_PROCESS];
	qf_err errs[SAME_AS_IN_PROCESS];
	bool failed[SAME_AS_IN_PROCESS];
	qf_mol *ptr[SAME_AS_IN_PROCESS];
	check_all((const char *const *)smi, mols, ptr, n);
	qf_err err;
	qf_err_init(&err);
	qf_embed_limits l = {.processes = 2};
	if (qf_embed_many(&l, (const char *const *)smi, ptr, NULL, errs, failed, n, NULL, NULL, &err))
		fail_msg("qf_embed_many: %s", err.message);
	for (size_t i = 0; i < n; i++) {
		if (failed[i])
			fail_msg("%s: %s (%s)", smi[i], errs[i].message, errs[i].code);
		qf_mol here;
		qf_mol_init(&here);
		qf_err e;
		qf_err_init(&e);
		if (qf_smiles_to_mol(smi[i], NULL, &here, &e))
			fail_msg("in process, %s: %s", smi[i], e.message);
		assert_int_equal(here.natoms, mols[i].natoms);
		for (int a = 0; a < here.natoms; a++) {
			assert_int_equal(here.z[a], mols[i].z[a]);
			for (int c = 0; c < 3; c++)
				if (here.xyz[3 * a + c] != mols[i].xyz[3 * a + c])
					fail_msg("%s atom %d: %.17g in a child, %.17g here", smi[i], a + 1,
					         mols[i].xyz[3 * a + c], here.xyz[3 * a + c]);
		}
		qf_mol_release(&here);
		qf_mol_release(&mols[i]);
		free(smi[i]);
	}
}

/* The three SMILES of the issue that held batch submit for minutes: each is
 * refused at once, before any embedding, naming the atom limit. */
static void test_unbounded_smiles_end_with_input_embedding(void **state)
{
	(void)state;
	char *cases[] = {repeat("C", 300), repeat("C", 1000), repeat("C1CCCCCCCCCC1", 50)};
	for (size_t i = 0; i < 3; i++) {
		double t0 = sv_now();
		qf_mol m;
		qf_err e;
		qf_err_init(&e);
		int rc = qf_embed_one(NULL, cases[i], NULL, &m, &e);
		double took = sv_now() - t0;
		assert_int_not_equal(rc, 0);
		assert_string_equal(e.code, "input.embedding");
		assert_non_null(strstr(e.message, "at most 400 atoms"));
		/* Within the limit: the time limit of one molecule, not minutes. */
		if (took > QF_EMBED_SECONDS)
			fail_msg("case %zu took %.1f s, more than the %g s limit", i + 1, took,
			         QF_EMBED_SECONDS);
		print_message("unbounded case %zu: %s (%.2f s)\n", i + 1, e.code, took);
		free(cases[i]);
	}
}

/* One call: a molecule past the time limit, one past the memory limit, a
 * SMILES with an error of its own, and good ones around them. */
static void test_limits_end_one_molecule_not_the_call(void **state)
{
	(void)state;
	char *slow = repeat("C", 100); /* 302 atoms: ~13 s here */
	const char *smi[] = {"CCO", slow, "c1ccccc1", "OC(=O)c1ccccc1O"};
	size_t n = 4;
	qf_mol mols[4];
	qf_err errs[4];
	bool failed[4];
	qf_mol *ptr[4];
	check_all(smi, mols, ptr, n);
	qf_err err;
	qf_err_init(&err);
	qf_embed_limits l = {.seconds = 2, .processes = 2};
	double t0 = sv_now();
	assert_int_equal(qf_embed_many(&l, smi, ptr, NULL, errs, failed, n, NULL, NULL, &err), 0);
	print_message("time limit 2 s: the call took %.2f s\n", sv_now() - t0);
	for (size_t i = 0; i < n; i++) {
		if (i == 1) {
			assert_true(failed[i]);
			assert_string_equal(errs[i].code, "input.embedding");
			assert_non_null(strstr(errs[i].message, "time limit of 2 s"));
		} else if (failed[i]) {
			fail_msg("%s failed beside the slow one: %s", smi[i], errs[i].message);
		}
		qf_mol_release(&mols[i]);
	}
	free(slow);

	/* Memory: 64 MB of address space is enough for ethanol, not for C125. */
	if (!qf_embed_memory_limited()) {
		print_message("memory limit: not enforced in this (AddressSanitizer) build; "
		              "checked by the same test in the normal build\n");
		return;
	}
	char *big = repeat("C", 125);
	const char *smi2[] = {big, "CCO"};
	check_all(smi2, mols, ptr, 2);
	qf_embed_limits lm = {.memory_mb = 64, .processes = 1};
	assert_int_equal(qf_embed_many(&lm, smi2, ptr, NULL, errs, failed, 2, NULL, NULL, &err), 0);
	assert_true(failed[0]);
	assert_string_equal(errs[0].code, "input.embedding");
	assert_non_null(strstr(errs[0].message, "64 MB"));
	assert_false(failed[1]);
	qf_mol_release(&mols[0]);
	qf_mol_release(&mols[1]);
	free(big);
}

/* The SMILES's own errors pass through the children unchanged. */
static void test_bad_smiles_keep_their_errors(void **state)
{
	(void)state;
	static const struct {
		const char *smiles, *code;
	} bad[] = {
		{"C(", "input.smiles"},
		{"c1ccccc", "input.smiles"},
		{"C1CC", "input.smiles"},
		{"[Xx]", "input.smiles"},
		{"", "input.smiles"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		qf_mol m;
		qf_err e;
		qf_err_init(&e);
		assert_int_not_equal(qf_embed_one(NULL, bad[i].smiles, NULL, &m, &e), 0);
		if (strcmp(e.code, bad[i].code))
			fail_msg("'%s': %s (%s), expected %s", bad[i].smiles, e.message, e.code, bad[i].code);
	}
}

/* qforge batch submit of a file mixing good, unbounded, slow and bad
 * SMILES: the good ones queued, each other one reported by its record. */
static void test_batch_submit_mixed_file(void **state)
{
	(void)state;
	char dir[QF_MAX_PATH], path[QF_MAX_PATH], db[QF_MAX_PATH], url[QF_MAX_PATH + 8];
	qft_tmpdir(dir, "embed-batch");
	qft_join(path, dir, "mixed.smi");
	qft_join(db, dir, "store.db");
	snprintf(url, sizeof(url), "sqlite:%s", db);
	char *c300 = repeat("C", 300), *c100 = repeat("C", 100);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "CCO ethanol\n%s c300\nC( broken\n%s c100\nc1ccccc1 benzene\n", c300, c100);
	fclose(f);
	free(c300);
	free(c100);
	qft_output o;
	const char *args[] = {"batch", "submit", path, "--store", url, "--embed-timeout", "2",
	                      "--json", NULL};
	sv_qforge(&o, NULL, args);
	sv_expect_status(&o, 0, "batch submit");
	json_error_t je;
	json_t *doc = json_loads(o.out, 0, &je);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "submitted")), 2);
	assert_int_equal(json_integer_value(json_object_get(doc, "unreadable")), 3);
	assert_non_null(strstr(o.err, "record 2:"));
	assert_non_null(strstr(o.err, "at most 400 atoms"));
	assert_non_null(strstr(o.err, "record 3:"));
	assert_non_null(strstr(o.err, "record 4:"));
	assert_non_null(strstr(o.err, "time limit of 2 s"));
	json_decref(doc);
	qft_output_release(&o);
}

/* --conformers against RDKit's Python conformer search with the same seed:
 * the lowest MMFF94 energy kept equals Python's, and the stereo the SMILES
 * leaves open (noted in the molecule's embedding) is FindPotentialStereo's. */
static void test_conformers_as_python(void **state)
{
	(void)state;
	static const char *const smi[] = {"CCCCCC[C@H](O)CC", "CC(O)CC=CC", "OCCCCCCN",
	                                  "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "C/C=C/C(N)C(=O)O"};
	const size_t n = sizeof(smi) / sizeof(smi[0]);
	const char *argv[16] = {"/usr/bin/python3", QF_SOURCE_DIR "/tests/integration/chem/conformer_check.py",
	                        "10"};
	for (size_t i = 0; i < n; i++)
		argv[3 + i] = smi[i];
	argv[3 + n] = NULL;
	qft_output o;
	qft_run(&o, argv, NULL, NULL, 300);
	if (o.exit_code != 0)
		fail_msg("conformer_check.py: %s", o.err);
	char *save = NULL;
	char *line = strtok_r(o.out, "\n", &save);
	for (size_t i = 0; i < n; i++, line = strtok_r(NULL, "\n", &save)) {
		assert_non_null(line);
		json_error_t je;
		json_t *py = json_loads(line, 0, &je);
		assert_non_null(py);
		qf_mol m;
		qf_mol_init(&m);
		qf_conformers c;
		qf_err e;
		qf_err_init(&e);
		if (qf_smiles_to_conformers(smi[i], NULL, 10, &m, &c, &e))
			fail_msg("%s: %s", smi[i], e.message);
		json_t *emb = json_loads(m.embedding, 0, &je);
		assert_non_null(emb);
		double ours = json_real_value(json_object_get(emb, "ff_energy_kcal"));
		double theirs = json_real_value(json_object_get(py, "lowest"));
		print_message("%-30s %d distinct conformers, lowest %.6f kcal/mol (Python %.6f)\n",
		              smi[i], c.n, ours, theirs);
		if (fabs(ours - theirs) > 1e-6)
			fail_msg("%s: lowest conformer %.10f kcal/mol, Python's %.10f", smi[i], ours, theirs);
		assert_true(c.n >= 1);
		assert_true(fabs(c.ff_energy[0] - ours) < 1e-9);
		for (int k = 1; k < c.n; k++)
			assert_true(c.ff_energy[k] >= c.ff_energy[k - 1]);
		assert_true(json_equal(json_object_get(emb, "unspecified_stereocentres"),
		                       json_object_get(py, "centres")));
		assert_true(json_equal(json_object_get(emb, "unspecified_double_bonds"),
		                       json_object_get(py, "bonds")));
		json_decref(emb);
		json_decref(py);
		qf_conformers_release(&c);
		qf_mol_release(&m);
	}
	qft_output_release(&o);
}

/* Every conformer through the children equals the in-process conformer
 * search's (count, coordinates, energies); and `qforge batch submit
 * --conformers 10 --keep-conformers` queues each as its own calculation,
 * with its index and force-field energy in its molecule's embedding. */
static void test_keep_conformers(void **state)
{
	(void)state;
	static const char *const smi[] = {"CCCCO", "OCCCCCCN", "CC(C)Cc1ccc(C(C)C(=O)O)cc1"};
	enum { N = sizeof(smi) / sizeof(smi[0]) };
	qf_mol mols[N];
	qf_mol *ptr[N];
	check_all(smi, mols, ptr, N);
	qf_conformers confs[N];
	qf_err errs[N], err;
	bool failed[N];
	qf_err_init(&err);
	qf_embed_limits l = {.conformers = 10};
	assert_int_equal(qf_embed_many(&l, smi, ptr, confs, errs, failed, N, NULL, NULL, &err), 0);
	int total = 0;
	for (size_t i = 0; i < N; i++) {
		if (failed[i])
			fail_msg("%s: %s", smi[i], errs[i].message);
		qf_mol m;
		qf_mol_init(&m);
		qf_conformers c;
		qf_err e;
		qf_err_init(&e);
		if (qf_smiles_to_conformers(smi[i], NULL, 10, &m, &c, &e))
			fail_msg("%s: %s", smi[i], e.message);
		print_message("%-30s %d conformers through the children, %d in process\n", smi[i],
		              confs[i].n, c.n);
		assert_int_equal(confs[i].n, c.n);
		for (int k = 0; k < c.n; k++) {
			assert_true(fabs(confs[i].ff_energy[k] - c.ff_energy[k]) < 1e-12);
			for (int a = 0; a < 3 * m.natoms; a++)
				assert_true(fabs(confs[i].xyz[3 * (size_t)m.natoms * (size_t)k + (size_t)a] -
				                 c.xyz[3 * (size_t)m.natoms * (size_t)k + (size_t)a]) < 1e-12);
		}
		for (int a = 0; a < 3 * m.natoms; a++)
			assert_true(mols[i].xyz[a] == confs[i].xyz[a]); /* the lowest is the molecule's */
		total += c.n;
		qf_conformers_release(&c);
		qf_conformers_release(&confs[i]);
		qf_mol_release(&m);
		qf_mol_release(&mols[i]);
	}
	assert_true(total > (int)N); /* else nothing here keeps more than one */

	char dir[QF_MAX_PATH], path[QF_MAX_PATH], db[QF_MAX_PATH], url[QF_MAX_PATH + 8];
	qft_tmpdir(dir, "embed-keep");
	qft_join(path, dir, "c.smi");
	qft_join(db, dir, "store.db");
	snprintf(url, sizeof(url), "sqlite:%s", db);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (size_t i = 0; i < N; i++)
		fprintf(f, "%s m%zu\n", smi[i], i);
	fclose(f);
	qft_output o;
	const char *bad[] = {"batch", "submit", path, "--store", url, "--keep-conformers", NULL};
	sv_qforge(&o, NULL, bad);
	sv_expect_status(&o, 2, "--keep-conformers without --conformers");
	assert_non_null(strstr(o.err, "--conformers N"));
	qft_output_release(&o);
	const char *args[] = {"batch", "submit", path, "--store", url, "--conformers", "10",
	                      "--keep-conformers", "--json", NULL};
	sv_qforge(&o, NULL, args);
	sv_expect_status(&o, 0, "batch submit --keep-conformers");
	json_error_t je;
	json_t *doc = json_loads(o.out, 0, &je);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "submitted")), total);
	json_decref(doc);
	qft_output_release(&o);
	/* Per molecule: indices 0..n-1, energies ascending, geometries distinct. */
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(h,
	                                    "SELECT m.name, json_extract(m.embedding, '$.conformer'), "
	                                    "json_extract(m.embedding, '$.ff_energy_kcal'), "
	                                    "json_extract(m.embedding, '$.conformers'), "
	                                    "(SELECT COUNT(DISTINCT geometry_sha256) FROM molecules) "
	                                    "FROM calculations c JOIN molecules m ON m.id = c.molecule_id "
	                                    "ORDER BY 1, 2",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	int rows = 0, next = 0;
	char last[64] = "";
	double prev = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		int k = sqlite3_column_int(st, 1);
		double ff = sqlite3_column_double(st, 2);
		if (strcmp(name, last)) {
			snprintf(last, sizeof(last), "%s", name);
			next = 0;
		} else {
			assert_true(ff >= prev);
		}
		assert_int_equal(k, next++);
		assert_true(k < sqlite3_column_int(st, 3));
		assert_int_equal(sqlite3_column_int(st, 4), total);
		prev = ff;
		rows++;
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	assert_int_equal(rows, total);
}

/* `qforge run --smiles S --conformers 10` runs the lowest of the conformer
 * search, the one this process finds, and says so in its document. */
static void test_run_conformers(void **state)
{
	(void)state;
	const char *smiles = "OCCCCCCN";
	qf_mol m;
	qf_mol_init(&m);
	qf_conformers c;
	qf_err e;
	qf_err_init(&e);
	if (qf_smiles_to_conformers(smiles, NULL, 10, &m, &c, &e))
		fail_msg("%s: %s", smiles, e.message);
	char dir[QF_MAX_PATH];
	qft_tmpdir(dir, "embed-run");
	qft_output o;
	const char *args[] = {"run", "--smiles", smiles, "--conformers", "10", "--jobs-root", dir,
	                      "--json", NULL};
	sv_qforge(&o, NULL, args);
	sv_expect_status(&o, 0, "run --conformers");
	json_error_t je;
	json_t *doc = json_loads(o.out, JSON_DISABLE_EOF_CHECK, &je);
	assert_non_null(doc);
	json_t *mol = json_object_get(doc, "molecule");
	json_t *emb = json_object_get(mol, "embedding");
	assert_int_equal(json_integer_value(json_object_get(emb, "conformers_requested")), 10);
	assert_int_equal(json_integer_value(json_object_get(emb, "conformers")), c.n);
	assert_int_equal(json_integer_value(json_object_get(emb, "conformer")), 0);
	assert_true(fabs(json_real_value(json_object_get(emb, "ff_energy_kcal")) - c.ff_energy[0]) < 1e-6);
	json_t *xyz = json_object_get(mol, "coordinates_angstrom");
	assert_int_equal((int)json_array_size(xyz), m.natoms);
	for (int a = 0; a < m.natoms; a++)
		for (int d = 0; d < 3; d++)
			assert_true(fabs(json_real_value(json_array_get(json_array_get(xyz, (size_t)a), (size_t)d)) -
			                 c.xyz[3 * a + d]) < 1e-9);
	assert_non_null(json_object_get(json_object_get(doc, "results"), "total_energy_hartree"));
	json_decref(doc);
	qft_output_release(&o);
	const char *bad[] = {"run", "--smiles", smiles, "--conformers", "51", NULL};
	sv_qforge(&o, NULL, bad);
	sv_expect_status(&o, 2, "run --conformers 51");
	qft_output_release(&o);
	qf_conformers_release(&c);
	qf_mol_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_children_give_in_process_structures),
		cmocka_unit_test(test_unbounded_smiles_end_with_input_embedding),
		cmocka_unit_test(test_limits_end_one_molecule_not_the_call),
		cmocka_unit_test(test_bad_smiles_keep_their_errors),
		cmocka_unit_test(test_batch_submit_mixed_file),
		cmocka_unit_test(test_conformers_as_python),
		cmocka_unit_test(test_keep_conformers),
		cmocka_unit_test(test_run_conformers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
