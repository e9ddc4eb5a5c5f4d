/*
 * bench_store_insert: the store's hot write path, timed.
 *
 *   bench_store_insert --store URL [--jobs N] [--atoms A] [--chunk C]
 *
 * Builds N finished jobs of A atoms each in memory (plausible geometry,
 * energies, per-atom charges and gradients, orbital energies, metrics; all
 * different geometries, so N molecules), opens the store (migrating it),
 * then records the jobs with qf_store_record_jobs as the system, C jobs per
 * transaction (default QF_RECORD_CHUNK), and prints
 *
 *   jobs N atoms A chunk C seconds S
 *
 * where S covers only the record_jobs calls (commits included), not the
 * building of the jobs nor opening the store. With --jobs 0 it only
 * migrates (the driver uses that to prepare the ceiling database).
 * bench/store-insert runs it on both backends and compares with bulk loads
 * of the same rows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/clock.h"
#include "qf/job.h"
#include "qf/store.h"
#include "qf/str.h"
#include "qf/uuid.h"

static void die(const char *what, const qf_err *e)
{
	fprintf(stderr, "bench_store_insert: %s: %s (%s)\n", what, e ? e->message : "", e ? e->code : "");
	exit(1);
}

/* A tiny deterministic generator (xorshift64*): the same jobs every run. */
static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;
static double rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		die("out of memory", NULL);
	return p;
}

/* Job k: a chain of heavy atoms with hydrogens, jittered, so every job has
 * its own geometry; results as a GFN2 singlepoint would give them. */
static void build_job(qf_job *j, int k, int natoms, double t0)
{
	qf_err e;
	qf_err_init(&e);
	qf_job_init(j);
	qf_uuid_v7(j->id);
	snprintf(j->name, sizeof(j->name), "bench-%05d", k);
	snprintf(j->dir, sizeof(j->dir), "/var/lib/qforge/jobs/%s", j->id);
	j->status = QF_JOB_COMPLETED;
	qf_strlcpy(j->input_file, "input.xyz", sizeof(j->input_file));
	j->input_format = QF_FMT_XYZ;
	snprintf(j->source, sizeof(j->source), "bench/molecules-%d.xyz", k / 100);
	j->record = k % 100 + 1;
	j->attempt = 1;

	qf_mol *m = &j->mol;
	if (qf_mol_resize(m, natoms, &e))
		die("molecule", &e);
	qf_strlcpy(m->name, j->name, sizeof(m->name));
	int heavy = natoms / 2;
	for (int i = 0; i < natoms; i++) {
		bool h = i >= heavy;
		int base = h ? i - heavy : i;
		m->z[i] = h ? 1 : (i % 5 == 0 ? 7 : (i % 7 == 0 ? 8 : 6));
		m->xyz[3 * i] = 1.45 * base + (h ? 0.3 : 0.0) + 0.05 * rnd();
		m->xyz[3 * i + 1] = (h ? 1.09 : 0.0) + 0.05 * rnd();
		m->xyz[3 * i + 2] = 0.2 * sin(base) + 0.05 * rnd();
	}
	char text[64];
	snprintf(text, sizeof(text), "input of job %d", k);
	qf_sha256_hex(text, strlen(text), j->input_sha256);
	qf_job_geometry_hash(m, 0, 0, j->geometry_sha256);

	qf_result *r = &j->result;
	r->has_energy = true;
	r->total_energy = -5.07 * natoms * (1.0 + 0.01 * rnd());
	r->has_electronic_energy = true;
	r->electronic_energy = r->total_energy - 0.3;
	r->has_gap = true;
	r->gap_ev = 2.0 + 3.0 * rnd();
	r->has_dipole = true;
	r->dipole[0] = rnd();
	r->dipole[1] = rnd();
	r->dipole[2] = rnd();
	r->dipole_debye = sqrt(r->dipole[0] * r->dipole[0] + r->dipole[1] * r->dipole[1] +
	                       r->dipole[2] * r->dipole[2]);
	r->natoms = natoms;
	r->charges = xcalloc((size_t)natoms, sizeof(double));
	r->gradient = xcalloc(3 * (size_t)natoms, sizeof(double));
	r->geometry = xcalloc(3 * (size_t)natoms, sizeof(double));
	r->z = xcalloc((size_t)natoms, sizeof(int));
	for (int i = 0; i < natoms; i++) {
		r->charges[i] = m->z[i] == 1 ? 0.05 + 0.05 * rnd() : -0.1 - 0.2 * rnd();
		r->z[i] = m->z[i];
		for (int c = 0; c < 3; c++) {
			r->gradient[3 * i + c] = 1e-3 * (rnd() - 0.5);
			r->geometry[3 * i + c] = m->xyz[3 * i + c];
		}
	}
	r->norbitals = 2 * natoms;
	r->orbital_energies_ev = xcalloc((size_t)r->norbitals, sizeof(double));
	r->occupations = xcalloc((size_t)r->norbitals, sizeof(double));
	for (int i = 0; i < r->norbitals; i++) {
		r->orbital_energies_ev[i] = -25.0 + 30.0 * i / r->norbitals;
		r->occupations[i] = i < natoms ? 2.0 : 0.0;
	}
	r->homo_index = natoms - 1;
	r->has_gradient_norm = true;
	r->gradient_norm = 1e-3 * rnd();

	qf_metrics *mt = &j->metrics;
	mt->wall_time = 0.05 + 0.01 * natoms * rnd();
	mt->cpu_time = mt->wall_time * 0.95;
	mt->memory_peak_mb = 30 + natoms;
	mt->scf_cycles = 8 + (int)(6 * rnd());
	mt->optimization_cycles = -1;
	mt->is_converged = true;
	mt->has_gradient_norm = true;
	mt->gradient_norm = r->gradient_norm;
	qf_strlcpy(mt->xtb_version, "6.5.1", sizeof(mt->xtb_version));
	qf_strlcpy(mt->method, "GFN2-xTB", sizeof(mt->method));
	mt->exit_code = 0;
	mt->xtb_wall_time = mt->wall_time * 0.9;

	j->created_at = t0 + k * 0.1;
	j->started_at = j->created_at + 0.01;
	j->finished_at = j->started_at + mt->wall_time;
}

static void usage(void)
{
	fputs("usage: bench_store_insert --store URL [--jobs N] [--atoms A] [--chunk C]\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	long njobs = 10000, natoms = 40, chunk = QF_RECORD_CHUNK;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		if (!strcmp(a, "--store"))
			url = v;
		else if (!strcmp(a, "--jobs") && qf_parse_int(v, 0, 1000000, &njobs))
			;
		else if (!strcmp(a, "--atoms") && qf_parse_int(v, 1, QF_MAX_ATOMS, &natoms))
			;
		else if (!strcmp(a, "--chunk") && qf_parse_int(v, 1, QF_RECORD_CHUNK, &chunk))
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
	if (qf_store_open(&s, url, NULL, &e))
		die("open", &e);
	if (njobs == 0) {
		qf_store_close(s);
		return 0;
	}

	/* jobs are built a chunk at a time, outside the timed part */
	qf_job *jobs = xcalloc((size_t)chunk, sizeof(qf_job));
	const qf_job **ptrs = xcalloc((size_t)chunk, sizeof(*ptrs));
	double t0 = qf_clock_now() - 86400.0;
	qf_actor sys = qf_actor_system();
	qf_record_opts o = {.org_id = NULL};
	double seconds = 0;
	for (long k = 0; k < njobs; k += chunk) {
		size_t n = (size_t)(njobs - k < chunk ? njobs - k : chunk);
		for (size_t i = 0; i < n; i++) {
			build_job(&jobs[i], (int)(k + (long)i), (int)natoms, t0);
			ptrs[i] = &jobs[i];
		}
		double start = qf_clock_mono();
		if (qf_store_record_jobs(s, &sys, ptrs, n, &o, &e))
			die("record_jobs", &e);
		seconds += qf_clock_mono() - start;
		for (size_t i = 0; i < n; i++)
			qf_job_release(&jobs[i]);
	}
	printf("jobs %ld atoms %ld chunk %ld seconds %.3f\n", njobs, natoms, chunk, seconds);

	qf_store_close(s);
	free(ptrs);
	free(jobs);
	return 0;
}
