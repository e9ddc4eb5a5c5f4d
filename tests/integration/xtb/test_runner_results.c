/* qf-test: labels=integration,xtb timeout=300 */
/*
 * qf_xtb_run results against the real xtb 6.5.1: the energy equals a
 * separate, direct xtb run on the same geometry; the molecule's name never
 * reaches the geometry file ($chrg in a comment line changes the electron
 * count when xtb reads it); the input file is never empty; every method runs
 * (GFN0 finds its parameters through XTBPATH); solvation is labelled; large
 * molecules complete; the version is read and cached.
 */
#include "qftest.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qf/fs.h"
#include "qf/mol.h"
#include "qf/molio.h"
#include "qf/result.h"
#include "qf/runner.h"
#include "qf/spec.h"
#include "qf/str.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))


struct run {
	char dir[QF_MAX_PATH];
	qf_result r;
	qf_metrics m;
	qf_err e;
	int rc;
};

static void run_ok(struct run *x, const qf_mol *mol, const qf_spec *spec, const char *tag)
{
	qft_tmpdir(x->dir, tag);
	qf_result_init(&x->r);
	qf_err_init(&x->e);
	x->rc = qf_xtb_run(mol, spec, mol->charge, mol->uhf, x->dir, NULL, &x->r, &x->m, &x->e);
	if (x->rc)
		fail_msg("%s: xtb run failed: %s/%s: %s", x->dir, qf_category_name(x->e.category), x->e.code,
		         x->e.message);
	assert_true(x->r.has_energy);
	assert_int_equal(x->m.exit_code, 0);
	assert_int_equal(x->m.term_signal, 0);
	assert_false(x->m.timed_out);
}

static void run_release(struct run *x)
{
	qf_result_release(&x->r);
	qf_fs_rm_rf(x->dir);
}

static char *file_in(const char *dir, const char *name)
{
	char path[QF_MAX_PATH];
	qf_fs_join(path, sizeof(path), dir, name);
	return qft_slurp(path, NULL);
}

/* The second line of an XYZ file. */
static void comment_line(const char *text, char *out, size_t size)
{
	const char *p = strchr(text, '\n');
	assert_non_null(p);
	p++;
	const char *nl = strchr(p, '\n');
	assert_non_null(nl);
	snprintf(out, size, "%.*s", (int)(nl - p), p);
}

/* The last "| TOTAL ENERGY ... Eh |" of an xtb stdout, parsed here, on
 * purpose independently of the project's parsers. */
static double total_energy(const char *out)
{
	const char *last = NULL;
	for (const char *p = out; (p = strstr(p, "TOTAL ENERGY")); p++)
		last = p;
	if (!last)
		fail_msg("no TOTAL ENERGY line in xtb output:\n%.2000s", out);
	double e;
	if (sscanf(last, "TOTAL ENERGY %lf Eh", &e) != 1)
		fail_msg("could not parse '%.60s'", last);
	return e;
}

/* xtb run directly (fork + exec, no project code) in a fresh directory on
 * the given geometry text with the given flags. */
static double direct_xtb(const char *geometry, const char *const *flags, bool with_input)
{
	char dir[QF_MAX_PATH], path[QF_MAX_PATH];
	qft_tmpdir(dir, "runner-direct");
	qf_fs_join(path, sizeof(path), dir, "geometry.xyz");
	qft_write(path, geometry);
	qf_fs_join(path, sizeof(path), dir, "xcontrol.inp");
	qft_write(path, "$end\n");
	const char *argv[40];
	int n = 0;
	argv[n++] = qft_xtb_path();
	argv[n++] = "geometry.xyz";
	if (with_input) {
		argv[n++] = "--input";
		argv[n++] = "xcontrol.inp";
	}
	for (const char *const *f = flags; *f && n < 38; f++)
		argv[n++] = *f;
	argv[n] = NULL;
	static const char *const env[] = {"OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", NULL};
	qft_output o;
	qft_run(&o, argv, env, dir, 120);
	if (o.exit_code != 0)
		fail_msg("direct xtb run failed (exit %d):\n%.2000s", o.exit_code, o.err);
	double e = total_energy(o.out);
	qft_output_release(&o);
	qf_fs_rm_rf(dir);
	return e;
}

/* Caffeine GFN2 singlepoint: the runner's energy equals xtb's own. */
static void test_energy_matches_direct_run(void **state)
{
	(void)state;
	qf_mol mol;
	qft_load_xyz(&mol, "runner/caffeine.xyz");
	qf_spec s;
	qf_spec_init(&s);
	struct run x;
	run_ok(&x, &mol, &s, "runner-sp");

	char *geometry = file_in(x.dir, QF_XTB_GEOMETRY);
	static const char *const flags[] = {"--gfn", "2", "--chrg", "0", "--uhf", "0", "--etemp", "300",
	                                    "--acc", "1", "--iterations", "250", "--json",
	                                    "--norestart", "--grad", NULL};
	double ref = direct_xtb(geometry, flags, true);
	assert_close(x.r.total_energy, ref, 1e-8);
	assert_true(ref < -40 && ref > -50); /* caffeine GFN2: -42.1 Eh */

	/* The energy in the captured stdout is the same line. */
	char *out = file_in(x.dir, QF_XTB_STDOUT);
	assert_close(total_energy(out), ref, 1e-12);
	free(out);

	/* The input file: "$end" only, never empty (an empty one hangs xtb). */
	char *xcontrol = file_in(x.dir, QF_XTB_XCONTROL);
	assert_string_equal(xcontrol, "$end\n");
	free(xcontrol);

	/* Metrics from the process and the output. */
	assert_true(x.m.wall_time > 0);
	assert_true(x.m.cpu_time > 0);
	assert_true(x.m.memory_peak_mb > 1);
	assert_string_equal(x.m.method, "GFN2-xTB");
	assert_string_equal(x.m.solvation, "");
	assert_string_equal(x.m.xtb_version, "6.5.1");
	assert_true(x.m.is_converged);
	free(geometry);
	run_release(&x);
	qf_mol_release(&mol);
}

/* A molecule named "$chrg 1" gives the energy of the plain one: the name
 * never reaches the geometry file. The control run shows the trap is real:
 * xtb reading that comment line without --input changes the energy. */
static void test_comment_line_trap(void **state)
{
	(void)state;
	qf_mol mol;
	qft_load_xyz(&mol, "runner/caffeine.xyz");
	qf_spec s;
	qf_spec_init(&s);
	struct run plain;
	qf_strlcpy(mol.name, "caffeine", sizeof(mol.name));
	run_ok(&plain, &mol, &s, "runner-plain");
	static const char *const names[] = {"$chrg 1", "$chrg 1\n$uhf 1", "$set\nchrg 2\n$end"};
	for (size_t i = 0; i < COUNT(names); i++) {
		qf_strlcpy(mol.name, names[i], sizeof(mol.name));
		struct run x;
		run_ok(&x, &mol, &s, "runner-named");
		char *geometry = file_in(x.dir, QF_XTB_GEOMETRY);
		char comment[QF_MAX_LINE];
		comment_line(geometry, comment, sizeof(comment));
		if (strchr(comment, '$'))
			fail_msg("the name reached the geometry file: '%s'", comment);
		assert_close(x.r.total_energy, plain.r.total_energy, 1e-10);
		free(geometry);
		run_release(&x);
	}

	/* Control: xtb itself does read "$chrg 1" from the comment line. */
	char *geometry = file_in(plain.dir, QF_XTB_GEOMETRY);
	char *nl = strchr(geometry, '\n');
	assert_non_null(nl);
	char trapped[8192];
	snprintf(trapped, sizeof(trapped), "%.*s\n$chrg 1%s", (int)(nl - geometry), geometry,
	         strchr(nl + 1, '\n'));
	static const char *const flags[] = {"--gfn", "2", "--norestart", "--grad", NULL};
	double e_trapped = direct_xtb(trapped, flags, false);
	if (fabs(e_trapped - plain.r.total_energy) < 0.01)
		fail_msg("control failed: xtb ignored '$chrg 1' in the comment line (%.8f vs %.8f)",
		         e_trapped, plain.r.total_energy);
	free(geometry);
	run_release(&plain);
	qf_mol_release(&mol);
}

/* Each method runs and is labelled; solvation is labelled "model/solvent"
 * and lowers the energy of a polar molecule. */
static void test_methods_and_solvation(void **state)
{
	(void)state;
	qf_mol mol;
	qft_load_xyz(&mol, "runner/caffeine.xyz");
	static const struct {
		qf_method method;
		qf_solvation solvation;
		const char *solvent;
		const char *label, *solvation_label;
		double lo, hi; /* plausible total energy, Eh */
	} rows[] = {
		{QF_METHOD_GFN2, QF_SOLV_NONE, "", "GFN2-xTB", "", -43, -41},
		{QF_METHOD_GFN1, QF_SOLV_NONE, "", "GFN1-xTB", "", -46, -43},
		{QF_METHOD_GFNFF, QF_SOLV_NONE, "", "GFN-FF", "", -6, -3},
		{QF_METHOD_GFN2, QF_SOLV_ALPB, "water", "GFN2-xTB", "alpb/water", -43, -41},
		{QF_METHOD_GFN2, QF_SOLV_GBSA, "water", "GFN2-xTB", "gbsa/water", -43, -41},
	};
	double gas_gfn2 = 0;
	for (size_t i = 0; i < COUNT(rows); i++) {
		qf_spec s;
		qf_spec_init(&s);
		s.method = rows[i].method;
		s.solvation = rows[i].solvation;
		qf_strlcpy(s.solvent, rows[i].solvent, sizeof(s.solvent));
		struct run x;
		run_ok(&x, &mol, &s, "runner-method");
		double e = x.r.total_energy;
		if (!(e > rows[i].lo && e < rows[i].hi))
			fail_msg("row %zu (%s %s): energy %.8f outside [%g, %g]", i, rows[i].label,
			         rows[i].solvation_label, e, rows[i].lo, rows[i].hi);
		assert_string_equal(x.m.method, rows[i].label);
		assert_string_equal(x.m.solvation, rows[i].solvation_label);
		if (i == 0)
			gas_gfn2 = e;
		else if (rows[i].solvation != QF_SOLV_NONE)
			assert_true(e < gas_gfn2); /* solvation stabilises a polar molecule */
		run_release(&x);
	}
	qf_mol_release(&mol);
}

/* GFN0 needs its parameter file found through XTBPATH, which Debian does not
 * set ("Parameter file param_gfn0-xtb.txt not found!", exit 1): the runner
 * sets it, so with XTBPATH unset here the file is found. Debian's xtb 6.5.1
 * then often fails inside GFN0 itself (a wild allocation in wsc.f90 or a
 * segfault: xtb issues #670 and #865, fixed in 6.7.1); that failure is
 * accepted as long as it is classified as xtb's (system or unknown, or a
 * timeout if it hangs), never as a missing parameter file. */
static void test_gfn0(void **state)
{
	(void)state;
	qf_mol mol;
	qft_load_xyz(&mol, "runner/caffeine.xyz");
	char *saved = getenv("XTBPATH") ? strdup(getenv("XTBPATH")) : NULL;
	unsetenv("XTBPATH");
	qf_spec s;
	qf_spec_init(&s);
	s.method = QF_METHOD_GFN0;
	s.timeout = 30;
	struct run x;
	qft_tmpdir(x.dir, "runner-gfn0");
	qf_result_init(&x.r);
	qf_err_init(&x.e);
	x.rc = qf_xtb_run(&mol, &s, 0, 0, x.dir, NULL, &x.r, &x.m, &x.e);
	char *out = file_in(x.dir, QF_XTB_STDOUT);
	if (strstr(out, "not found"))
		fail_msg("xtb did not find its GFN0 parameters: XTBPATH was not set for it");
	assert_non_null(strstr(out, "xtb version")); /* xtb did start */
	if (x.rc == 0) {
		assert_true(x.r.has_energy);
		if (!(x.r.total_energy > -46 && x.r.total_energy < -38))
			fail_msg("GFN0 caffeine energy %.8f is implausible", x.r.total_energy);
		assert_string_equal(x.m.method, "GFN0-xTB");
	} else {
		if (x.e.category != QF_CAT_SYSTEM && x.e.category != QF_CAT_UNKNOWN &&
		    x.e.category != QF_CAT_TIMEOUT)
			fail_msg("GFN0 failure classified as %s/%s: %s", qf_category_name(x.e.category),
			         x.e.code, x.e.message);
		print_message("note: xtb's GFN0 failed on its own (%s: %s); known bug of xtb 6.5.1\n",
		              x.e.code, x.e.message);
	}
	free(out);
	run_release(&x);
	if (saved) {
		setenv("XTBPATH", saved, 1);
		free(saved);
	}
	qf_mol_release(&mol);
}

/* Large molecules: a 392-atom GFN2 singlepoint and a 1004-atom GFN-FF one
 * (asking for 2 threads: forced to 1 above 500 atoms) complete with exit 0
 * under the stack and thread settings of the runner. */
static void test_large_molecules(void **state)
{
	(void)state;
	static const struct {
		int carbons;
		qf_method method;
		int threads;
	} rows[] = {{130, QF_METHOD_GFN2, 1}, {334, QF_METHOD_GFNFF, 2}};
	for (size_t i = 0; i < COUNT(rows); i++) {
		qf_mol mol;
		qft_alkane(&mol, rows[i].carbons);
		qf_spec s;
		qf_spec_init(&s);
		s.method = rows[i].method;
		s.threads = rows[i].threads;
		s.timeout = 240;
		struct run x;
		run_ok(&x, &mol, &s, "runner-large");
		assert_true(x.r.total_energy < -100);
		run_release(&x);
		qf_mol_release(&mol);
	}
}

static void test_version(void **state)
{
	(void)state;
	char v[32];
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_xtb_version(NULL, v, sizeof(v), &e), 0);
	assert_string_equal(v, "6.5.1");
	memset(v, 0, sizeof(v));
	assert_int_equal(qf_xtb_version(qft_xtb_path(), v, sizeof(v), &e), 0); /* cached path */
	assert_string_equal(v, "6.5.1");
	static const struct {
		const char *program;
		size_t size;
		const char *code;
	} rows[] = {
		{"/nonexistent/xtb", 32, "xtb.not_found"},
		{"qforge-no-such-xtb", 32, "xtb.not_found"},
		{"/bin/true", 32, "xtb.version"}, /* runs, prints no version */
		{NULL, 3, "xtb.version"},         /* no room for "6.5.1" */
	};
	for (size_t i = 0; i < COUNT(rows); i++) {
		qf_err_init(&e);
		int rc = qf_xtb_version(rows[i].program, v, rows[i].size, &e);
		if (rc != QF_ESYS || e.category != QF_CAT_SYSTEM || strcmp(e.code, rows[i].code))
			fail_msg("row %zu: expected system/%s, got rc %d %s/%s: %s", i, rows[i].code, rc,
			         qf_category_name(e.category), e.code, e.message);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_energy_matches_direct_run),
		cmocka_unit_test(test_comment_line_trap),
		cmocka_unit_test(test_methods_and_solvation),
		cmocka_unit_test(test_gfn0),
		cmocka_unit_test(test_large_molecules),
		cmocka_unit_test(test_version),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
