/* The molecule type: lifecycle, formula, closest pair, validation. */
#include "qftest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qf/mol.h"
#include "qf/str.h"

/* Build a molecule from "Sym x y z; Sym x y z; ...". */
static void mol_from(qf_mol *m, const char *spec)
{
	qf_err e;
	qf_err_init(&e);
	qf_mol_init(m);
	int n = 0;
	for (const char *p = spec; *p; p++)
		n += *p == ';';
	n++;
	assert_int_equal(qf_mol_resize(m, n, &e), 0);
	const char *p = spec;
	for (int i = 0; i < n; i++) {
		char sym[4];
		int used = 0;
		if (sscanf(p, " %3s %lf %lf %lf ;%n", sym, &m->xyz[3 * i], &m->xyz[3 * i + 1],
		           &m->xyz[3 * i + 2], &used) < 4)
			fail_msg("bad spec near '%s'", p);
		m->z[i] = qf_element_from_symbol(sym);
		assert_true(m->z[i] > 0);
		p += used ? used : (int)strlen(p);
	}
}

static void test_lifecycle(void **state)
{
	(void)state;
	qf_mol m, c;
	qf_err e;
	qf_err_init(&e);
	qf_mol_init(&m);
	assert_int_equal(m.natoms, 0);
	assert_null(m.z);
	assert_int_equal(qf_mol_resize(&m, 3, &e), 0);
	assert_int_equal(m.natoms, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(m.z[i], 0);
		assert_true(m.xyz[3 * i] == 0.0 && m.xyz[3 * i + 2] == 0.0);
	}
	m.z[0] = 8;
	m.z[1] = m.z[2] = 1;
	m.xyz[4] = 0.757;
	m.charge = -1;
	m.uhf = 1;
	qf_strlcpy(m.name, "hydroxide-ish", sizeof(m.name));
	m.smiles = strdup("[OH-]");
	qf_mol_init(&c);
	assert_int_equal(qf_mol_copy(&c, &m, &e), 0);
	assert_int_equal(c.natoms, 3);
	assert_int_equal(c.z[0], 8);
	assert_close(c.xyz[4], 0.757, 0);
	assert_int_equal(c.charge, -1);
	assert_int_equal(c.uhf, 1);
	assert_string_equal(c.name, "hydroxide-ish");
	assert_string_equal(c.smiles, "[OH-]");
	assert_ptr_not_equal(c.smiles, m.smiles);
	assert_ptr_not_equal(c.z, m.z);
	/* resize replaces the arrays, keeps the rest */
	assert_int_equal(qf_mol_resize(&c, 5, &e), 0);
	assert_int_equal(c.natoms, 5);
	assert_int_equal(c.z[0], 0);
	assert_string_equal(c.name, "hydroxide-ish");
	/* copy onto a molecule that already holds atoms */
	assert_int_equal(qf_mol_copy(&c, &m, &e), 0);
	assert_int_equal(c.natoms, 3);
	assert_int_equal(qf_mol_copy(&c, &c, &e), 0);
	assert_int_equal(c.natoms, 3);
	assert_int_equal(qf_mol_electrons(&c), 8 + 1 + 1 + 1);
	/* limits */
	assert_int_equal(qf_mol_resize(&c, QF_MAX_ATOMS + 1, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.too_many_atoms");
	assert_int_equal(c.natoms, 3);
	assert_int_equal(qf_mol_resize(&c, -1, &e), QF_EINVAL);
	assert_int_equal(qf_mol_resize(&c, 0, &e), 0);
	assert_int_equal(c.natoms, 0);
	qf_mol_release(&c);
	qf_mol_release(&m);
	assert_null(m.smiles);
	assert_int_equal(m.natoms, 0);
}

static void test_formula(void **state)
{
	(void)state;
	static const struct {
		const char *atoms;
		const char *formula;
	} rows[] = {
		{"C 0 0 0; H 1 0 0; H 0 1 0; H 0 0 1; H 1 1 1", "CH4"},
		{"O 0 0 0; H 1 0 0; H 0 1 0", "H2O"},                   /* no C: alphabetical */
		{"N 0 0 0; H 1 0 0; H 0 1 0; H 0 0 1", "H3N"},
		{"Cl 0 0 0; Na 3 0 0", "ClNa"},
		{"Br 0 0 0; C 2 0 0; Cl 4 0 0; H 6 0 0; F 8 0 0; O 10 0 0", "CHBrClFO"},
		{"S 0 0 0; O 2 0 0; O 4 0 0; O 6 0 0; O 8 0 0", "O4S"},
		{"C 0 0 0; Cl 2 0 0; Cl 4 0 0; Cl 6 0 0; Cl 8 0 0", "CCl4"}, /* C without H */
		{"He 0 0 0", "He"},
		{"Ca 0 0 0; C 2 0 0; O 4 0 0; O 6 0 0; O 8 0 0", "CCaO3"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		qf_mol m;
		mol_from(&m, rows[i].atoms);
		char f[64];
		qf_mol_formula(&m, f, sizeof(f));
		if (strcmp(f, rows[i].formula) != 0)
			fail_msg("%s: got %s, expected %s", rows[i].atoms, f, rows[i].formula);
		qf_mol_release(&m);
	}
	/* caffeine, and truncation never overflows */
	qf_mol m;
	qf_err e;
	qf_err_init(&e);
	qf_mol_init(&m);
	assert_int_equal(qf_mol_resize(&m, 24, &e), 0);
	for (int i = 0; i < 24; i++)
		m.z[i] = i < 8 ? 6 : i < 18 ? 1 : i < 22 ? 7 : 8;
	char f[64];
	qf_mol_formula(&m, f, sizeof(f));
	assert_string_equal(f, "C8H10N4O2");
	char small[5];
	memset(small, 'x', sizeof(small));
	qf_mol_formula(&m, small, sizeof(small));
	assert_string_equal(small, "C8H1");
	qf_mol_formula(&m, small, 1);
	assert_string_equal(small, "");
	qf_mol_release(&m);
	qf_mol_init(&m);
	qf_mol_formula(&m, f, sizeof(f));
	assert_string_equal(f, "");
}

static double brute_min(const qf_mol *m, int *bi, int *bj)
{
	double best = INFINITY;
	for (int a = 0; a < m->natoms; a++)
		for (int b = a + 1; b < m->natoms; b++) {
			double d = 0;
			for (int k = 0; k < 3; k++) {
				double x = m->xyz[3 * a + k] - m->xyz[3 * b + k];
				d += x * x;
			}
			d = sqrt(d);
			if (d < best) {
				best = d;
				*bi = a;
				*bj = b;
			}
		}
	return best;
}

static double urand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (double)((*s >> 8) & 0xFFFFFF) / (double)0x1000000;
}

/* The grid must agree with all pairs, on dense, sparse, clustered and
 * degenerate sets, and on both sides of the brute-force cut-over. */
static void test_min_distance(void **state)
{
	(void)state;
	qf_err e;
	qf_err_init(&e);
	qf_mol m;
	qf_mol_init(&m);
	int i = 7, j = 7;
	assert_true(isinf(qf_mol_min_distance(&m, &i, &j)));
	assert_int_equal(qf_mol_resize(&m, 1, &e), 0);
	assert_true(isinf(qf_mol_min_distance(&m, &i, &j)));
	qf_mol_release(&m);

	static const struct {
		int n;
		double box;    /* cube edge, Angstrom */
		int clustered; /* 1: half the atoms packed in a corner; 2: a line */
	} sets[] = {
		{2, 5, 0},     {3, 5, 0},     {31, 10, 0},   {33, 10, 0},  {200, 15, 0},
		{500, 2000, 0}, {1500, 40, 1}, {1200, 3000, 1}, {800, 100, 2}, {3000, 30, 0},
	};
	unsigned seed = 12345;
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		qf_mol_init(&m);
		assert_int_equal(qf_mol_resize(&m, sets[s].n, &e), 0);
		for (int a = 0; a < m.natoms; a++) {
			m.z[a] = 6;
			double scale = sets[s].clustered == 1 && a % 2 ? 0.01 : 1.0;
			for (int k = 0; k < 3; k++)
				m.xyz[3 * a + k] = urand(&seed) * sets[s].box * scale;
			if (sets[s].clustered == 2)
				m.xyz[3 * a + 1] = m.xyz[3 * a + 2] = 0;
		}
		int bi = -1, bj = -1;
		double want = brute_min(&m, &bi, &bj);
		double got = qf_mol_min_distance(&m, &i, &j);
		if (got != want)
			fail_msg("set %zu (n=%d): grid %.12g, all pairs %.12g", s, sets[s].n, got, want);
		assert_true(i >= 0 && i < j && j < m.natoms);
		double dij = 0;
		for (int k = 0; k < 3; k++)
			dij += (m.xyz[3 * i + k] - m.xyz[3 * j + k]) * (m.xyz[3 * i + k] - m.xyz[3 * j + k]);
		assert_close(sqrt(dij), want, 1e-12);
		qf_mol_release(&m);
	}

	/* two coincident atoms among many: zero, and which ones */
	qf_mol_init(&m);
	assert_int_equal(qf_mol_resize(&m, 100, &e), 0);
	for (int a = 0; a < 100; a++)
		m.xyz[3 * a] = 1.5 * a;
	m.xyz[3 * 70] = m.xyz[3 * 20];
	assert_close(qf_mol_min_distance(&m, &i, &j), 0.0, 0.0);
	assert_int_equal(i, 20);
	assert_int_equal(j, 70);
	/* a non-finite coordinate: no meaningful answer */
	m.xyz[5] = NAN;
	assert_true(isnan(qf_mol_min_distance(&m, &i, &j)));
	assert_int_equal(i, -1);
	qf_mol_release(&m);
}

/* A 10,000-atom cubic lattice (1.1 A spacing) with one pair pushed to 0.3 A:
 * the grid finds it without a quadratic scan (no timing assertion: the test
 * timeout is the bound). */
static void test_min_distance_large(void **state)
{
	(void)state;
	qf_err e;
	qf_err_init(&e);
	qf_mol m;
	qf_mol_init(&m);
	assert_int_equal(qf_mol_resize(&m, QF_MAX_ATOMS, &e), 0);
	int a = 0;
	for (int x = 0; x < 22 && a < QF_MAX_ATOMS; x++)
		for (int y = 0; y < 22 && a < QF_MAX_ATOMS; y++)
			for (int z = 0; z < 22 && a < QF_MAX_ATOMS; z++, a++) {
				m.z[a] = 6;
				m.xyz[3 * a] = 1.1 * x;
				m.xyz[3 * a + 1] = 1.1 * y;
				m.xyz[3 * a + 2] = 1.1 * z;
			}
	int i, j;
	assert_close(qf_mol_min_distance(&m, &i, &j), 1.1, 1e-9);
	m.xyz[3 * 5000 + 2] = m.xyz[3 * 5001 + 2] - 0.3;
	assert_close(qf_mol_min_distance(&m, &i, &j), 0.3, 1e-9);
	assert_int_equal(i, 5000);
	assert_int_equal(j, 5001);
	assert_int_equal(qf_mol_validate(&m, 86, 0, 0, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.overlap");
	assert_non_null(strstr(e.message, "atoms 5001 (C) and 5002 (C) are 0.300 A apart"));
	qf_mol_release(&m);
}

static void test_validate(void **state)
{
	(void)state;
	static const struct {
		const char *what;
		const char *atoms; /* NULL: no atoms */
		int max_z, charge, uhf;
		const char *code; /* NULL: valid */
		const char *text; /* in the message */
	} rows[] = {
		{"water", "O 0 0 0.117; H 0 0.757 -0.467; H 0 -0.757 -0.467", 86, 0, 0, NULL, NULL},
		{"hydroxide", "O 0 0 0; H 0 0 0.97", 86, -1, 0, NULL, NULL},
		{"OH radical", "O 0 0 0; H 0 0 0.97", 86, 0, 1, NULL, NULL},
		{"triplet O2", "O 0 0 0; O 0 0 1.21", 86, 0, 2, NULL, NULL},
		{"H2 at 0.74", "H 0 0 0; H 0 0 0.74", 86, 0, 0, NULL, NULL},
		{"exactly 0.5 apart", "H 0 0 0; H 0 0 0.5", 86, 0, 0, NULL, NULL},
		{"radon for GFN2", "Rn 0 0 0", 86, 0, 0, NULL, NULL},
		{"francium for GFN-FF", "Fr 0 0 0", 103, 1, 0, NULL, NULL},
		{"no atoms", NULL, 86, 0, 0, "input.empty", "no atoms"},
		{"overlap", "C 0 0 0; H 0 0 1.09; H 0 0 1.3", 86, 0, 1, "input.overlap",
		 "atoms 2 (H) and 3 (H) are 0.210 A apart"},
		{"exact overlap", "C 0 0 0; C 0 0 0", 86, 0, 0, "input.overlap",
		 "atoms 1 (C) and 2 (C) are 0.000 A apart"},
		{"just under 0.5", "H 0 0 0; H 0 0 0.4999", 86, 0, 0, "input.overlap", "0.500 A apart"},
		{"francium for GFN2", "H 0 0 0; Fr 0 0 3", 86, 0, 0, "input.element",
		 "atom 2 is Fr (Z=87), but the method is parametrised only up to Rn (Z=86)"},
		{"odd electrons, uhf 0", "C 0 0 0; H 1.09 0 0; H -0.5 0.9 0", 86, 1, 0, "input.parity",
		 "odd number of electrons (7) with 0 unpaired electrons: set --uhf 1 or change --charge"},
		{"methyl uhf 0", "C 0 0 0; H 1.09 0 0; H -0.5 0.9 0; H -0.5 -0.9 0", 86, 0, 0,
		 "input.parity", "odd number of electrons (9) with 0 unpaired electrons: set --uhf 1"},
		{"even electrons, uhf 1", "O 0 0 0; H 0 0 0.97; H 0 0.9 -0.3", 86, 0, 1, "input.parity",
		 "even number of electrons (10) with 1 unpaired electrons: set --uhf 0"},
		{"H+ alone", "H 0 0 0", 86, 1, 0, "input.charge", "leaves 0 electrons"},
		{"too positive", "He 0 0 0", 86, 5, 0, "input.charge", "leaves -3 electrons"},
		{"uhf > electrons", "H 0 0 0; H 0 0 0.74", 86, 0, 4, "input.charge",
		 "4 unpaired electrons but the molecule has only 2 electrons"},
		{"uhf negative", "H 0 0 0; H 0 0 0.74", 86, 0, -2, "input.charge", "negative"},
		{"coordinate too large", "H 0 0 0; H 0 0 200000", 86, 0, 0, "input.coordinates",
		 "atom 2 (H) has z = 200000 A"},
	};
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		qf_mol m;
		qf_mol_init(&m);
		if (rows[r].atoms)
			mol_from(&m, rows[r].atoms);
		qf_err e;
		qf_err_init(&e);
		int rc = qf_mol_validate(&m, rows[r].max_z, rows[r].charge, rows[r].uhf, &e);
		if (!rows[r].code) {
			if (rc)
				fail_msg("%s: expected valid, got %s: %s", rows[r].what, e.code, e.message);
		} else {
			if (rc != QF_EINVAL || strcmp(e.code, rows[r].code) != 0)
				fail_msg("%s: expected %s, got rc %d code '%s' (%s)", rows[r].what,
				         rows[r].code, rc, e.code, e.message);
			if (!strstr(e.message, rows[r].text))
				fail_msg("%s: message '%s' lacks '%s'", rows[r].what, e.message,
				         rows[r].text);
			assert_int_equal(e.category, QF_CAT_VALIDATION);
		}
		qf_mol_release(&m);
	}

	/* non-finite coordinates, too many atoms, an atom that is no element */
	qf_mol m;
	qf_err e;
	qf_err_init(&e);
	mol_from(&m, "O 0 0 0; H 0 0 0.97");
	m.xyz[4] = INFINITY;
	assert_int_equal(qf_mol_validate(&m, 86, -1, 0, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.coordinates");
	assert_non_null(strstr(e.message, "atom 2 (H) has a non-finite y coordinate"));
	m.xyz[4] = NAN;
	assert_int_equal(qf_mol_validate(&m, 86, -1, 0, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.coordinates");
	m.xyz[4] = 0;
	m.z[1] = 0;
	assert_int_equal(qf_mol_validate(&m, 86, -1, 0, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.element");
	qf_mol_release(&m);
	qf_mol_init(&m);
	m.natoms = QF_MAX_ATOMS + 1; /* as if filled by hand: refused before any look */
	assert_int_equal(qf_mol_validate(&m, 86, 0, 0, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.too_many_atoms");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_formula),
		cmocka_unit_test(test_min_distance),
		cmocka_unit_test(test_min_distance_large),
		cmocka_unit_test(test_validate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
