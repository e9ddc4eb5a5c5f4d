/* Elements: symbols both ways, any case, atomic weights. */
#include "qftest.h"

#include <string.h>

#include "qf/mol.h"

static void test_symbols_round_trip(void **state)
{
	(void)state;
	for (int z = 1; z <= QF_MAX_Z; z++) {
		const char *s = qf_element_symbol(z);
		assert_non_null(s);
		assert_true(strlen(s) == 1 || strlen(s) == 2);
		assert_int_equal(qf_element_from_symbol(s), z);
	}
	assert_string_equal(qf_element_symbol(1), "H");
	assert_string_equal(qf_element_symbol(6), "C");
	assert_string_equal(qf_element_symbol(17), "Cl");
	assert_string_equal(qf_element_symbol(86), "Rn");
	assert_string_equal(qf_element_symbol(118), "Og");
	assert_null(qf_element_symbol(0));
	assert_null(qf_element_symbol(-1));
	assert_null(qf_element_symbol(119));
}

static void test_symbol_lookup(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int z;
	} rows[] = {
		{"C", 6},  {"c", 6},   {"CL", 17}, {"cl", 17}, {"cL", 17}, {"Cl", 17},
		{"h", 1},  {"Fe", 26}, {"FE", 26}, {"og", 118},
		/* not elements: query atoms, aliases, R-groups, junk */
		{"", 0},   {"A", 0},   {"Q", 0},   {"*", 0},   {"R#", 0},  {"L", 0},
		{"X", 0},  {"D", 0},   {"Xx", 0},  {"Cla", 0}, {"6", 0},   {"C1", 0},
		{" C", 0}, {"C ", 0},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int z = qf_element_from_symbol(rows[i].s);
		if (z != rows[i].z)
			fail_msg("'%s': got %d, expected %d", rows[i].s, z, rows[i].z);
	}
	assert_int_equal(qf_element_from_symbol(NULL), 0);
}

static void test_masses(void **state)
{
	(void)state;
	assert_close(qf_element_mass(1), 1.008, 1e-9);
	assert_close(qf_element_mass(6), 12.011, 1e-9);
	assert_close(qf_element_mass(7), 14.007, 1e-9);
	assert_close(qf_element_mass(8), 15.999, 1e-9);
	assert_close(qf_element_mass(17), 35.45, 1e-9);
	assert_close(qf_element_mass(35), 79.904, 1e-9);
	assert_close(qf_element_mass(26), 55.845, 1e-9);
	assert_close(qf_element_mass(92), 238.02891, 1e-9);
	assert_close(qf_element_mass(43), 97.0, 1e-9);  /* no stable isotope */
	assert_close(qf_element_mass(86), 222.0, 1e-9); /* Rn */
	assert_close(qf_element_mass(0), 0.0, 0.0);
	assert_close(qf_element_mass(119), 0.0, 0.0);
	/* Every element has a weight, and weights grow with Z except for the
	 * known inversions (Ar/K, Co/Ni, Te/I, Th/Pa, U/Np, Pu/Am, ...): never
	 * by more than 4 u, which catches a shifted table. */
	for (int z = 1; z <= QF_MAX_Z; z++) {
		assert_true(qf_element_mass(z) > 0.9 * z);
		if (z > 1 && qf_element_mass(z) < qf_element_mass(z - 1) - 4.0)
			fail_msg("mass of Z=%d (%g) is far below Z=%d (%g)", z, qf_element_mass(z), z - 1,
			         qf_element_mass(z - 1));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_symbols_round_trip),
		cmocka_unit_test(test_symbol_lookup),
		cmocka_unit_test(test_masses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
