/*
 * Parsers for what xtb 6.5.1 leaves behind: xtbout.json (--json), stdout,
 * stderr, charges, wbo, xtbopt.xyz, xtbopt.log, vibspectrum, gradient.
 * Unit-tested on real outputs under tests/data/xtb/ (made by running xtb:
 * tests/data/xtb/generate.sh).
 */
#ifndef QF_XTBPARSE_H
#define QF_XTBPARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "qf/err.h"
#include "qf/mol.h"
#include "qf/proc.h"
#include "qf/result.h"
#include "qf/spec.h"

/* What the text output says about how the run ended. */
typedef struct qf_xtb_outinfo {
	bool normal_termination;   /* stderr: "normal termination of xtb" */
	bool abnormal_termination; /* stderr: "abnormal termination of xtb" */
	bool fatal_error;          /* stdout: "[ERROR] Program stopped due to fatal error" */
	char fatal_message[512];   /* the "-N- source: message" lines, joined by "; " */
	bool scc_converged;        /* last SCC report: criteria satisfied */
	bool scc_not_converged;    /* an SCC report "cannot be satisfied", or .sccnotconverged */
	int scc_iterations;        /* from the last SCC report; -1 unknown */
	bool opt_converged;        /* "GEOMETRY OPTIMIZATION CONVERGED AFTER N ITERATIONS" */
	bool opt_not_converged;    /* "FAILED TO CONVERGE GEOMETRY OPTIMIZATION", NOT_CONVERGED */
	int opt_cycles;            /* N from either line, else CYCLE banners; -1 unknown */
	bool refused;              /* "XTB REFUSES TO CONTINUE" */
	bool hessian_incomplete_opt; /* "Hessian on incompletely optimized geometry!" */
	bool sigterm_received;     /* "recieved SIGTERM" (xtb's spelling) */
	bool has_json;             /* xtbout.json was present and parsed */
	bool xtboptok;             /* .xtboptok marker present */
} qf_xtb_outinfo;

void qf_xtb_outinfo_init(qf_xtb_outinfo *i);

/* Individual parsers (text in memory, NUL-terminated). Each fills what it
 * finds and leaves the rest untouched; a malformed file is QF_EUNKNOWN with
 * code "xtb.parse". natoms is the number of atoms of the molecule as run. */
int qf_xtb_parse_json(const char *text, qf_result *r, qf_metrics *m, qf_err *err);
int qf_xtb_parse_stdout(const char *text, qf_result *r, qf_metrics *m, qf_xtb_outinfo *info);
void qf_xtb_parse_stderr(const char *text, qf_xtb_outinfo *info);
int qf_xtb_parse_charges(const char *text, int natoms, qf_result *r, qf_err *err);
int qf_xtb_parse_wbo(const char *text, int natoms, qf_result *r, qf_err *err);
int qf_xtb_parse_xyz_geometry(const char *text, int natoms, qf_result *r, qf_err *err);
int qf_xtb_parse_optlog(const char *text, qf_result *r, qf_err *err);
int qf_xtb_parse_vibspectrum(const char *text, qf_result *r, qf_err *err);
int qf_xtb_parse_gradient(const char *text, int natoms, qf_result *r, qf_err *err);

/* 0-based index of the highest occupied orbital: the highest one holding more
 * than half an electron (occupations are per spatial orbital, 0..2, so a
 * singly occupied orbital of an open shell counts; Fermi smearing leaves
 * tiny occupations above it that do not). When no orbital holds more than
 * half an electron, the highest one holding any (> 1e-3); -1 when none. */
int qf_xtb_homo_index(const double *occupations, int n);

/* Number of frequencies (cm^-1) below -QF_IMAG_THRESHOLD. */
int qf_xtb_count_imaginary(const double *frequencies, int n);

/* Parse everything xtb left in dir after a run (files named as xtb names
 * them; our captures are dir/stdout.log and dir/stderr.log) and fill r, the
 * parsed parts of m (scf_cycles, optimization_cycles, is_converged,
 * gradient_norm, xtb_version, method, xtb_wall_time) and info. Missing files
 * are not errors (a failed run leaves few); a malformed present file is.
 * r must be initialised (qf_result_init); what it holds is replaced. mol may
 * be NULL when it is unknown (then no per-atom file is read). Which file wins
 * where several hold a value is documented in src/xtb/collect.c. */
int qf_xtb_collect(const char *dir, const qf_mol *mol, const qf_spec *spec,
                   qf_result *r, qf_metrics *m, qf_xtb_outinfo *info, qf_err *err);

/* Decide how a run ended. Returns 0 for success, else fills err with the
 * category and a stable code:
 *   xtb.timeout (timeout), xtb.killed (system: a signal we did not send),
 *   xtb.crashed (system: SIGSEGV/SIGABRT, e.g. stack), xtb.scc_not_converged
 *   (convergence), xtb.opt_not_converged (convergence; also when xtb exits 0
 *   with .xtboptok), xtb.refused (validation: overlapping atoms),
 *   xtb.input (validation: xtb could not read the input), xtb.solvent
 *   (validation), xtb.no_energy (unknown: exit 0 but no energy),
 *   xtb.failed (unknown: any other non-zero exit).
 * err->detail receives the stderr tail (or stdout tail when stderr is
 * uninformative). */
int qf_xtb_classify(const qf_spec *spec, const qf_proc_result *pr,
                    const qf_xtb_outinfo *info, const qf_result *r,
                    const char *stdout_text, const char *stderr_text, qf_err *err);

#endif
