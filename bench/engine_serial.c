/*
 * bench_engine_serial: GFN2 singlepoints through one in-process engine child
 * (include/qf/engine.h), one molecule after another, timed.
 *
 *   bench_engine_serial QFORGE FILE.xyz
 *
 * QFORGE is the qforge program the engine child is started from. Starts one
 * child (not timed), runs every molecule of the (multi-frame) XYZ file in
 * turn with the default spec (GFN2, charge 0) and prints
 *
 *   engine molecules N seconds S
 *   <record> <total energy, Eh, %.10f>      (one line per molecule)
 *
 * S covers the calculations only. This is the in-process limit that
 * bench/batch-throughput sets against the xtb program run serially on the
 * same geometries.
 */
#include <stdio.h>
#include <stdlib.h>

#include "qf/clock.h"
#include "qf/engine.h"
#include "qf/molio.h"

static void die(const char *what, const qf_err *e)
{
	fprintf(stderr, "bench_engine_serial: %s: %s (%s)\n", what, e->message, e->code);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bench_engine_serial QFORGE FILE.xyz\n");
		return 2;
	}
	qf_err err;
	qf_err_init(&err);
	qf_reader *rd = NULL;
	if (qf_reader_new_path(&rd, argv[2], QF_FMT_UNKNOWN, &err))
		die(argv[2], &err);
	qf_engine *e = NULL;
	if (qf_engine_start(&e, argv[1], &err))
		die("engine", &err);
	qf_spec spec;
	qf_spec_init(&spec);
	spec.timeout = 600;
	int n = 0;
	double seconds = 0;
	qf_mol m;
	for (;;) {
		int rc = qf_reader_next(rd, &m, &err);
		if (rc == 0)
			break;
		if (rc < 0)
			die(argv[2], &err);
		qf_result r;
		qf_metrics mt;
		qf_result_init(&r);
		qf_metrics_init(&mt);
		double t0 = qf_clock_mono();
		if (qf_engine_run(e, &m, &spec, m.charge, m.uhf, &r, &mt, &err))
			die(m.name, &err);
		seconds += qf_clock_mono() - t0;
		n++;
		printf("%d %.10f\n", qf_reader_record(rd), r.total_energy);
		qf_result_release(&r);
		qf_mol_release(&m);
	}
	printf("engine molecules %d seconds %.3f\n", n, seconds);
	qf_engine_free(e);
	qf_reader_free(rd);
	return 0;
}
