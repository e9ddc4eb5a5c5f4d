/*
 * The RDKit module: the one C++ part of Quantum Forge (src/chem/rdkit.cpp),
 * built as its own shared object, qforge-rdkit.so, next to the qforge
 * program, and loaded by qf_smiles_to_mol (src/chem/smiles.c) on the first
 * SMILES. RDKit's libraries are large C++ libraries whose tens of thousands
 * of symbol relocations cost every program start ~10 ms; most runs of
 * qforge (runs on XYZ/SDF files, workers, engine children, store commands)
 * never parse a SMILES, so they never load them.
 *
 * The interface is plain C data only: the module calls nothing of libqf, and
 * what it allocates (with malloc) the caller frees (with free).
 */
#ifndef QF_RDKIT_MODULE_H
#define QF_RDKIT_MODULE_H

/* Bumped whenever qf_rdkit_out, qf_rdkit_embed, qf_rdkit_props or
 * qf_rdkit_descriptors change (3: qf_rdkit_parse; 4: conformers and the
 * embedding's description). */
#define QF_RDKIT_ABI 4

/* The module's file name, and the names of its SMILES functions. */
#define QF_RDKIT_MODULE_FILE "qforge-rdkit.so"
#define QF_RDKIT_ABI_SYMBOL "qf_rdkit_abi"
#define QF_RDKIT_EMBED_SYMBOL "qf_rdkit_embed"
#define QF_RDKIT_PARSE_SYMBOL "qf_rdkit_parse"

typedef struct qf_rdkit_out {
	/* On success: the atoms with hydrogens, coordinates in Angstrom. */
	int natoms;
	int *z;           /* natoms (malloc) */
	double *xyz;      /* 3 * natoms (malloc) */
	int charge;       /* sum of the formal charges */
	int uhf;          /* radical electrons */
	char *canonical;  /* RDKit's canonical SMILES (malloc) */
	/* Embedding only: the distinct conformers that passed the checks, lowest
	 * force-field energy first (xyz above is conformer 0's); conf_xyz holds
	 * 3 * natoms per conformer, ff_energy each one's energy in kcal/mol. */
	int nconf;
	double *conf_xyz;    /* (malloc) */
	double *ff_energy;   /* (malloc) */
	int seed;            /* ETKDG seed of the kept conformer */
	char force_field[8]; /* "MMFF94" or "UFF" */
	/* Parse and embedding: stereo the SMILES leaves open, as JSON
	 * {"unspecified_stereocentres":[atom...],"unspecified_double_bonds":
	 * [[atom,atom]...]} with 1-based atom numbers (malloc). */
	char *stereo_json;
	/* On failure: */
	int out_of_memory; /* 1: a system error, not the SMILES's fault */
	char code[32];    /* input.smiles, input.embedding, input.too_many_atoms */
	char message[512];
} qf_rdkit_out;

/* int qf_rdkit_abi(void): QF_RDKIT_ABI of the module. */
typedef int (*qf_rdkit_abi_fn)(void);

/* int qf_rdkit_embed(const char *smiles, int max_atoms, int conformers,
 * qf_rdkit_out *out): SMILES -> 3D (see src/chem/rdkit.cpp); conformers 1
 * is one structure from the fixed seed sequence, more embeds that many
 * (ETKDGv3, RMSD-pruned), minimises each and keeps the distinct ones that
 * pass the checks. out is zeroed by the module first. 0 with the success
 * fields set, or -1 with code and message set (and the success fields
 * NULL/0). Thread-safe. */
typedef int (*qf_rdkit_embed_fn)(const char *smiles, int max_atoms, int conformers,
                                 qf_rdkit_out *out);

/* int qf_rdkit_parse(const char *smiles, int max_atoms, qf_rdkit_out *out):
 * the same without the 3D part: parse, sanitise, add hydrogens, count
 * them; on success xyz is NULL and everything else is set as by
 * qf_rdkit_embed. Bounded by the SMILES's length (no embedding, no force
 * field). Thread-safe. */
typedef int (*qf_rdkit_parse_fn)(const char *smiles, int max_atoms, qf_rdkit_out *out);

/* ---- descriptors (src/chem/props.c loads this symbol) ------------------- */

#define QF_RDKIT_DESCRIPTORS_SYMBOL "qf_rdkit_descriptors"

/* What qf_rdkit_descriptors reads. */
enum { QF_RDKIT_FROM_SMILES = 0, QF_RDKIT_FROM_MOLBLOCK = 1 };

/* Highest atomic number counted in qf_rdkit_props.element_count. */
#define QF_RDKIT_MAX_Z 118

typedef struct qf_rdkit_props {
	/* On success: RDKit's descriptors of the sanitised molecule, exactly
	 * as its Python Descriptors module computes them. */
	double molecular_weight;               /* Descriptors.MolWt (calcAMW), g/mol */
	double logp;                           /* Descriptors.MolLogP (Crippen) */
	double molar_refractivity;             /* Descriptors.MolMR (Crippen) */
	double tpsa;                           /* Descriptors.TPSA (no S, P), A^2 */
	int hbd, hba;                          /* Descriptors.NumHDonors / NumHAcceptors */
	int rotatable_bonds;                   /* Descriptors.NumRotatableBonds */
	int formal_charge;                     /* sum of the formal charges */
	int radicals;                          /* radical electrons */
	int element_count[QF_RDKIT_MAX_Z + 1]; /* atoms by Z, hydrogens included */
	char *canonical;                       /* Chem.MolToSmiles (malloc) */
	/* On failure: */
	int out_of_memory;
	char code[32];
	char message[512];
} qf_rdkit_props;

/* int qf_rdkit_descriptors(const char *text, int from, qf_rdkit_props *out):
 * text is a SMILES (QF_RDKIT_FROM_SMILES) or an MDL mol block
 * (QF_RDKIT_FROM_MOLBLOCK, V2000 or V3000). out is zeroed first. 0, or -1
 * with code and message. Thread-safe. */
typedef int (*qf_rdkit_descriptors_fn)(const char *text, int from, qf_rdkit_props *out);

#endif
