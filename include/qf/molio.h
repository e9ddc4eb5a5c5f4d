/*
 * Reading molecules: XYZ (single and multi-frame), SDF/MOL (V2000 and V3000,
 * multi-record) and SMILES (one per line, optional name; through RDKit).
 *
 * A reader yields one molecule per record. A malformed record gives an error
 * naming the source, the line and the problem, and the reader moves on to the
 * next record where the format allows it (SDF: after "$$$$"; SMILES: the next
 * line; XYZ: cannot resynchronise after a bad atom count, so it stops).
 * Record numbers are 1-based.
 */
#ifndef QF_MOLIO_H
#define QF_MOLIO_H

#include <stdbool.h>
#include <stddef.h>

#include "qf/err.h"
#include "qf/mol.h"

typedef enum qf_format {
	QF_FMT_UNKNOWN = 0,
	QF_FMT_XYZ,
	QF_FMT_SDF, /* also .mol, .sd */
	QF_FMT_SMILES,
} qf_format;

/* From a file name's extension (.xyz, .sdf/.sd/.mol, .smi/.smiles/.txt? no). */
qf_format qf_format_from_path(const char *path);
qf_format qf_format_parse(const char *name); /* "xyz", "sdf", "mol", "smi", "smiles" */
const char *qf_format_name(qf_format f);

typedef struct qf_reader qf_reader;

/* Reader over an in-memory text (copied). source names it in messages
 * (a path, "<stdin>", "<request>"). */
int qf_reader_new_buf(qf_reader **r, qf_format fmt, const char *source,
                      const char *data, size_t len, qf_err *err);
/* Reader over a file (read whole, capped by QF_MAX_INPUT_BYTES). fmt may be
 * QF_FMT_UNKNOWN: then the extension decides. Empty and binary files are
 * refused here (input.empty, input.binary). */
int qf_reader_new_path(qf_reader **r, const char *path, qf_format fmt, qf_err *err);
void qf_reader_free(qf_reader *r);

/* Next record. Returns 1 with *m filled (the caller releases it), 0 at the
 * end, or a negative code with err naming the record; after an error the
 * caller may call again to go on with the next record, unless
 * qf_reader_can_continue() says no. *m is initialised here (whatever it held
 * is not freed) and is left empty on error or at the end.
 * Error codes of reading: input.empty, input.binary, input.format,
 * input.line_too_long, input.atom_count, input.too_many_atoms,
 * input.element, input.coordinates, input.syntax, input.periodic (XYZ:
 * a Lattice= or true pbc= on an extended XYZ comment line), and RDKit's
 * input.smiles / input.embedding; qf_mol_parse adds input.multiple. */
int qf_reader_next(qf_reader *r, qf_mol *m, qf_err *err);
bool qf_reader_can_continue(const qf_reader *r);
/* SMILES readers only: with embed false, records are checked with
 * qf_smiles_check instead of embedded (the atoms, charge and canonical
 * SMILES without coordinates): for looking at a file quickly, and for
 * fuzzing the reader without the unbounded cost of 3D. Default true. */
void qf_reader_set_embed(qf_reader *r, bool embed);
/* SMILES readers only: embed this many conformers per record and keep the
 * lowest (qf_smiles_to_conformers; default 1). */
void qf_reader_set_conformers(qf_reader *r, int conformers);
/* 1-based number of the record last returned (or failed). */
int qf_reader_record(const qf_reader *r);
/* The text of the record last returned, as given (not NUL-terminated). */
const char *qf_reader_record_text(const qf_reader *r, size_t *len);
qf_format qf_reader_format(const qf_reader *r);

/* Convenience: read exactly one molecule from a text. */
int qf_mol_parse(qf_mol *m, qf_format fmt, const char *source, const char *data,
                 size_t len, qf_err *err);
/* The same; a SMILES is embedded as this many conformers and the lowest
 * kept (qf_reader_set_conformers; 1 is qf_mol_parse). */
int qf_mol_parse_conformers(qf_mol *m, qf_format fmt, const char *source, const char *data,
                            size_t len, int conformers, qf_err *err);

/* Write XYZ with a plain comment line (the name is NOT written there: xtb
 * reads the comment line as xcontrol input). Coordinates with 10 decimals. */
int qf_mol_write_xyz(const qf_mol *m, const char *path, qf_err *err);
/* The same into a buffer (heap, NUL-terminated). */
char *qf_mol_to_xyz(const qf_mol *m, const char *comment);

/* ---- SMILES through RDKit (src/chem/rdkit.cpp) -------------------------- */

/* Parse SMILES, add hydrogens, embed in 3D (ETKDGv3, fixed seed), clean up
 * with MMFF94 (UFF when MMFF has no parameters). Charge from the SMILES
 * formal charges, unpaired electrons from radical electrons. Fills m->smiles
 * with RDKit's canonical SMILES. Code input.smiles on failure. */
int qf_smiles_to_mol(const char *smiles, const char *name, qf_mol *m, qf_err *err);

/* Distinct conformers of a molecule made from SMILES, lowest force-field
 * energy first: n of them, 3 * natoms coordinates each (xyz), each one's
 * MMFF94 (or UFF) energy in kcal/mol. */
typedef struct qf_conformers {
	int n;
	double *xyz;
	double *ff_energy;
} qf_conformers;
void qf_conformers_release(qf_conformers *c);

/* Up to QF_MAX_CONFORMERS: as qf_smiles_to_mol with conformers 1 (the
 * structure of the fixed seed sequence, c->n 1); with more, that many are
 * embedded (ETKDGv3, RMSD-pruned), minimised, checked, and the distinct ones
 * kept: m holds the lowest, c (may be NULL) all of them. m->embedding
 * describes the embedding either way. */
int qf_smiles_to_conformers(const char *smiles, const char *name, int conformers, qf_mol *m,
                            qf_conformers *c, qf_err *err);
/* m->embedding for conformer k of c (its index and energy). */
int qf_embedding_of_conformer(const char *embedding, int k, double ff_energy, char **out,
                              qf_err *err);
/* The same checks and the same atoms (hydrogens added), charge, unpaired
 * electrons, name and canonical SMILES, without 3D: every coordinate is 0.
 * Fast and bounded by the SMILES's length; the same error codes except
 * input.embedding. */
int qf_smiles_check(const char *smiles, const char *name, qf_mol *m, qf_err *err);

#endif
