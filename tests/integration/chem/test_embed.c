/* qf-test: labels=integration,rdkit timeout=900 */
/*
 * SMILES -> 3D against RDKit's own Python (mmff_check.py, /usr/bin/python3,
 * Debian python3-rdkit) on the 212 drug-like ChEMBL SMILES of bench/data:
 * every structure is a minimum of the complete MMFF94 force field as
 * Python builds it by default (re-minimising lowers the energy by less
 * than 0.1 kcal/mol), no two atoms three or more bonds apart are closer
 * than QF_EMBED_MIN_CONTACT_A, and with the same seed the structure is
 * Python's to 1e-4 A, and the stereochemistry perceived back from 3D is
 * the SMILES's. Then molecules only UFF can handle, a salt, a table of
 * chiral and E/Z cases, and a SMILES no try embeds.
 */
#include "qftest.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qf/limits.h"
#include "qf/molio.h"

#define CHECK QF_SOURCE_DIR "/tests/integration/chem/mmff_check.py"
#define CHEMBL QF_SOURCE_DIR "/bench/data/chembl-drug-like.smi"
#define PYTHON "/usr/bin/python3"

/* Largest energy drop on re-minimising that still counts as a minimum. */
#define MAX_DROP_KCAL 0.1
/* Largest distance to Python's structure from the same seed. */
#define MAX_DEV_A 1e-4

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* {"smiles", "z", "xyz"} of m, embedded from smiles. */
static json_t *record(const char *smiles, const qf_mol *m)
{
	json_t *z = json_array(), *xyz = json_array();
	for (int i = 0; i < m->natoms; i++) {
		json_array_append_new(z, json_integer(m->z[i]));
		for (int k = 0; k < 3; k++)
			json_array_append_new(xyz, json_real(m->xyz[3 * i + k]));
	}
	return json_pack("{s:s, s:o, s:o}", "smiles", smiles, "z", z, "xyz", xyz);
}

/* Runs mmff_check.py on the records; one result object per record. */
static json_t *python_check(json_t *records)
{
	char dir[QF_MAX_PATH], in[QF_MAX_PATH];
	qft_tmpdir(dir, "embed");
	qft_join(in, dir, "in.jsonl");
	FILE *f = fopen(in, "w");
	assert_non_null(f);
	size_t i;
	json_t *r;
	json_array_foreach(records, i, r)
	{
		char *s = json_dumps(r, JSON_COMPACT);
		fprintf(f, "%s\n", s);
		free(s);
	}
	assert_int_equal(fclose(f), 0);
	char limit[32], tries[32];
	snprintf(limit, sizeof(limit), "%g", QF_EMBED_MIN_CONTACT_A);
	snprintf(tries, sizeof(tries), "%d", QF_EMBED_MAX_TRIES);
	const char *argv[] = {PYTHON, CHECK, in, limit, tries, NULL};
	qft_output o;
	qft_run(&o, argv, NULL, NULL, 600);
	if (o.exit_code != 0)
		fail_msg("mmff_check.py: exit %d\n%s", o.exit_code, o.err);
	json_t *out = json_array();
	for (char *p = o.out, *e; *p; p = e + 1) {
		e = strchr(p, '\n');
		assert_non_null(e);
		json_error_t je;
		json_t *line = json_loadb(p, (size_t)(e - p), 0, &je);
		if (!line)
			fail_msg("mmff_check.py printed no JSON: %.*s", (int)(e - p), p);
		json_array_append_new(out, line);
	}
	qft_output_release(&o);
	assert_int_equal(json_array_size(out), json_array_size(records));
	return out;
}

static double num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_number(v))
		fail_msg("%s: no number %s", json_string_value(json_object_get(o, "smiles")), k);
	return json_number_value(v);
}

/* Every result a minimum, no close contact, Python's structure; prints the
 * worst figures. */
static void assert_minima(json_t *results, bool same_as_python)
{
	double worst_drop = 0, worst_contact = 1e9, worst_dev = 0;
	int retried = 0;
	size_t i;
	json_t *r;
	json_array_foreach(results, i, r)
	{
		const char *smi = json_string_value(json_object_get(r, "smiles"));
		if (!json_is_true(json_object_get(r, "elements_match")))
			fail_msg("%s: the atoms are not RDKit's", smi);
		double drop = num(r, "e_given") - num(r, "e_minimised");
		if (drop > MAX_DROP_KCAL || !json_is_true(json_object_get(r, "converged")))
			fail_msg("%s: not a minimum: MMFF94 goes from %.4f to %.4f kcal/mol", smi,
			         num(r, "e_given"), num(r, "e_minimised"));
		worst_drop = fmax(worst_drop, drop);
		json_t *c = json_object_get(r, "min_contact");
		if (json_is_number(c)) {
			if (json_number_value(c) < QF_EMBED_MIN_CONTACT_A)
				fail_msg("%s: atoms three or more bonds apart %.3f A apart", smi,
				         json_number_value(c));
			worst_contact = fmin(worst_contact, json_number_value(c));
		}
		const char *st = json_string_value(json_object_get(r, "stereo"));
		if (!st || *st)
			fail_msg("%s: stereochemistry not kept: %s", smi, st ? st : "(not checked)");
		if (same_as_python) {
			double dev = num(r, "max_dev");
			if (dev > MAX_DEV_A)
				fail_msg("%s: an atom is %.2e A from Python's structure", smi, dev);
			worst_dev = fmax(worst_dev, dev);
			retried += num(r, "python_try") > 0;
		}
	}
	printf("%zu molecules: largest energy drop on re-minimising %.2e kcal/mol, closest "
	       "contact %.3f A, largest distance to Python's structure %.2e A, %d embedded "
	       "again after a first try failed the checks\n",
	       json_array_size(results), worst_drop, worst_contact, worst_dev, retried);
}

static void test_chembl(void **state)
{
	(void)state;
	qf_reader *r;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_reader_new_path(&r, CHEMBL, QF_FMT_SMILES, &e), 0);
	json_t *records = json_array();
	double t0 = now();
	for (;;) {
		qf_mol m;
		int rc = qf_reader_next(r, &m, &e);
		if (rc == 0)
			break;
		if (rc < 0)
			fail_msg("record %d: %s", qf_reader_record(r), e.message);
		size_t len;
		const char *text = qf_reader_record_text(r, &len);
		char smiles[QF_MAX_SMILES + 1];
		size_t n = strcspn(text, " \t\r\n");
		assert_true(n <= QF_MAX_SMILES && n <= len);
		memcpy(smiles, text, n);
		smiles[n] = '\0';
		json_array_append_new(records, record(smiles, &m));
		qf_mol_release(&m);
	}
	printf("embedded %zu SMILES in %.1f s\n", json_array_size(records), now() - t0);
	qf_reader_free(r);
	assert_int_equal(json_array_size(records), 212);
	json_t *results = python_check(records);
	assert_minima(results, true);
	json_decref(results);
	json_decref(records);
}

/* MMFF94 has no parameters for Sn, Se with B, Si with Te: UFF cleans them
 * up, to a minimum of UFF; a salt's two ions end apart. */
static void test_uff_and_salt(void **state)
{
	(void)state;
	static const char *const smiles[] = {
		"CCCCCCCCCCCCCCCCCCCC[Sn](C)(C)CCCCCCCCCCCCCCCCCCCC",
		"C[Se]c1ccc(cc1)C(=O)NCCCCCCCCCCCC[B](O)O",
		"CC(C)(C)[Si](C)(C)OCCCCCCCCCCCC[Te]C",
		"C[N+](C)(C)C.[O-]C(=O)c1ccccc1",
	};
	json_t *records = json_array();
	for (size_t i = 0; i < sizeof(smiles) / sizeof(smiles[0]); i++) {
		qf_mol m;
		qf_err e;
		qf_mol_init(&m);
		qf_err_init(&e);
		if (qf_smiles_to_mol(smiles[i], NULL, &m, &e))
			fail_msg("%s: %s", smiles[i], e.message);
		json_array_append_new(records, record(smiles[i], &m));
		qf_mol_release(&m);
	}
	json_t *results = python_check(records);
	assert_minima(results, true);
	json_decref(results);
	json_decref(records);
}

/* Stereo kept: each tetrahedral centre's CIP label and each double bond's
 * E/Z that the SMILES specifies is what RDKit's Python perceives back from
 * the structure (and the bench molecules above are checked the same way). */
static void test_stereo(void **state)
{
	(void)state;
	static const char *const smiles[] = {
		"N[C@@H](C)C(=O)O",                  /* L-alanine, S */
		"N[C@H](C)C(=O)O",                   /* D-alanine, R */
		"C[C@H](O)[C@@H](C)Cl",              /* two centres */
		"O[C@H]1CC[C@@H](C)CC1",             /* cis/trans ring (no CIP centres) */
		"C[C@@]1(Cl)CCCC[C@@H]1F",           /* quaternary centre in a ring */
		"OC(=O)[C@@H]1CCCN1",                /* L-proline */
		"F/C=C/F", "F/C=C\\F",              /* E and Z */
		"C/C=C/C=C\\C",                     /* E,Z-diene */
		"CC/C(C)=C(\\C)CC",                 /* tetrasubstituted */
		"O=C(O)/C=C/c1ccccc1",               /* trans-cinnamic acid */
		"C/C=N/O",                           /* E oxime */
		"C[C@H](N)/C=C/[C@@H](C)O",          /* centres and a double bond */
		"C[S@@](=O)c1ccccc1",                /* sulfoxide */
		"C[C@@H]1CCCC/C=C/CCC1",             /* E double bond in a ring */
		"OC[C@H]1O[C@@H](O)[C@H](O)[C@@H](O)[C@@H]1O", /* a glucopyranose */
		"C[C@H](Cl)C.[Na+].[Cl-]",           /* stereo next to other fragments */
	};
	json_t *records = json_array();
	for (size_t i = 0; i < sizeof(smiles) / sizeof(smiles[0]); i++) {
		qf_mol m;
		qf_err e;
		qf_mol_init(&m);
		qf_err_init(&e);
		if (qf_smiles_to_mol(smiles[i], NULL, &m, &e))
			fail_msg("%s: %s", smiles[i], e.message);
		json_array_append_new(records, record(smiles[i], &m));
		qf_mol_release(&m);
	}
	json_t *results = python_check(records);
	assert_minima(results, true);
	json_decref(results);
	json_decref(records);
}

/* A SMILES no try can embed: input.embedding naming it, the tries and what
 * failed; the same answer every time. */
static void test_failure(void **state)
{
	(void)state;
	const char *smiles = "c1c2cc3cc1CC3C2"; /* a bridged benzene ETKDG cannot place */
	char first[sizeof(((qf_err *)0)->message)];
	for (int k = 0; k < 2; k++) {
		qf_mol m;
		qf_err e;
		qf_mol_init(&m);
		qf_err_init(&e);
		double t0 = now();
		assert_int_equal(qf_smiles_to_mol(smiles, NULL, &m, &e), QF_EINVAL);
		printf("%s (%.1f s)\n", e.message, now() - t0);
		assert_string_equal(e.code, "input.embedding");
		assert_non_null(strstr(e.message, "SMILES 'c1c2cc3cc1CC3C2'"));
		char tries[64];
		snprintf(tries, sizeof(tries), "%d embeddings (seeds %d-%d) failed", QF_EMBED_MAX_TRIES,
		         0x5eed, 0x5eed + QF_EMBED_MAX_TRIES - 1);
		assert_non_null(strstr(e.message, tries));
		assert_non_null(strstr(e.message, "ETKDG found no coordinates"));
		if (k == 0)
			snprintf(first, sizeof(first), "%s", e.message);
		else
			assert_string_equal(e.message, first);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chembl),
		cmocka_unit_test(test_uff_and_salt),
		cmocka_unit_test(test_stereo),
		cmocka_unit_test(test_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
