/*
 * The queue above the store: the retry policy, and the worker that claims
 * jobs, runs them and commits their results.
 *
 * A worker (qforge worker) runs anywhere that reaches the store and has xtb.
 * It has `concurrency` slots, each a thread that claims one job at a time,
 * runs it (singlepoints through an in-process libxtb engine of its own,
 * everything else through the xtb program), writes the job directory and
 * metadata.json, then finishes the attempt in the store (guarded by the
 * lease). A heartbeat thread extends the leases of running jobs and sweeps
 * expired leases of crashed workers. When the store is unreachable, finished
 * results wait (in memory and in their job directories) and are committed
 * when it returns. SIGTERM drains: no new claims, running jobs finish and are
 * committed; a second SIGTERM stops them and gives them back to the queue.
 */
#ifndef QF_QUEUE_H
#define QF_QUEUE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "qf/err.h"
#include "qf/result.h"
#include "qf/runner.h"
#include "qf/store.h"

/* ---- retry policy ------------------------------------------------------- */

typedef struct qf_retry_policy {
	int max_attempts;       /* total attempts (default QF_DEFAULT_MAX_ATTEMPTS) */
	double backoff_base;    /* system errors: first delay, s (default 5) */
	double backoff_factor;  /* each further delay multiplied by (default 2) */
	double backoff_cap;     /* longest delay, s (default 300) */
} qf_retry_policy;

void qf_retry_policy_init(qf_retry_policy *p);

/* What to do after attempt c->attempt failed with e (r: what it produced).
 *   validation   never retried
 *   timeout      retried once, with twice the time limit
 *   convergence  SCC: more iterations, then a higher electronic temperature;
 *                geometry: more cycles, from the last geometry
 *   system       exponential backoff with jitter (base, factor, cap)
 *   unknown      like system
 * and never once the attempts are used up: this attempt being the last
 * allowed (c->max_attempts, p->max_attempts), or the error history already
 * holding as many failures (the "timed out 3 times" rule). */
void qf_retry_decide(const qf_retry_policy *p, const qf_claim *c, const qf_err *e,
                     const qf_result *r, qf_retry *out);

/* ---- the worker ------------------------------------------------------------ */

typedef struct qf_worker_opts {
	const char *store_url;     /* NULL: qf_store_default_url() */
	const char *jobs_root;     /* where job directories go */
	int concurrency;           /* slots (default: the number of cores) */
	bool exit_when_idle;       /* return once no job is queued or running */
	double lease_seconds;      /* default QF_LEASE_S */
	double heartbeat_seconds;  /* default lease / 6 */
	double poll_seconds;       /* idle claim interval (default 1) */
	qf_retry_policy retry;
	bool no_engine;            /* run singlepoints through the xtb program too */
	const char *qforge_path;   /* program for the engines (NULL: this one) */
	qf_xtb_opts xtb;           /* the xtb program, memory limit */
	const char *name;          /* worker name (default "host:pid") */
	bool quiet;                /* no per-job lines on stderr */
	int wake_fd;               /* readable when new work was committed (qforge serve's
	                              pipe): napping slots claim at once; -1: none */
	bool no_props;             /* do not compute molecules' descriptors between jobs */
} qf_worker_opts;

void qf_worker_opts_init(qf_worker_opts *o);

typedef struct qf_worker_stats {
	int64_t claimed;
	int64_t completed;
	int64_t failed;        /* final failures */
	int64_t retried;       /* failed attempts queued again */
	int64_t cancelled;
	int64_t stale;         /* finishes refused: the job was no longer ours */
	int64_t released;      /* given back unfinished (drain) */
	int64_t synced;        /* results committed from an earlier attempt's directory */
	int64_t engine_runs;   /* calculations through the in-process engine */
	int64_t cli_runs;      /* calculations through the xtb program */
	int64_t store_errors;  /* store calls that failed (and were retried) */
} qf_worker_stats;

/* Run until *stop is set (1: drain; 2 or more: stop running jobs and give them
 * back) or, with exit_when_idle, until nothing is left. Returns 0, or a
 * negative code when the worker could not start (store, jobs root). */
int qf_worker_run(const qf_worker_opts *o, volatile sig_atomic_t *stop, qf_worker_stats *stats,
                  qf_err *err);

#endif
