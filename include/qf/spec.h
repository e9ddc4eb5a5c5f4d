/*
 * A calculation spec: what xtb is asked to do. Validated strictly here
 * (xtb itself turns an unknown level into "normal" and unknown flags into
 * warnings). The option names of `qforge run` are the JSON keys:
 *   {"task":"opt","level":"tight","method":"gfn2","alpb":"water",
 *    "charge":0,"uhf":0,"etemp":300,"accuracy":1.0,
 *    "max_scc_iterations":250,"max_opt_cycles":0,"timeout":60,"threads":1}
 * "charge" and "uhf" are present only when they override the molecule's.
 */
#ifndef QF_SPEC_H
#define QF_SPEC_H

#include <jansson.h>
#include <stdbool.h>

#include "qf/err.h"

typedef enum qf_task { QF_TASK_SP = 0, QF_TASK_OPT, QF_TASK_HESS, QF_TASK_OHESS } qf_task;

typedef enum qf_level {
	QF_LEVEL_CRUDE = 0, QF_LEVEL_SLOPPY, QF_LEVEL_LOOSE, QF_LEVEL_LAX,
	QF_LEVEL_NORMAL, QF_LEVEL_TIGHT, QF_LEVEL_VTIGHT, QF_LEVEL_EXTREME,
} qf_level;

typedef enum qf_method {
	QF_METHOD_GFN2 = 0, QF_METHOD_GFN1, QF_METHOD_GFN0, QF_METHOD_GFNFF,
} qf_method;

typedef enum qf_solvation { QF_SOLV_NONE = 0, QF_SOLV_ALPB, QF_SOLV_GBSA } qf_solvation;

typedef struct qf_spec {
	qf_task task;
	qf_level level;        /* used by opt and ohess */
	qf_method method;
	qf_solvation solvation;
	char solvent[32];      /* canonical lowercase name, "" without solvation */
	bool has_charge;       /* override the molecule's charge */
	int charge;
	bool has_uhf;          /* override the molecule's unpaired electrons */
	int uhf;
	double etemp;          /* electronic temperature, K (xtb default 300) */
	double accuracy;       /* xtb --acc (default 1.0) */
	int max_scc_iterations; /* xtb --iterations (default 250) */
	int max_opt_cycles;    /* xtb --cycles; 0 = xtb's own choice */
	double timeout;        /* wall-time limit, s */
	int threads;           /* OMP/BLAS threads (default 1) */
} qf_spec;

void qf_spec_init(qf_spec *s); /* the defaults */

/* Validate every field (ranges, solvent known for the model and method:
 * code spec.solvent; spec.range for numbers). */
int qf_spec_validate(const qf_spec *s, qf_err *err);

const char *qf_task_name(qf_task t);
const char *qf_level_name(qf_level l);
const char *qf_method_name(qf_method m);   /* "gfn2" */
const char *qf_method_label(qf_method m);  /* "GFN2-xTB" */
const char *qf_solvation_name(qf_solvation s); /* "alpb", "gbsa", "" */
int qf_task_parse(const char *s, qf_task *out);
int qf_level_parse(const char *s, qf_level *out);
int qf_method_parse(const char *s, qf_method *out);
/* Highest atomic number a method is parametrised for. */
int qf_method_max_z(qf_method m);
/* Canonical solvent name for a model and method ("h2o" -> "water"), or NULL
 * when xtb does not support that solvent there. */
const char *qf_solvent_canonical(qf_solvation model, qf_method method, const char *name);

/* Set one field from its option name and text value ("level", "tight");
 * used by the CLI and the JSON reader. Errors name the option. */
int qf_spec_set(qf_spec *s, const char *key, const char *value, qf_err *err);

json_t *qf_spec_to_json(const qf_spec *s);
/* Strict: unknown keys and wrong types are errors. */
int qf_spec_from_json(qf_spec *s, const json_t *j, qf_err *err);

/* Whether the task optimises the geometry / computes a Hessian. */
bool qf_task_optimises(qf_task t);
bool qf_task_hessian(qf_task t);

#endif
