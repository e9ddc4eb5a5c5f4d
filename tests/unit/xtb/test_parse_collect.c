/*
 * qf_xtb_collect over every case directory of tests/data/xtb/ (real xtb
 * 6.5.1 runs, tests/data/xtb/generate.sh). The expected values were read from
 * each case's own files with grep: final boxes of stdout (12 decimals),
 * xtbout.json (8), charges, wbo, gradient, xtbopt.*, vibspectrum. They also
 * pin down which source wins where several disagree (the JSON's dipole and
 * electronic energy after an optimisation are those of the input geometry;
 * GFN0's JSON dipole is the point-charge one).
 */
#include "qftest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qf/fs.h"
#include "qf/xtbparse.h"
#include "xtbcase.h"

#define NONE NAN

typedef struct row {
	const char *c;
	qf_task task;
	qf_method method;
	bool no_mol;            /* the input could not be read: collect without one */
	double energy, gap, gnorm, eel;
	double dipole, dipole_tol;
	int natoms;
	double q0;              /* first charge */
	int nbonds;             /* -1: no wbo */
	int norb, homo;
	int scf, optc;          /* metrics */
	bool converged;
	int nopt;
	double opt_last;
	int nfreq, nimag;
	double flast;
	double free_energy;     /* thermo */
	double grad_last;       /* last gradient component */
	int geom_i;             /* a coordinate of r->geometry, -1: no geometry */
	double geom_v;
	bool json, optok, optfail, sccfail;
	const char *label;
} row;

static const row rows[] = {
	{"gfn2_sp_water", QF_TASK_SP, QF_METHOD_GFN2, false, -5.070325128562, 14.645723523064,
	 0.008098996263, -5.105226899823, 2.27833360208522, 1e-6, 3, -0.56331856, 2, 6, 3, 9, -1,
	 true, 0, NONE, 0, 0, NONE, NONE, -1.8188529203165E-03, 2, 0.117790, true, false, false,
	 false, "GFN2-xTB"},
	{"gfn2_sp_caffeine", QF_TASK_SP, QF_METHOD_GFN2, false, -42.153937405437, 3.424791846893,
	 0.000043145725, -42.666577097430, 4.063260930829945, 1e-6, 24, -0.05476045, 29, 66, 36, 11,
	 -1, true, 0, NONE, 0, 0, NONE, NONE, 1.1538115979375E-06, 0, 1.072864, true, false, false,
	 false, "GFN2-xTB"},
	{"gfn2_sp_caffeine_alpb", QF_TASK_SP, QF_METHOD_GFN2, false, -42.170817694076,
	 3.399669540044, 0.033935616823, -42.683457386069, 5.313585406883918, 1e-6, 24, -0.07778471,
	 29, 66, 36, 11, -1, true, 0, NONE, 0, 0, NONE, NONE, -1.9185108279972E-04, 0, 1.072864,
	 true, false, false, false, "GFN2-xTB"},
	{"gfn1_sp_caffeine", QF_TASK_SP, QF_METHOD_GFN1, false, -44.513640784483, 3.429542874335,
	 0.029578757992, -44.997777350672, 4.778448422365475, 1e-6, 24, 0.05844298, 29, 76, 36, 11,
	 -1, true, 0, NONE, 0, 0, NONE, NONE, 1.2703368638837E-03, 0, 1.072864, true, false, false,
	 false, "GFN1-xTB"},
	/* no SCC: converged without an SCC report; the electronic energy only in
	 * the JSON; the dipole of the electron density from stdout */
	{"gfn0_sp_water", QF_TASK_SP, QF_METHOD_GFN0, false, -4.366732635098, 6.135882478518,
	 0.010158672759, -4.36260372, 1.853, 1e-9, 3, -0.70274755, 2, 8, 3, -1, -1, true, 0, NONE, 0,
	 0, NONE, NONE, 3.4837277278742E-04, 2, 0.117790, true, false, false, false, "GFN0-xTB"},
	/* no JSON, no charges, no wbo: energy and gradient norm from stdout */
	{"gfnff_sp_caffeine", QF_TASK_SP, QF_METHOD_GFNFF, false, -4.671402992084, NONE,
	 0.067572909975, NONE, NONE, 0, 24, NONE, -1, 0, -1, -1, -1, true, 0, NONE, 0, 0, NONE, NONE,
	 -1.5333194653036E-05, 0, 1.072864, false, false, false, false, "GFN-FF"},
	/* frequencies from vibspectrum */
	{"gfnff_hess_water", QF_TASK_HESS, QF_METHOD_GFNFF, false, -0.327252506734, NONE,
	 0.020834239495, NONE, NONE, 0, 3, NONE, -1, 0, -1, -1, -1, true, 0, NONE, 9, 0, 3813.66,
	 -0.323091943314, NONE, 2, 0.117790, false, false, false, false, "GFN-FF"},
	/* the optimised geometry; the dipole of the final geometry (stdout) */
	{"gfn2_opt_ethanol", QF_TASK_OPT, QF_METHOD_GFN2, false, -11.391866195492, 12.559476432696,
	 0.000621161629, -11.512838477321, 1.722, 1e-9, 9, -0.11055950, 8, 18, 9, 3, 10, true, 10,
	 -11.391866195368, 0, 0, NONE, NONE, NONE, 0, -1.25398301693895, true, true, false, false,
	 "GFN2-xTB"},
	{"gfn2_ohess_water", QF_TASK_OHESS, QF_METHOD_GFN2, false, -5.070544172184, 14.373571783498,
	 0.000672100686, -5.104784589198, 2.218, 1e-9, 3, -0.56461491, 2, 6, 3, 3, 4, true, 4,
	 -5.070544172184, 9, 0, 3646.41482531, -5.068057867155, NONE, 2, 0.10479600984304, true,
	 true, false, false, "GFN2-xTB"},
	{"gfn2_hess_ammonia_planar", QF_TASK_HESS, QF_METHOD_GFN2, false, -4.408917034935,
	 8.345894075186, 0.075379629048, -4.449241130338, 1.7792222e-07, 1e-6, 4, -0.41628925, 3, 7,
	 3, 8, -1, true, 0, NONE, 12, 1, 2992.75106779, -4.399005682347, NONE, 3, 1.05, true, false,
	 false, false, "GFN2-xTB"},
	{"gfn2_sp_acetate", QF_TASK_SP, QF_METHOD_GFN2, false, -14.163063537839, 5.224564929595,
	 0.056859788378, -14.276878303383, 11.056526842874257, 1e-6, 7, -0.11600885, 7, 19, 11, 9, -1,
	 true, 0, NONE, 0, 0, NONE, NONE, 1.1166424355299E-03, 3, 1.54, true, false, false, false,
	 "GFN2-xTB"},
	{"gfn2_sp_methyl", QF_TASK_SP, QF_METHOD_GFN2, false, -3.562658999223, 11.963876014061,
	 0.014942800000, -3.617132946074, 2.7959206e-07, 1e-6, 4, -0.14880963, 3, 7, 3, 8, -1, true, 0,
	 NONE, 0, 0, NONE, NONE, -1.6652664374116E-17, 3, 1.08, true, false, false, false,
	 "GFN2-xTB"},
	/* out of cycles: exit 0 and .xtboptok, but not converged */
	{"fail_opt_cycles_ethanol", QF_TASK_OPT, QF_METHOD_GFN2, false, -11.391118124618,
	 12.641730728759, 0.005732392808, -11.513241308261, 1.708, 1e-9, 9, -0.11176966, 8, 18, 9, 7,
	 2, false, 2, -11.390370215585, 0, 0, NONE, NONE, NONE, 0, -1.25468369079149, true, true,
	 true, false, "GFN2-xTB"},
	/* the gradient norm of the last step of xtbopt.log; no optimised geometry */
	{"fail_opt_scc_li4", QF_TASK_OPT, QF_METHOD_GFN2, false, NONE, NONE, 0.003613903863,
	 -0.972243219776, NONE, 0, 4, NONE, -1, 0, -1, 30, 3, false, 2, -0.977423066789, 0, 0, NONE,
	 NONE, NONE, -1, 0, false, false, true, true, "GFN2-xTB"},
	{"fail_scc_caffeine", QF_TASK_SP, QF_METHOD_GFN2, false, NONE, NONE, NONE, NONE, NONE, 0, 24,
	 NONE, -1, 0, -1, 2, -1, false, 0, NONE, 0, 0, NONE, NONE, NONE, 0, 1.072864, false, false,
	 false, true, "GFN2-xTB"},
	{"fail_sigterm_alkane", QF_TASK_HESS, QF_METHOD_GFN2, false, NONE, NONE, NONE,
	 -97.198869876430, NONE, 0, 92, NONE, -1, 0, -1, 9, -1, false, 0, NONE, 0, 0, NONE, NONE,
	 NONE, 3, 1.260913, false, false, false, false, "GFN2-xTB"},
	{"fail_solvent", QF_TASK_SP, QF_METHOD_GFN2, false, NONE, NONE, NONE, NONE, NONE, 0, 3, NONE,
	 -1, 0, -1, -1, -1, false, 0, NONE, 0, 0, NONE, NONE, NONE, 2, 0.117790, false, false, false,
	 false, "GFN2-xTB"},
	{"fail_garbage", QF_TASK_SP, QF_METHOD_GFN2, true, NONE, NONE, NONE, NONE, NONE, 0, 0, NONE,
	 -1, 0, -1, -1, -1, false, 0, NONE, 0, 0, NONE, NONE, NONE, -1, 0, false, false, false, false,
	 "GFN2-xTB"},
	{"fail_overlap", QF_TASK_SP, QF_METHOD_GFN2, false, NONE, NONE, NONE, NONE, NONE, 0, 3, NONE,
	 -1, 0, -1, -1, -1, false, 0, NONE, 0, 0, NONE, NONE, NONE, 8, -0.471161, false, false, false,
	 false, "GFN2-xTB"},
	{"fail_gfn0_segv", QF_TASK_SP, QF_METHOD_GFN0, false, NONE, NONE, NONE, NONE, NONE, 0, 24,
	 NONE, -1, 0, -1, -1, -1, false, 0, NONE, 0, 0, NONE, NONE, NONE, 0, 1.072864, false, false,
	 false, false, "GFN0-xTB"},
	{"fail_gfn0_alloc", QF_TASK_SP, QF_METHOD_GFN0, false, NONE, NONE, NONE, NONE, NONE, 0, 3,
	 NONE, -1, 0, -1, -1, -1, false, 0, NONE, 0, 0, NONE, NONE, NONE, 2, 0.117790, false, false,
	 false, false, "GFN0-xTB"},
};

static void check_opt(const char *what, bool has, double got, double want, double tol)
{
	if (isnan(want)) {
		if (has)
			fail_msg("%s: expected none, got %.12g", what, got);
		return;
	}
	if (!has)
		fail_msg("%s: expected %.12g, got none", what, want);
	if (!(fabs(got - want) <= tol))
		fail_msg("%s: got %.15g, expected %.15g (tolerance %g)", what, got, want, tol);
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		const row *w = &rows[k];
		print_message("case %s\n", w->c);
		qf_mol mol;
		qf_mol_init(&mol);
		if (!w->no_mol)
			xc_mol(w->c, &mol);
		qf_spec spec;
		qf_spec_init(&spec);
		spec.task = w->task;
		spec.method = w->method;
		char dir[QF_MAX_PATH];
		xc_path(dir, w->c, NULL);

		qf_result r;
		qf_metrics m;
		qf_xtb_outinfo info;
		qf_err e;
		qf_result_init(&r);
		qf_metrics_init(&m);
		qf_err_init(&e);
		int rc = qf_xtb_collect(dir, w->no_mol ? NULL : &mol, &spec, &r, &m, &info, &e);
		if (rc)
			fail_msg("%s: collect failed: %s", w->c, e.message);

		check_opt("energy", r.has_energy, r.total_energy, w->energy, 1e-12);
		check_opt("gap", r.has_gap, r.gap_ev, w->gap, 1e-12);
		check_opt("gradient norm", r.has_gradient_norm, r.gradient_norm, w->gnorm, 1e-12);
		check_opt("metrics gradient norm", m.has_gradient_norm, m.gradient_norm, w->gnorm, 1e-12);
		/* GFN0 prints no SCC summary: its electronic energy is the JSON's */
		check_opt("electronic energy", r.has_electronic_energy, r.electronic_energy, w->eel,
		          w->method == QF_METHOD_GFN0 ? 1e-8 : 1e-12);
		check_opt("dipole", r.has_dipole, r.dipole_debye, w->dipole, w->dipole_tol);
		assert_int_equal(r.natoms, w->natoms);
		check_opt("first charge", r.charges != NULL, r.charges ? r.charges[0] : 0, w->q0, 1e-12);
		if (w->nbonds < 0) {
			assert_null(r.bonds);
		} else {
			assert_int_equal(r.nbonds, w->nbonds);
			for (int b = 0; b < r.nbonds; b++)
				assert_true(r.bonds[b].i < r.bonds[b].j && r.bonds[b].j < r.natoms);
		}
		assert_int_equal(r.norbitals, w->norb);
		assert_int_equal(r.homo_index, w->homo);
		assert_int_equal(m.scf_cycles, w->scf);
		assert_int_equal(m.optimization_cycles, w->optc);
		assert_int_equal(m.is_converged, w->converged);
		assert_int_equal(r.nopt, w->nopt);
		if (w->nopt)
			assert_close(r.opt_energies[w->nopt - 1], w->opt_last, 1e-12);
		assert_int_equal(r.nfreq, w->nfreq);
		if (w->nfreq) {
			assert_int_equal(r.n_imaginary, w->nimag);
			assert_close(r.frequencies[w->nfreq - 1], w->flast, 1e-8);
			assert_non_null(r.ir_intensities);
			/* reduced masses only from the JSON */
			assert_int_equal(r.reduced_masses != NULL, w->json);
		} else {
			assert_null(r.frequencies);
		}
		check_opt("free energy", r.has_thermo, r.free_energy, w->free_energy, 1e-12);
		if (r.has_thermo)
			assert_close(r.thermo_temperature, 298.15, 1e-9);
		check_opt("gradient", r.gradient != NULL, r.gradient ? r.gradient[3 * r.natoms - 1] : 0,
		          w->grad_last, 1e-20);
		if (w->geom_i < 0) {
			assert_null(r.geometry);
		} else {
			assert_non_null(r.geometry);
			assert_non_null(r.z);
			assert_close(r.geometry[w->geom_i], w->geom_v, 1e-12);
			for (int a = 0; a < r.natoms; a++)
				assert_int_equal(r.z[a], mol.z[a]);
		}
		assert_int_equal(info.has_json, w->json);
		assert_int_equal(info.xtboptok, w->optok);
		assert_int_equal(info.opt_not_converged, w->optfail);
		assert_int_equal(info.scc_not_converged, w->sccfail);
		assert_string_equal(m.method, w->label);
		qf_result_release(&r);
		qf_mol_release(&mol);
	}
}

/* Copy a case into a scratch directory, break one file, and collect: the
 * error is xtb.parse and names the file, while stdout still reached info. */
static void copy_case(const char *c, const char *dst)
{
	static const char *const files[] = {"stdout.log", "stderr.log", "xtbout.json", "charges",
	                                    "wbo", "gradient", "xtbopt.xyz", "xtbopt.log",
	                                    "vibspectrum", ".xtboptok"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *t = xc_read(c, files[i]);
		if (!t)
			continue;
		char path[QF_MAX_PATH];
		assert_int_equal(qf_fs_join(path, sizeof(path), dst, files[i]), 0);
		qft_write(path, t);
		free(t);
	}
}

typedef struct broken {
	const char *c;
	qf_task task;
	const char *file;
	const char *text;
	const char *part;
} broken;

static const broken broken_rows[] = {
	{"gfn2_sp_water", QF_TASK_SP, "xtbout.json", "{\"total energy\": ", "xtbout.json"},
	{"gfn2_sp_water", QF_TASK_SP, "charges", "-0.5\n0.25\n", "charges"},
	{"gfn2_sp_water", QF_TASK_SP, "wbo", "1 4 0.9\n", "wbo line 1"},
	{"gfn2_sp_water", QF_TASK_SP, "gradient", "$grad\n garbage\n$end\n", "gradient line 2"},
	{"gfn2_opt_ethanol", QF_TASK_OPT, "xtbopt.xyz", "9\n\nC 0 0\n", "xtbopt.xyz line 3"},
	{"gfn2_opt_ethanol", QF_TASK_OPT, "xtbopt.log", "9\n no energy here\n", "xtbopt.log"},
	{"gfnff_hess_water", QF_TASK_HESS, "vibspectrum", "$vibrational spectrum\n 1 x 0 - -\n",
	 "vibspectrum line 2"},
};

static void test_broken_files(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(broken_rows) / sizeof(broken_rows[0]); k++) {
		const broken *b = &broken_rows[k];
		char dir[QF_MAX_PATH], path[QF_MAX_PATH];
		qft_tmpdir(dir, "collect");
		copy_case(b->c, dir);
		assert_int_equal(qf_fs_join(path, sizeof(path), dir, b->file), 0);
		qft_write(path, b->text);
		qf_mol mol;
		qf_mol_init(&mol);
		xc_mol(b->c, &mol);
		qf_spec spec;
		qf_spec_init(&spec);
		spec.task = b->task;
		if (strstr(b->c, "gfnff"))
			spec.method = QF_METHOD_GFNFF;
		qf_result r;
		qf_metrics m;
		qf_xtb_outinfo info;
		qf_err e;
		qf_result_init(&r);
		qf_metrics_init(&m);
		qf_err_init(&e);
		int rc = qf_xtb_collect(dir, &mol, &spec, &r, &m, &info, &e);
		if (rc != QF_EUNKNOWN || strcmp(e.code, "xtb.parse"))
			fail_msg("%s/%s: expected xtb.parse, got %d %s: %s", b->c, b->file, rc, e.code,
			         e.message);
		if (!strstr(e.message, b->part))
			fail_msg("%s/%s: message '%s' lacks '%s'", b->c, b->file, e.message, b->part);
		assert_non_null(strstr(e.detail, dir));
		/* stdout was read before the broken file */
		assert_true(info.normal_termination);
		assert_false(m.is_converged);
		qf_result_release(&r);
		qf_mol_release(&mol);
		qf_fs_rm_rf(dir);
	}
}

/* An empty directory (xtb never started): nothing, and no error. */
static void test_empty_dir(void **state)
{
	(void)state;
	char dir[QF_MAX_PATH];
	qft_tmpdir(dir, "collect-empty");
	qf_spec spec;
	qf_spec_init(&spec);
	qf_result r;
	qf_metrics m;
	qf_xtb_outinfo info;
	qf_err e;
	qf_result_init(&r);
	qf_metrics_init(&m);
	qf_err_init(&e);
	assert_int_equal(qf_xtb_collect(dir, NULL, &spec, &r, &m, &info, &e), 0);
	assert_false(r.has_energy);
	assert_false(m.is_converged);
	assert_int_equal(m.scf_cycles, -1);
	assert_false(info.normal_termination);
	assert_string_equal(m.method, "GFN2-xTB");
	qf_result_release(&r);
	qf_fs_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_broken_files),
		cmocka_unit_test(test_empty_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
