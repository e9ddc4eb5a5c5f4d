/*
 * Text parsers of xtb 6.5.1 output (stdout, stderr, charges, wbo, xtbopt.xyz,
 * xtbopt.log, vibspectrum, gradient) on the real outputs in tests/data/xtb/,
 * and tables of malformed input for each structured file. The expected
 * values were read from the case files themselves with grep; tolerances
 * follow the digits xtb prints.
 */
#include "qftest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qf/xtbparse.h"
#include "xtbcase.h"

/* ---- stdout and stderr of every case --------------------------------------- */

typedef struct out_row {
	const char *c;
	bool normal, abnormal, fatal;
	const char *fatal_part; /* text fatal_message must contain, or NULL */
	bool scc_ok, scc_failed;
	int scc_iterations;
	bool opt_ok, opt_failed;
	int opt_cycles;
	bool refused, hess_incomplete, sigterm;
	double energy;  /* last "| TOTAL ENERGY" box, NAN when none */
	double wall;    /* " * wall-time" of the total, -1 when none */
	const char *method;
} out_row;

static const out_row out_rows[] = {
	{"gfn2_sp_water", true, false, false, NULL, true, false, 9, false, false, -1, false, false,
	 false, -5.070325128562, 0.034, "GFN2-xTB"},
	{"gfn2_sp_caffeine", true, false, false, NULL, true, false, 11, false, false, -1, false, false,
	 false, -42.153937405437, 0.076, "GFN2-xTB"},
	{"gfn2_sp_caffeine_alpb", true, false, false, NULL, true, false, 11, false, false, -1, false,
	 false, false, -42.170817694076, 0.067, "GFN2-xTB"},
	{"gfn1_sp_caffeine", true, false, false, NULL, true, false, 11, false, false, -1, false, false,
	 false, -44.513640784483, 0.111, "GFN1-xTB"},
	/* GFN0 is not self-consistent: no SCC report */
	{"gfn0_sp_water", true, false, false, NULL, false, false, -1, false, false, -1, false, false,
	 false, -4.366732635098, 0.030, "GFN0-xTB"},
	{"gfnff_sp_caffeine", true, false, false, NULL, false, false, -1, false, false, -1, false,
	 false, false, -4.671402992084, 0.013, "GFN-FF"},
	/* the GFN2 geometry is not a GFN-FF minimum */
	{"gfnff_hess_water", true, false, false, NULL, false, false, -1, false, false, -1, false, true,
	 false, -0.327252506734, 0.003, "GFN-FF"},
	{"gfn2_opt_ethanol", true, false, false, NULL, true, false, 3, true, false, 10, false, false,
	 false, -11.391866195492, 0.071, "GFN2-xTB"},
	{"gfn2_ohess_water", true, false, false, NULL, true, false, 3, true, false, 4, false, false,
	 false, -5.070544172184, 0.036, "GFN2-xTB"},
	{"gfn2_hess_ammonia_planar", true, false, false, NULL, true, false, 8, false, false, -1, false,
	 true, false, -4.408917034935, 0.041, "GFN2-xTB"},
	{"gfn2_sp_acetate", true, false, false, NULL, true, false, 9, false, false, -1, false, false,
	 false, -14.163063537839, 0.023, "GFN2-xTB"},
	{"gfn2_sp_methyl", true, false, false, NULL, true, false, 8, false, false, -1, false, false,
	 false, -3.562658999223, 0.037, "GFN2-xTB"},
	{"fail_scc_caffeine", false, true, true,
	 "-1- scf: Self consistent charge iterator did not converge", false, true, 2, false, false,
	 -1, false, false, false, NAN, -1, "GFN2-xTB"},
	/* exit 0 and .xtboptok, but the optimisation ran out of cycles */
	{"fail_opt_cycles_ethanol", true, false, false, NULL, true, false, 7, false, true, 2, false,
	 false, false, -11.391118124618, 0.029, "GFN2-xTB"},
	/* the SCC of the third cycle fails; the cycle count comes from the banners */
	{"fail_opt_scc_li4", false, true, true, "-9- Geometry optimization failed", false, true, 30,
	 false, false, 3, false, false, false, NAN, -1, "GFN2-xTB"},
	{"fail_solvent", false, true, true, "'nonsense' is not parametrized", false, false, -1, false,
	 false, -1, false, false, false, NAN, -1, ""},
	{"fail_garbage", false, true, true, "-1- Error: Could not read number of atoms", false, false,
	 -1, false, false, -1, false, false, false, NAN, -1, ""},
	{"fail_overlap", false, true, true, "-2- XTB REFUSES TO CONTINUE WITH THIS CALCULATION!",
	 false, false, -1, false, false, -1, true, false, false, NAN, -1, ""},
	{"fail_gfn0_segv", false, false, false, NULL, false, false, -1, false, false, -1, false, false,
	 false, NAN, -1, "GFN0-xTB"},
	{"fail_gfn0_alloc", false, false, false, NULL, false, false, -1, false, false, -1, false,
	 false, false, NAN, -1, "GFN0-xTB"},
	/* the first SCC converged, then SIGTERM during the Hessian */
	{"fail_sigterm_alkane", false, false, false, NULL, true, false, 9, false, false, -1, false,
	 false, true, NAN, -1, "GFN2-xTB"},
};

static void test_stdout_cases(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(out_rows) / sizeof(out_rows[0]); k++) {
		const out_row *w = &out_rows[k];
		print_message("case %s\n", w->c);
		char *out = xc_need(w->c, "stdout.log");
		char *err = xc_need(w->c, "stderr.log");
		qf_result r;
		qf_metrics m;
		qf_xtb_outinfo info;
		qf_result_init(&r);
		qf_metrics_init(&m);
		qf_xtb_outinfo_init(&info);
		assert_int_equal(qf_xtb_parse_stdout(out, &r, &m, &info), 0);
		qf_xtb_parse_stderr(err, &info);
		assert_int_equal(info.normal_termination, w->normal);
		assert_int_equal(info.abnormal_termination, w->abnormal);
		assert_int_equal(info.fatal_error, w->fatal);
		if (w->fatal_part) {
			if (!strstr(info.fatal_message, w->fatal_part))
				fail_msg("%s: fatal message '%s' lacks '%s'", w->c, info.fatal_message,
				         w->fatal_part);
		} else {
			assert_string_equal(info.fatal_message, "");
		}
		assert_int_equal(info.scc_converged, w->scc_ok);
		assert_int_equal(info.scc_not_converged, w->scc_failed);
		assert_int_equal(info.scc_iterations, w->scc_iterations);
		assert_int_equal(m.scf_cycles, w->scc_iterations);
		assert_int_equal(info.opt_converged, w->opt_ok);
		assert_int_equal(info.opt_not_converged, w->opt_failed);
		assert_int_equal(info.opt_cycles, w->opt_cycles);
		assert_int_equal(info.refused, w->refused);
		assert_int_equal(info.hessian_incomplete_opt, w->hess_incomplete);
		assert_int_equal(info.sigterm_received, w->sigterm);
		assert_false(info.has_json);
		assert_false(info.xtboptok);
		if (isnan(w->energy)) {
			assert_false(r.has_energy);
		} else {
			assert_true(r.has_energy);
			assert_close(r.total_energy, w->energy, 1e-12);
		}
		if (w->wall < 0)
			assert_true(m.xtb_wall_time < 0);
		else
			assert_close(m.xtb_wall_time, w->wall, 1e-9);
		assert_string_equal(m.method, w->method);
		if (strcmp(w->c, "fail_gfn0_segv") && strcmp(w->c, "fail_gfn0_alloc"))
			assert_string_equal(m.xtb_version, "6.5.1");
		qf_result_release(&r);
		free(out);
		free(err);
	}
}

/* The other values of the final boxes, the thermochemistry and the dipole. */
static void test_stdout_values(void **state)
{
	(void)state;
	qf_result r;
	qf_metrics m;
	qf_xtb_outinfo info;

	/* GFN2: "molecular dipole:" block, total in Debye; x y z in e*Bohr */
	char *out = xc_need("gfn2_sp_water", "stdout.log");
	qf_result_init(&r);
	qf_metrics_init(&m);
	qf_xtb_outinfo_init(&info);
	qf_xtb_parse_stdout(out, &r, &m, &info);
	assert_close(r.gap_ev, 14.645723523064, 1e-12);
	assert_close(r.gradient_norm, 0.008098996263, 1e-12);
	assert_true(m.has_gradient_norm);
	assert_close(m.gradient_norm, 0.008098996263, 1e-12);
	assert_close(r.electronic_energy, -5.105226899823, 1e-12);
	assert_true(r.has_dipole);
	assert_close(r.dipole_debye, 2.278, 1e-9);
	assert_close(r.dipole[2], -0.896 * 2.541746, 1e-9);
	assert_false(r.has_thermo);
	qf_result_release(&r);
	free(out);

	/* GFN0: "dipole moment from electron density (au)" block */
	out = xc_need("gfn0_sp_water", "stdout.log");
	qf_result_init(&r);
	qf_xtb_outinfo_init(&info);
	qf_xtb_parse_stdout(out, &r, NULL, &info);
	assert_true(r.has_dipole);
	assert_close(r.dipole_debye, 1.853, 1e-9);
	assert_close(r.dipole[2], -0.7288 * 2.541746, 1e-9);
	assert_false(r.has_electronic_energy); /* no SCC */
	qf_result_release(&r);
	free(out);

	/* Hessian: thermochemistry */
	out = xc_need("gfn2_hess_ammonia_planar", "stdout.log");
	qf_result_init(&r);
	qf_xtb_outinfo_init(&info);
	qf_xtb_parse_stdout(out, &r, NULL, &info);
	assert_true(r.has_thermo);
	assert_close(r.zpve, 0.027361741441, 1e-12);
	assert_close(r.enthalpy, -4.377771048821, 1e-12);
	assert_close(r.free_energy, -4.399005682347, 1e-12);
	assert_close(r.g_rrho, 0.009911352588, 1e-12);
	assert_close(r.thermo_temperature, 298.15, 1e-9);
	/* the warning block is not a fatal error */
	assert_false(info.fatal_error);
	qf_result_release(&r);
	free(out);

	out = xc_need("gfn2_ohess_water", "stdout.log");
	qf_result_init(&r);
	qf_xtb_outinfo_init(&info);
	qf_xtb_parse_stdout(out, &r, NULL, &info);
	assert_true(r.has_thermo);
	assert_close(r.zpve, 0.020105727834, 1e-12);
	assert_close(r.enthalpy, -5.046657454772, 1e-12);
	assert_close(r.free_energy, -5.068057867155, 1e-12);
	assert_close(r.g_rrho, 0.002486305029, 1e-12);
	/* the last SCC summary, of the final singlepoint */
	assert_close(r.electronic_energy, -5.104784589198, 1e-12);
	assert_close(r.dipole_debye, 2.218, 1e-9);
	qf_result_release(&r);
	free(out);
}

/* Free text never fails: truncated boxes, junk numbers, no newline at the
 * end, overlong lines. */
static void test_stdout_robust(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		bool energy;
		int scc;
	} rows[] = {
		{"", false, -1},
		{"| TOTAL ENERGY", false, -1},
		{"          | TOTAL ENERGY   abc Eh   |\n", false, -1},
		{"          | TOTAL ENERGY   -1.5 Eh   |", true, -1},
		{"          | TOTAL ENERGY   1e999 Eh   |\n", false, -1},
		{"          | TOTAL ENERGY   nan Eh   |\n", false, -1},
		{"   *** convergence criteria satisfied after ", false, -1},
		{"   *** convergence criteria satisfied after x iterations ***", false, -1},
		{"   *** convergence criteria satisfied after -3 iterations ***", false, -1},
		{"   *** convergence criteria satisfied after 12 iterations ***", false, 12},
		{"[ERROR] Program stopped due to fatal error\n-1-", false, -1},
		{"molecular dipole:\n full: 1 2\n", false, -1},
		{"total:\n * wall-time: 0 d, x h, 0 min, 0.1 sec\n", false, -1},
		{"\r\n\r\n| TOTAL ENERGY  -2.0 Eh |\r\n", true, -1},
	};
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		qf_result r;
		qf_metrics m;
		qf_xtb_outinfo info;
		qf_result_init(&r);
		qf_metrics_init(&m);
		qf_xtb_outinfo_init(&info);
		assert_int_equal(qf_xtb_parse_stdout(rows[k].text, &r, &m, &info), 0);
		assert_int_equal(r.has_energy, rows[k].energy);
		assert_int_equal(info.scc_iterations, rows[k].scc);
		assert_false(r.has_dipole);
		assert_true(m.xtb_wall_time < 0);
	}
	/* a line far longer than QF_MAX_LINE, then a box */
	size_t n = 3 * QF_MAX_LINE;
	char *big = malloc(n + 64);
	assert_non_null(big);
	memset(big, 'x', n);
	static const char tail[] = "\n| TOTAL ENERGY  -3.25 Eh |\n";
	memcpy(big + n, tail, sizeof(tail));
	qf_result r;
	qf_xtb_outinfo info;
	qf_result_init(&r);
	qf_xtb_outinfo_init(&info);
	assert_int_equal(qf_xtb_parse_stdout(big, &r, NULL, &info), 0);
	assert_close(r.total_energy, -3.25, 0);
	free(big);
	assert_int_equal(qf_xtb_parse_stdout(NULL, &r, NULL, &info), QF_EINVAL);
	qf_xtb_parse_stderr(NULL, &info);
	qf_xtb_parse_stderr("normal termination of xtb", &info);
	assert_true(info.normal_termination);
}

/* ---- structured files on real data ---------------------------------------- */

static void parse_ok(int rc, const qf_err *e)
{
	if (rc)
		fail_msg("parse failed (%d): %s", rc, e->message);
}

static void test_files_real(void **state)
{
	(void)state;
	qf_err e;
	qf_err_init(&e);
	qf_result r;
	qf_result_init(&r);

	char *t = xc_need("gfn2_sp_caffeine", "charges");
	parse_ok(qf_xtb_parse_charges(t, 24, &r, &e), &e);
	free(t);
	assert_int_equal(r.natoms, 24);
	assert_close(r.charges[0], -0.05476045, 1e-12);
	assert_close(r.charges[23], 0.06922908, 1e-12);

	t = xc_need("gfn2_sp_caffeine", "wbo");
	parse_ok(qf_xtb_parse_wbo(t, 24, &r, &e), &e);
	free(t);
	assert_int_equal(r.nbonds, 29);
	/* last line "14 24 0.97511348501333628": 1-based in the file */
	assert_int_equal(r.bonds[28].i, 13);
	assert_int_equal(r.bonds[28].j, 23);
	assert_close(r.bonds[28].order, 0.97511348501333628, 1e-15);
	for (int k = 0; k < r.nbonds; k++) {
		assert_true(r.bonds[k].i < r.bonds[k].j);
		assert_true(r.bonds[k].i >= 0 && r.bonds[k].j < 24);
	}

	t = xc_need("gfn2_sp_caffeine", "gradient");
	parse_ok(qf_xtb_parse_gradient(t, 24, &r, &e), &e);
	free(t);
	/* last gradient line: -9.3236456422086E-07 7.7975405995203E-07 1.1538115979375E-06 */
	assert_close(r.gradient[69], -9.3236456422086E-07, 1e-19);
	assert_close(r.gradient[70], 7.7975405995203E-07, 1e-19);
	assert_close(r.gradient[71], 1.1538115979375E-06, 1e-19);
	qf_result_release(&r);

	qf_result_init(&r);
	t = xc_need("gfn2_opt_ethanol", "xtbopt.xyz");
	parse_ok(qf_xtb_parse_xyz_geometry(t, 9, &r, &e), &e);
	free(t);
	assert_int_equal(r.z[0], 6);
	assert_int_equal(r.z[2], 8);
	assert_int_equal(r.z[8], 1);
	assert_close(r.geometry[0], -1.25398301693895, 1e-14);
	assert_close(r.geometry[2], 0.04273224690987, 1e-14);

	t = xc_need("gfn2_opt_ethanol", "xtbopt.log");
	parse_ok(qf_xtb_parse_optlog(t, &r, &e), &e);
	free(t);
	assert_int_equal(r.nopt, 10);
	assert_close(r.opt_energies[9], -11.391866195368, 1e-12);
	assert_true(r.has_gradient_norm); /* from the last comment, none known before */
	qf_result_release(&r);

	/* the gradient norm of the final box is not overwritten by the log's */
	qf_result_init(&r);
	r.has_gradient_norm = true;
	r.gradient_norm = 0.25;
	t = xc_need("gfn2_ohess_water", "xtbopt.log");
	parse_ok(qf_xtb_parse_optlog(t, &r, &e), &e);
	free(t);
	assert_close(r.gradient_norm, 0.25, 0);
	assert_int_equal(r.nopt, 4);
	assert_close(r.opt_energies[3], -5.070544172184, 1e-12);

	t = xc_need("gfn2_hess_ammonia_planar", "vibspectrum");
	parse_ok(qf_xtb_parse_vibspectrum(t, &r, &e), &e);
	free(t);
	assert_int_equal(r.nfreq, 12);
	assert_close(r.frequencies[6], -677.59, 1e-9);
	assert_close(r.ir_intensities[6], 538.17868, 1e-9);
	assert_close(r.frequencies[11], 2992.75, 1e-9);
	assert_int_equal(r.n_imaginary, 1);
	assert_null(r.reduced_masses);
	qf_result_release(&r);

	/* GFN0 writes the gradient with plain E exponents and an exact zero */
	qf_result_init(&r);
	t = xc_need("gfn0_sp_water", "gradient");
	parse_ok(qf_xtb_parse_gradient(t, 3, &r, &e), &e);
	free(t);
	assert_close(r.gradient[7], 7.1578785507104E-03, 1e-16);
	qf_result_release(&r);
}

/* A Fortran D exponent, several cycles in one file (the last wins), CRLF. */
static void test_gradient_forms(void **state)
{
	(void)state;
	static const char *text =
		"$grad\r\n"
		"  cycle =      1    SCF energy =    -1.0   |dE/dxyz| =  0.1\r\n"
		"    0.0 0.0 0.0      h\r\n"
		"    0.0 0.0 1.4      h\r\n"
		"   1.0D-03  -2.0d-02   3.0\r\n"
		"   4.0D+00   5.0   6.0\r\n"
		"  cycle =      2    SCF energy =    -1.1   |dE/dxyz| =  0.05\r\n"
		"    0.0 0.0 0.0      h\r\n"
		"    0.0 0.0 1.4      h\r\n"
		"   1.5D-03  -2.5D-02   3.5\r\n"
		"   4.5   5.5   6.5\r\n"
		"$end\r\n";
	qf_result r;
	qf_err e;
	qf_result_init(&r);
	qf_err_init(&e);
	parse_ok(qf_xtb_parse_gradient(text, 2, &r, &e), &e);
	assert_close(r.gradient[0], 1.5e-3, 1e-18);
	assert_close(r.gradient[1], -2.5e-2, 1e-18);
	assert_close(r.gradient[5], 6.5, 0);
	qf_result_release(&r);
}

/* ---- malformed input -------------------------------------------------------- */

enum parser { P_CHARGES, P_WBO, P_XYZ, P_OPTLOG, P_VIB, P_GRAD };

typedef struct bad_file {
	const char *what;
	enum parser p;
	int natoms;
	const char *text;  /* "@LONG@" stands for a line of 5000 bytes */
	const char *part;  /* text the message must contain */
} bad_file;

static const bad_file bad_files[] = {
	/* charges */
	{"charges: empty", P_CHARGES, 3, "", "0 charges for 3 atoms"},
	{"charges: fewer lines than atoms", P_CHARGES, 3, "  -0.5\n  0.25\n", "2 charges for 3 atoms"},
	{"charges: more lines than atoms", P_CHARGES, 2, "-0.5\n0.25\n0.25\n", "more lines than the 2 atoms"},
	{"charges: not a number", P_CHARGES, 2, "-0.5\nabc\n", "charges line 2: not a number"},
	{"charges: two numbers on a line", P_CHARGES, 2, "-0.5 0.1\n0.25\n", "charges line 1"},
	{"charges: NaN", P_CHARGES, 1, "NaN\n", "charges line 1"},
	{"charges: infinite", P_CHARGES, 1, "1e400\n", "charges line 1"},
	{"charges: overlong line", P_CHARGES, 1, "@LONG@\n", "too long"},
	{"charges: no atoms", P_CHARGES, 0, "0.1\n", "0 atoms"},
	{"charges: too many atoms", P_CHARGES, QF_MAX_ATOMS + 1, "0.1\n", "atoms"},
	/* wbo */
	{"wbo: atom index out of range", P_WBO, 3, "1 2 0.9\n1 4 0.9\n", "wbo line 2"},
	{"wbo: atom index zero", P_WBO, 3, "0 2 0.9\n", "from 1 to 3"},
	{"wbo: negative atom index", P_WBO, 3, "-1 2 0.9\n", "wbo line 1"},
	{"wbo: an atom bonded to itself", P_WBO, 3, "2 2 0.9\n", "two different"},
	{"wbo: order not a number", P_WBO, 3, "1 2 x\n", "bond order is not a number"},
	{"wbo: two fields", P_WBO, 3, "1 2\n", "expected 'atom atom order'"},
	{"wbo: four fields", P_WBO, 3, "1 2 0.5 7\n", "expected 'atom atom order'"},
	{"wbo: index not an integer", P_WBO, 3, "1.5 2 0.5\n", "wbo line 1"},
	{"wbo: more bonds than pairs", P_WBO, 2, "1 2 0.9\n2 1 0.9\n", "more bonds than atom pairs"},
	{"wbo: overlong line", P_WBO, 3, "@LONG@", "too long"},
	/* xtbopt.xyz */
	{"xyz: empty", P_XYZ, 3, "", "it is empty"},
	{"xyz: count not a number", P_XYZ, 3, "three\n\nO 0 0 0\n", "number of atoms"},
	{"xyz: wrong count", P_XYZ, 3, "2\n\nO 0 0 0\nH 0 0 1\n", "2 atoms, expected 3"},
	{"xyz: truncated", P_XYZ, 3, "3\n energy: -1\nO 0 0 0\nH 0 0 1\n", "ends after 2 of 3 atoms"},
	{"xyz: no comment line", P_XYZ, 1, "1", "comment line is missing"},
	{"xyz: unknown element", P_XYZ, 1, "1\n\nXq 0 0 0\n", "unknown element"},
	{"xyz: coordinate not a number", P_XYZ, 1, "1\n\nO 0 zero 0\n", "not a number"},
	{"xyz: missing coordinate", P_XYZ, 1, "1\n\nO 0 0\n", "expected 'element x y z'"},
	{"xyz: a second record", P_XYZ, 1, "1\n\nO 0 0 0\n1\n\nO 0 0 0\n", "after the last atom"},
	{"xyz: count too large", P_XYZ, 0, "99999999\n\n", "number of atoms"},
	/* xtbopt.log */
	{"optlog: empty", P_OPTLOG, 0, "", "it is empty"},
	{"optlog: no energy in the comment", P_OPTLOG, 0, "1\n gnorm: 0.1\nH 0 0 0\n", "no 'energy:'"},
	{"optlog: energy not a number", P_OPTLOG, 0, "1\n energy: x gnorm: 0.1\nH 0 0 0\n", "no 'energy:'"},
	{"optlog: truncated last frame", P_OPTLOG, 0,
	 "2\n energy: -1 gnorm: 1\nH 0 0 0\nH 0 0 1\n2\n energy: -1.1 gnorm: 0.5\nH 0 0 0\n",
	 "ends after 1 of 2 atoms"},
	{"optlog: frames of different sizes", P_OPTLOG, 0,
	 "1\n energy: -1 gnorm: 1\nH 0 0 0\n2\n energy: -1 gnorm: 1\nH 0 0 0\nH 0 0 1\n",
	 "2 atoms, expected 1"},
	/* vibspectrum */
	{"vib: empty", P_VIB, 0, "", "it is empty"},
	{"vib: no header", P_VIB, 0, "     1          -0.00   0.0   -   -\n$end\n", "expected '$vibrational spectrum'"},
	{"vib: no $end", P_VIB, 0, "$vibrational spectrum\n     1      -0.00   0.0   -   -\n", "'$end' is missing"},
	{"vib: no modes", P_VIB, 0, "$vibrational spectrum\n$end\n", "no modes"},
	{"vib: modes out of order", P_VIB, 0,
	 "$vibrational spectrum\n 1  -0.00  0.0  -  -\n 3  0.00  0.0  -  -\n$end\n", "numbered 1, 2, 3"},
	{"vib: frequency not a number", P_VIB, 0,
	 "$vibrational spectrum\n 1  a  x  0.0  YES  YES\n$end\n", "not a number"},
	{"vib: too few fields", P_VIB, 0, "$vibrational spectrum\n 1  0.0  0.0\n$end\n", "expected 'mode"},
	{"vib: text after $end", P_VIB, 0, "$vibrational spectrum\n 1 0.0 0.0 - -\n$end\nmore\n", "after $end"},
	/* gradient */
	{"grad: empty", P_GRAD, 1, "", "it is empty"},
	{"grad: no $grad", P_GRAD, 1, "cycle = 1\n", "expected '$grad'"},
	{"grad: no cycle", P_GRAD, 1, "$grad\n$end\n", "no cycle"},
	{"grad: garbage instead of the cycle line", P_GRAD, 1, "$grad\ngarbage\n$end\n", "expected 'cycle = ...'"},
	{"grad: missing $end", P_GRAD, 1, "$grad\n cycle = 1\n 0 0 0 h\n 1 2 3\n", "'$end' is missing"},
	{"grad: fewer lines than atoms", P_GRAD, 2, "$grad\n cycle = 1\n 0 0 0 h\n 0 0 1 h\n 1 2 3\n", "ends inside a cycle"},
	{"grad: garbage in a gradient line", P_GRAD, 1, "$grad\n cycle = 1\n 0 0 0 h\n 1 x 3\n$end\n", "expected three numbers"},
	{"grad: garbage in a coordinate line", P_GRAD, 1, "$grad\n cycle = 1\n 0 0 0\n 1 2 3\n$end\n", "expected 'x y z element'"},
	{"grad: unknown element", P_GRAD, 1, "$grad\n cycle = 1\n 0 0 0 qq\n 1 2 3\n$end\n", "expected 'x y z element'"},
	{"grad: bad exponent", P_GRAD, 1, "$grad\n cycle = 1\n 0 0 0 h\n 1.0D+ 2 3\n$end\n", "expected three numbers"},
	{"grad: text after $end", P_GRAD, 1, "$grad\n cycle = 1\n 0 0 0 h\n 1 2 3\n$end\nxx\n", "after $end"},
};

static char *expand(const char *text)
{
	const char *at = strstr(text, "@LONG@");
	size_t n = strlen(text) + (at ? 5000 : 0) + 1;
	char *s = malloc(n);
	assert_non_null(s);
	if (!at) {
		memcpy(s, text, strlen(text) + 1);
		return s;
	}
	size_t pre = (size_t)(at - text);
	memcpy(s, text, pre);
	memset(s + pre, '1', 5000);
	memcpy(s + pre + 5000, at + 6, strlen(at + 6) + 1);
	return s;
}

static void test_malformed(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(bad_files) / sizeof(bad_files[0]); k++) {
		const bad_file *b = &bad_files[k];
		char *text = expand(b->text);
		qf_result r;
		qf_err e;
		qf_result_init(&r);
		qf_err_init(&e);
		int rc = 0;
		switch (b->p) {
		case P_CHARGES: rc = qf_xtb_parse_charges(text, b->natoms, &r, &e); break;
		case P_WBO: rc = qf_xtb_parse_wbo(text, b->natoms, &r, &e); break;
		case P_XYZ: rc = qf_xtb_parse_xyz_geometry(text, b->natoms, &r, &e); break;
		case P_OPTLOG: rc = qf_xtb_parse_optlog(text, &r, &e); break;
		case P_VIB: rc = qf_xtb_parse_vibspectrum(text, &r, &e); break;
		case P_GRAD: rc = qf_xtb_parse_gradient(text, b->natoms, &r, &e); break;
		}
		if (rc != QF_EUNKNOWN || strcmp(e.code, "xtb.parse") || e.category != QF_CAT_UNKNOWN)
			fail_msg("%s: expected an xtb.parse error, got %d %s: %s", b->what, rc, e.code,
			         e.message);
		if (!strstr(e.message, b->part))
			fail_msg("%s: message '%s' lacks '%s'", b->what, e.message, b->part);
		/* nothing was stored */
		assert_null(r.charges);
		assert_null(r.bonds);
		assert_null(r.geometry);
		assert_null(r.z);
		assert_null(r.opt_energies);
		assert_null(r.frequencies);
		assert_null(r.gradient);
		assert_int_equal(r.natoms, 0);
		qf_result_release(&r);
		free(text);
	}
}

/* A file for another molecule is refused by the natoms check, and a result
 * already holding values keeps them. */
static void test_natoms_mismatch(void **state)
{
	(void)state;
	qf_result r;
	qf_err e;
	qf_result_init(&r);
	qf_err_init(&e);
	char *t = xc_need("gfn2_sp_water", "charges");
	parse_ok(qf_xtb_parse_charges(t, 3, &r, &e), &e);
	free(t);
	t = xc_need("gfn2_sp_caffeine", "charges");
	assert_int_equal(qf_xtb_parse_charges(t, 24, &r, &e), QF_EUNKNOWN);
	assert_string_equal(e.code, "xtb.parse");
	free(t);
	assert_int_equal(r.natoms, 3);
	assert_close(r.charges[0], -0.56331856, 1e-12);
	t = xc_need("gfn2_sp_caffeine", "gradient");
	assert_int_equal(qf_xtb_parse_gradient(t, 3, &r, &e), QF_EUNKNOWN);
	free(t);
	assert_null(r.gradient);
	qf_result_release(&r);
}

/* A wbo file of an isolated atom is empty: no bonds, but produced. */
static void test_wbo_empty(void **state)
{
	(void)state;
	qf_result r;
	qf_err e;
	qf_result_init(&r);
	qf_err_init(&e);
	parse_ok(qf_xtb_parse_wbo("\n", 1, &r, &e), &e);
	assert_int_equal(r.nbonds, 0);
	assert_non_null(r.bonds);
	qf_result_release(&r);
}

static void test_helpers(void **state)
{
	(void)state;
	static const double closed[] = {2, 2, 2, 2, 0, 0};
	static const double radical[] = {2, 2, 2, 1, 0, 0, 0};
	static const double smeared[] = {2, 1.9999, 1.0001, 1e-9, 0};
	static const double thirds[] = {2, 2, 0.3333, 0.3333, 0.3334, 0};
	static const double empty[] = {0, 0};
	assert_int_equal(qf_xtb_homo_index(closed, 6), 3);
	assert_int_equal(qf_xtb_homo_index(radical, 7), 3);
	assert_int_equal(qf_xtb_homo_index(smeared, 5), 2);
	assert_int_equal(qf_xtb_homo_index(thirds, 6), 1);
	assert_int_equal(qf_xtb_homo_index(empty, 2), -1);
	assert_int_equal(qf_xtb_homo_index(NULL, 0), -1);
	static const double f[] = {-677.59, -19.9, -0.0, 0.0, 12.0, -20.5};
	assert_int_equal(qf_xtb_count_imaginary(f, 6), 2);
	assert_int_equal(qf_xtb_count_imaginary(NULL, 0), 0);
}

/* Every prefix of real files (a file cut anywhere, as a killed xtb leaves
 * it) parses or fails cleanly with xtb.parse; never a crash (ASan). */
static void test_every_prefix(void **state)
{
	(void)state;
	static const struct {
		const char *c, *file;
		enum parser p;
		int natoms;
	} files[] = {
		{"gfn2_sp_caffeine", "charges", P_CHARGES, 24},
		{"gfn2_sp_caffeine", "wbo", P_WBO, 24},
		{"gfn2_sp_caffeine", "gradient", P_GRAD, 24},
		{"gfn2_opt_ethanol", "xtbopt.xyz", P_XYZ, 9},
		{"gfn2_opt_ethanol", "xtbopt.log", P_OPTLOG, 0},
		{"gfn2_hess_ammonia_planar", "vibspectrum", P_VIB, 0},
	};
	for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
		char *full = xc_need(files[k].c, files[k].file);
		size_t n = strlen(full);
		int ok = 0;
		for (size_t cut = 0; cut <= n; cut++) {
			char *text = strndup(full, cut);
			assert_non_null(text);
			qf_result r;
			qf_err e;
			qf_result_init(&r);
			qf_err_init(&e);
			int rc = 0;
			switch (files[k].p) {
			case P_CHARGES: rc = qf_xtb_parse_charges(text, files[k].natoms, &r, &e); break;
			case P_WBO: rc = qf_xtb_parse_wbo(text, files[k].natoms, &r, &e); break;
			case P_XYZ: rc = qf_xtb_parse_xyz_geometry(text, files[k].natoms, &r, &e); break;
			case P_OPTLOG: rc = qf_xtb_parse_optlog(text, &r, &e); break;
			case P_VIB: rc = qf_xtb_parse_vibspectrum(text, &r, &e); break;
			case P_GRAD: rc = qf_xtb_parse_gradient(text, files[k].natoms, &r, &e); break;
			}
			if (rc != 0 && (rc != QF_EUNKNOWN || strcmp(e.code, "xtb.parse")))
				fail_msg("%s/%s cut at %zu: %d %s", files[k].c, files[k].file, cut, rc, e.code);
			ok += rc == 0;
			qf_result_release(&r);
			free(text);
		}
		/* the whole file parses */
		assert_true(ok >= 1);
		free(full);
	}
	/* and stdout cut anywhere (every 97th byte of a large one) */
	char *out = xc_need("gfn2_ohess_water", "stdout.log");
	size_t n = strlen(out);
	for (size_t cut = 0; cut <= n; cut += 97) {
		char *text = strndup(out, cut);
		qf_result r;
		qf_xtb_outinfo info;
		qf_result_init(&r);
		qf_xtb_outinfo_init(&info);
		assert_int_equal(qf_xtb_parse_stdout(text, &r, NULL, &info), 0);
		qf_result_release(&r);
		free(text);
	}
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stdout_cases),  cmocka_unit_test(test_stdout_values),
		cmocka_unit_test(test_stdout_robust), cmocka_unit_test(test_files_real),
		cmocka_unit_test(test_gradient_forms), cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_natoms_mismatch), cmocka_unit_test(test_wbo_empty),
		cmocka_unit_test(test_helpers),       cmocka_unit_test(test_every_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
