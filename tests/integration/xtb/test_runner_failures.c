/* qf-test: labels=integration,xtb timeout=300 */
/*
 * qf_xtb_run against the real xtb 6.5.1: every row of the failure table and
 * every invocation trap of notes/xtb-6.5.1.md, each asserting the category
 * and the stable code. Refusals are checked to happen before xtb starts (no
 * stdout.log). Wrapper scripts written into the test's own directory stand
 * in for xtb where the test needs to see or disturb the process (its pid,
 * its environment, a signal we did not send); the runner never uses a shell.
 */
#include "qftest.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qf/clock.h"
#include "qf/fs.h"
#include "qf/mol.h"
#include "qf/molio.h"
#include "qf/result.h"
#include "qf/runner.h"
#include "qf/spec.h"
#include "qf/str.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))


static void write_script(const char *path, const char *text)
{
	qft_write(path, text);
	assert_int_equal(chmod(path, 0755), 0);
}

static bool in_dir(const char *dir, const char *name)
{
	char path[QF_MAX_PATH];
	qf_fs_join(path, sizeof(path), dir, name);
	return qf_fs_exists(path);
}

static int dir_entries(const char *dir)
{
	char path[QF_MAX_PATH];
	int n = 0;
	static const char *const names[] = {QF_XTB_GEOMETRY, QF_XTB_XCONTROL, QF_XTB_STDOUT, QF_XTB_STDERR};
	for (size_t i = 0; i < COUNT(names); i++) {
		qf_fs_join(path, sizeof(path), dir, names[i]);
		n += qf_fs_exists(path);
	}
	return n;
}

/* One run in a fresh directory. */
struct run {
	char dir[QF_MAX_PATH];
	qf_result r;
	qf_metrics m;
	qf_err e;
	int rc;
	double took;
};

static void run(struct run *x, const qf_mol *mol, const qf_spec *spec, const qf_xtb_opts *o,
                const char *tag)
{
	qft_tmpdir(x->dir, tag);
	qf_result_init(&x->r);
	qf_metrics_init(&x->m);
	qf_err_init(&x->e);
	int charge = spec->has_charge ? spec->charge : mol->charge;
	int uhf = spec->has_uhf ? spec->uhf : mol->uhf;
	double t0 = qf_clock_mono();
	x->rc = qf_xtb_run(mol, spec, charge, uhf, x->dir, o, &x->r, &x->m, &x->e);
	x->took = qf_clock_mono() - t0;
}

static void run_release(struct run *x)
{
	qf_result_release(&x->r);
	qf_fs_rm_rf(x->dir);
}

static void expect(const struct run *x, qf_category cat, const char *code)
{
	if (x->rc == 0 || x->e.category != cat || strcmp(x->e.code, code))
		fail_msg("%s: expected %s/%s, got rc %d %s/%s: %s", x->dir, qf_category_name(cat), code,
		         x->rc, qf_category_name(x->e.category), x->e.code, x->e.message);
	assert_int_equal(x->rc, qf_category_rc(cat));
	assert_true(x->e.message[0] != '\0');
}

static void assert_no_children(void)
{
	int status;
	pid_t p = waitpid(-1, &status, WNOHANG);
	if (p != -1 || errno != ECHILD)
		fail_msg("a child process was left behind (waitpid gave %ld)", (long)p);
}

/* ---- the command line ------------------------------------------------------ */

static void test_argv_shape(void **state)
{
	(void)state;
	static const struct {
		qf_task task;
		qf_level level;
		qf_method method;
		qf_solvation solvation;
		const char *solvent;
		int cycles;
		int charge, uhf;
		double etemp, acc;
		int iterations;
		const char *argv;
	} rows[] = {
		{QF_TASK_SP, QF_LEVEL_NORMAL, QF_METHOD_GFN2, QF_SOLV_NONE, "", 0, 0, 0, 300, 1, 250,
		 "xtb geometry.xyz --input xcontrol.inp --gfn 2 --chrg 0 --uhf 0 --etemp 300 --acc 1 "
		 "--iterations 250 --json --norestart --grad"},
		{QF_TASK_OPT, QF_LEVEL_TIGHT, QF_METHOD_GFN1, QF_SOLV_ALPB, "water", 0, -1, 1, 500.5, 0.1, 7,
		 "xtb geometry.xyz --input xcontrol.inp --gfn 1 --chrg -1 --uhf 1 --etemp 500.5 "
		 "--acc 0.10000000000000001 --iterations 7 --json --norestart --alpb water --opt tight"},
		{QF_TASK_OPT, QF_LEVEL_CRUDE, QF_METHOD_GFN2, QF_SOLV_NONE, "", 12, 0, 0, 300, 1, 250,
		 "xtb geometry.xyz --input xcontrol.inp --gfn 2 --chrg 0 --uhf 0 --etemp 300 --acc 1 "
		 "--iterations 250 --json --norestart --opt crude --cycles 12"},
		{QF_TASK_HESS, QF_LEVEL_NORMAL, QF_METHOD_GFN0, QF_SOLV_NONE, "", 12, 2, 0, 300, 1, 250,
		 "xtb geometry.xyz --input xcontrol.inp --gfn 0 --chrg 2 --uhf 0 --etemp 300 --acc 1 "
		 "--iterations 250 --json --norestart --hess"},
		{QF_TASK_OHESS, QF_LEVEL_VTIGHT, QF_METHOD_GFNFF, QF_SOLV_GBSA, "thf", 5, 0, 2, 300, 1, 250,
		 "xtb geometry.xyz --input xcontrol.inp --gfnff --chrg 0 --uhf 2 --etemp 300 --acc 1 "
		 "--iterations 250 --json --norestart --gbsa thf --ohess vtight --cycles 5"},
	};
	for (size_t i = 0; i < COUNT(rows); i++) {
		qf_spec s;
		qf_spec_init(&s);
		s.task = rows[i].task;
		s.level = rows[i].level;
		s.method = rows[i].method;
		s.solvation = rows[i].solvation;
		qf_strlcpy(s.solvent, rows[i].solvent, sizeof(s.solvent));
		s.max_opt_cycles = rows[i].cycles;
		s.etemp = rows[i].etemp;
		s.accuracy = rows[i].acc;
		s.max_scc_iterations = rows[i].iterations;
		char **argv = qf_xtb_argv("xtb", &s, rows[i].charge, rows[i].uhf);
		assert_non_null(argv);
		char joined[1024] = "";
		for (char **p = argv; *p; p++) {
			size_t n = strlen(joined);
			snprintf(joined + n, sizeof(joined) - n, "%s%s", n ? " " : "", *p);
		}
		qf_xtb_argv_free(argv);
		if (strcmp(joined, rows[i].argv))
			fail_msg("row %zu:\n got  %s\n want %s", i, joined, rows[i].argv);
	}
	/* NULL program: "xtb". */
	qf_spec s;
	qf_spec_init(&s);
	char **argv = qf_xtb_argv(NULL, &s, 0, 0);
	assert_string_equal(argv[0], "xtb");
	assert_string_equal(argv[1], "geometry.xyz");
	qf_xtb_argv_free(argv);
}

/* ---- refusals before xtb runs ---------------------------------------------- */

enum mol_kind { M_CAFFEINE, M_METHYL, M_OVERLAP, M_EMPTY, M_URANIUM, M_NAN, M_H2 };

static void make_mol(qf_mol *m, enum mol_kind k)
{
	qf_err e;
	qf_err_init(&e);
	if (k == M_CAFFEINE) {
		qft_load_xyz(m, "runner/caffeine.xyz");
		return;
	}
	qf_mol_init(m);
	static const struct {
		int n;
		int z[4];
		double xyz[12];
	} shapes[] = {
		[M_METHYL] = {4, {6, 1, 1, 1}, {0, 0, 0, 1.08, 0, 0, -0.54, 0.935, 0, -0.54, -0.935, 0}},
		[M_OVERLAP] = {2, {1, 1}, {0, 0, 0, 0.2, 0, 0}},
		[M_EMPTY] = {0, {0}, {0}},
		[M_URANIUM] = {2, {92, 9}, {0, 0, 0, 2.0, 0, 0}},
		[M_NAN] = {2, {1, 1}, {0, 0, 0, 0.74, 0, 0}},
		[M_H2] = {2, {1, 1}, {0, 0, 0, 0.74, 0, 0}},
	};
	if (shapes[k].n) {
		assert_int_equal(qf_mol_resize(m, shapes[k].n, &e), 0);
		memcpy(m->z, shapes[k].z, sizeof(int) * (size_t)shapes[k].n);
		memcpy(m->xyz, shapes[k].xyz, sizeof(double) * 3 * (size_t)shapes[k].n);
	}
	if (k == M_NAN)
		m->xyz[4] = NAN;
}

/* Everything xtb would get silently wrong (or spin on) is refused before it
 * starts: nothing is written into the directory. */
static void test_refused_before_running(void **state)
{
	(void)state;
	static const struct {
		const char *what;
		enum mol_kind mol;
		int field;      /* which spec field to break, 0: none */
		const char *solvent;
		int charge, uhf;
		const char *code;
	} rows[] = {
		{"unknown solvent", M_CAFFEINE, 1, "nonsense", 0, 0, "spec.solvent"},
		{"ALPB with GFN0", M_CAFFEINE, 2, "water", 0, 0, "spec.solvent"},
		{"GBSA solvent not in GBSA", M_CAFFEINE, 3, "aniline", 0, 0, "spec.solvent"},
		{"solvent without model", M_CAFFEINE, 4, "water", 0, 0, "spec.solvent"},
		{"zero threads", M_CAFFEINE, 5, "", 0, 0, "spec.range"},
		{"no time", M_CAFFEINE, 6, "", 0, 0, "spec.range"},
		{"negative etemp", M_CAFFEINE, 7, "", 0, 0, "spec.range"},
		{"zero SCC iterations", M_CAFFEINE, 8, "", 0, 0, "spec.range"},
		{"negative cycles", M_CAFFEINE, 9, "", 0, 0, "spec.range"},
		{"unknown level", M_CAFFEINE, 10, "", 0, 0, "spec.level"},
		{"odd electrons, uhf 0", M_METHYL, 0, "", 0, 0, "input.parity"},
		{"even electrons, uhf 1", M_CAFFEINE, 0, "", 0, 1, "input.parity"},
		{"charge flips parity", M_CAFFEINE, 0, "", 1, 0, "input.parity"},
		{"uhf above electrons (xtb: exit 134)", M_H2, 0, "", 0, 12, "input.charge"},
		{"no electrons left", M_H2, 0, "", 2, 0, "input.charge"},
		{"atoms 0.2 A apart", M_OVERLAP, 0, "", 0, 0, "input.overlap"},
		{"no atoms", M_EMPTY, 0, "", 0, 0, "input.empty"},
		{"element beyond GFN2", M_URANIUM, 0, "", 0, 0, "input.element"},
		{"NaN coordinate", M_NAN, 0, "", 0, 0, "input.coordinates"},
	};
	for (size_t i = 0; i < COUNT(rows); i++) {
		qf_mol mol;
		make_mol(&mol, rows[i].mol);
		qf_spec s;
		qf_spec_init(&s);
		qf_strlcpy(s.solvent, rows[i].solvent, sizeof(s.solvent));
		switch (rows[i].field) {
		case 1: s.solvation = QF_SOLV_ALPB; break;
		case 2: s.solvation = QF_SOLV_ALPB; s.method = QF_METHOD_GFN0; break;
		case 3: s.solvation = QF_SOLV_GBSA; break;
		case 4: s.solvation = QF_SOLV_NONE; break;
		case 5: s.threads = 0; break;
		case 6: s.timeout = 0; break;
		case 7: s.etemp = -5; break;
		case 8: s.max_scc_iterations = 0; break;
		case 9: s.max_opt_cycles = -1; break;
		case 10: s.level = (qf_level)42; break;
		default: break;
		}
		s.has_charge = rows[i].charge != 0;
		s.charge = rows[i].charge;
		s.has_uhf = rows[i].uhf != 0;
		s.uhf = rows[i].uhf;
		struct run x;
		run(&x, &mol, &s, NULL, "runner-refused");
		if (x.rc != QF_EINVAL || x.e.category != QF_CAT_VALIDATION || strcmp(x.e.code, rows[i].code))
			fail_msg("%s: expected validation/%s, got rc %d %s/%s: %s", rows[i].what, rows[i].code,
			         x.rc, qf_category_name(x.e.category), x.e.code, x.e.message);
		if (dir_entries(x.dir) != 0)
			fail_msg("%s: files were written although the run was refused", rows[i].what);
		assert_false(in_dir(x.dir, QF_XTB_STDOUT));
		assert_int_equal(x.m.exit_code, -1); /* never started */
		run_release(&x);
		qf_mol_release(&mol);
	}
	assert_no_children();
}

/* The directory must exist and be empty: stale files change results. */
static void test_directory_refused(void **state)
{
	(void)state;
	qf_mol mol;
	qft_load_xyz(&mol, "runner/caffeine.xyz");
	qf_spec s;
	qf_spec_init(&s);
	static const struct {
		const char *what;
		const char *stale; /* file put into the directory */
		int kind;          /* 0: stale file, 1: missing dir, 2: a file, not a dir */
		const char *code;
	} rows[] = {
		{"stale gfnff_topo", "gfnff_topo", 0, "system.dirty_dir"},
		{"stale charges", "charges", 0, "system.dirty_dir"},
		{"hidden file", ".xtboptok", 0, "system.dirty_dir"},
		{"missing directory", NULL, 1, "system.io"},
		{"not a directory", NULL, 2, "system.io"},
	};
	for (size_t i = 0; i < COUNT(rows); i++) {
		char dir[QF_MAX_PATH], target[QF_MAX_PATH], stale[QF_MAX_PATH];
		qft_tmpdir(dir, "runner-dir");
		qf_fs_join(target, sizeof(target), dir, "job");
		if (rows[i].kind == 0) {
			qf_err e;
			qf_err_init(&e);
			assert_int_equal(qf_fs_mkdir_p(target, false, &e), 0);
			qf_fs_join(stale, sizeof(stale), target, rows[i].stale);
			qft_write(stale, "stale\n");
		} else if (rows[i].kind == 2) {
			qft_write(target, "not a directory\n");
		}
		qf_result r;
		qf_metrics m;
		qf_err e;
		qf_result_init(&r);
		qf_err_init(&e);
		int rc = qf_xtb_run(&mol, &s, 0, 0, target, NULL, &r, &m, &e);
		if (rc != QF_ESYS || e.category != QF_CAT_SYSTEM || strcmp(e.code, rows[i].code))
			fail_msg("%s: expected system/%s, got rc %d %s/%s: %s", rows[i].what, rows[i].code, rc,
			         qf_category_name(e.category), e.code, e.message);
		if (rows[i].kind == 0) {
			assert_false(in_dir(target, QF_XTB_STDOUT));
			assert_false(in_dir(target, QF_XTB_GEOMETRY));
			char *kept = qft_slurp(stale, NULL);
			assert_string_equal(kept, "stale\n");
			free(kept);
		}
		qf_result_release(&r);
		qf_fs_rm_rf(dir);
	}
	qf_mol_release(&mol);
}

/* ---- the failure table ------------------------------------------------------ */

static void test_scc_not_converged(void **state)
{
	(void)state;
	qf_mol mol;
	qft_load_xyz(&mol, "runner/caffeine.xyz");
	qf_spec s;
	qf_spec_init(&s);
	s.max_scc_iterations = 2;
	struct run x;
	run(&x, &mol, &s, NULL, "runner-scc");
	expect(&x, QF_CAT_CONVERGENCE, "xtb.scc_not_converged");
	assert_int_equal(x.m.exit_code, 1);
	assert_true(in_dir(x.dir, QF_XTB_STDOUT)); /* xtb did run */
	assert_true(x.m.wall_time > 0);
	run_release(&x);
	qf_mol_release(&mol);
}

/* xtb exits 0 and leaves .xtboptok although the optimisation ran out of
 * cycles: only the text says so. */
static void test_opt_out_of_cycles(void **state)
{
	(void)state;
	qf_mol mol;
	qft_load_xyz(&mol, "runner/caffeine.xyz");
	qf_spec s;
	qf_spec_init(&s);
	s.task = QF_TASK_OPT;
	s.max_opt_cycles = 2;
	struct run x;
	run(&x, &mol, &s, NULL, "runner-cycles");
	expect(&x, QF_CAT_CONVERGENCE, "xtb.opt_not_converged");
	assert_int_equal(x.m.exit_code, 0);
	assert_true(in_dir(x.dir, ".xtboptok")); /* the trap: xtb's own marker says ok */
	assert_false(x.m.is_converged);
	run_release(&x);

	/* The same molecule with xtb's own cycle count converges: the limit is
	 * what failed it. */
	s.max_opt_cycles = 0;
	run(&x, &mol, &s, NULL, "runner-cycles-ok");
	if (x.rc)
		fail_msg("optimisation without a cycle limit failed: %s (%s)", x.e.message, x.e.code);
	assert_true(x.m.is_converged);
	run_release(&x);
	qf_mol_release(&mol);
}

/* The SCC of a later optimisation step fails (the first one converges in 33
 * iterations on this stretched geometry): exit 1, NOT_CONVERGED. */
static void test_scc_fails_in_opt(void **state)
{
	(void)state;
	qf_mol mol;
	qft_load_xyz(&mol, "runner/caffeine_stretched.xyz");
	qf_spec s;
	qf_spec_init(&s);
	s.task = QF_TASK_OPT;
	s.max_scc_iterations = 40;
	struct run x;
	run(&x, &mol, &s, NULL, "runner-scc-opt");
	/* The root cause is the SCC, not the optimiser. */
	expect(&x, QF_CAT_CONVERGENCE, "xtb.scc_not_converged");
	assert_int_equal(x.m.exit_code, 1);
	assert_true(in_dir(x.dir, "NOT_CONVERGED"));
	run_release(&x);
	qf_mol_release(&mol);
}

/* A wrapper that records its pid (= xtb's after exec = the group id). */
static void pid_wrapper(const char *dir, char *script, char *pidfile, const char *extra)
{
	qf_fs_join(script, QF_MAX_PATH, dir, "xtb-wrapper");
	qf_fs_join(pidfile, QF_MAX_PATH, dir, "pid");
	char text[4 * QF_MAX_PATH];
	snprintf(text, sizeof(text), "#!/bin/sh\necho $$ > \"%s\"\n%s\nexec \"%s\" \"$@\"\n", pidfile,
	         extra, qft_xtb_path());
	write_script(script, text);
}

/* No live process is left in the group. Members that were reparented to
 * init may linger a moment as zombies until init reaps them: they count as
 * gone; the wait for the group to vanish is bounded. */
static bool group_gone(pid_t pgid)
{
	for (int round = 0; round < 250; round++) {
		errno = 0;
		if (kill(-pgid, 0) != 0 && errno == ESRCH)
			return true;
		bool live = false;
		DIR *d = opendir("/proc");
		assert_non_null(d);
		struct dirent *e;
		while (!live && (e = readdir(d))) {
			long pid;
			if (!qf_parse_int(e->d_name, 1, 1L << 30, &pid))
				continue;
			char path[64], buf[1024];
			snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
			FILE *f = fopen(path, "r");
			if (!f)
				continue;
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			buf[n] = '\0';
			const char *rp = strrchr(buf, ')');
			char state;
			long ppid, pgrp;
			if (rp && sscanf(rp + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
			    state != 'Z' && state != 'X')
				live = true;
		}
		closedir(d);
		if (!live)
			return true;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return false;
}

static pid_t read_pid(const char *pidfile)
{
	char *text = qft_slurp(pidfile, NULL);
	qf_rstrip(text);
	long v;
	if (!qf_parse_int(text, 2, 1L << 30, &v))
		fail_msg("no pid in %s: '%s'", pidfile, text);
	free(text);
	return (pid_t)v;
}

/* A tiny time limit on a 392-atom GFN2 singlepoint (about 5 s): timeout,
 * returned within timeout + grace + a few seconds, no process of the group
 * left. */
static void test_timeout(void **state)
{
	(void)state;
	char tmp[QF_MAX_PATH], script[QF_MAX_PATH], pidfile[QF_MAX_PATH];
	qft_tmpdir(tmp, "runner-timeout-fixture");
	pid_wrapper(tmp, script, pidfile, "");
	qf_mol mol;
	qft_alkane(&mol, 130);
	assert_int_equal(mol.natoms, 392);
	qf_spec s;
	qf_spec_init(&s);
	s.timeout = 0.5;
	qf_xtb_opts o;
	qf_xtb_opts_init(&o);
	o.xtb = script;
	o.kill_grace = 1.0;
	struct run x;
	run(&x, &mol, &s, &o, "runner-timeout");
	expect(&x, QF_CAT_TIMEOUT, "xtb.timeout");
	assert_true(x.m.timed_out);
	/* xtb usually catches SIGTERM and exits 1; when it deadlocks instead,
	 * SIGKILL ends it. Either way it did not finish its work. */
	assert_true(x.m.exit_code != 0);
	assert_false(x.r.has_energy);
	if (x.took > 0.5 + 1.0 + 10)
		fail_msg("the timed-out run took %.1f s to return", x.took);
	pid_t pgid = read_pid(pidfile);
	if (!group_gone(pgid))
		fail_msg("process group %ld still has members after the timeout", (long)pgid);
	assert_no_children();
	run_release(&x);
	qf_mol_release(&mol);
	qf_fs_rm_rf(tmp);
}

/* xtb killed by a signal we did not send: system, xtb.killed. */
static void test_killed(void **state)
{
	(void)state;
	char tmp[QF_MAX_PATH], script[QF_MAX_PATH], pidfile[QF_MAX_PATH];
	qft_tmpdir(tmp, "runner-killed-fixture");
	pid_wrapper(tmp, script, pidfile, "( sleep 0.3; kill -KILL $$ ) &");
	qf_mol mol;
	qft_alkane(&mol, 130);
	qf_spec s;
	qf_spec_init(&s);
	s.timeout = 120;
	qf_xtb_opts o;
	qf_xtb_opts_init(&o);
	o.xtb = script;
	struct run x;
	run(&x, &mol, &s, &o, "runner-killed");
	expect(&x, QF_CAT_SYSTEM, "xtb.killed");
	assert_false(x.m.timed_out);
	assert_int_equal(x.m.term_signal, SIGKILL);
	assert_int_equal(x.m.exit_code, -1);
	pid_t pgid = read_pid(pidfile);
	if (!group_gone(pgid))
		fail_msg("process group %ld still has members", (long)pgid);
	assert_no_children();
	run_release(&x);
	qf_mol_release(&mol);
	qf_fs_rm_rf(tmp);
}

static void test_not_found(void **state)
{
	(void)state;
	char tmp[QF_MAX_PATH], empty[QF_MAX_PATH], plain[QF_MAX_PATH];
	qft_tmpdir(tmp, "runner-notfound-fixture");
	qf_fs_join(empty, sizeof(empty), tmp, "empty-bin");
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_fs_mkdir_p(empty, false, &e), 0);
	qf_fs_join(plain, sizeof(plain), tmp, "xtb-not-executable");
	qft_write(plain, "#!/bin/sh\nexit 0\n");
	assert_int_equal(chmod(plain, 0644), 0);
	qf_mol mol;
	qft_load_xyz(&mol, "runner/caffeine.xyz");
	qf_spec s;
	qf_spec_init(&s);
	const struct {
		const char *what;
		const char *xtb;
		const char *path_env; /* PATH during the run, NULL: unchanged */
	} rows[] = {
		{"missing file", "/nonexistent/bin/xtb", NULL},
		{"not in an empty PATH", "xtb", empty},
		{"default name, empty PATH", NULL, empty},
		{"not executable", plain, NULL},
	};
	char *saved = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	for (size_t i = 0; i < COUNT(rows); i++) {
		qf_xtb_opts o;
		qf_xtb_opts_init(&o);
		o.xtb = rows[i].xtb;
		if (rows[i].path_env)
			setenv("PATH", rows[i].path_env, 1);
		struct run x;
		run(&x, &mol, &s, &o, "runner-notfound");
		setenv("PATH", saved, 1);
		if (x.rc != QF_ESYS || x.e.category != QF_CAT_SYSTEM || strcmp(x.e.code, "xtb.not_found"))
			fail_msg("%s: expected system/xtb.not_found, got rc %d %s/%s: %s", rows[i].what, x.rc,
			         qf_category_name(x.e.category), x.e.code, x.e.message);
		assert_non_null(strstr(x.e.message, "install"));
		assert_false(in_dir(x.dir, QF_XTB_STDOUT));
		run_release(&x);
	}
	free(saved);
	qf_mol_release(&mol);
	qf_fs_rm_rf(tmp);
}

/* ---- the environment xtb gets ------------------------------------------------ */

static const char *env_value(const char *text, const char *key, char *out, size_t size)
{
	size_t n = strlen(key);
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > n && !strncmp(p, key, n) && p[n] == '=') {
			snprintf(out, size, "%.*s", (int)(len - n - 1), p + n + 1);
			return out;
		}
		p = nl ? nl + 1 : NULL;
	}
	fail_msg("%s not recorded in:\n%s", key, text);
	return NULL;
}

/* What the xtb process really gets: threads (forced to 1 above 500 atoms),
 * OMP stack, unlimited stack, memory limit, XTBPATH (set for GFN0 alone,
 * kept when given: include/qf/limits.h). */
static void test_environment(void **state)
{
	(void)state;
	char tmp[QF_MAX_PATH], script[QF_MAX_PATH], record[QF_MAX_PATH];
	qft_tmpdir(tmp, "runner-env-fixture");
	qf_fs_join(script, sizeof(script), tmp, "xtb-wrapper");
	qf_fs_join(record, sizeof(record), tmp, "env.txt");
	char text[4 * QF_MAX_PATH];
	snprintf(text, sizeof(text),
	         "#!/bin/sh\n"
	         "{ echo threads=$OMP_NUM_THREADS; echo blas=$OPENBLAS_NUM_THREADS;"
	         " echo mkl=$MKL_NUM_THREADS; echo ompstack=$OMP_STACKSIZE;"
	         " echo levels=$OMP_MAX_ACTIVE_LEVELS; echo xtbpath=$XTBPATH;"
	         " echo unbuffered=$GFORTRAN_UNBUFFERED_PRECONNECTED;"
	         " echo stack=$(ulimit -s); echo as=$(ulimit -v); } > \"%s\"\n"
	         "exec \"%s\" \"$@\"\n",
	         record, qft_xtb_path());
	write_script(script, text);

	qf_mol caffeine, big;
	qft_load_xyz(&caffeine, "runner/caffeine.xyz");
	qft_alkane(&big, 200); /* 602 atoms: GFN-FF keeps it fast */
	const struct {
		const char *what;
		const qf_mol *mol;
		qf_method method;
		int threads;
		long memory_mb;
		const char *xtbpath; /* in our environment; NULL: unset */
		const char *want_threads, *want_as, *want_xtbpath;
	} rows[] = {
		/* Address space: the memory limit plus 1 GiB of OpenMP stack per
		 * thread (16384 MiB default: 17408 MiB on 1 thread = 17825792 KiB).
		 * XTBPATH stays unset but for GFN0 (xtb's built-in GFN1/GFN2/GFN-FF
		 * parameters, as a plain xtb run has them). */
		{"small, 2 threads", &caffeine, QF_METHOD_GFN2, 2, 0, NULL, "2", "18874368", ""},
		{"602 atoms, 2 threads", &big, QF_METHOD_GFNFF, 2, 0, NULL, "1", "17825792", ""},
		{"unlimited memory", &caffeine, QF_METHOD_GFN2, 1, -1, NULL, "1", "unlimited", ""},
		{"4 GiB", &caffeine, QF_METHOD_GFN2, 1, 4096, NULL, "1", "5242880", ""},
		/* 8 threads of 1 GiB stack do not fit in 4 GiB: libgomp could not
		 * create them before the stacks were counted. */
		{"4 GiB, 8 threads", &caffeine, QF_METHOD_GFN2, 8, 4096, NULL, "8", "12582912", ""},
		{"GFN1", &caffeine, QF_METHOD_GFN1, 1, 0, NULL, "1", "17825792", ""},
		/* GFN0 (which xtb 6.5.1's program may then fail on: its result is
		 * not looked at here) */
		{"GFN0", &caffeine, QF_METHOD_GFN0, 1, 0, NULL, "1", "17825792", "/usr/share/xtb"},
		{"XTBPATH kept", &caffeine, QF_METHOD_GFN2, 1, 0, "/usr/share/xtb/", "1", "17825792",
		 "/usr/share/xtb/"},
		{"XTBPATH kept, GFN0", &caffeine, QF_METHOD_GFN0, 1, 0, "/usr/share/xtb/", "1", "17825792",
		 "/usr/share/xtb/"},
	};
	char *saved = getenv("XTBPATH") ? strdup(getenv("XTBPATH")) : NULL;
	for (size_t i = 0; i < COUNT(rows); i++) {
		if (rows[i].xtbpath)
			setenv("XTBPATH", rows[i].xtbpath, 1);
		else
			unsetenv("XTBPATH");
		qf_spec s;
		qf_spec_init(&s);
		s.method = rows[i].method;
		s.threads = rows[i].threads;
		s.timeout = rows[i].method == QF_METHOD_GFN0 ? 30 : 120;
		qf_xtb_opts o;
		qf_xtb_opts_init(&o);
		o.xtb = script;
		o.memory_mb = rows[i].memory_mb;
		unlink(record);
		struct run x;
		run(&x, rows[i].mol, &s, &o, "runner-env");
		if (rows[i].method != QF_METHOD_GFN0) {
			if (x.rc)
				fail_msg("%s: the run failed: %s (%s)", rows[i].what, x.e.message, x.e.code);
			assert_true(x.r.has_energy);
		}
		char *env = qft_slurp(record, NULL);
		char v[256];
		static const char *const fixed[][2] = {
			{"ompstack", "1G"}, {"levels", "1"}, {"unbuffered", "y"}, {"stack", "unlimited"},
		};
		for (size_t k = 0; k < COUNT(fixed); k++)
			if (strcmp(env_value(env, fixed[k][0], v, sizeof(v)), fixed[k][1]))
				fail_msg("%s: %s is '%s', expected '%s'", rows[i].what, fixed[k][0], v, fixed[k][1]);
		static const char *const thread_keys[] = {"threads", "blas", "mkl"};
		for (size_t k = 0; k < COUNT(thread_keys); k++)
			if (strcmp(env_value(env, thread_keys[k], v, sizeof(v)), rows[i].want_threads))
				fail_msg("%s: %s is '%s', expected '%s'", rows[i].what, thread_keys[k], v,
				         rows[i].want_threads);
		if (strcmp(env_value(env, "as", v, sizeof(v)), rows[i].want_as))
			fail_msg("%s: address-space limit is '%s', expected '%s'", rows[i].what, v, rows[i].want_as);
		if (strcmp(env_value(env, "xtbpath", v, sizeof(v)), rows[i].want_xtbpath))
			fail_msg("%s: XTBPATH is '%s', expected '%s'", rows[i].what, v, rows[i].want_xtbpath);
		free(env);
		run_release(&x);
	}
	if (saved) {
		setenv("XTBPATH", saved, 1);
		free(saved);
	} else {
		unsetenv("XTBPATH");
	}
	qf_mol_release(&caffeine);
	qf_mol_release(&big);
	qf_fs_rm_rf(tmp);
}

/* A cancel flag ends the run like a timeout does, reported as ours. */
static void test_cancelled(void **state)
{
	(void)state;
	qf_mol mol;
	qft_alkane(&mol, 130);
	qf_spec s;
	qf_spec_init(&s);
	volatile int flag = 1;
	qf_xtb_opts o;
	qf_xtb_opts_init(&o);
	o.cancel = &flag;
	o.kill_grace = 1.0;
	struct run x;
	run(&x, &mol, &s, &o, "runner-cancel");
	expect(&x, QF_CAT_SYSTEM, "xtb.cancelled");
	assert_false(x.m.timed_out);
	assert_false(x.r.has_energy);
	if (x.took > 1.0 + 10)
		fail_msg("the cancelled run took %.1f s to return", x.took);
	assert_no_children();
	run_release(&x);
	qf_mol_release(&mol);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv_shape),
		cmocka_unit_test(test_refused_before_running),
		cmocka_unit_test(test_directory_refused),
		cmocka_unit_test(test_scc_not_converged),
		cmocka_unit_test(test_opt_out_of_cycles),
		cmocka_unit_test(test_scc_fails_in_opt),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_killed),
		cmocka_unit_test(test_cancelled),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_environment),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
