/*
 * SMILES -> 3D, bounded and on every core.
 *
 * Embedding (src/chem/rdkit.cpp: ETKDGv3, MMFF94 clean-up, checks) has no
 * bound of its own: a long chain or many linked rings hold RDKit for
 * minutes and gigabytes. So it never runs in the caller's process (the
 * server, `qforge batch submit`, `qforge run`): a pool of `qforge embed
 * --serve` child processes (the same program) takes SMILES one at a time
 * over a socket. Each child limits its own address space (RLIMIT_AS); the
 * caller kills a child that passes the time limit on one molecule and starts
 * another for the next. A molecule past a limit fails with input.embedding
 * naming the limit; the others go on. The children run in parallel, one per
 * core by default, so a SMILES file does not wait on one core.
 *
 * Deterministic: a SMILES always embeds the same way (fixed seeds), whichever
 * child takes it.
 */
#ifndef QF_EMBED_H
#define QF_EMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "qf/err.h"
#include "qf/mol.h"
#include "qf/molio.h"

typedef struct qf_embed_limits {
	double seconds;      /* wall time per molecule; 0: QF_EMBED_SECONDS */
	long memory_mb;      /* address space per child; 0: QF_EMBED_MEMORY_MB */
	int processes;       /* children at once; 0: the cores online */
	const char *program; /* the qforge to run; NULL: /proc/self/exe */
	int conformers;      /* embedded per SMILES, the lowest kept (0, 1: one) */
} qf_embed_limits;

/* Called after each molecule (done of n); may be NULL. */
typedef void (*qf_embed_progress_fn)(void *ctx, size_t done, size_t n);

/* Coordinates for *mols[i] from smiles[i], i < n. *mols[i] hold the molecule
 * as qf_smiles_check made it from the same SMILES (atoms with hydrogens,
 * zero coordinates); on success its coordinates are set, else failed[i] is
 * true and errs[i] says why (input.embedding for a limit; the SMILES's own
 * errors as qf_smiles_to_mol gives them). confs (may be NULL): confs[i]
 * gets every distinct conformer of a molecule that succeeded (lowest
 * force-field energy first, conformer 0 being *mols[i]'s coordinates; as
 * qf_smiles_to_conformers), released by the caller with
 * qf_conformers_release. Returns 0, or a system error when
 * no child could be started (then nothing was embedded). */
int qf_embed_many(const qf_embed_limits *l, const char *const *smiles, qf_mol *const *mols,
                  qf_conformers *confs, qf_err *errs, bool *failed, size_t n,
                  qf_embed_progress_fn progress, void *ctx, qf_err *err);

/* One SMILES, as qf_embed_many: m is filled (name as qf_smiles_to_mol). */
int qf_embed_one(const qf_embed_limits *l, const char *smiles, const char *name, qf_mol *m,
                 qf_err *err);

/* The child's side (`qforge embed --serve`): answers the SMILES lines of in_fd on out_fd
 * until end of input, under an address-space limit of memory_mb. Returns the
 * exit status. */
int qf_embed_serve(int in_fd, int out_fd, long memory_mb);

/* Whether this build enforces the memory limit: not in AddressSanitizer
 * builds (make test's), whose shadow memory an address-space limit stops;
 * the time limit holds everywhere. */
bool qf_embed_memory_limited(void);

#endif
