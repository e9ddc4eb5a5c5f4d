/*
 * xtbout.json of xtb 6.5.1: every case that wrote one, against values read
 * from the file itself (8 decimals: tolerance 1e-8), and a table of broken
 * files (truncated, wrong types and lengths, the unescaped "program call")
 * that must give xtb.parse and leave the result untouched.
 */
#include "qftest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qf/xtbparse.h"
#include "xtbcase.h"

#define EBOHR 2.541746

typedef struct json_row {
	const char *c;
	const char *method;
	double energy, gap, eel;
	double dipole[3]; /* e*Bohr, as in the file */
	int natoms;
	double q0;
	int norb, homo;
	double orb3; /* orbital energy 4 (index 3), eV */
	int nfreq, nimag;
	double f6, ir6, rm6; /* mode 7 (index 6) */
} json_row;

static const json_row json_rows[] = {
	{"gfn2_sp_water", "GFN2-xTB", -5.07032513, 14.64572352, -5.10522690, {0, 0, -0.89636557}, 3,
	 -0.56331856, 6, 3, -12.18010720, 0, 0, 0, 0, 0},
	{"gfn2_sp_acetate", "GFN2-xTB", -14.16306354, 5.22456493, -14.2768783,
	 {-4.34997045, -0.00484266, 0.0}, 7, -0.11600885, 19, 11, -9.47856957, 0, 0, 0, 0, 0},
	/* open shell: occupations 2 2 2 1 0 0 0, the SOMO is the HOMO */
	{"gfn2_sp_methyl", "GFN2-xTB", -3.562659, 11.96387601, -3.61713295, {-1.1e-07, 0, 0}, 4,
	 -0.14880963, 7, 3, -9.01436382, 0, 0, 0, 0, 0},
	{"gfn1_sp_caffeine", "GFN1-xTB", -44.51364078, 3.42954287, -44.99777735,
	 {-0.82953044, 1.68707593, -0.00191685}, 24, 0.05844298, 76, 36, -21.3025997, 0, 0, 0, 0, 0},
	{"gfn0_sp_water", "GFN0-xTB", -4.36673264, 6.13588248, -4.36260372, {0, 0, -0.78212717}, 3,
	 -0.70274755, 8, 3, -11.69232624, 0, 0, 0, 0, 0},
	{"gfn2_hess_ammonia_planar", "GFN2-xTB", -4.40891703, 8.34589408, -4.44924113, {7e-08, 0, 0},
	 4, -0.41628925, 7, 3, -9.35814373, 12, 1, -677.59442439, 538.17868248, 3.31591106},
	{"gfn2_ohess_water", "GFN2-xTB", -5.07054417, 14.37357178, -5.10522690, {0, 0, -0.89636557}, 3,
	 -0.56461491, 6, 3, -12.14649220, 9, 0, 1540.86262104, 133.37712423, 2.14575441},
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(json_rows) / sizeof(json_rows[0]); k++) {
		const json_row *w = &json_rows[k];
		print_message("case %s\n", w->c);
		char *text = xc_need(w->c, "xtbout.json");
		qf_result r;
		qf_metrics m;
		qf_err e;
		qf_result_init(&r);
		qf_metrics_init(&m);
		qf_err_init(&e);
		if (qf_xtb_parse_json(text, &r, &m, &e))
			fail_msg("%s: %s", w->c, e.message);
		assert_string_equal(m.method, w->method);
		assert_string_equal(m.xtb_version, "6.5.1");
		assert_true(r.has_energy);
		assert_close(r.total_energy, w->energy, 1e-8);
		assert_true(r.has_gap);
		assert_close(r.gap_ev, w->gap, 1e-8);
		assert_true(r.has_electronic_energy);
		assert_close(r.electronic_energy, w->eel, 1e-8);
		assert_true(r.has_dipole);
		double norm = 0;
		for (int i = 0; i < 3; i++) {
			assert_close(r.dipole[i], w->dipole[i] * EBOHR, 1e-7);
			norm += w->dipole[i] * w->dipole[i];
		}
		assert_close(r.dipole_debye, sqrt(norm) * EBOHR, 1e-7);
		assert_int_equal(r.natoms, w->natoms);
		assert_close(r.charges[0], w->q0, 1e-9);
		assert_int_equal(r.norbitals, w->norb);
		assert_int_equal(r.homo_index, w->homo);
		assert_close(r.orbital_energies_ev[3], w->orb3, 1e-9);
		assert_true(r.occupations[w->homo] > 0.5);
		assert_int_equal(r.nfreq, w->nfreq);
		if (w->nfreq) {
			assert_int_equal(r.n_imaginary, w->nimag);
			assert_close(r.frequencies[6], w->f6, 1e-8);
			assert_close(r.ir_intensities[6], w->ir6, 1e-8);
			assert_close(r.reduced_masses[6], w->rm6, 1e-8);
		} else {
			assert_null(r.frequencies);
		}
		/* JSON does not carry these */
		assert_false(r.has_thermo);
		assert_null(r.gradient);
		assert_null(r.bonds);
		qf_result_release(&r);
		free(text);
	}
}

/* The file replaces what the result held; parsing twice leaks nothing. */
static void test_twice(void **state)
{
	(void)state;
	char *text = xc_need("gfn2_ohess_water", "xtbout.json");
	qf_result r;
	qf_err e;
	qf_result_init(&r);
	qf_err_init(&e);
	assert_int_equal(qf_xtb_parse_json(text, &r, NULL, &e), 0);
	assert_int_equal(qf_xtb_parse_json(text, &r, NULL, &e), 0);
	assert_int_equal(r.nfreq, 9);
	qf_result_release(&r);
	free(text);
}

/* ---- broken files -------------------------------------------------------- */

typedef struct bad_json {
	const char *what;
	const char *text; /* "@REAL@" stands for the water file, "@HALF@" for its first half,
	                     "@QUOTE@" for it with a '"' in the program call */
	int natoms;       /* r->natoms before parsing */
	const char *part; /* the message must contain it */
} bad_json;

static const bad_json bad_rows[] = {
	{"empty", "", 0, "could not parse xtbout.json"},
	{"only a brace", "{", 0, "could not parse xtbout.json"},
	{"truncated file", "@HALF@", 0, "could not parse xtbout.json"},
	{"unescaped quote in the program call", "@QUOTE@", 0, "could not parse xtbout.json line 35"},
	{"an array", "[1, 2]", 0, "not a JSON object"},
	{"a number", "3", 0, "could not parse xtbout.json"},
	{"NaN literal", "{\"total energy\": NaN}", 0, "could not parse"},
	{"duplicate key", "{\"total energy\": 1, \"total energy\": 2}", 0, "could not parse"},
	{"energy a string", "{\"total energy\": \"-5.0\"}", 0, "'total energy' is not a number"},
	{"energy null", "{\"total energy\": null}", 0, "'total energy' is not a number"},
	{"gap an array", "{\"HOMO-LUMO gap/eV\": [1]}", 0, "'HOMO-LUMO gap/eV' is not a number"},
	{"electronic energy a bool", "{\"electronic energy\": true}", 0, "not a number"},
	{"dipole two components", "{\"dipole\": [0.1, 0.2]}", 0, "3 components"},
	{"dipole four components", "{\"dipole\": [0.1, 0.2, 0.3, 0.4]}", 0, "'dipole' has 4 values"},
	{"dipole a number", "{\"dipole\": 0.5}", 0, "'dipole' is not an array"},
	{"dipole with a string", "{\"dipole\": [0.1, \"x\", 0.3]}", 0, "'dipole' value 2 is not a number"},
	{"charges for another molecule", "{\"partial charges\": [0.1, -0.1]}", 3,
	 "2 values for 3 atoms"},
	{"charges empty", "{\"partial charges\": []}", 0, "'partial charges' is empty"},
	{"charges nested", "{\"partial charges\": [[0.1], [0.2]]}", 0, "value 1 is not a number"},
	{"orbitals without occupations", "{\"orbital energies/eV\": [-1, 2]}", 0,
	 "2 orbital energies but 0 occupations"},
	{"occupations without orbitals", "{\"fractional occupation\": [2, 0]}", 0,
	 "0 orbital energies but 2 occupations"},
	{"orbitals and occupations differ", "{\"orbital energies/eV\": [-1, 2], "
	 "\"fractional occupation\": [2]}", 0, "2 orbital energies but 1 occupations"},
	{"reduced masses longer than frequencies", "{\"vibrational frequencies/rcm\": [1, 2], "
	 "\"reduced masses\": [1, 2, 3]}", 0, "2 frequencies but 3 reduced masses"},
	{"IR intensities without frequencies", "{\"IR intensities/amu\": [1, 2]}", 0,
	 "0 frequencies"},
	{"frequencies an object", "{\"vibrational frequencies/rcm\": {\"a\": 1}}", 0, "not an array"},
	{"method a number", "{\"method\": 2}", 0, "'method' is not a string"},
	{"version an array", "{\"xtb version\": [6, 5, 1]}", 0, "'xtb version' is not a string"},
	{"electrons a real", "{\"number of electrons\": 8.5}", 0, "'number of electrons' is not an integer"},
	{"unpaired a string", "{\"number of unpaired electrons\": \"1\"}", 0, "not an integer"},
	/* a valid part before the broken one is not stored either */
	{"valid energy, broken dipole", "{\"total energy\": -1.0, \"dipole\": [1, 2]}", 0, "3 components"},
};

static char *make_text(const char *spec, const char *real)
{
	if (!strcmp(spec, "@REAL@"))
		return strdup(real);
	if (!strcmp(spec, "@HALF@"))
		return strndup(real, strlen(real) / 2);
	if (!strcmp(spec, "@QUOTE@")) {
		/* what xtb writes for an input file named  we"ird.xyz */
		const char *at = strstr(real, "geometry.xyz");
		assert_non_null(at);
		size_t pre = (size_t)(at - real);
		char *s = malloc(strlen(real) + 16);
		assert_non_null(s);
		memcpy(s, real, pre);
		memcpy(s + pre, "we\"ird.xyz", 10);
		memcpy(s + pre + 10, at + 12, strlen(at + 12) + 1);
		return s;
	}
	return strdup(spec);
}

static void test_broken(void **state)
{
	(void)state;
	char *real = xc_need("gfn2_sp_water", "xtbout.json");
	for (size_t k = 0; k < sizeof(bad_rows) / sizeof(bad_rows[0]); k++) {
		const bad_json *b = &bad_rows[k];
		char *text = make_text(b->text, real);
		assert_non_null(text);
		qf_result r;
		qf_metrics m;
		qf_err e;
		qf_result_init(&r);
		qf_metrics_init(&m);
		qf_err_init(&e);
		r.natoms = b->natoms;
		int rc = qf_xtb_parse_json(text, &r, &m, &e);
		if (rc != QF_EUNKNOWN || strcmp(e.code, "xtb.parse") || e.category != QF_CAT_UNKNOWN)
			fail_msg("%s: expected xtb.parse, got %d %s: %s", b->what, rc, e.code, e.message);
		if (!strstr(e.message, b->part))
			fail_msg("%s: message '%s' lacks '%s'", b->what, e.message, b->part);
		assert_false(r.has_energy);
		assert_false(r.has_dipole);
		assert_null(r.charges);
		assert_null(r.orbital_energies_ev);
		assert_null(r.frequencies);
		assert_int_equal(r.natoms, b->natoms);
		assert_string_equal(m.method, "");
		qf_result_release(&r);
		free(text);
	}
	/* the untouched file parses: the rows above fail for their own reason */
	qf_result r;
	qf_err e;
	qf_result_init(&r);
	qf_err_init(&e);
	char *ok = make_text("@REAL@", real);
	assert_int_equal(qf_xtb_parse_json(ok, &r, NULL, &e), 0);
	qf_result_release(&r);
	free(ok);
	free(real);
}

/* Keys are optional: an empty object is valid and sets nothing; a NULL text
 * is a broken file. */
static void test_optional(void **state)
{
	(void)state;
	qf_result r;
	qf_err e;
	qf_result_init(&r);
	qf_err_init(&e);
	assert_int_equal(qf_xtb_parse_json("{}", &r, NULL, &e), 0);
	assert_false(r.has_energy);
	assert_int_equal(r.homo_index, -1);
	assert_int_equal(qf_xtb_parse_json(NULL, &r, NULL, &e), QF_EUNKNOWN);
	/* more charges than QF_MAX_ATOMS */
	size_t n = (size_t)QF_MAX_ATOMS + 1;
	char *big = malloc(n * 4 + 64);
	assert_non_null(big);
	size_t at = 0;
	at += (size_t)snprintf(big, 64, "{\"partial charges\": [");
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(big + at, 8, i ? ",0.1" : "0.1");
	snprintf(big + at, 8, "]}");
	assert_int_equal(qf_xtb_parse_json(big, &r, NULL, &e), QF_EUNKNOWN);
	assert_non_null(strstr(e.message, "more than"));
	free(big);
	qf_result_release(&r);
}

/* Every prefix of a real file (cut as a killed xtb may leave it) fails
 * cleanly; only the whole file parses. */
static void test_every_prefix(void **state)
{
	(void)state;
	char *full = xc_need("gfn2_hess_ammonia_planar", "xtbout.json");
	size_t n = strlen(full);
	for (size_t cut = 0; cut <= n; cut++) {
		char *text = strndup(full, cut);
		assert_non_null(text);
		qf_result r;
		qf_err e;
		qf_result_init(&r);
		qf_err_init(&e);
		int rc = qf_xtb_parse_json(text, &r, NULL, &e);
		/* trailing whitespace after the closing brace may be cut */
		bool whole = strspn(full + cut, " \t\r\n") == n - cut;
		if (whole) {
			assert_int_equal(rc, 0);
		} else if (rc != QF_EUNKNOWN || strcmp(e.code, "xtb.parse")) {
			fail_msg("cut at %zu: %d %s", cut, rc, e.code);
		}
		qf_result_release(&r);
		free(text);
	}
	free(full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_twice),
		cmocka_unit_test(test_broken),
		cmocka_unit_test(test_optional),
		cmocka_unit_test(test_every_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
