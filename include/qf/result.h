/*
 * Everything a calculation produced, and how it ran.
 *
 * qf_result holds the chemistry (energies in Eh unless named _ev, dipole in
 * Debye, lengths in Angstrom); qf_metrics holds how the run went. Arrays are
 * heap-owned by the struct; a count of 0 means "not produced".
 * Optional scalars have a has_ flag.
 */
#ifndef QF_RESULT_H
#define QF_RESULT_H

#include <jansson.h>
#include <stdbool.h>

#include "qf/err.h"

typedef struct qf_bond {
	int i, j;     /* 0-based atom indices, i < j */
	double order; /* Wiberg bond order */
} qf_bond;

typedef struct qf_result {
	bool has_energy;
	double total_energy;      /* Eh */
	bool has_electronic_energy;
	double electronic_energy; /* Eh */
	bool has_gap;
	double gap_ev;            /* HOMO-LUMO gap, eV */
	bool has_dipole;
	double dipole[3];         /* Debye */
	double dipole_debye;      /* |dipole|, Debye */

	int natoms;
	double *charges;          /* natoms partial charges, e */
	double *gradient;         /* 3*natoms, Eh/Bohr, when produced */
	double *geometry;         /* 3*natoms final geometry, Angstrom */
	int *z;                   /* natoms atomic numbers of the geometry */

	int nbonds;
	qf_bond *bonds;           /* Wiberg bond orders > 0.1 */

	int norbitals;
	double *orbital_energies_ev; /* norbitals */
	double *occupations;         /* norbitals (fractional) */
	int homo_index;              /* 0-based, -1 when unknown */

	int nopt;                 /* energies along the optimisation */
	double *opt_energies;     /* Eh, one per optimisation step */
	bool has_gradient_norm;
	double gradient_norm;     /* Eh/Bohr, final */

	int nfreq;
	double *frequencies;      /* cm^-1, imaginary as negative; all 3N */
	double *ir_intensities;   /* km/mol, nfreq */
	double *reduced_masses;   /* amu, nfreq */
	int n_imaginary;          /* frequencies below -QF_IMAG_THRESHOLD? see parser */

	bool has_thermo;
	double zpve;              /* Eh */
	double enthalpy;          /* total enthalpy, Eh */
	double free_energy;       /* total free energy, Eh */
	double g_rrho;            /* G(RRHO) contribution, Eh */
	double thermo_temperature; /* K */
} qf_result;

typedef struct qf_metrics {
	double wall_time;          /* s, measured around the process */
	double cpu_time;           /* s, user + system of the process tree (rusage) */
	double memory_peak_mb;     /* ru_maxrss of the largest waited child, MiB */
	int scf_cycles;            /* SCC iterations of the last SCC (-1 unknown) */
	int optimization_cycles;   /* -1 when not an optimisation */
	bool is_converged;         /* SCC and (when optimising) geometry */
	bool has_gradient_norm;
	double gradient_norm;      /* Eh/Bohr */
	char xtb_version[32];      /* "6.5.1" */
	char method[32];           /* "GFN2-xTB" */
	char solvation[64];        /* "alpb/water", "" in vacuum */
	int exit_code;             /* xtb's exit status, -1 when killed */
	int term_signal;           /* signal that ended xtb, 0 if none */
	bool timed_out;
	double xtb_wall_time;      /* xtb's own " * wall-time" report, s (-1 unknown) */
} qf_metrics;

void qf_result_init(qf_result *r);
void qf_result_release(qf_result *r);
void qf_metrics_init(qf_metrics *m);

json_t *qf_result_to_json(const qf_result *r);
int qf_result_from_json(qf_result *r, const json_t *j, qf_err *err);
json_t *qf_metrics_to_json(const qf_metrics *m);
int qf_metrics_from_json(qf_metrics *m, const json_t *j, qf_err *err);

#endif
