/*
 * The molecule: atomic numbers, Cartesian coordinates in Angstrom, total
 * charge, unpaired electrons, name. One type for every reader and writer.
 */
#ifndef QF_MOL_H
#define QF_MOL_H

#include <stdbool.h>
#include <stddef.h>

#include "qf/err.h"
#include "qf/limits.h"

typedef struct qf_mol {
	char name[QF_MAX_NAME];
	int natoms;
	int *z;       /* natoms atomic numbers */
	double *xyz;  /* 3*natoms coordinates, Angstrom */
	int charge;   /* total charge */
	int uhf;      /* unpaired electrons (2S) */
	char *smiles; /* canonical SMILES when known (heap), else NULL */
	/* Made from a SMILES: how, as a JSON object (heap), else NULL:
	 * {"method","force_field","seed","conformers_requested","conformers",
	 * "conformer","ff_energy_kcal","unspecified_stereocentres",
	 * "unspecified_double_bonds"} (include/qf/embed.h). */
	char *embedding;
} qf_mol;

void qf_mol_init(qf_mol *m);
void qf_mol_release(qf_mol *m);
/* Allocate room for n atoms (z and xyz zeroed). */
int qf_mol_resize(qf_mol *m, int natoms, qf_err *err);
int qf_mol_copy(qf_mol *dst, const qf_mol *src, qf_err *err);

/* Sum of atomic numbers minus the charge. */
long qf_mol_electrons(const qf_mol *m);
/* Hill-order formula (C, H, then alphabetical): "C8H10N4O2". */
void qf_mol_formula(const qf_mol *m, char *out, size_t size);
/* Smallest interatomic distance (Angstrom) and the pair (0-based, i < j);
 * returns +inf for fewer than two atoms, NaN (pair -1, -1) when a coordinate
 * is not finite. Expected O(N) (a hash grid), not all pairs. */
double qf_mol_min_distance(const qf_mol *m, int *i, int *j);

/* ---- elements ---------------------------------------------------------- */

#define QF_MAX_Z 118
/* Symbol for Z ("C"), or NULL when Z is not an element. */
const char *qf_element_symbol(int z);
/* Z for a symbol, case-insensitive ("c", "CL", "Cl"); 0 when unknown. */
int qf_element_from_symbol(const char *s);
/* Standard atomic weight (IUPAC 2013 conventional values), g/mol. */
double qf_element_mass(int z);

/* ---- checks before running ---------------------------------------------- */

/* Validate a molecule for a calculation whose method is parametrised up to
 * max_z, with the given total charge and unpaired electrons (the effective
 * values, after options): atom count within QF_MAX_ATOMS and > 0, finite
 * coordinates, no two atoms closer than QF_MIN_ATOM_DISTANCE, every element
 * <= max_z, electron count > 0,
 * parity of electrons and unpaired electrons equal, uhf <= electrons.
 * Error codes: input.empty, input.too_many_atoms, input.coordinates,
 * input.overlap, input.element, input.charge (electrons <= 0, uhf < 0 or
 * uhf > electrons), input.parity. */
int qf_mol_validate(const qf_mol *m, int max_z, int charge, int uhf, qf_err *err);

#endif
