/*
 * A job: one calculation of one molecule, and its directory
 *
 *   <jobs root>/<job id>/
 *       input.<ext>      the input as given (the record's own text)
 *       geometry.xyz     the geometry as run
 *       xcontrol.inp     "$end" (see notes on xtb's --input)
 *       ...              xtb's output files
 *       stdout.log  stderr.log
 *       metadata.json    the record of the calculation (written last,
 *                        atomically: tmp file, fsync, rename)
 *
 * metadata.json is THE record: the database is built from it (and can be
 * rebuilt from it). Its keys are stable and documented in the README.
 */
#ifndef QF_JOB_H
#define QF_JOB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "qf/err.h"
#include "qf/hash.h"
#include "qf/mol.h"
#include "qf/molio.h"
#include "qf/result.h"
#include "qf/runner.h"
#include "qf/spec.h"
#include "qf/uuid.h"

#define QF_METADATA_FILE "metadata.json"
#define QF_METADATA_SCHEMA 1

typedef enum qf_job_status {
	QF_JOB_QUEUED = 0,
	QF_JOB_RUNNING,
	QF_JOB_COMPLETED,
	QF_JOB_FAILED,
	QF_JOB_CANCELLED,
} qf_job_status;

const char *qf_job_status_name(qf_job_status s);
int qf_job_status_parse(const char *s, qf_job_status *out);

/* Where an attempt ran when Slurm started its worker (metadata.json key
 * "slurm", calculation_execution_metrics.slurm_*): the job array's id (the
 * job's own when the worker is no array task), the array task and the node.
 * slurm_job_id 0: not under Slurm. Filled by qf_slurm_placement_from_env
 * (include/qf/slurm.h). */
typedef struct qf_job_placement {
	int64_t slurm_job_id;
	int slurm_array_task_id;      /* -1: none */
	char node[256];               /* "" unknown */
} qf_job_placement;

typedef struct qf_job {
	char id[QF_UUID_STR];
	char dir[QF_MAX_PATH];
	char name[QF_MAX_NAME];
	qf_job_status status;
	/* the input as given */
	char input_file[32];          /* "input.xyz" */
	qf_format input_format;
	char input_sha256[QF_SHA256_HEX];
	char source[QF_MAX_PATH];     /* where it came from ("" when unknown) */
	int record;                   /* 1-based record in the source, 0 unknown */
	/* the molecule as run */
	qf_mol mol;                   /* charge/uhf: the effective values */
	char geometry_sha256[QF_SHA256_HEX]; /* of the geometry + charge + uhf */
	qf_spec spec;
	qf_result result;
	qf_metrics metrics;
	qf_err error;                 /* rc == 0 when completed */
	int attempt;                  /* 1-based */
	double created_at, started_at, finished_at; /* epoch s; 0 unknown */
	qf_job_placement placement;   /* Slurm's job, task, node (job id 0: none) */
} qf_job;

void qf_job_init(qf_job *j);
void qf_job_release(qf_job *j);

/* The effective charge and unpaired electrons: the spec's when it sets them,
 * else the molecule's. */
void qf_job_effective_charge(const qf_mol *mol, const qf_spec *spec, int *charge, int *uhf);

/* Hash of what determines a calculation's input: elements, coordinates
 * (as written to geometry.xyz), charge and unpaired electrons. */
void qf_job_geometry_hash(const qf_mol *mol, int charge, int uhf, char out[QF_SHA256_HEX]);

/* The input of a job: the molecule as read and the record as given. */
typedef struct qf_job_input {
	const qf_mol *mol;
	const char *text;    /* the record as given (may be NULL) */
	size_t len;
	qf_format format;
	const char *source;  /* where it came from (may be NULL) */
	int record;          /* 1-based record number, 0 unknown */
} qf_job_input;

/* How a job's calculation is run. The default is the CLI executor
 * (qf_xtb_run); a worker routes singlepoints to an in-process engine. The
 * function runs in dir (empty on entry) and must leave the geometry as run
 * in dir/geometry.xyz. */
typedef int (*qf_job_exec_fn)(void *ctx, const qf_mol *mol, const qf_spec *spec, int charge,
                              int uhf, const char *dir, qf_result *r, qf_metrics *m, qf_err *err);

typedef struct qf_job_opts {
	const char *id;          /* the job id; NULL: a new uuid v7 */
	int attempt;             /* 0: 1 */
	const qf_xtb_opts *xtb;  /* for the CLI executor (NULL: defaults) */
	qf_job_exec_fn exec;     /* NULL: the CLI executor */
	void *exec_ctx;
	const qf_job_placement *placement; /* where it runs under Slurm (NULL: not) */
} qf_job_opts;

/* Run one calculation end to end: the job directory <jobs_root>/<id>
 * (jobs_root created if missing; when the directory exists from an earlier
 * attempt it is first moved aside to <id>.attempt-<n>), the calculation, the
 * input as given, and metadata.json written atomically. On return j holds
 * everything (also on failure). Returns 0 when the calculation completed,
 * else the categorised negative code (j->error filled). A failure to create
 * the directory or write metadata is a system error; nothing is then claimed
 * as recorded. o may be NULL. */
int qf_job_run(qf_job *j, const char *jobs_root, const qf_job_input *in, const qf_spec *spec,
               const qf_job_opts *o);

/* The metadata document. */
json_t *qf_job_to_json(const qf_job *j);
/* Write dir/metadata.json atomically. */
int qf_job_write_metadata(const qf_job *j, qf_err *err);
/* Read a job back from a metadata document / a job directory. */
int qf_job_from_json(qf_job *j, const json_t *doc, qf_err *err);
/* Parse dir/metadata.json (duplicate keys refused) into *doc. */
int qf_job_read_metadata(const char *dir, json_t **doc, qf_err *err);
int qf_job_load(qf_job *j, const char *dir, qf_err *err);

/* A metadata-shaped document for an input record that could not be read
 * (no job, no directory): status "failed", job_id null, the error. */
json_t *qf_job_input_error_json(const char *source, int record, const qf_err *e);

#endif
