/*
 * The worker: slots that claim, run and finish jobs; a heartbeat thread that
 * keeps their leases and sweeps the leases of dead workers. See
 * include/qf/queue.h.
 *
 * Threads: one per slot, one for heartbeats, and the caller's, which waits
 * for the others and watches *stop. Each slot owns its engine (a child
 * process running libxtb; the worker itself never calls libxtb) and its
 * claim; the heartbeat thread reads claims only under the worker's lock.
 *
 * Ordering that keeps the invariants (DESIGN.md):
 *   1. the job directory and metadata.json are written (atomically) before
 *      the attempt is finished in the store;
 *   2. finishing is guarded by (id, attempt, lease token): a job that was
 *      swept and reclaimed meanwhile is not overwritten;
 *   3. a finished attempt whose commit was lost (worker killed, store down)
 *      is found in its job directory by the next claim of the job on this
 *      machine and committed from there instead of being computed again;
 *   4. one process of the machine at a time works in a job's directory (a
 *      lock file beside it, held until the commit): a worker that lost its
 *      lease without noticing cannot write over the attempt that took over.
 */
#include "qf/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qf/clock.h"
#include "qf/engine.h"
#include "qf/fs.h"
#include "qf/job.h"
#include "qf/log.h"
#include "qf/molio.h"
#include "qf/slurm.h"
#include "qf/props.h"
#include "qf/str.h"

#define MODULE "worker"

/* How long a slot whose calculation was killed from outside waits for the
 * worker's own stop signal before recording the failure, s (see run_locked). */
#define KILLED_STOP_GRACE_S 1.0

/* Longest wait between attempts to reach an unreachable store, s. */
#define STORE_RETRY_CAP_S 10.0

/* Test hook (fault injection): when set to a number of milliseconds, every
 * slot sleeps that long right before it finishes an attempt in the store,
 * after the job directory and metadata.json are written. The survival tests
 * (tests/integration/queue/) use it to land SIGKILLs between "result on
 * disk" and "result committed" on purpose. Unset or 0 in production. */
#define FAULT_COMMIT_DELAY_ENV "QF_FAULT_COMMIT_DELAY_MS"

struct worker;

struct slot {
	int index;
	struct worker *w;
	pthread_t thread;
	qf_engine *engine;
	char worker_id[128];
	/* under w->mu */
	bool busy;
	qf_claim claim;
	bool lost;             /* the lease is no longer ours */
	bool cancel_requested; /* someone cancelled the job */
	volatile int cancel;   /* stops the running xtb (qf_proc_opts.cancel) */
};

struct worker {
	const qf_worker_opts *o;
	qf_store *store;
	volatile sig_atomic_t *stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot *slots;
	int nslots;
	int running_threads;
	bool idle;      /* exit_when_idle: nothing is left */
	bool done;      /* tells the heartbeat thread to end */
	long commit_delay_ms; /* FAULT_COMMIT_DELAY_ENV (test hook), 0: none */
	unsigned wakes;       /* bumped when o->wake_fd says there is new work */
	double idle_said_at;  /* exit_when_idle: when it last said what it waits for */
	qf_worker_stats stats;
	/* Slurm's job, array task and node when Slurm started this worker
	 * (recorded with every attempt; job id 0 otherwise) */
	qf_job_placement placement;
	pthread_mutex_t props_mu; /* one slot at a time describes molecules */
};

void qf_worker_opts_init(qf_worker_opts *o)
{
	memset(o, 0, sizeof(*o));
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	o->concurrency = cores > 0 ? (int)cores : 1;
	o->lease_seconds = QF_LEASE_S;
	o->heartbeat_seconds = 0;
	o->poll_seconds = 1.0;
	o->jobs_root = "var/jobs";
	o->wake_fd = -1;
	qf_retry_policy_init(&o->retry);
	qf_xtb_opts_init(&o->xtb);
}

/* ---- small helpers -------------------------------------------------------- */

static void count(struct worker *w, int64_t *field)
{
	pthread_mutex_lock(&w->mu);
	(*field)++;
	pthread_mutex_unlock(&w->mu);
}

static bool stopping(const struct worker *w)
{
	return *w->stop > 0;
}

/* Sleep up to s seconds, waking early when the worker stops or ends, and,
 * when idle_too, once (with exit_when_idle) a slot found nothing left to do:
 * the other slots then end at once instead of after their poll interval. */
static void nap_until(struct worker *w, double s, bool idle_too)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	double end = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + s;
	pthread_mutex_lock(&w->mu);
	unsigned wakes = w->wakes;
	while (!w->done && !(idle_too && w->idle) && !stopping(w) && w->wakes == wakes) {
		clock_gettime(CLOCK_REALTIME, &ts);
		double now = (double)ts.tv_sec + ts.tv_nsec * 1e-9;
		if (now >= end)
			break;
		/* wake at least every 200 ms to notice *stop (set by a signal) */
		double until = fmin(end, now + 0.2);
		struct timespec abs = {(time_t)until, (long)((until - floor(until)) * 1e9)};
		pthread_cond_timedwait(&w->cv, &w->mu, &abs);
	}
	pthread_mutex_unlock(&w->mu);
}

static void nap(struct worker *w, double s)
{
	nap_until(w, s, false);
}

/* A factor in [1 - f, 1 + f]: spreads workers' polls apart. */
static double jitter(double f)
{
	return 1.0 - f + 2.0 * f * (randombytes_uniform(1000001) / 1e6);
}

static double store_backoff(int failures)
{
	double d = 0.5 * pow(2.0, failures < 10 ? failures : 10);
	return fmin(d, STORE_RETRY_CAP_S) * jitter(0.2);
}

/* ---- running one job -------------------------------------------------------- */

/* The executor of a slot: its engine for what the engine runs, else the
 * xtb program (stoppable through the slot's cancel flag). */
static int slot_exec(void *ctx, const qf_mol *mol, const qf_spec *spec, int charge, int uhf,
                     const char *dir, qf_result *r, qf_metrics *m, qf_err *err)
{
	struct slot *sl = ctx;
	struct worker *w = sl->w;
	if (sl->engine && qf_engine_supports(spec)) {
		char path[QF_MAX_PATH];
		int rc = qf_fs_join(path, sizeof(path), dir, QF_XTB_GEOMETRY);
		if (rc)
			return qf_err_set(err, QF_CAT_SYSTEM, "system.path", "job directory path too long");
		/* the geometry as run, as the CLI executor leaves it */
		if ((rc = qf_mol_write_xyz(mol, path, err)))
			return rc;
		count(w, &w->stats.engine_runs);
		return qf_engine_run(sl->engine, mol, spec, charge, uhf, r, m, err);
	}
	qf_xtb_opts xo = w->o->xtb;
	xo.cancel = &sl->cancel;
	count(w, &w->stats.cli_runs);
	return qf_xtb_run(mol, spec, charge, uhf, dir, &xo, r, m, err);
}

/* Finish an attempt, waiting out an unreachable store. Returns 0 when the
 * store took it, QF_ECONFLICT when the job was no longer ours, or the last
 * error when the worker was told to stop hard before the store came back
 * (the result then stays in its job directory). */
static int finish(struct slot *sl, const qf_job *job, const qf_retry *retry)
{
	struct worker *w = sl->w;
	if (w->commit_delay_ms > 0) {
		/* test hook: a window between the job directory and the commit */
		struct timespec d = {w->commit_delay_ms / 1000, w->commit_delay_ms % 1000 * 1000000L};
		while (nanosleep(&d, &d) && errno == EINTR) {
		}
	}
	for (int failures = 0;; failures++) {
		qf_err err;
		qf_err_init(&err);
		int rc = qf_store_finish(w->store, &sl->claim, job, retry, sl->worker_id, &err);
		if (rc == 0 || rc == QF_ECONFLICT) {
			if (rc == QF_ECONFLICT)
				qf_log_warn(MODULE, "%s: job %s attempt %d is no longer ours (%s); result left in %s",
				            sl->worker_id, sl->claim.id, sl->claim.attempt, err.message, job->dir);
			if (failures)
				qf_log_info(MODULE, "%s: store reachable again; job %s committed", sl->worker_id,
				            sl->claim.id);
			return rc;
		}
		count(w, &w->stats.store_errors);
		if (failures == 0)
			qf_log_warn(MODULE, "%s: could not commit job %s (%s); its result is safe in %s, retrying",
			            sl->worker_id, sl->claim.id, err.message, job->dir);
		if (*w->stop >= 2)
			return rc;
		nap(w, store_backoff(failures));
		/* nap returns early when draining; a drain still commits */
		if (*w->stop == 1)
			usleep(200 * 1000);
	}
}

/* An earlier attempt of this job finished here but its commit was lost (the
 * worker was killed, or the store was down when it ended): commit that
 * result instead of computing it again. */
static bool try_sync(struct slot *sl)
{
	struct worker *w = sl->w;
	const qf_claim *c = &sl->claim;
	char dir[QF_MAX_PATH];
	if (qf_snprintf(dir, sizeof(dir), "%s/%s", w->o->jobs_root, c->id))
		return false;
	char meta[QF_MAX_PATH];
	if (qf_fs_join(meta, sizeof(meta), dir, QF_METADATA_FILE) || !qf_fs_exists(meta))
		return false;
	qf_job job;
	qf_job_init(&job);
	qf_err err;
	qf_err_init(&err);
	bool synced = false;
	if (qf_job_load(&job, dir, &err) || job.status != QF_JOB_COMPLETED ||
	    job.attempt >= c->attempt)
		goto out;
	/* the same work: geometry (with charge and unpaired electrons) and spec */
	int charge, uhf;
	qf_job_effective_charge(&c->mol, &c->spec, &charge, &uhf);
	char hash[QF_SHA256_HEX];
	qf_job_geometry_hash(&c->mol, charge, uhf, hash);
	json_t *a = qf_spec_to_json(&job.spec), *b = qf_spec_to_json(&c->spec);
	bool same = strcmp(hash, job.geometry_sha256) == 0 && json_equal(a, b);
	json_decref(a);
	json_decref(b);
	if (!same)
		goto out;
	job.attempt = c->attempt;
	qf_strlcpy(job.dir, dir, sizeof(job.dir));
	if (qf_job_write_metadata(&job, &err))
		goto out;
	int rc = finish(sl, &job, NULL);
	if (rc == 0) {
		count(w, &w->stats.synced);
		count(w, &w->stats.completed);
		qf_log_info(MODULE, "%s: job %s committed from its job directory (attempt %d finished "
		            "before its commit was lost)", sl->worker_id, c->id, c->attempt - 1);
	} else if (rc == QF_ECONFLICT) {
		count(w, &w->stats.stale);
	}
	synced = true;
out:
	qf_job_release(&job);
	return synced;
}

/* A job's directory belongs to one process of this machine at a time: the
 * slot holds a lock file, <jobs root>/<job id>.lock (flock), from before it
 * touches the directory until the attempt is committed. A worker that lost
 * its lease without noticing yet (paused past it: SIGSTOP, a suspended
 * machine) still holds that lock, and would otherwise go on writing into the
 * directory of the attempt that took over: its stale metadata.json over the
 * new one. The new claim waits for the lock (its own lease kept by the
 * heartbeats), then finds the other's result (try_sync) or runs alone. After
 * JOB_LOCK_WAIT_LEASES leases it gives the job back instead.
 *
 * Returns false when the job was given back; else true with *fd the lock (-1
 * when none could be made: the directory itself will then fail, as before).
 * The lock file is removed by its holder (unlock_job_dir); a waiter that
 * then gets the lock of the removed file tries again with a new one. */
#define JOB_LOCK_WAIT_LEASES 3

static bool lock_job_dir(struct slot *sl, int *fd)
{
	struct worker *w = sl->w;
	const qf_claim *c = &sl->claim;
	*fd = -1;
	char path[QF_MAX_PATH];
	if (qf_snprintf(path, sizeof(path), "%s/%s.lock", w->o->jobs_root, c->id))
		return true;
	double give_up = qf_clock_mono() + fmax(JOB_LOCK_WAIT_LEASES * w->o->lease_seconds, 5.0);
	bool waited = false;
	for (;;) {
		int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (f < 0) {
			qf_log_warn(MODULE, "%s: could not create %s: %s", sl->worker_id, path, strerror(errno));
			return true;
		}
		if (flock(f, LOCK_EX | LOCK_NB) == 0) {
			struct stat a, b;
			if (fstat(f, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
			    a.st_ino == b.st_ino) {
				*fd = f;
				if (waited)
					qf_log_info(MODULE, "%s: job %s: its directory is free again", sl->worker_id,
					            c->id);
				return true;
			}
			close(f); /* its holder removed it meanwhile: lock the next one */
			continue;
		}
		int e = errno;
		close(f);
		if (e != EWOULDBLOCK && e != EINTR) {
			qf_log_warn(MODULE, "%s: could not lock %s: %s", sl->worker_id, path, strerror(e));
			return true;
		}
		if (!waited)
			qf_log_warn(MODULE, "%s: job %s: its directory is still in use by another process of "
			            "this machine (a worker that lost the lease without noticing yet); waiting "
			            "for it", sl->worker_id, c->id);
		waited = true;
		pthread_mutex_lock(&w->mu);
		bool lost = sl->lost;
		pthread_mutex_unlock(&w->mu);
		if (lost)
			return false; /* the job went elsewhere meanwhile */
		if (stopping(w) || qf_clock_mono() > give_up) {
			qf_err err;
			qf_err_init(&err);
			if (qf_store_release(w->store, c, &err) == 0) {
				count(w, &w->stats.released);
				qf_log_warn(MODULE, "%s: job %s given back: its directory is still in use",
				            sl->worker_id, c->id);
			} else {
				qf_log_warn(MODULE, "%s: could not give job %s back (%s); its lease will expire",
				            sl->worker_id, c->id, err.message);
			}
			return false;
		}
		nap(w, 0.2);
	}
}

static void unlock_job_dir(struct slot *sl, int fd)
{
	if (fd < 0)
		return;
	char path[QF_MAX_PATH];
	if (!qf_snprintf(path, sizeof(path), "%s/%s.lock", sl->w->o->jobs_root, sl->claim.id))
		unlink(path);
	close(fd);
}

static void run_locked(struct slot *sl);

static void run_claim(struct slot *sl)
{
	int lock;
	if (!lock_job_dir(sl, &lock))
		return;
	if (!try_sync(sl))
		run_locked(sl);
	unlock_job_dir(sl, lock);
}

static void run_locked(struct slot *sl)
{
	struct worker *w = sl->w;
	qf_claim *c = &sl->claim;
	qf_job job;
	qf_job_init(&job);
	qf_job_input in = {&c->mol, c->input, c->input_len, c->input_format, c->source, c->record};
	qf_job_opts jo = {.id = c->id, .attempt = c->attempt, .exec = slot_exec, .exec_ctx = sl,
	                  .placement = &w->placement};
	int rc = qf_job_run(&job, w->o->jobs_root, &in, &c->spec, &jo);

	pthread_mutex_lock(&w->mu);
	bool lost = sl->lost, cancelled = sl->cancel_requested;
	pthread_mutex_unlock(&w->mu);

	if (lost) {
		/* someone else owns the job now; our result stays in the directory */
		count(w, &w->stats.stale);
		qf_log_warn(MODULE, "%s: lease of job %s lost while it ran; not committing", sl->worker_id,
		            c->id);
		goto out;
	}
	if (cancelled) {
		job.status = QF_JOB_CANCELLED;
		qf_err_set(&job.error, QF_CAT_SYSTEM, "queue.cancelled", "cancelled on request");
		qf_err e2;
		qf_err_init(&e2);
		qf_job_write_metadata(&job, &e2);
		if (finish(sl, &job, NULL) == 0)
			count(w, &w->stats.cancelled);
		goto out;
	}
	/* Killed by a signal this worker did not send, just as the worker itself
	 * is told to stop: the machine's job is ending (scancel, a Slurm time
	 * limit, a shutdown signal every process), not the molecule failing.
	 * Wait briefly for our own signal, then give the job back uncounted. */
	bool killed_outside = rc && !sl->cancel && !strcmp(job.error.code, "xtb.killed");
	if (killed_outside)
		nap(w, KILLED_STOP_GRACE_S);
	if (rc && ((*w->stop >= 2 && sl->cancel) || (killed_outside && *w->stop >= 1))) {
		/* stopped by a hard stop: give the job back, unfinished */
		qf_err err;
		qf_err_init(&err);
		if (qf_store_release(w->store, c, &err) == 0)
			count(w, &w->stats.released);
		else
			qf_log_warn(MODULE, "%s: could not give job %s back (%s); its lease will expire",
			            sl->worker_id, c->id, err.message);
		goto out;
	}
	if (rc == 0) {
		if (finish(sl, &job, NULL) == 0) {
			count(w, &w->stats.completed);
			qf_log_info(MODULE, "%s: %s %s completed in %.2f s", sl->worker_id, c->id, job.name,
			            job.metrics.wall_time);
		} else {
			count(w, &w->stats.stale);
		}
		goto out;
	}
	qf_retry retry;
	qf_retry_decide(&w->o->retry, c, &job.error, &job.result, &retry);
	int frc = finish(sl, &job, &retry);
	if (frc == 0) {
		count(w, retry.retry ? &w->stats.retried : &w->stats.failed);
		qf_log_info(MODULE, "%s: %s %s failed: %s (%s); %s", sl->worker_id, c->id, job.name,
		            job.error.message, job.error.code, retry.retry ? retry.remedy : "final");
	} else if (frc == QF_ECONFLICT) {
		count(w, &w->stats.stale);
	}
out:
	qf_job_release(&job);
}

/* Whether nothing is left for exit_when_idle: no job queued (eligible now or
 * later) or running, anywhere. */
/* With --exit-when-idle: whether no job is left, queued or running. While
 * some are (held by another worker, or waiting for their not-before time),
 * it says so every IDLE_REPORT_S, and says why it cannot tell. */
#define IDLE_REPORT_S 30.0

static bool nothing_left(struct worker *w, double *next_ready)
{
	qf_queue_counts qc;
	qf_err err;
	qf_err_init(&err);
	qf_actor sys = qf_actor_system();
	int failed = qf_store_queue_counts(w->store, &sys, NULL, &qc, &err);
	double now = qf_clock_now();
	pthread_mutex_lock(&w->mu);
	bool say = now - w->idle_said_at >= IDLE_REPORT_S;
	if (say)
		w->idle_said_at = now;
	pthread_mutex_unlock(&w->mu);
	if (failed) {
		if (say)
			qf_log_warn(MODULE, "cannot tell whether jobs are left: %s; retrying", err.message);
		return false;
	}
	*next_ready = qc.next_ready_at;
	bool none = qc.queued == 0 && qc.running == 0;
	if (!none && say)
		qf_log_info(MODULE, "waiting: %" PRId64 " jobs queued (%" PRId64 " ready), %" PRId64 " running",
		            qc.queued, qc.ready, qc.running);
	return none;
}

/* Descriptors of stored molecules that have none yet (include/qf/props.h):
 * a few per call, by one slot at a time, between jobs and when idle, so
 * they are computed off the request path without holding up the queue. */
static void describe_some(struct worker *w)
{
	if (w->o->no_props || pthread_mutex_trylock(&w->props_mu))
		return;
	qf_actor sys = qf_actor_system();
	qf_props_update_opts po = {.limit = QF_PROPS_WORKER_STEP};
	qf_err err;
	qf_err_init(&err);
	if (qf_props_update(w->store, &sys, &po, NULL, &err))
		qf_log_warn(MODULE, "could not compute descriptors: %s", err.message);
	pthread_mutex_unlock(&w->props_mu);
}

static void *slot_main(void *arg)
{
	struct slot *sl = arg;
	struct worker *w = sl->w;
	int store_failures = 0;
	while (!stopping(w)) {
		pthread_mutex_lock(&w->mu);
		bool idle = w->idle;
		pthread_mutex_unlock(&w->mu);
		if (idle)
			break;
		qf_claim c;
		qf_claim_init(&c);
		int n = 0;
		qf_err err;
		qf_err_init(&err);
		if (qf_store_claim(w->store, sl->worker_id, w->o->lease_seconds, 1, &c, &n, &err)) {
			count(w, &w->stats.store_errors);
			if (store_failures++ == 0)
				qf_log_warn(MODULE, "%s: could not claim: %s; retrying", sl->worker_id, err.message);
			nap_until(w, store_backoff(store_failures), true);
			continue;
		}
		store_failures = 0;
		if (n == 0) {
			double next_ready = 0;
			describe_some(w);
			if (w->o->exit_when_idle && nothing_left(w, &next_ready)) {
				pthread_mutex_lock(&w->mu);
				w->idle = true;
				pthread_cond_broadcast(&w->cv);
				pthread_mutex_unlock(&w->mu);
				break;
			}
			double wait = w->o->poll_seconds;
			double now = qf_clock_now();
			if (next_ready > now && next_ready - now < wait)
				wait = next_ready - now;
			nap_until(w, wait * jitter(0.25), true);
			continue;
		}
		count(w, &w->stats.claimed);
		pthread_mutex_lock(&w->mu);
		sl->claim = c; /* moves the claim's heap parts into the slot */
		sl->busy = true;
		sl->lost = false;
		sl->cancel_requested = false;
		sl->cancel = 0;
		pthread_mutex_unlock(&w->mu);

		run_claim(sl);
		describe_some(w);

		pthread_mutex_lock(&w->mu);
		sl->busy = false;
		qf_claim_release(&sl->claim);
		qf_claim_init(&sl->claim);
		pthread_mutex_unlock(&w->mu);
	}
	pthread_mutex_lock(&w->mu);
	w->running_threads--;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* ---- heartbeats and sweeps -------------------------------------------------- */

static void heartbeat_once(struct worker *w)
{
	int n = 0;
	qf_claim *copies = calloc((size_t)w->nslots, sizeof(qf_claim));
	qf_claim **ptrs = calloc((size_t)w->nslots, sizeof(qf_claim *));
	bool *lost = calloc((size_t)w->nslots, sizeof(bool));
	bool *cancel = calloc((size_t)w->nslots, sizeof(bool));
	int *which = calloc((size_t)w->nslots, sizeof(int));
	if (!copies || !ptrs || !lost || !cancel || !which)
		goto out;
	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < w->nslots; i++) {
		struct slot *sl = &w->slots[i];
		if (!sl->busy || sl->lost)
			continue;
		/* only what identifies the lease: no heap parts are shared */
		qf_claim_init(&copies[n]);
		memcpy(copies[n].id, sl->claim.id, sizeof(copies[n].id));
		memcpy(copies[n].lease_token, sl->claim.lease_token, sizeof(copies[n].lease_token));
		copies[n].attempt = sl->claim.attempt;
		ptrs[n] = &copies[n];
		which[n] = i;
		n++;
	}
	pthread_mutex_unlock(&w->mu);
	if (n == 0)
		goto out;
	qf_err err;
	qf_err_init(&err);
	if (qf_store_heartbeat(w->store, ptrs, n, w->o->lease_seconds, lost, cancel, &err)) {
		count(w, &w->stats.store_errors);
		qf_log_warn(MODULE, "%s: heartbeat failed: %s", w->o->name ? w->o->name : "worker",
		            err.message);
		goto out;
	}
	pthread_mutex_lock(&w->mu);
	for (int k = 0; k < n; k++) {
		struct slot *sl = &w->slots[which[k]];
		if (!sl->busy || strcmp(sl->claim.id, copies[k].id) || sl->claim.attempt != copies[k].attempt)
			continue;
		if (lost[k]) {
			sl->lost = true;
			sl->cancel = 1;
		} else if (cancel[k]) {
			sl->cancel_requested = true;
			sl->cancel = 1;
		}
	}
	pthread_mutex_unlock(&w->mu);
out:
	for (int k = 0; k < n; k++)
		qf_claim_release(&copies[k]);
	free(copies);
	free(ptrs);
	free(lost);
	free(cancel);
	free(which);
}

static void *heartbeat_main(void *arg)
{
	struct worker *w = arg;
	double period = w->o->heartbeat_seconds > 0 ? w->o->heartbeat_seconds : w->o->lease_seconds / 6;
	double next_sweep = qf_clock_mono() + w->o->lease_seconds / 2 * jitter(0.5);
	double last_beat = qf_clock_mono();
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		double until = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + fmin(period, 0.2);
		struct timespec abs = {(time_t)until, (long)((until - floor(until)) * 1e9)};
		pthread_mutex_lock(&w->mu);
		if (!w->done)
			pthread_cond_timedwait(&w->cv, &w->mu, &abs);
		bool done = w->done;
		pthread_mutex_unlock(&w->mu);
		if (done)
			break;
		if (*w->stop >= 2) {
			/* hard stop: end the running calculations */
			pthread_mutex_lock(&w->mu);
			for (int i = 0; i < w->nslots; i++)
				if (w->slots[i].busy)
					w->slots[i].cancel = 1;
			pthread_mutex_unlock(&w->mu);
		}
		double now = qf_clock_mono();
		if (now - last_beat >= period) {
			last_beat = now;
			heartbeat_once(w);
		}
		if (now >= next_sweep) {
			next_sweep = now + w->o->lease_seconds / 2 * jitter(0.5);
			int requeued = 0, failed = 0;
			qf_err err;
			qf_err_init(&err);
			if (qf_store_sweep(w->store, qf_clock_now(), &requeued, &failed, &err))
				count(w, &w->stats.store_errors);
			else if (requeued || failed)
				qf_log_info(MODULE, "swept expired leases: %d queued again, %d failed", requeued,
				            failed);
		}
	}
	return NULL;
}

/* ---- the worker ------------------------------------------------------------ */

/* The wake-up thread (o->wake_fd): each byte there means new work was
 * committed (qforge serve writes one after a submission), and every napping
 * slot claims at once instead of at its next poll. */
static void *wake_main(void *arg)
{
	struct worker *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->mu);
		bool done = w->done;
		pthread_mutex_unlock(&w->mu);
		if (done)
			break;
		struct pollfd p = {.fd = w->o->wake_fd, .events = POLLIN};
		int n = poll(&p, 1, 200);
		if (n <= 0)
			continue;
		char buf[64];
		ssize_t got = read(w->o->wake_fd, buf, sizeof(buf));
		if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
			break; /* the writer is gone: polling goes on as before */
		if (got > 0) {
			pthread_mutex_lock(&w->mu);
			w->wakes++;
			pthread_cond_broadcast(&w->cv);
			pthread_mutex_unlock(&w->mu);
		}
	}
	return NULL;
}

int qf_worker_run(const qf_worker_opts *o, volatile sig_atomic_t *stop, qf_worker_stats *stats,
                  qf_err *err)
{
	int rc;
	struct worker w;
	memset(&w, 0, sizeof(w));
	w.o = o;
	w.stop = stop;
	w.idle_said_at = qf_clock_now();
	qf_slurm_placement_from_env(&w.placement);
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	pthread_mutex_init(&w.props_mu, NULL);
	if (o->concurrency < 1 || o->lease_seconds <= 0) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "worker.options",
		                "concurrency must be at least 1 and the lease positive");
		goto out;
	}
	if ((rc = qf_fs_mkdir_p(o->jobs_root, false, err)))
		goto out;
	const char *delay = getenv(FAULT_COMMIT_DELAY_ENV);
	if (delay && *delay && !qf_parse_int(delay, 0, 600000, &w.commit_delay_ms)) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "worker.options",
		                "%s must be a number of milliseconds from 0 to 600000", FAULT_COMMIT_DELAY_ENV);
		goto out;
	}
	if (w.commit_delay_ms > 0)
		qf_log_warn(MODULE, "test hook %s=%ld: every commit is delayed", FAULT_COMMIT_DELAY_ENV,
		            w.commit_delay_ms);
	qf_store_opts so = {.pool_size = o->concurrency + 1 > QF_MAX_PG_POOL ? QF_MAX_PG_POOL
	                                                                      : o->concurrency + 1};
	const char *url = o->store_url ? o->store_url : qf_store_default_url();
	if ((rc = qf_store_open(&w.store, url, &so, err)))
		goto out;

	char host[64] = "localhost";
	gethostname(host, sizeof(host) - 1);
	char name[96];
	if (o->name)
		qf_strlcpy(name, o->name, sizeof(name));
	else
		snprintf(name, sizeof(name), "%s:%ld", host, (long)getpid());

	w.nslots = o->concurrency;
	w.slots = calloc((size_t)w.nslots, sizeof(struct slot));
	if (!w.slots) {
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		goto out_store;
	}
	/* Engines first: they are separate programs (fork+exec), but starting
	 * them before our threads keeps the picture simple. */
	for (int i = 0; i < w.nslots; i++) {
		struct slot *sl = &w.slots[i];
		sl->index = i;
		sl->w = &w;
		qf_claim_init(&sl->claim);
		snprintf(sl->worker_id, sizeof(sl->worker_id), "%s/%d", name, i);
		if (!o->no_engine) {
			qf_err eerr;
			qf_err_init(&eerr);
			if (qf_engine_start(&sl->engine, o->qforge_path, &eerr)) {
				qf_log_warn(MODULE, "%s: no in-process engine (%s); singlepoints run through the "
				            "xtb program", sl->worker_id, eerr.message);
				sl->engine = NULL;
			}
		}
	}
	qf_log_info(MODULE, "%s: %d slot(s) on %s, %s, jobs in %s, lease %.0f s", name, w.nslots,
	            qf_store_backend(w.store),
	            o->no_engine ? "xtb program only" : "engines for singlepoints", o->jobs_root,
	            o->lease_seconds);

	pthread_t hb;
	int started = 0;
	w.running_threads = w.nslots;
	bool hb_started = pthread_create(&hb, NULL, heartbeat_main, &w) == 0;
	pthread_t wk;
	bool wk_started = o->wake_fd >= 0 && pthread_create(&wk, NULL, wake_main, &w) == 0;
	for (; started < w.nslots; started++)
		if (pthread_create(&w.slots[started].thread, NULL, slot_main, &w.slots[started]))
			break;
	pthread_mutex_lock(&w.mu);
	w.running_threads = started;
	pthread_mutex_unlock(&w.mu);

	/* wait for the slots, waking to pass a stop on to them */
	pthread_mutex_lock(&w.mu);
	while (w.running_threads > 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w.cv, &w.mu, &ts);
		if (*stop)
			pthread_cond_broadcast(&w.cv);
	}
	w.done = true;
	pthread_cond_broadcast(&w.cv);
	pthread_mutex_unlock(&w.mu);
	for (int i = 0; i < started; i++)
		pthread_join(w.slots[i].thread, NULL);
	if (hb_started)
		pthread_join(hb, NULL);
	if (wk_started)
		pthread_join(wk, NULL);
	rc = started == w.nslots ? 0
	                         : qf_err_set(err, QF_CAT_SYSTEM, "system.threads", "could not start all slots");

	for (int i = 0; i < w.nslots; i++) {
		qf_engine_free(w.slots[i].engine);
		qf_claim_release(&w.slots[i].claim);
	}
	free(w.slots);
out_store:
	qf_store_close(w.store);
out:
	if (stats)
		*stats = w.stats;
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	pthread_mutex_destroy(&w.props_mu);
	return rc;
}
