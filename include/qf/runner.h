/*
 * Running xtb on one molecule in a fresh directory: writes the geometry and
 * an xcontrol file, builds the argv, runs it with the environment xtb needs,
 * then parses and classifies. The directory must exist and be empty.
 */
#ifndef QF_RUNNER_H
#define QF_RUNNER_H

#include <stdbool.h>

#include "qf/err.h"
#include "qf/mol.h"
#include "qf/result.h"
#include "qf/spec.h"

typedef struct qf_xtb_opts {
	const char *xtb;         /* program: path or name in PATH; NULL: "xtb" */
	long memory_mb;          /* 0: QF_XTB_MEMORY_MB; < 0: unlimited. The
	                            address-space limit is this plus 1 GiB per
	                            thread, the OpenMP stacks xtb reserves */
	double kill_grace;       /* < 0: QF_KILL_GRACE_S */
	volatile const int *cancel; /* see qf_proc_opts.cancel */
} qf_xtb_opts;

void qf_xtb_opts_init(qf_xtb_opts *o);

/* Files the runner writes into the directory. */
#define QF_XTB_GEOMETRY "geometry.xyz" /* the geometry as run */
#define QF_XTB_XCONTROL "xcontrol.inp" /* "$end" only: see notes on --input */
#define QF_XTB_STDOUT "stdout.log"
#define QF_XTB_STDERR "stderr.log"

/* The argv for a spec (NULL-terminated, heap; free with qf_xtb_argv_free). */
char **qf_xtb_argv(const char *xtb, const qf_spec *spec, int charge, int uhf);
void qf_xtb_argv_free(char **argv);

/* "6.5.1" from `xtb --version` (cached per program path). */
int qf_xtb_version(const char *xtb, char *out, size_t size, qf_err *err);

/* Run. charge and uhf are the effective values. Returns 0 on success; on a
 * failed calculation a negative code with err categorised (results parsed so
 * far are still in r and m). Metrics wall/cpu/memory are always filled when
 * xtb was started. r must be initialised (qf_result_init); m is reset here. */
int qf_xtb_run(const qf_mol *mol, const qf_spec *spec, int charge, int uhf,
               const char *dir, const qf_xtb_opts *o, qf_result *r,
               qf_metrics *m, qf_err *err);

#endif
