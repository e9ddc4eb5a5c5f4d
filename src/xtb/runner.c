/* Running xtb on one molecule: see include/qf/runner.h.
 *
 * Every trap of xtb 6.5.1 that the command line can walk into is defended
 * here (notes/xtb-6.5.1.md): the spec and the molecule are validated before
 * anything runs; the directory must be empty (stale charges, wbo, xtbrestart
 * and gfnff_topo are reused silently); we write the geometry ourselves with a
 * plain comment line and pass --input holding only "$end" (never empty: an
 * empty input makes xtb spin forever); the geometry comes first in the argv
 * and the optimisation level is always given (--opt swallows the next
 * argument); the stack is unlimited and OMP_STACKSIZE set (large molecules
 * crash otherwise), one thread above QF_XTB_MAX_ATOMS_THREADED atoms;
 * XTBPATH is set for GFN0 only (include/qf/limits.h); the timeout ends in
 * SIGKILL of the group (xtb deadlocks on SIGTERM now and then: qf_proc_run).
 */
#include "qf/runner.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/fs.h"
#include "qf/limits.h"
#include "qf/log.h"
#include "qf/molio.h"
#include "qf/proc.h"
#include "qf/str.h"
#include "qf/xtbparse.h"

/* Stack of each OpenMP thread of xtb (OMP_STACKSIZE; large molecules crash
 * with less). It is reserved address space, so the address-space limit is
 * raised by this much per thread: with 16 GiB and 1 GiB stacks, xtb on more
 * than about 15 threads could not even create them ("libgomp: Thread
 * creation failed"). */
#define XTB_OMP_STACK "OMP_STACKSIZE=1G"
#define XTB_OMP_STACK_MB 1024L

/* Wall-time limit of `xtb --version`. */
#define XTB_VERSION_TIMEOUT_S 30.0

/* Most words an xtb command line of ours has (counted in qf_xtb_argv). */
#define XTB_MAX_ARGS 40

/* Programs whose version we remember (distinct xtb paths in one process). */
#define XTB_VERSION_CACHE 8

void qf_xtb_opts_init(qf_xtb_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->xtb = NULL;
	o->memory_mb = 0;
	o->kill_grace = -1;
	o->cancel = NULL;
}

/* ---- argv ---------------------------------------------------------------- */

struct words {
	char *w[XTB_MAX_ARGS + 1];
	int n;
	bool failed;
};

static void add(struct words *a, const char *s)
{
	if (a->failed)
		return;
	if (a->n >= XTB_MAX_ARGS || !(a->w[a->n] = strdup(s))) {
		a->failed = true;
		return;
	}
	a->n++;
}

static void addf(struct words *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(struct words *a, const char *fmt, ...)
{
	char buf[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		a->failed = true;
		return;
	}
	add(a, buf);
}

char **qf_xtb_argv(const char *xtb, const qf_spec *spec, int charge, int uhf)
{
	struct words a;
	memset(&a, 0, sizeof(a));
	add(&a, xtb ? xtb : "xtb");
	/* The geometry first: --opt/--ohess would swallow it as their level. */
	add(&a, QF_XTB_GEOMETRY);
	add(&a, "--input");
	add(&a, QF_XTB_XCONTROL);
	switch (spec->method) {
	case QF_METHOD_GFN2: add(&a, "--gfn"); add(&a, "2"); break;
	case QF_METHOD_GFN1: add(&a, "--gfn"); add(&a, "1"); break;
	case QF_METHOD_GFN0: add(&a, "--gfn"); add(&a, "0"); break;
	case QF_METHOD_GFNFF: add(&a, "--gfnff"); break;
	default: a.failed = true; break;
	}
	add(&a, "--chrg");
	addf(&a, "%d", charge);
	add(&a, "--uhf");
	addf(&a, "%d", uhf);
	add(&a, "--etemp");
	addf(&a, "%.17g", spec->etemp);
	add(&a, "--acc");
	addf(&a, "%.17g", spec->accuracy);
	add(&a, "--iterations");
	addf(&a, "%d", spec->max_scc_iterations);
	add(&a, "--json");
	add(&a, "--norestart");
	if (spec->solvation == QF_SOLV_ALPB || spec->solvation == QF_SOLV_GBSA) {
		add(&a, spec->solvation == QF_SOLV_ALPB ? "--alpb" : "--gbsa");
		add(&a, spec->solvent);
	}
	switch (spec->task) {
	case QF_TASK_SP: add(&a, "--grad"); break;
	case QF_TASK_OPT: add(&a, "--opt"); add(&a, qf_level_name(spec->level)); break;
	case QF_TASK_HESS: add(&a, "--hess"); break;
	case QF_TASK_OHESS: add(&a, "--ohess"); add(&a, qf_level_name(spec->level)); break;
	default: a.failed = true; break;
	}
	if (qf_task_optimises(spec->task) && spec->max_opt_cycles > 0) {
		add(&a, "--cycles");
		addf(&a, "%d", spec->max_opt_cycles);
	}
	char **argv = NULL;
	if (!a.failed)
		argv = calloc((size_t)a.n + 1, sizeof(*argv));
	if (!argv) {
		for (int i = 0; i < a.n; i++)
			free(a.w[i]);
		return NULL;
	}
	memcpy(argv, a.w, (size_t)a.n * sizeof(*argv));
	argv[a.n] = NULL;
	return argv;
}

void qf_xtb_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

/* ---- version --------------------------------------------------------------- */

static pthread_mutex_t version_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char path[QF_MAX_PATH];
	char version[32];
} version_cache[XTB_VERSION_CACHE];
static int version_next;

static int not_found(qf_err *err, const char *xtb)
{
	return qf_err_set(err, QF_CAT_SYSTEM, "xtb.not_found",
	                  "xtb program '%s' was not found or is not executable: install xtb "
	                  "(scripts/install-deps) or put it in PATH",
	                  xtb);
}

/* "6.5.1" from the "xtb version 6.5.1 (...)" line. */
static bool parse_version(const char *text, char *out, size_t size)
{
	const char *p = strstr(text, "xtb version ");
	if (!p)
		return false;
	p += strlen("xtb version ");
	size_t n = strspn(p, "0123456789.");
	if (n == 0 || n >= size || p[0] == '.')
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

int qf_xtb_version(const char *xtb, char *out, size_t size, qf_err *err)
{
	qf_err local_err;
	if (!err) {
		qf_err_init(&local_err);
		err = &local_err;
	}
	const char *name = xtb ? xtb : "xtb";
	char path[QF_MAX_PATH];
	if (!qf_fs_which(name, path, sizeof(path)))
		return not_found(err, name);

	pthread_mutex_lock(&version_lock);
	for (int i = 0; i < XTB_VERSION_CACHE; i++) {
		if (version_cache[i].path[0] && !strcmp(version_cache[i].path, path)) {
			size_t n = qf_strlcpy(out, version_cache[i].version, size);
			pthread_mutex_unlock(&version_lock);
			return n < size ? 0 : qf_err_set(err, QF_CAT_SYSTEM, "xtb.version",
			                                 "no room for the xtb version: fix the caller");
		}
	}
	pthread_mutex_unlock(&version_lock);

	/* xtb may leave files in its working directory: give it a scratch one. */
	const char *tmp = getenv("TMPDIR");
	char dir[QF_MAX_PATH], log[QF_MAX_PATH];
	if (qf_snprintf(dir, sizeof(dir), "%s/qforge-xtb-version.XXXXXX", tmp && *tmp ? tmp : "/tmp") ||
	    !mkdtemp(dir))
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io",
		                  "could not create a scratch directory to ask xtb its version: %s",
		                  strerror(errno));
	int rc = qf_fs_join(log, sizeof(log), dir, "stdout.log");
	const char *argv[] = {path, "--version", NULL};
	qf_proc_opts po;
	memset(&po, 0, sizeof(po));
	po.argv = argv;
	po.cwd = dir;
	po.stdout_path = log;
	po.timeout = XTB_VERSION_TIMEOUT_S;
	po.kill_grace = -1;
	qf_proc_result pr;
	char *text = NULL;
	if (rc == 0)
		rc = qf_proc_run(&po, &pr, err);
	if (rc == 0 && qf_fs_read(log, QF_MAX_CAPTURE_BYTES, &text, NULL, err) != 0)
		rc = qf_err_set(err, QF_CAT_SYSTEM, "xtb.version",
		                "could not read the output of '%s --version': %s", path, err->message);
	char version[32];
	if (rc == 0 && !parse_version(text, version, sizeof(version)))
		rc = qf_err_set(err, QF_CAT_SYSTEM, "xtb.version",
		                "could not read the version from '%s --version' (exit status %d): "
		                "is it xtb?",
		                path, pr.exit_code);
	free(text);
	qf_fs_rm_rf(dir);
	if (rc)
		return rc;

	pthread_mutex_lock(&version_lock);
	qf_strlcpy(version_cache[version_next].path, path, sizeof(version_cache[0].path));
	qf_strlcpy(version_cache[version_next].version, version, sizeof(version_cache[0].version));
	version_next = (version_next + 1) % XTB_VERSION_CACHE;
	pthread_mutex_unlock(&version_lock);
	if (qf_strlcpy(out, version, size) >= size)
		return qf_err_set(err, QF_CAT_SYSTEM, "xtb.version",
		                  "no room for the xtb version: fix the caller");
	return 0;
}

/* ---- run ------------------------------------------------------------------- */

/* The directory must exist and be empty: xtb silently reuses stale files. */
static int check_dir(const char *dir, qf_err *err)
{
	if (!dir || !*dir)
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "no job directory given: fix the caller");
	DIR *d = opendir(dir);
	if (!d)
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io",
		                  "could not open job directory %s: %s; create it (empty) before running",
		                  dir, strerror(errno));
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		rc = qf_err_set(err, QF_CAT_SYSTEM, "system.dirty_dir",
		                "job directory %s is not empty (it holds '%s'): xtb would reuse stale "
		                "files and silently change the results; run in a fresh directory",
		                dir, e->d_name);
		break;
	}
	closedir(d);
	return rc;
}

static int path_in(char *out, size_t size, const char *dir, const char *name, qf_err *err)
{
	if (qf_fs_join(out, size, dir, name))
		return qf_err_set(err, QF_CAT_SYSTEM, "system.path", "path too long: %s/%s", dir, name);
	return 0;
}

/* A capture file as text ("" when absent): for the classifier. */
static char *read_text(const char *path)
{
	char *text = NULL;
	qf_err e;
	qf_err_init(&e);
	/* The capture cap plus room for the truncation marker. */
	if (qf_fs_read(path, (size_t)QF_MAX_CAPTURE_BYTES + 256, &text, NULL, &e) == 0)
		return text;
	return strdup("");
}

int qf_xtb_run(const qf_mol *mol, const qf_spec *spec, int charge, int uhf,
               const char *dir, const qf_xtb_opts *o, qf_result *r,
               qf_metrics *m, qf_err *err)
{
	qf_err local_err;
	if (!err) {
		qf_err_init(&local_err);
		err = &local_err;
	}
	qf_xtb_opts defaults;
	if (!o) {
		qf_xtb_opts_init(&defaults);
		o = &defaults;
	}
	qf_metrics_init(m);
	const char *xtb = o->xtb && *o->xtb ? o->xtb : "xtb";

	/* Everything xtb would get wrong silently is refused before it runs. */
	int rc = qf_spec_validate(spec, err);
	if (rc)
		return rc;
	rc = qf_mol_validate(mol, qf_method_max_z(spec->method), charge, uhf, err);
	if (rc)
		return rc;
	rc = check_dir(dir, err);
	if (rc)
		return rc;

	char geometry[QF_MAX_PATH], xcontrol[QF_MAX_PATH], out_path[QF_MAX_PATH], err_path[QF_MAX_PATH];
	if ((rc = path_in(geometry, sizeof(geometry), dir, QF_XTB_GEOMETRY, err)) ||
	    (rc = path_in(xcontrol, sizeof(xcontrol), dir, QF_XTB_XCONTROL, err)) ||
	    (rc = path_in(out_path, sizeof(out_path), dir, QF_XTB_STDOUT, err)) ||
	    (rc = path_in(err_path, sizeof(err_path), dir, QF_XTB_STDERR, err)))
		return rc;
	/* The name stays out of the geometry file (its comment line is read as
	 * xcontrol input); "$end" only, never an empty input file. */
	if ((rc = qf_mol_write_xyz(mol, geometry, err)))
		return rc;
	if ((rc = qf_fs_write(xcontrol, "$end\n", 5, err)))
		return rc;

	int threads = spec->threads;
	if (threads > 1 && mol->natoms > QF_XTB_MAX_ATOMS_THREADED) {
		qf_log_warn("xtb", "%d atoms: running xtb on 1 thread instead of %d (xtb 6.5.1 crashes on "
		            "large molecules with more threads)", mol->natoms, threads);
		threads = 1;
	}
	char omp[48], blas[48], mkl[48];
	snprintf(omp, sizeof(omp), "OMP_NUM_THREADS=%d", threads);
	snprintf(blas, sizeof(blas), "OPENBLAS_NUM_THREADS=%d", threads);
	snprintf(mkl, sizeof(mkl), "MKL_NUM_THREADS=%d", threads);
	const char *xtbpath = getenv("XTBPATH");
	bool set_xtbpath = spec->method == QF_METHOD_GFN0 && !(xtbpath && *xtbpath);
	const char *env[] = {
		omp, blas, mkl,
		XTB_OMP_STACK,
		"OMP_MAX_ACTIVE_LEVELS=1",
		"GFORTRAN_UNBUFFERED_PRECONNECTED=y",
		/* Last: unless it is set here, this NULL ends the list and the
		 * inherited environment decides (include/qf/limits.h). */
		set_xtbpath ? "XTBPATH=" QF_XTB_PARAM_DIR : NULL,
		NULL,
	};

	char **argv = qf_xtb_argv(xtb, spec, charge, uhf);
	if (!argv)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory building the xtb command line");
	qf_proc_opts po;
	memset(&po, 0, sizeof(po));
	po.argv = (const char *const *)argv;
	po.env = env;
	po.cwd = dir;
	po.stdout_path = out_path;
	po.stderr_path = err_path;
	po.timeout = spec->timeout;
	po.kill_grace = o->kill_grace;
	long memory_mb = o->memory_mb == 0 ? QF_XTB_MEMORY_MB : o->memory_mb;
	po.memory_mb = memory_mb < 0 ? 0 : memory_mb + threads * XTB_OMP_STACK_MB;
	po.unlimited_stack = true;
	po.cancel = o->cancel;
	qf_proc_result pr;
	rc = qf_proc_run(&po, &pr, err);
	qf_xtb_argv_free(argv);
	if (rc) {
		if (!strcmp(err->code, "proc.not_found"))
			return not_found(err, xtb);
		qf_err_prefix(err, "could not run xtb");
		return rc;
	}

	qf_xtb_outinfo info;
	qf_xtb_outinfo_init(&info);
	qf_err cerr;
	qf_err_init(&cerr);
	int crc = qf_xtb_collect(dir, mol, spec, r, m, &info, &cerr);

	/* How the process ran is ours, not the parser's. */
	m->wall_time = pr.wall_time;
	m->cpu_time = pr.cpu_time;
	m->memory_peak_mb = pr.maxrss_mb;
	m->exit_code = pr.exit_code;
	m->term_signal = pr.term_signal;
	m->timed_out = pr.timed_out;
	qf_strlcpy(m->method, qf_method_label(spec->method), sizeof(m->method));
	if (spec->solvation != QF_SOLV_NONE)
		snprintf(m->solvation, sizeof(m->solvation), "%s/%s", qf_solvation_name(spec->solvation),
		         spec->solvent);
	else
		m->solvation[0] = '\0';
	if (!m->xtb_version[0]) {
		qf_err verr;
		qf_err_init(&verr);
		if (qf_xtb_version(xtb, m->xtb_version, sizeof(m->xtb_version), &verr))
			qf_log_debug("xtb", "version of %s unknown: %s", xtb, verr.message);
	}

	char *out_text = read_text(out_path);
	char *err_text = read_text(err_path);
	rc = qf_xtb_classify(spec, &pr, &info, r, out_text ? out_text : "", err_text ? err_text : "",
	                     err);
	free(out_text);
	free(err_text);
	if (rc == 0 && crc != 0) {
		*err = cerr;
		rc = crc;
	}
	if (rc)
		qf_log_info("xtb", "xtb in %s: %s (%s)", dir, err->message, err->code);
	return rc;
}
