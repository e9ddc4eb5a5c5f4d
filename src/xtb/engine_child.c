/* The in-process xTB executor, child side: the loop `qforge engine --fd N`
 * runs (see include/qf/engine.h). The only code of qforge that calls libxtb.
 *
 * The traps of the C API (notes/xtb-6.5.1.md, "The C API") and what this
 * file does about them:
 *   - after a failed SCC, xtb_getEnergy still returns the unconverged energy:
 *     xtb_checkEnvironment right after xtb_singlepoint decides, and a failed
 *     calculation answers with no numbers at all;
 *   - xtb_getError does not NUL-terminate: the buffer is zeroed and one byte
 *     is kept back;
 *   - a second xtb_setSolvent without xtb_releaseSolvent kills the process:
 *     xtb_setSolvent is only ever called on a calculator just loaded;
 *   - results objects keep the last wavefunction as the next initial guess:
 *     each calculation gets a fresh one, as `xtb --norestart` would;
 *   - molecule coordinates are in Bohr: the request's Angstrom are converted
 *     with the factor of mctc-lib 0.3.1, which reads xtb's geometry files (its
 *     Bohr radius is derived from CODATA 2018: 0.5291772109044924 A), so that
 *     the engine and the xtb program compute the same molecule;
 *   - GFN-FF writes files into the working directory: it is not run here.
 *
 * The SCC iteration count is not returned by libxtb. It is read from xtb's
 * own printout: at minimal verbosity xtb prints one line per SCC iteration
 * to the environment's output, which is bound once to scratch/scc.log; the
 * parent starts us with GFORTRAN_UNBUFFERED_ALL=y, so each line reaches the
 * file at once, and the file is truncated before each calculation. Without
 * that variable, or when the file's descriptor cannot be found, xtb stays
 * muted and the count is unknown (-1).
 */
#include "qf/engine.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xtb.h>

#include "qf/clock.h"
#include "qf/limits.h"
#include "qf/str.h"

_Static_assert(sizeof(int) == sizeof(int32_t), "libxtb takes int arrays");

/* mctc-lib 0.3.1's Bohr radius in Angstrom: hbar / (m_e c alpha) from
 * CODATA 2018, as computed in double precision (mctc_io_convert autoaa). */
#define MCTC_AUTOAA 0.5291772109044924
static const double aatoau = 1.0 / MCTC_AUTOAA;

/* Wiberg bond orders kept, as xtb's own wbo file. */
#define WBO_THRESHOLD 0.1

/* The SCC printout file in the child's working directory. */
#define SCC_LOG "scc.log"

static long xtb_calls;

/* libxtb is loaded by the child alone (dlopen of its SONAME when the engine
 * loop starts), not linked into qforge: its libraries (gfortran, OpenBLAS,
 * OpenMP) cost every start of every qforge program ~4 ms of relocations, and
 * no other part of qforge calls it. Every xtb_ call below goes through this
 * table, filled from the library by load_libxtb. */
#define XTB_LIBRARY "libxtb.so.6"
#define XTB_FUNCTIONS(X)                                                                          \
	X(xtb_checkEnvironment) X(xtb_delCalculator) X(xtb_delEnvironment) X(xtb_delMolecule)      \
	X(xtb_delResults) X(xtb_getAPIVersion) X(xtb_getBondOrders) X(xtb_getCharges)               \
	X(xtb_getDipole) X(xtb_getEnergy) X(xtb_getError) X(xtb_getGradient) X(xtb_getNao)          \
	X(xtb_getOrbitalEigenvalues) X(xtb_getOrbitalOccupations) X(xtb_loadGFN0xTB)               \
	X(xtb_loadGFN1xTB) X(xtb_loadGFN2xTB) X(xtb_newCalculator) X(xtb_newEnvironment)           \
	X(xtb_newMolecule) X(xtb_newResults) X(xtb_setAccuracy) X(xtb_setElectronicTemp)           \
	X(xtb_setMaxIter) X(xtb_setOutput) X(xtb_setSolvent) X(xtb_setVerbosity)                   \
	X(xtb_singlepoint) X(xtb_updateMolecule)

#define XTB_MEMBER(f) __typeof__(f) *f;
static struct {
	XTB_FUNCTIONS(XTB_MEMBER)
} xtb;
#undef XTB_MEMBER

/* 0, or -1 with err set. The library stays loaded for the child's life. */
static int load_libxtb(qf_err *err)
{
	void *h = dlopen(XTB_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		return qf_err_set(err, QF_CAT_SYSTEM, "engine.start",
		                  "cannot load libxtb (%s): install libxtb-dev (scripts/install-deps)",
		                  why ? why : XTB_LIBRARY);
	}
#define XTB_RESOLVE(f)                                                                            \
	if (!(*(void **)&xtb.f = dlsym(h, #f)))                                                   \
		return qf_err_set(err, QF_CAT_SYSTEM, "engine.start",                             \
		                  "libxtb (%s) has no %s: not the xtb 6.5 C API", XTB_LIBRARY, #f);
	XTB_FUNCTIONS(XTB_RESOLVE)
#undef XTB_RESOLVE
	return 0;
}

long qf__engine_xtb_calls(void)
{
	return xtb_calls;
}

struct child {
	int fd;
	xtb_TEnvironment env;
	/* The molecule and calculator, and what they were made for. */
	xtb_TMolecule mol;
	xtb_TCalculator calc;
	int method, charge, uhf, natoms;
	char solvent[32];
	int *z;
	int log_fd; /* descriptor of xtb's output unit (scc.log), -1 unknown */
	bool ran_gfn0; /* GFN0 leaves state that spoils later GFN2 energies */
};

/* ---- talking to the parent ------------------------------------------------- */

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t k = send(fd, p, len, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

/* 0: filled; 1: end of file before the first byte; -1: error or a short read. */
static int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t k = recv(fd, p + got, len - got, 0);
		if (k == 0)
			return got == 0 ? 1 : -1;
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)k;
	}
	return 0;
}

static int send_reply(int fd, uint32_t seq, const qf__engine_reply *rp, qf_err *err)
{
	qf_buf b;
	qf_buf_init(&b, (size_t)QF_ENGINE_MAX_MESSAGE);
	int rc = qf__engine_encode_reply(&b, seq, rp, err);
	if (rc == 0 && send_all(fd, b.data, b.len))
		rc = qf_err_set(err, QF_CAT_SYSTEM, "engine.io", "could not answer the parent: %s",
		                strerror(errno));
	qf_buf_release(&b);
	return rc;
}

/* ---- libxtb ------------------------------------------------------------------ */

/* "6.5.1" from the file name of the libxtb this process loaded
 * (libxtb.so.6.5.1 on Debian); "" when it does not say. */
static void library_version(char *out, size_t size)
{
	out[0] = '\0';
	Dl_info info;
	char real[PATH_MAX];
	if (!dladdr((void *)xtb.xtb_newEnvironment, &info) || !info.dli_fname ||
	    !realpath(info.dli_fname, real))
		return;
	const char *base = strrchr(real, '/');
	base = base ? base + 1 : real;
	const char *v = strstr(base, ".so.");
	if (!v)
		return;
	v += 4;
	size_t n = strspn(v, "0123456789.");
	int dots = 0;
	for (size_t i = 0; i < n; i++)
		dots += v[i] == '.';
	if (n == 0 || v[n] != '\0' || dots != 2 || n >= size)
		return;
	memcpy(out, v, n);
	out[n] = '\0';
}

/* The descriptor of the file at path among our open ones, or -1. */
static int find_fd(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int found = -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		long fd;
		if (!qf_parse_int(de->d_name, 0, INT_MAX, &fd) || fd == dirfd(d))
			continue;
		char link[64], target[PATH_MAX];
		snprintf(link, sizeof(link), "/proc/self/fd/%ld", fd);
		ssize_t k = readlink(link, target, sizeof(target) - 1);
		if (k <= 0)
			continue;
		target[k] = '\0';
		if (!strcmp(target, path)) {
			found = (int)fd;
			break;
		}
	}
	closedir(d);
	return found;
}

/* Bind xtb's printout to scratch/scc.log when it can be read back. */
static void setup_log(struct child *c)
{
	c->log_fd = -1;
	const char *unbuf = getenv("GFORTRAN_UNBUFFERED_ALL");
	if (!unbuf || (unbuf[0] != 'y' && unbuf[0] != 'Y' && unbuf[0] != '1')) {
		xtb.xtb_setVerbosity(c->env, XTB_VERBOSITY_MUTED);
		return;
	}
	xtb.xtb_setOutput(c->env, SCC_LOG);
	char real[PATH_MAX];
	if (!xtb.xtb_checkEnvironment(c->env) && realpath(SCC_LOG, real))
		c->log_fd = find_fd(real);
	if (c->log_fd < 0) {
		char buf[256] = {0};
		int len = (int)sizeof(buf) - 1;
		xtb.xtb_getError(c->env, buf, &len); /* empties the error stack */
		xtb.xtb_setVerbosity(c->env, XTB_VERBOSITY_MUTED);
		return;
	}
	xtb.xtb_setVerbosity(c->env, XTB_VERBOSITY_MINIMAL);
}

static void log_rewind(struct child *c)
{
	if (c->log_fd >= 0 && (ftruncate(c->log_fd, 0) != 0 || lseek(c->log_fd, 0, SEEK_SET) != 0))
		c->log_fd = -1; /* the count becomes unknown, nothing else changes */
}

/* The last SCC iteration number xtb printed: lines "  12  -42.6397040
 * -0.834596E-09 ..." (iteration, energy, change). -1 when none. */
static int log_iterations(struct child *c)
{
	if (c->log_fd < 0)
		return -1;
	struct stat st;
	if (fstat(c->log_fd, &st) != 0 || st.st_size <= 0 || st.st_size > QF_ENGINE_MAX_LOG)
		return -1;
	size_t size = (size_t)st.st_size;
	char *text = malloc(size + 1);
	if (!text)
		return -1;
	ssize_t k = pread(c->log_fd, text, size, 0);
	if (k < 0)
		k = 0;
	text[k] = '\0';
	int last = -1;
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *f[4];
		int nf = qf_split_ws(line, f, 4);
		long it;
		double e, de;
		if (nf >= 3 && qf_parse_int(f[0], 1, QF_MAX_SCC_ITERATIONS, &it) && strchr(f[1], '.') &&
		    qf_parse_double(f[1], &e) && (strchr(f[2], 'E') || strchr(f[2], 'e')) &&
		    qf_parse_double(f[2], &de))
			last = (int)it;
		line = nl ? nl + 1 : NULL;
	}
	free(text);
	return last;
}

/* Forget the molecule and calculator (a fresh pair is made next time). */
static void drop(struct child *c)
{
	if (c->calc)
		xtb.xtb_delCalculator(&c->calc);
	if (c->mol)
		xtb.xtb_delMolecule(&c->mol);
	c->calc = NULL;
	c->mol = NULL;
	free(c->z);
	c->z = NULL;
	c->natoms = 0;
}

/* Take xtb's error text (zeroed buffer: xtb.xtb_getError does not terminate it). */
static void take_error(struct child *c, char *out, size_t size)
{
	memset(out, 0, size);
	int len = (int)size - 1;
	xtb.xtb_getError(c->env, out, &len);
	out[size - 1] = '\0';
	qf_rstrip(out);
	if (!out[0])
		qf_strlcpy(out, "libxtb reported an error without a message", size);
}

static bool reusable(const struct child *c, const qf__engine_request *rq)
{
	return c->mol && c->calc && c->method == rq->method && c->charge == rq->charge &&
	       c->uhf == rq->uhf && c->natoms == rq->natoms && !strcmp(c->solvent, rq->solvent) &&
	       !memcmp(c->z, rq->z, (size_t)rq->natoms * sizeof(*c->z));
}

/* GFN0's parameters are not built into libxtb: it finds them through
 * XTBPATH, which an xtb environment reads when it is created. XTBPATH is set
 * for GFN0 alone (include/qf/limits.h), so the first GFN0 request of a child
 * whose environment did not have it sets it and makes a new environment.
 * Its printout goes nowhere: GFN0 has no SCC to count, and this child runs
 * no GFN1/GFN2 after GFN0 (include/qf/engine.h). 0, or -1. */
static int gfn0_environment(struct child *c)
{
	const char *path = getenv("XTBPATH");
	if (path && *path)
		return 0;
	if (setenv("XTBPATH", QF_XTB_PARAM_DIR, 1) != 0)
		return -1;
	xtb.xtb_delEnvironment(&c->env);
	c->log_fd = -1;
	c->env = xtb.xtb_newEnvironment();
	if (!c->env)
		_exit(1); /* nothing can run without one: the parent replaces us */
	xtb.xtb_setVerbosity(c->env, XTB_VERBOSITY_MUTED);
	return 0;
}

/* A fresh molecule and calculator for rq. 0, or -1 with xtb's error taken. */
static int prepare(struct child *c, const qf__engine_request *rq, double *xyz, qf__engine_reply *rp)
{
	drop(c);
	if (rq->method == QF_METHOD_GFN0 && gfn0_environment(c) != 0) {
		rp->status = QF__ENGINE_XTB_ERROR;
		qf_strlcpy(rp->message, "libxtb could not make an environment for GFN0 (XTBPATH)",
		           sizeof(rp->message));
		return -1;
	}
	int n = rq->natoms;
	double charge = rq->charge;
	int uhf = rq->uhf;
	c->mol = xtb.xtb_newMolecule(c->env, &n, rq->z, xyz, &charge, &uhf, NULL, NULL);
	if (xtb.xtb_checkEnvironment(c->env) || !c->mol)
		goto fail;
	c->calc = xtb.xtb_newCalculator();
	switch (rq->method) {
	case QF_METHOD_GFN2: xtb.xtb_loadGFN2xTB(c->env, c->mol, c->calc, NULL); break;
	case QF_METHOD_GFN1: xtb.xtb_loadGFN1xTB(c->env, c->mol, c->calc, NULL); break;
	default: xtb.xtb_loadGFN0xTB(c->env, c->mol, c->calc, NULL); break;
	}
	if (xtb.xtb_checkEnvironment(c->env))
		goto fail;
	if (rq->solvent[0]) {
		/* Once, on a calculator just loaded: a second xtb.xtb_setSolvent would
		 * kill the process. State, temperature and grid are the CLI's
		 * defaults for --gbsa when not given. */
		char solvent[sizeof(rq->solvent)];
		qf_strlcpy(solvent, rq->solvent, sizeof(solvent));
		xtb.xtb_setSolvent(c->env, c->calc, solvent, NULL, NULL, NULL);
		if (xtb.xtb_checkEnvironment(c->env))
			goto fail;
	}
	c->z = malloc((size_t)n * sizeof(*c->z));
	if (!c->z) {
		qf_strlcpy(rp->message, "out of memory in the xtb engine", sizeof(rp->message));
		rp->status = QF__ENGINE_XTB_ERROR;
		drop(c);
		return -1;
	}
	memcpy(c->z, rq->z, (size_t)n * sizeof(*c->z));
	c->natoms = n;
	c->method = rq->method;
	c->charge = rq->charge;
	c->uhf = rq->uhf;
	qf_strlcpy(c->solvent, rq->solvent, sizeof(c->solvent));
	return 0;
fail:
	take_error(c, rp->message, sizeof(rp->message));
	rp->status = QF__ENGINE_XTB_ERROR;
	drop(c);
	return -1;
}

static double cpu_seconds(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec * 1e-6 +
	       (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec * 1e-6;
}

/* Keep the bonds of the N x N Wiberg matrix above the threshold, in the
 * order of xtb's own wbo file (by the second atom, then the first), so that
 * the list is the CLI executor's. */
static int collect_bonds(const double *wbo, int n, qf__engine_reply *rp)
{
	size_t count = 0;
	for (int j = 0; j < n; j++)
		for (int i = 0; i < j; i++)
			count += wbo[(size_t)j * n + i] > WBO_THRESHOLD;
	rp->nbonds = 0;
	if (!count)
		return 0;
	rp->bonds = malloc(count * sizeof(*rp->bonds));
	if (!rp->bonds)
		return -1;
	for (int j = 0; j < n; j++)
		for (int i = 0; i < j; i++)
			if (wbo[(size_t)j * n + i] > WBO_THRESHOLD)
				rp->bonds[rp->nbonds++] = (qf_bond){i, j, wbo[(size_t)j * n + i]};
	return 0;
}

/* One singlepoint: fills rp (status and, when OK, the numbers). */
static void compute(struct child *c, const qf__engine_request *rq, qf__engine_reply *rp)
{
	double t0 = qf_clock_mono();
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	xtb_calls++;

	int n = rq->natoms;
	size_t un = (size_t)n;
	double *xyz = NULL, *wbo = NULL;
	xtb_TResults res = NULL;
	int nao = 0;
	if (c->ran_gfn0 && rq->method != QF_METHOD_GFN0) {
		/* The parent starts a fresh child instead; this is the backstop
		 * against silently wrong numbers. */
		qf_strlcpy(rp->message,
		           "this xtb engine has run GFN0, after which libxtb 6.5.1 computes wrong GFN2 "
		           "energies: use a fresh engine",
		           sizeof(rp->message));
		rp->status = QF__ENGINE_XTB_ERROR;
		goto out;
	}
	if (rq->method == QF_METHOD_GFN0)
		c->ran_gfn0 = true;
	xyz = malloc(3 * un * sizeof(*xyz));
	if (!xyz)
		goto oom;
	for (size_t i = 0; i < 3 * un; i++)
		xyz[i] = rq->xyz[i] * aatoau;

	if (reusable(c, rq)) {
		xtb.xtb_updateMolecule(c->env, c->mol, xyz, NULL);
		if (xtb.xtb_checkEnvironment(c->env)) {
			take_error(c, rp->message, sizeof(rp->message));
			rp->status = QF__ENGINE_XTB_ERROR;
			drop(c);
			goto out;
		}
	} else if (prepare(c, rq, xyz, rp)) {
		goto out;
	}
	xtb.xtb_setAccuracy(c->env, c->calc, rq->accuracy);
	xtb.xtb_setElectronicTemp(c->env, c->calc, rq->etemp);
	xtb.xtb_setMaxIter(c->env, c->calc, rq->max_iterations);

	log_rewind(c);
	res = xtb.xtb_newResults(); /* a fresh initial guess, like --norestart */
	xtb.xtb_singlepoint(c->env, c->mol, c->calc, res);
	rp->scf_cycles = log_iterations(c);
	/* Right after the singlepoint: a failed SCC still leaves an energy. */
	if (xtb.xtb_checkEnvironment(c->env)) {
		take_error(c, rp->message, sizeof(rp->message));
		rp->status = strstr(rp->message, "did not converge") ? QF__ENGINE_SCC_FAILED
		                                                     : QF__ENGINE_XTB_ERROR;
		drop(c);
		goto out;
	}

	rp->gradient = malloc(3 * un * sizeof(*rp->gradient));
	rp->charges = malloc(un * sizeof(*rp->charges));
	wbo = malloc(un * un * sizeof(*wbo));
	if (!rp->gradient || !rp->charges || !wbo)
		goto oom;
	xtb.xtb_getEnergy(c->env, res, &rp->energy);
	xtb.xtb_getGradient(c->env, res, rp->gradient);
	xtb.xtb_getDipole(c->env, res, rp->dipole);
	xtb.xtb_getCharges(c->env, res, rp->charges);
	xtb.xtb_getBondOrders(c->env, res, wbo);
	xtb.xtb_getNao(c->env, res, &nao);
	if (xtb.xtb_checkEnvironment(c->env))
		goto xtb_failed;
	if (nao < 0 || nao > INT_MAX / 16) {
		qf_strlcpy(rp->message, "libxtb reported an impossible number of orbitals",
		           sizeof(rp->message));
		rp->status = QF__ENGINE_XTB_ERROR;
		drop(c);
		goto out;
	}
	if (nao > 0) {
		rp->orbital_energies = malloc((size_t)nao * sizeof(double));
		rp->occupations = malloc((size_t)nao * sizeof(double));
		if (!rp->orbital_energies || !rp->occupations)
			goto oom;
		xtb.xtb_getOrbitalEigenvalues(c->env, res, rp->orbital_energies);
		xtb.xtb_getOrbitalOccupations(c->env, res, rp->occupations);
		if (xtb.xtb_checkEnvironment(c->env))
			goto xtb_failed;
	}
	rp->norbitals = nao;
	rp->natoms = n;
	if (collect_bonds(wbo, n, rp))
		goto oom;
	rp->status = QF__ENGINE_OK;
	goto out;

xtb_failed:
	take_error(c, rp->message, sizeof(rp->message));
	rp->status = QF__ENGINE_XTB_ERROR;
	drop(c);
	goto out;
oom:
	qf_strlcpy(rp->message, "out of memory in the xtb engine", sizeof(rp->message));
	rp->status = QF__ENGINE_XTB_ERROR;
	drop(c);
out:
	if (rp->status != QF__ENGINE_OK) {
		/* No numbers travel with a failure. */
		int32_t status = rp->status, cycles = rp->scf_cycles;
		char message[sizeof(rp->message)];
		memcpy(message, rp->message, sizeof(message));
		qf__engine_reply_release(rp);
		rp->status = status;
		rp->scf_cycles = cycles;
		memcpy(rp->message, message, sizeof(message));
	}
	if (res)
		xtb.xtb_delResults(&res);
	free(wbo);
	free(xyz);
	getrusage(RUSAGE_SELF, &ru1);
	rp->wall_time = qf_clock_mono() - t0;
	rp->cpu_time = cpu_seconds(&ru1) - cpu_seconds(&ru0);
	if (rp->cpu_time < 0)
		rp->cpu_time = 0;
	rp->maxrss_mb = (double)ru1.ru_maxrss / 1024.0;
}

/* ---- the loop ---------------------------------------------------------------- */

int qf_engine_serve(int fd, qf_err *err)
{
	qf_err local_err;
	if (!err) {
		qf_err_init(&local_err);
		err = &local_err;
	}
	struct child c;
	memset(&c, 0, sizeof(c));
	c.fd = fd;
	c.log_fd = -1;
	int rc = 0;

	if ((rc = load_libxtb(err)))
		return rc;
	xtb_calls++;
	c.env = xtb.xtb_newEnvironment();
	if (!c.env)
		return qf_err_set(err, QF_CAT_SYSTEM, "engine.start", "libxtb could not create an environment");
	setup_log(&c);

	qf__engine_hello hello;
	memset(&hello, 0, sizeof(hello));
	hello.pid = (int32_t)getpid();
	hello.api_version = xtb.xtb_getAPIVersion();
	library_version(hello.xtb_version, sizeof(hello.xtb_version));
	qf_buf b;
	qf_buf_init(&b, (size_t)QF_ENGINE_MAX_MESSAGE);
	rc = qf__engine_encode_hello(&b, &hello, err);
	if (rc == 0 && send_all(fd, b.data, b.len))
		rc = qf_err_set(err, QF_CAT_SYSTEM, "engine.io", "could not greet the parent: %s",
		                strerror(errno));
	qf_buf_release(&b);

	while (rc == 0) {
		unsigned char h[QF__ENGINE_HEADER];
		int got = recv_all(fd, h, sizeof(h));
		if (got == 1)
			break; /* the parent closed the connection: done */
		if (got < 0) {
			rc = qf_err_set(err, QF_CAT_SYSTEM, "engine.protocol",
			                "the connection to the parent broke in the middle of a message");
			break;
		}
		uint32_t type = 0, plen = 0, seq = 0;
		qf__engine_reply rp;
		qf__engine_reply_init(&rp);
		rc = qf__engine_decode_header(h, &type, &plen, &seq, err);
		unsigned char *msg = NULL;
		if (rc == 0 && type != QF__ENGINE_REQUEST)
			rc = qf_err_set(err, QF_CAT_SYSTEM, "engine.protocol",
			                "malformed message from the parent: not a request");
		if (rc == 0 && !(msg = malloc(QF__ENGINE_HEADER + (size_t)plen)))
			rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
			                  "out of memory reading a request of %u bytes", plen);
		if (rc == 0) {
			memcpy(msg, h, sizeof(h));
			if (recv_all(fd, msg + QF__ENGINE_HEADER, plen) != 0)
				rc = qf_err_set(err, QF_CAT_SYSTEM, "engine.protocol",
				                "the connection to the parent broke in the middle of a request");
		}
		qf__engine_request rq;
		memset(&rq, 0, sizeof(rq));
		if (rc == 0)
			rc = qf__engine_decode_request(msg, QF__ENGINE_HEADER + (size_t)plen, &seq, &rq, err);
		free(msg);
		if (rc) {
			/* Say why, then stop: the stream cannot be trusted any more. */
			rp.status = QF__ENGINE_BAD_REQUEST;
			qf_strlcpy(rp.message, err->message, sizeof(rp.message));
			qf_err ignored;
			qf_err_init(&ignored);
			send_reply(fd, seq, &rp, &ignored);
			break;
		}
		compute(&c, &rq, &rp);
		qf__engine_request_release(&rq);
		rc = send_reply(fd, seq, &rp, err);
		qf__engine_reply_release(&rp);
	}

	drop(&c);
	xtb.xtb_delEnvironment(&c.env);
	return rc;
}
