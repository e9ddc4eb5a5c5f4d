/* SMILES through RDKit: hydrogens, 3D embedding, charge, radicals, errors. */
#include "qftest.h"

#include <math.h>
#include <string.h>

#include "qf/molio.h"

static double dist(const qf_mol *m, int i, int j)
{
	double d = 0;
	for (int k = 0; k < 3; k++) {
		double x = m->xyz[3 * i + k] - m->xyz[3 * j + k];
		d += x * x;
	}
	return sqrt(d);
}

static void test_valid(void **state)
{
	(void)state;
	static const struct {
		const char *smiles;
		int natoms;
		int charge;
		int uhf;
		const char *formula;
	} rows[] = {
		{"CCO", 9, 0, 0, "C2H6O"},
		{"CC(=O)[O-]", 7, -1, 0, "C2H3O2"},
		{"C[NH3+]", 8, 1, 0, "CH6N"},
		{"[CH3]", 4, 0, 1, "CH3"},
		{"Cn1cnc2c1c(=O)n(C)c(=O)n2C", 24, 0, 0, "C8H10N4O2"}, /* caffeine */
		{"CC(=O)[O-].[Na+]", 8, 0, 0, "C2H3NaO2"},
		{"[NH3+]CC(=O)[O-]", 10, 0, 0, "C2H5NO2"}, /* glycine zwitterion */
		{"O=S(=O)([O-])[O-]", 5, -2, 0, "O4S"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		qf_mol m;
		qf_err e;
		qf_mol_init(&m);
		qf_err_init(&e);
		int rc = qf_smiles_to_mol(rows[i].smiles, "named", &m, &e);
		if (rc)
			fail_msg("%s: %s", rows[i].smiles, e.message);
		assert_int_equal(m.natoms, rows[i].natoms);
		assert_int_equal(m.charge, rows[i].charge);
		assert_int_equal(m.uhf, rows[i].uhf);
		assert_string_equal(m.name, "named");
		assert_non_null(m.smiles);
		char formula[64];
		qf_mol_formula(&m, formula, sizeof(formula));
		assert_string_equal(formula, rows[i].formula);
		/* A real 3D structure: nothing overlapping, finite, not flat. */
		int a, b;
		double dmin = qf_mol_min_distance(&m, &a, &b);
		assert_true(dmin > 0.85);
		qf_mol_release(&m);
	}
}

static void test_geometry_is_chemical_and_deterministic(void **state)
{
	(void)state;
	qf_mol m1, m2;
	qf_err e;
	qf_mol_init(&m1);
	qf_mol_init(&m2);
	qf_err_init(&e);
	assert_int_equal(qf_smiles_to_mol("CCO", NULL, &m1, &e), 0);
	assert_int_equal(qf_smiles_to_mol("CCO", NULL, &m2, &e), 0);
	/* Heavy atoms first in SMILES order: C0 C1 O2. MMFF C-C 1.51, C-O 1.42. */
	assert_int_equal(m1.z[0], 6);
	assert_int_equal(m1.z[2], 8);
	assert_close(dist(&m1, 0, 1), 1.51, 0.05);
	assert_close(dist(&m1, 1, 2), 1.42, 0.05);
	/* Fixed seed: the same SMILES embeds identically. */
	assert_int_equal(m1.natoms, m2.natoms);
	assert_memory_equal(m1.xyz, m2.xyz, 3 * sizeof(double) * (size_t)m1.natoms);
	/* Without a name, the canonical SMILES names it. */
	assert_string_equal(m1.name, "CCO");
	assert_string_equal(m1.smiles, "CCO");
	qf_mol_release(&m1);
	qf_mol_release(&m2);
}

static void test_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *smiles;
		const char *code;
		const char *in_message;
	} rows[] = {
		{"", "input.smiles", "empty"},
		{"C1CC", "input.smiles", "C1CC"},          /* unclosed ring */
		{"C(C", "input.smiles", "C(C"},            /* unclosed branch */
		{"Xx", "input.smiles", "Xx"},              /* not an element */
		{"c1cccc1", "input.smiles", "c1cccc1"},    /* cannot kekulize */
		{"C(=O)(=O)(=O)=O", "input.smiles", "valence"}, /* hypervalent carbon */
		{"*C", "input.smiles", "dummy"},
		{"CC)", "input.smiles", "CC)"},
		{NULL, "input.smiles", "longer than"}, /* QF_MAX_SMILES + 1 characters */
	};
	char longest[QF_MAX_SMILES + 2];
	memset(longest, 'C', QF_MAX_SMILES + 1);
	longest[QF_MAX_SMILES + 1] = '\0';
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		qf_mol m;
		qf_err e;
		qf_mol_init(&m);
		qf_err_init(&e);
		const char *smiles = rows[i].smiles ? rows[i].smiles : longest;
		int rc = qf_smiles_to_mol(smiles, NULL, &m, &e);
		if (rc == 0)
			fail_msg("'%.40s' was accepted", smiles);
		assert_int_equal(e.category, QF_CAT_VALIDATION);
		assert_string_equal(e.code, rows[i].code);
		if (!strstr(e.message, rows[i].in_message))
			fail_msg("'%.40s': message '%s' does not mention '%s'", smiles, e.message,
			         rows[i].in_message);
		qf_mol_release(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_geometry_is_chemical_and_deterministic),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
