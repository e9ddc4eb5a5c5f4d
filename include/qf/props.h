/*
 * Molecular descriptors: molecular weight, Crippen logP and molar
 * refractivity, hydrogen-bond donors and acceptors (RDKit's NumHDonors /
 * NumHAcceptors), rotatable bonds, topological polar surface area, and the
 * canonical SMILES — computed by RDKit through the C++ module
 * (src/chem/rdkit.cpp), exactly as RDKit's Python Descriptors module does.
 *
 * A molecule is read from the best description known of it:
 *   SMILES      as given (Chem.MolFromSmiles)
 *   mol block   an SDF/MOL record as given (Chem.MolFromMolBlock)
 *   geometry    elements and coordinates only (XYZ): bonds and bond orders
 *               are perceived by Open Babel's `obabel`, run as a separate
 *               program (src/chem/props.c says why), and the result is
 *               refused unless its elements, total charge and unpaired
 *               electrons are those of the molecule.
 *
 * Below the chemistry, the store-driven part: the descriptors of every
 * stored molecule (table molecule_properties_computed), filled off the
 * request path by workers and recomputed by `qforge props recompute`.
 */
#ifndef QF_PROPS_H
#define QF_PROPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qf/err.h"
#include "qf/mol.h"
#include "qf/uuid.h"

typedef struct qf_props {
	char source[16];                       /* "smiles", "molblock" or "geometry" */
	char *canonical_smiles;                /* RDKit's canonical SMILES (heap) */
	double molecular_weight;               /* g/mol (Descriptors.MolWt) */
	double logp;                           /* Crippen (Descriptors.MolLogP) */
	int hydrogen_bond_donors;              /* Descriptors.NumHDonors */
	int hydrogen_bond_acceptors;           /* Descriptors.NumHAcceptors */
	int rotatable_bonds;                   /* Descriptors.NumRotatableBonds */
	double topological_polar_surface_area; /* A^2 (Descriptors.TPSA) */
	double molar_refractivity;             /* Crippen (Descriptors.MolMR) */
} qf_props;

void qf_props_init(qf_props *p);
void qf_props_release(qf_props *p);

/* Each fills p (released first) or fails with a validation error:
 * props.rdkit (RDKit could not read it), props.perception (Open Babel found
 * no molecule with the right elements, charge and unpaired electrons),
 * props.obabel (system: obabel missing, failed or timed out), system.rdkit
 * (the module could not be loaded). */
int qf_props_from_smiles(const char *smiles, qf_props *p, qf_err *err);
int qf_props_from_molblock(const char *text, size_t len, qf_props *p, qf_err *err);
int qf_props_from_geometry(const qf_mol *m, qf_props *p, qf_err *err);

/* What is known of one molecule; the first one given is used. */
typedef struct qf_props_input {
	const char *smiles;
	const char *molblock;
	size_t molblock_len;
	const qf_mol *geometry;
} qf_props_input;

int qf_props_compute(const qf_props_input *in, qf_props *p, qf_err *err);

/* The descriptors as a JSON object with the keys of `qforge props --json`
 * (name, canonical_smiles, molecular_weight, logp, hydrogen_bond_donors,
 * hydrogen_bond_acceptors, rotatable_bonds, topological_polar_surface_area,
 * molar_refractivity). name may be NULL. NULL when out of memory. */
json_t *qf_props_to_json(const qf_props *p, const char *name);

/* ---- stored molecules (src/store/props.c, src/queue/props.c) -------------- */

struct qf_store;
struct qf_actor;

/* A stored molecule whose descriptors are to be computed. */
typedef struct qf_props_todo {
	char molecule_id[QF_UUID_STR];
	char *smiles;   /* molecules.smiles (heap; NULL when none) */
	char *molblock; /* the SDF record it came from (heap; NULL when none) */
	qf_mol mol;     /* its geometry, charge and unpaired electrons */
} qf_props_todo;

void qf_props_todo_release(qf_props_todo *t);

/* Up to max molecules visible to a, in id order after `after` (NULL or ""
 * from the start): those without a molecule_properties_computed row, or
 * every one when all. out[0..*n) are filled (release each). */
int qf_store_props_todo(struct qf_store *s, const struct qf_actor *a, bool all, const char *after,
                        int max, qf_props_todo *out, int *n, qf_err *err);

/* Write the descriptors of a molecule (insert or replace its row): p, or
 * when p is NULL the failure (descriptor columns NULL, error_code and
 * error_message from failure) so that it is not tried again until a
 * recompute. The row takes the molecule's owner and organisation. QF_ENOENT
 * when the molecule is not one a may change. */
int qf_store_props_put(struct qf_store *s, const struct qf_actor *a, const char *molecule_id,
                       const qf_props *p, const qf_err *failure, qf_err *err);

typedef struct qf_props_update_opts {
	bool all;   /* recompute every molecule, not only those without a row */
	int limit;  /* molecules at most (0: no limit) */
	/* called after each molecule (may be NULL) */
	void (*progress)(void *ctx, const char *molecule_id, const qf_err *failure);
	void *ctx;
} qf_props_update_opts;

typedef struct qf_props_stats {
	int64_t computed; /* rows written with descriptors */
	int64_t failed;   /* rows written with an error */
} qf_props_stats;

/* Compute and store the descriptors of the molecules visible to a (see
 * qf_store_props_todo), in chunks. A molecule that cannot be described is
 * recorded as failed (and counted), not an error of the call; a store
 * error ends the call. stats may be NULL. */
int qf_props_update(struct qf_store *s, const struct qf_actor *a, const qf_props_update_opts *o,
                    qf_props_stats *stats, qf_err *err);

#endif
