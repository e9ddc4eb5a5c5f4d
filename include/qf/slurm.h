/*
 * Slurm: workers started by an HPC cluster's own scheduler (qforge slurm).
 *
 * Quantum Forge invents no cluster manager. The queue in the store stays the
 * single source of truth (what runs, how often, what is lost and found
 * again); Slurm only decides where and when workers run. `qforge slurm
 * submit` writes an sbatch script for a job array of N tasks, each one
 * `qforge worker --exit-when-idle` on the CPUs Slurm gives it, and submits
 * it with sbatch. `status` shows the array's tasks (squeue, and sacct when
 * the cluster keeps accounting) beside the queue's counts; `cancel` calls
 * scancel and gives back to the queue whatever the array's workers still
 * held.
 *
 * What the script guarantees (the README has the whole script):
 *   - the store password is never in it, nor on any command line: the URL
 *     the workers get names a passfile (mode 0600) that holds it, or relies
 *     on PGPASSFILE / ~/.pgpass / PGSERVICEFILE; sbatch itself runs without
 *     PGPASSWORD and QF_STORE in its environment;
 *   - `--signal=B:TERM@D` makes Slurm tell the batch shell D s before the
 *     time limit; the shell tells the worker to drain (no new claims), then,
 *     before the limit, to stop: what still runs goes back to the queue with
 *     its attempt uncounted. A worker killed outright leaves its jobs to the
 *     lease sweep;
 *   - every worker is named "slurm:<array job id>_<task>@<node>:<pid>", and
 *     records the Slurm job, array task and node with each attempt
 *     (metadata.json "slurm", calculation_execution_metrics.slurm_*).
 *
 * The Slurm programs run as subprocesses (argv arrays, no shell, a time
 * limit each); their output is read with a cap.
 */
#ifndef QF_SLURM_H
#define QF_SLURM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "qf/err.h"
#include "qf/job.h"
#include "qf/store.h"

/* ---- where a worker runs ----------------------------------------------------- */

/* From Slurm's environment: SLURM_ARRAY_JOB_ID (else SLURM_JOB_ID),
 * SLURM_ARRAY_TASK_ID, SLURMD_NODENAME. slurm_job_id 0 when this process
 * does not run under Slurm (or the variables are malformed). */
void qf_slurm_placement_from_env(qf_job_placement *p);

/* The worker-name prefix of the workers of a Slurm job: "slurm:<id>_" for
 * an array ("1234"), "slurm:<id>_<task>@" for one of its tasks ("1234_5").
 * QF_EINVAL (validation, slurm.job_id) for anything else. */
int qf_slurm_worker_prefix(const char *job_id, char *out, size_t size, qf_err *err);

/* ---- what sbatch accepts ----------------------------------------------------- */

/* A time limit in one of Slurm's forms: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S,
 * or UNLIMITED / INFINITE (0 too, as for Slurm). *seconds: the limit, -1 when
 * unlimited. */
bool qf_slurm_time_parse(const char *s, long *seconds);
/* Memory per node as sbatch's --mem takes it: digits, optionally K, M, G or
 * T (MiB without a suffix). */
bool qf_slurm_mem_valid(const char *s);
/* A partition list, account or job name: 1 to 64 of [A-Za-z0-9._+-] (and
 * ',' between partitions when list). */
bool qf_slurm_name_valid(const char *s, bool list);

/* ---- submit ---------------------------------------------------------------------- */

typedef struct qf_slurm_submit_opts {
	const char *store_url;      /* as given; its password is taken out */
	const char *batch_id;       /* the batch the array is for (NULL: the whole queue) */
	int workers;                /* array tasks (default 1) */
	int cpus_per_worker;        /* --cpus-per-task (default 1) */
	int threads_per_job;        /* threads per calculation (default 1): the worker's
	                               --concurrency is cpus_per_worker / threads_per_job */
	const char *partition;      /* NULL: the cluster's default */
	const char *account;        /* NULL: the user's default */
	const char *time_limit;     /* NULL: the partition's default */
	const char *mem;            /* NULL: the cluster's default */
	int drain_seconds;          /* --signal=B:TERM@N (default QF_SLURM_DRAIN_S) */
	const char *job_name;       /* default "qforge-worker" */
	const char *jobs_root;      /* job directories on the nodes: a path (made absolute),
	                               or "local": node-local scratch, $SLURM_TMPDIR, else
	                               $TMPDIR, else /tmp, then /qforge-jobs */
	const char *output_dir;     /* the script and the tasks' logs (made absolute;
	                               default ./qforge-slurm) */
	const char *passfile;       /* where a password goes (default ~/.qforge/pgpass) */
	const char *qforge;         /* the program the nodes run (default: this one) */
	const char *const *sbatch_args; /* more #SBATCH lines, one argument each */
	int nsbatch_args;
	const char *const *worker_args; /* more `qforge worker` arguments */
	int nworker_args;
} qf_slurm_submit_opts;

void qf_slurm_submit_opts_init(qf_slurm_submit_opts *o);

/* Check every option (QF_EINVAL, validation, slurm.option, naming it). */
int qf_slurm_submit_check(const qf_slurm_submit_opts *o, qf_err *err);

/* The store URL the workers get, and the password taken out of url (or
 * PGPASSWORD when the URL has none; NULL when there is neither): a
 * PostgreSQL URL without password, naming passfile= when there is one; an
 * SQLite URL with its path made absolute. Both heap strings. */
int qf_slurm_worker_store(const char *url, const char *passfile, char **worker_url,
                          char **password, qf_err *err);

/* Add (or replace) the line of url's host, port, database and user in the
 * libpq password file at path (created with mode 0600, its directory 0700;
 * written atomically). An existing file must be the user's own and readable
 * by nobody else. */
int qf_slurm_passfile_put(const char *path, const char *url, const char *password, qf_err *err);

/* The sbatch script (heap), for the URL from qf_slurm_worker_store. */
int qf_slurm_script(const qf_slurm_submit_opts *o, const char *worker_url, char **out,
                    qf_err *err);

/* Everything: the options checked, the password into the passfile, the
 * script written to <output_dir>/<job id>.sbatch, submitted with
 * `sbatch --parsable`. job_id gets Slurm's job id, *script (may be NULL) the
 * script. sbatch refusing the job is slurm.sbatch (validation when Slurm
 * says the request is wrong, system when it cannot be reached). */
int qf_slurm_submit(const qf_slurm_submit_opts *o, char job_id[32], char **script, qf_err *err);

/* ---- status and cancel -------------------------------------------------------------- */

/* The qforge arrays of this user that Slurm still knows (squeue: every
 * job whose comment starts with "qforge"), of one batch when batch_id is
 * given, or the jobs named in ids (n of them). *out: an array of
 *   {"job_id", "name", "batch_id" (or null), "tasks": [{"task", "state",
 *    "node", "reason"}], "states": {"RUNNING": n, ...},
 *    "sacct": [{"job", "state", "node", "exit_code", "elapsed"}] or null,
 *    "sacct_note": why not (or null), "held": jobs its workers hold (or null
 *    without a store), "queue": the batch's counts (or null)}.
 * store may be NULL (then no "held" nor "queue"). */
int qf_slurm_status(qf_store *store, const qf_actor *a, const char *const *ids, int n,
                    const char *batch_id, json_t **out, qf_err *err);

/* Cancel Slurm jobs (scancel), wait up to wait_s for their tasks to end,
 * then give back to the queue what their workers still hold (store may be
 * NULL: then nothing is given back). *released counts those jobs, *ended
 * says whether every task ended in time. */
int qf_slurm_cancel(qf_store *store, const char *const *ids, int n, double wait_s,
                    int *released, bool *ended, qf_err *err);

#endif
