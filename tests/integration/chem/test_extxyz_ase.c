/* qf-test: labels=integration,ase timeout=120 */
/*
 * Extended XYZ against ASE as the independent reference (ase_extxyz.py,
 * /usr/bin/python3, Debian python3-ase): files written by ase.io.write
 * (format='extxyz') with info names (quotes, UTF-8), forces, energies,
 * charges, tags and other per-atom columns, info values of every type,
 * cells and pbc, are read here and compared with ase.io.read(index=':'):
 * the same atoms, positions to 1e-8 A, the name= name (or "<file>" /
 * "<file>:<frame>" where ASE has none), and each frame ASE reads with a
 * cell or a true pbc refused as input.periodic while the others still read.
 */
#include "qftest.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/molio.h"

#define SCRIPT QF_SOURCE_DIR "/tests/integration/chem/ase_extxyz.py"
#define PYTHON "/usr/bin/python3"
#define MAX_DEV_A 1e-8

/* "<base>" or "<base>:<frame>", as the reader names frames without name=. */
static void default_name(const char *path, size_t nframes, size_t k, char *out, size_t size)
{
	const char *slash = strrchr(path, '/');
	const char *file = slash ? slash + 1 : path;
	size_t n = strlen(file);
	if (n > 4 && strcmp(file + n - 4, ".xyz") == 0)
		n -= 4;
	if (nframes > 1)
		snprintf(out, size, "%.*s:%zu", (int)n, file, k + 1);
	else
		snprintf(out, size, "%.*s", (int)n, file);
}

/* Reads path with qforge's reader, frame by frame against ASE's frames. */
static void check_file(const char *path, json_t *frames, int *nread, int *nperiodic,
                       double *worst)
{
	qf_reader *r;
	qf_err e;
	qf_err_init(&e);
	if (qf_reader_new_path(&r, path, QF_FMT_UNKNOWN, &e))
		fail_msg("%s: %s", path, e.message);
	size_t k;
	json_t *fr;
	json_array_foreach(frames, k, fr)
	{
		qf_mol m;
		int rc = qf_reader_next(r, &m, &e);
		if (json_is_true(json_object_get(fr, "periodic"))) {
			if (rc != QF_EINVAL || strcmp(e.code, "input.periodic") != 0)
				fail_msg("%s frame %zu: ASE reads a cell or pbc, qforge gives %d (%s)", path,
				         k + 1, rc, rc < 0 ? e.message : "a molecule");
			if (!qf_reader_can_continue(r))
				fail_msg("%s frame %zu: the reader stops after a periodic frame", path, k + 1);
			(*nperiodic)++;
			continue;
		}
		if (rc != 1)
			fail_msg("%s frame %zu: %d: %s", path, k + 1, rc, e.message);
		json_t *z = json_object_get(fr, "z"), *xyz = json_object_get(fr, "xyz");
		if ((size_t)m.natoms != json_array_size(z))
			fail_msg("%s frame %zu: %d atoms, ASE %zu", path, k + 1, m.natoms,
			         json_array_size(z));
		for (int i = 0; i < m.natoms; i++) {
			if (m.z[i] != json_integer_value(json_array_get(z, (size_t)i)))
				fail_msg("%s frame %zu atom %d: Z %d, ASE %lld", path, k + 1, i + 1, m.z[i],
				         json_integer_value(json_array_get(z, (size_t)i)));
			for (int c = 0; c < 3; c++) {
				double want = json_number_value(json_array_get(xyz, (size_t)(3 * i + c)));
				double d = fabs(m.xyz[3 * i + c] - want);
				if (!(d <= MAX_DEV_A))
					fail_msg("%s frame %zu atom %d: %c %.10f, ASE %.10f", path, k + 1, i + 1,
					         "xyz"[c], m.xyz[3 * i + c], want);
				*worst = fmax(*worst, d);
			}
		}
		char want[QF_MAX_NAME];
		const char *ase_name = json_string_value(json_object_get(fr, "name"));
		if (ase_name)
			snprintf(want, sizeof(want), "%s", ase_name);
		else
			default_name(path, json_array_size(frames), k, want, sizeof(want));
		if (strcmp(m.name, want) != 0)
			fail_msg("%s frame %zu: name '%s', expected '%s'", path, k + 1, m.name, want);
		(*nread)++;
		qf_mol_release(&m);
	}
	qf_mol m;
	assert_int_equal(qf_reader_next(r, &m, &e), 0);
	qf_reader_free(r);
}

static void test_against_ase(void **state)
{
	(void)state;
	char dir[QF_MAX_PATH];
	qft_tmpdir(dir, "extxyz-ase");
	const char *argv[] = {PYTHON, SCRIPT, dir, NULL};
	qft_output o;
	qft_run(&o, argv, NULL, NULL, 100);
	if (o.exit_code != 0)
		fail_msg("ase_extxyz.py: exit %d\n%s", o.exit_code, o.err);
	int nfiles = 0, nread = 0, nperiodic = 0;
	double worst = 0;
	for (char *p = o.out, *end; *p; p = end + 1) {
		end = strchr(p, '\n');
		assert_non_null(end);
		json_error_t je;
		json_t *line = json_loadb(p, (size_t)(end - p), 0, &je);
		if (!line)
			fail_msg("ase_extxyz.py printed no JSON: %.*s", (int)(end - p), p);
		check_file(json_string_value(json_object_get(line, "path")),
		           json_object_get(line, "frames"), &nread, &nperiodic, &worst);
		json_decref(line);
		nfiles++;
	}
	qft_output_release(&o);
	/* what ase_extxyz.py writes: 4 files, 12 frames of which 3 have a cell */
	assert_int_equal(nfiles, 4);
	assert_int_equal(nread, 9);
	assert_int_equal(nperiodic, 3);
	printf("extxyz: %d files, %d frames as ASE reads them (largest deviation %.1e A), "
	       "%d periodic frames refused\n",
	       nfiles, nread, worst, nperiodic);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_ase),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
