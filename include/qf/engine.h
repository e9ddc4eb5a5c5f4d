/*
 * The in-process xTB executor ("engine"): singlepoints through libxtb (the C
 * API of xtb 6.5.1, API version 10000) inside long-lived child processes, so
 * that no `xtb` program starts per molecule.
 *
 * One qf_engine is one child: the qforge program itself, started with
 * fork+exec as `qforge engine --fd N` (N: its end of a socketpair). The
 * supervising process never calls libxtb: the child has a fresh address space
 * (no OpenMP state or threads inherited across fork; the parent may be
 * multi-threaded), and a crash, hang or timeout kills only that child, which
 * is then replaced. libxtb is not thread-safe (module-level state): one child
 * per concurrent calculation.
 *
 * The child runs on one thread (OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1,
 * OMP_STACKSIZE=1G, unlimited stack, the CLI executor's address-space limit
 * for one thread), in its own process group, with XTBPATH as inherited
 * (set to QF_XTB_PARAM_DIR, when unset, for GFN0 only: include/qf/limits.h),
 * and with a private scratch directory as its working directory (removed by
 * qf_engine_free).
 *
 * What the engine runs (qf_engine_supports): task sp with GFN2, GFN1 or GFN0,
 * in vacuum or with GBSA. Not ALPB (the C API has GBSA only), not GFN-FF
 * (through the API it prints to stdout and writes gfnff_topo/gfnff_adjacency
 * into the working directory, and a stale gfnff_topo is reused silently: it
 * stays with the CLI executor, which gives each job a fresh directory), not
 * opt/hess/ohess (the C API has no optimiser or Hessian).
 *
 * Results are filled like the CLI executor's (qf_xtb_run): same units, same
 * conversions as xtb (Angstrom -> Bohr with mctc-lib's CODATA 2018 Bohr
 * radius, Hartree -> eV with xtb's 27.21138505), so energies agree to ~1e-12
 * Eh. Differences: electronic_energy is not produced (the API does not return
 * it); metrics.exit_code is 0 when the child answered; metrics.xtb_wall_time
 * is -1; metrics.memory_peak_mb is the child's peak over its life so far;
 * metrics.xtb_version is the version of the libxtb the child loaded (from
 * the library's file name, libxtb.so.6.5.1 on Debian; "" if unknown);
 * metrics.scf_cycles is counted from xtb's own SCC printout (-1 for GFN0,
 * which has no SCC, or when unknown).
 *
 * Each calculation starts from a fresh initial guess, like `xtb --norestart`
 * (libxtb would otherwise start from the previous wavefunction). Between
 * calculations the child keeps its xtb environment and, when the method,
 * solvent, charge, unpaired electrons and atom list are the same, the
 * molecule and calculator (only the coordinates change); anything else gets
 * a fresh molecule and calculator, and so does everything after a failure.
 * libxtb 6.5.1 keeps process-wide state from a GFN0 calculation that makes
 * every later GFN2 energy of that process wrong (by 5e-4 Eh for caffeine):
 * a child that has run GFN0 is therefore replaced by a fresh one before it
 * would run GFN1 or GFN2 (and refuses to, should it be asked).
 *
 * A qf_engine is used by one thread at a time; different engines may be used
 * from different threads at once.
 */
#ifndef QF_ENGINE_H
#define QF_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "qf/buf.h"
#include "qf/err.h"
#include "qf/mol.h"
#include "qf/result.h"
#include "qf/spec.h"

typedef struct qf_engine qf_engine; /* one child */

/* Start a child and wait for it to report ready (QF_ENGINE_START_TIMEOUT_S).
 * qforge_path: the qforge program to exec; NULL: /proc/self/exe (the running
 * program, which must then be qforge). Errors: QF_ESYS with "engine.start"
 * (could not create the scratch directory, socket, or process; the program
 * did not start the engine loop: its exit status is in the message). */
int qf_engine_start(qf_engine **e, const char *qforge_path, qf_err *err);

/* Close the child's socket (the child exits), reap it (SIGKILL to its group
 * after QF_KILL_GRACE_S), remove its scratch directory, free e. NULL is fine. */
void qf_engine_free(qf_engine *e);

/* Whether the engine can run this spec: task sp; method gfn2, gfn1 or gfn0;
 * no solvation or GBSA. Ranges are checked by qf_engine_run. */
bool qf_engine_supports(const qf_spec *spec);

/* One singlepoint: charge and uhf are the effective values (as for
 * qf_xtb_run). Validates the spec and molecule like qf_xtb_run, sends the
 * molecule to the child and waits for the answer at most spec->timeout
 * seconds. On success fills r (energy, gradient, charges, dipole, Wiberg bond
 * orders > 0.1, orbital energies and occupations, HOMO index and gap,
 * gradient norm, geometry and atomic numbers of the input) and m. Errors:
 *   validation  engine.unsupported (see qf_engine_supports), and the codes of
 *               qf_spec_validate and qf_mol_validate;
 *   convergence xtb.scc_not_converged (r has no energy; m->scf_cycles set);
 *   timeout     xtb.timeout (the child's group is killed, a new child
 *               started);
 *   system      xtb.crashed (the child died of SIGSEGV/SIGABRT/SIGBUS/...
 *               or exited), xtb.killed (SIGKILL/SIGTERM from someone else),
 *               engine.protocol (a malformed answer), engine.io, engine.start;
 *               the child is replaced in each case, before returning (if that
 *               fails, the next run tries again); engine.usage (NULL
 *               arguments);
 *   unknown     xtb.failed (libxtb reported an error: its message is in
 *               err->detail).
 * r must be initialised (qf_result_init) and is filled only on success;
 * m is reset (qf_metrics_init) and filled whenever the child was asked. */
int qf_engine_run(qf_engine *e, const qf_mol *mol, const qf_spec *spec, int charge, int uhf,
                  qf_result *r, qf_metrics *m, qf_err *err);

/* Process id of the current child (it changes when a child is replaced);
 * -1 when there is none (a replacement failed to start). */
pid_t qf_engine_pid(const qf_engine *e);

/* The child side, run by `qforge engine --fd N`: answer requests on fd until
 * it reaches end of file (returns 0) or the peer breaks the protocol
 * (returns QF_ESYS, "engine.protocol"). The only code of qforge that calls
 * libxtb. */
int qf_engine_serve(int fd, qf_err *err);

/* ---- internal: the wire format, shared by engine.c and engine_child.c and
 * exposed for the decoder tests ------------------------------------------
 *
 * A message is a 16-byte header -- magic "QFEN", u16 version, u16 type, u32
 * payload length, u32 sequence number -- and a packed payload of int32 and
 * double values in the host's byte order (both ends are the same program on
 * the same machine). Nothing read is trusted: lengths are capped by
 * QF_ENGINE_MAX_MESSAGE, counts are checked against the payload length and
 * the request, values must be finite, and trailing bytes are an error.
 * Decoders return 0 or QF_ESYS with code "engine.protocol". */

#define QF__ENGINE_MAGIC 0x4e454651u /* "QFEN" in little-endian bytes */
#define QF__ENGINE_VERSION 1u
#define QF__ENGINE_HEADER 16u

enum {
	QF__ENGINE_HELLO = 1,   /* child -> parent once, when ready */
	QF__ENGINE_REQUEST = 2, /* parent -> child: one singlepoint */
	QF__ENGINE_REPLY = 3,   /* child -> parent: its answer */
};

/* Status of a reply. */
enum {
	QF__ENGINE_OK = 0,
	QF__ENGINE_SCC_FAILED = 1,  /* SCC not converged: no results */
	QF__ENGINE_XTB_ERROR = 2,   /* libxtb reported another error */
	QF__ENGINE_BAD_REQUEST = 3, /* the request was malformed (child exits) */
};

typedef struct qf__engine_hello {
	int32_t pid;
	int32_t api_version;  /* xtb_getAPIVersion() */
	char xtb_version[32]; /* "6.5.1" or "" */
} qf__engine_hello;

typedef struct qf__engine_request {
	int32_t method;       /* qf_method: gfn2, gfn1 or gfn0 */
	int32_t charge;
	int32_t uhf;
	int32_t max_iterations;
	double etemp;         /* K */
	double accuracy;
	char solvent[32];     /* GBSA solvent, "" for vacuum */
	int32_t natoms;
	int32_t *z;           /* natoms */
	double *xyz;          /* 3*natoms, Angstrom */
} qf__engine_request;

typedef struct qf__engine_reply {
	int32_t status;       /* QF__ENGINE_OK ... */
	char message[QF_MAX_ERR_MSG]; /* xtb's error text when status != OK */
	int32_t scf_cycles;   /* -1 unknown */
	double wall_time;     /* s, in the child, around the calculation */
	double cpu_time;      /* s, user + system of the child, same interval */
	double maxrss_mb;     /* the child's peak resident set so far, MiB */
	/* Present when status is OK: */
	double energy;        /* Eh */
	double dipole[3];     /* e*Bohr */
	int32_t natoms;       /* must equal the request's */
	double *gradient;     /* 3*natoms, Eh/Bohr */
	double *charges;      /* natoms, e */
	int32_t nbonds;
	qf_bond *bonds;       /* Wiberg orders > 0.1, i < j, 0-based */
	int32_t norbitals;
	double *orbital_energies; /* Hartree */
	double *occupations;
} qf__engine_reply;

void qf__engine_request_release(qf__engine_request *rq);
void qf__engine_reply_init(qf__engine_reply *rp);
void qf__engine_reply_release(qf__engine_reply *rp);

/* Append one whole message (header and payload) to b. */
int qf__engine_encode_hello(qf_buf *b, const qf__engine_hello *h, qf_err *err);
int qf__engine_encode_request(qf_buf *b, uint32_t seq, const qf__engine_request *rq, qf_err *err);
int qf__engine_encode_reply(qf_buf *b, uint32_t seq, const qf__engine_reply *rp, qf_err *err);

/* Check a header (QF__ENGINE_HEADER bytes): magic, version, a known type,
 * payload length <= QF_ENGINE_MAX_MESSAGE - QF__ENGINE_HEADER. */
int qf__engine_decode_header(const void *hdr, uint32_t *type, uint32_t *payload_len,
                             uint32_t *seq, qf_err *err);

/* Decode one whole message of the given type. The reply decoder checks that
 * the sequence number is seq and the atom count is natoms. On failure the
 * output is released. */
int qf__engine_decode_hello(const void *msg, size_t len, qf__engine_hello *h, qf_err *err);
int qf__engine_decode_request(const void *msg, size_t len, uint32_t *seq,
                              qf__engine_request *rq, qf_err *err);
int qf__engine_decode_reply(const void *msg, size_t len, uint32_t seq, int natoms,
                            qf__engine_reply *rp, qf_err *err);

/* How many libxtb calls this process has made (only an engine child makes
 * any; tests assert that their own process made none). */
long qf__engine_xtb_calls(void);

#endif
