/*
 * bench_queue_ops: the queue's round trip, timed.
 *
 *   bench_queue_ops --store URL [--jobs N] [--claimers K] [--atoms A]
 *                   [--migrate-only]
 *
 * Queues N calculations (A atoms each, all different geometries) with
 * qf_store_submit as the system, 500 per call, then runs K claimer threads,
 * each with its own store handle (as separate worker processes have), that
 * claim one job at a time and finish it as completed (results, per-atom
 * rows, execution metrics, performance samples) until the queue is empty,
 * and prints
 *
 *   backend B jobs N claimers K submit_s S run_s R round_trips_per_s T
 *
 * where R covers only the claim/finish loop (from the threads' start to the
 * last one's end) and T = N / R. No xtb runs: what is measured is the
 * store. With --migrate-only it opens (migrating) and exits, so that a
 * PostgreSQL database can be migrated by its owner and then measured as the
 * application role (qforge_app, under row-level security).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/clock.h"
#include "qf/job.h"
#include "qf/store.h"
#include "qf/str.h"
#include "qf/uuid.h"

static const char *url;
static long natoms = 20;

static void die(const char *what, const qf_err *e)
{
	fprintf(stderr, "bench_queue_ops: %s: %s (%s)\n", what, e ? e->message : "", e ? e->code : "");
	exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		die("out of memory", NULL);
	return p;
}

/* Molecule k: a zigzag chain of carbons with hydrogens, its own geometry. */
static void build_mol(qf_mol *m, long k)
{
	qf_err e;
	qf_err_init(&e);
	qf_mol_init(m);
	if (qf_mol_resize(m, (int)natoms, &e))
		die("molecule", &e);
	snprintf(m->name, sizeof(m->name), "bench-%06ld", k);
	for (int i = 0; i < m->natoms; i++) {
		bool h = i % 3 == 2;
		m->z[i] = h ? 1 : 6;
		m->xyz[3 * i] = 1.3 * i + 1e-4 * (double)k;
		m->xyz[3 * i + 1] = (i % 2 ? 0.8 : 0.0) + (h ? 0.5 : 0.0);
		m->xyz[3 * i + 2] = h ? 0.9 : 0.0;
	}
}

/* The completed job a worker would report for claim c. */
static void build_job(qf_job *j, const qf_claim *c)
{
	qf_err e;
	qf_err_init(&e);
	qf_job_init(j);
	qf_strlcpy(j->id, c->id, sizeof(j->id));
	j->attempt = c->attempt;
	j->status = QF_JOB_COMPLETED;
	if (qf_mol_copy(&j->mol, &c->mol, &e))
		die("copy", &e);
	j->spec = c->spec;
	double now = qf_clock_now();
	j->started_at = now - 0.05;
	j->finished_at = now;
	qf_result *r = &j->result;
	int n = c->mol.natoms;
	r->has_energy = true;
	r->total_energy = -2.5 * n;
	r->has_gap = true;
	r->gap_ev = 4.2;
	r->natoms = n;
	r->charges = xcalloc((size_t)n, sizeof(double));
	r->gradient = xcalloc(3 * (size_t)n, sizeof(double));
	r->geometry = xcalloc(3 * (size_t)n, sizeof(double));
	r->z = xcalloc((size_t)n, sizeof(int));
	memcpy(r->geometry, c->mol.xyz, 3 * (size_t)n * sizeof(double));
	memcpy(r->z, c->mol.z, (size_t)n * sizeof(int));
	qf_metrics *m = &j->metrics;
	m->wall_time = 0.05;
	m->cpu_time = 0.05;
	m->memory_peak_mb = 35;
	m->scf_cycles = 10;
	m->optimization_cycles = -1;
	m->is_converged = true;
	m->exit_code = 0;
	qf_strlcpy(m->xtb_version, "6.5.1", sizeof(m->xtb_version));
	qf_strlcpy(m->method, "GFN2-xTB", sizeof(m->method));
}

typedef struct claimer {
	int index;
	long done;
} claimer;

static void *claimer_main(void *arg)
{
	claimer *w = arg;
	qf_err e;
	qf_err_init(&e);
	qf_store *s = NULL;
	qf_store_opts o = {.pool_size = 1, .no_migrate = true, .busy_timeout_ms = 60000};
	if (qf_store_open(&s, url, &o, &e))
		die("open (claimer)", &e);
	char worker[64];
	snprintf(worker, sizeof(worker), "bench:%d/0", w->index);
	for (;;) {
		qf_claim c;
		int n = 0;
		if (qf_store_claim(s, worker, 60, 1, &c, &n, &e))
			die("claim", &e);
		if (!n)
			break;
		qf_job j;
		build_job(&j, &c);
		if (qf_store_finish(s, &c, &j, NULL, worker, &e))
			die("finish", &e);
		qf_job_release(&j);
		qf_claim_release(&c);
		w->done++;
	}
	qf_store_close(s);
	return NULL;
}

static void usage(void)
{
	fputs("usage: bench_queue_ops --store URL [--jobs N] [--claimers K] [--atoms A] "
	      "[--migrate-only]\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	long njobs = 2000, nclaimers = 1;
	bool migrate_only = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--migrate-only")) {
			migrate_only = true;
			continue;
		}
		if (!v)
			usage();
		if (!strcmp(a, "--store"))
			url = v;
		else if (!strcmp(a, "--jobs") && qf_parse_int(v, 1, 1000000, &njobs))
			;
		else if (!strcmp(a, "--claimers") && qf_parse_int(v, 1, 64, &nclaimers))
			;
		else if (!strcmp(a, "--atoms") && qf_parse_int(v, 1, QF_MAX_ATOMS, &natoms))
			;
		else
			usage();
		i++;
	}
	if (!url)
		usage();
	qf_err e;
	qf_err_init(&e);
	qf_store *s = NULL;
	/* (nothing is pending for an application role on a migrated database) */
	if (qf_store_open(&s, url, NULL, &e))
		die("open", &e);
	if (migrate_only) {
		qf_store_close(s);
		return 0;
	}

	/* the queue, outside the timed loop */
	enum { CHUNK = 500 };
	qf_mol *mols = xcalloc(CHUNK, sizeof(qf_mol));
	qf_submit_item *items = xcalloc(CHUNK, sizeof(qf_submit_item));
	char (*ids)[QF_UUID_STR] = xcalloc(CHUNK, QF_UUID_STR);
	qf_spec spec;
	qf_spec_init(&spec);
	qf_actor sys = qf_actor_system();
	double t = qf_clock_mono();
	for (long k = 0; k < njobs; k += CHUNK) {
		size_t n = (size_t)(njobs - k < CHUNK ? njobs - k : CHUNK);
		for (size_t i = 0; i < n; i++) {
			build_mol(&mols[i], k + (long)i);
			items[i].mol = &mols[i];
		}
		if (qf_store_submit(s, &sys, &spec, items, n, NULL, ids, NULL, &e))
			die("submit", &e);
		for (size_t i = 0; i < n; i++)
			qf_mol_release(&mols[i]);
	}
	double submit_s = qf_clock_mono() - t;

	claimer *w = xcalloc((size_t)nclaimers, sizeof(claimer));
	pthread_t *th = xcalloc((size_t)nclaimers, sizeof(pthread_t));
	t = qf_clock_mono();
	for (long i = 0; i < nclaimers; i++) {
		w[i].index = (int)i;
		if (pthread_create(&th[i], NULL, claimer_main, &w[i]))
			die("thread", NULL);
	}
	long done = 0;
	for (long i = 0; i < nclaimers; i++) {
		pthread_join(th[i], NULL);
		done += w[i].done;
	}
	double run_s = qf_clock_mono() - t;
	if (done != njobs) {
		fprintf(stderr, "bench_queue_ops: %ld of %ld jobs were run\n", done, njobs);
		return 1;
	}
	printf("backend %s jobs %ld claimers %ld submit_s %.3f run_s %.3f round_trips_per_s %.1f\n",
	       qf_store_backend(s), njobs, nclaimers, submit_s, run_s, (double)njobs / run_s);
	qf_store_close(s);
	free(w);
	free(th);
	free(mols);
	free(items);
	free(ids);
	return 0;
}
