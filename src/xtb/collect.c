/*
 * qf_xtb_collect: everything xtb left in a job directory, into one result.
 * See include/qf/xtbparse.h.
 *
 * Which source wins when several hold the same quantity:
 *   total energy, gap, gradient norm  the last final box of stdout (12
 *                                     decimals; the JSON has 8)
 *   electronic energy                 the last ":: SCC energy" of stdout: after
 *                                     an optimisation xtbout.json still holds
 *                                     the one of the first singlepoint
 *   dipole                            xtbout.json (8 decimals), unless stdout
 *                                     prints a different one: after an
 *                                     optimisation the JSON holds the dipole
 *                                     of the input geometry, and GFN0's JSON
 *                                     the point-charge dipole (sum of q*r)
 *                                     where its stdout prints the one from
 *                                     the electron density
 *   frequencies                       xtbout.json (with reduced masses), else
 *                                     vibspectrum (GFN-FF writes no JSON)
 *   everything else                   xtbout.json, else the files
 * stdout, stderr and the markers are read first and never fail, so that
 * `info` is complete for the classifier even when a file is malformed.
 */
#include "qf/xtbparse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qf/fs.h"
#include "qf/limits.h"
#include "qf/log.h"
#include "qf/str.h"

/* How far (e*Bohr, per component) the stdout dipole, printed with 3-4
 * decimals, may be from the JSON one before we take it as a different
 * quantity. */
#define DIPOLE_AGREE_AU 0.005
#define AU_TO_DEBYE 2.541746

/* Room for the runner's truncation marker after a capped capture. */
#define CAPTURE_SLACK 4096

/* Read dir/name into *text; a missing file leaves *text NULL and is not an
 * error. */
static int read_file(const char *dir, const char *name, size_t cap, char **text, qf_err *err)
{
	char path[QF_MAX_PATH];
	*text = NULL;
	if (qf_fs_join(path, sizeof(path), dir, name))
		return qf_err_set(err, QF_CAT_SYSTEM, "xtb.collect", "the path %s/%s is too long", dir, name);
	if (!qf_fs_exists(path))
		return 0;
	qf_err e;
	qf_err_init(&e);
	int rc = qf_fs_read(path, cap, text, NULL, &e);
	if (rc == 0)
		return 0;
	if (!strcmp(e.code, "input.not_found"))
		return 0;
	if (rc == QF_ENOMEM) {
		*err = e;
		return rc;
	}
	return qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse", "could not read %s: %s", path, e.message);
}

static bool marker(const char *dir, const char *name)
{
	char path[QF_MAX_PATH];
	return qf_fs_join(path, sizeof(path), dir, name) == 0 && qf_fs_exists(path);
}

/* Parse dir/name with fn when the file exists; the message names the file. */
typedef int (*natoms_parser)(const char *, int, qf_result *, qf_err *);

static int parse_with_natoms(const char *dir, const char *name, natoms_parser fn, int natoms,
                             qf_result *r, qf_err *err)
{
	char *text;
	int rc = read_file(dir, name, QF_XTB_MAX_FILE_BYTES, &text, err);
	if (rc || !text)
		return rc;
	rc = fn(text, natoms, r, err);
	free(text);
	return rc;
}

static int copy_geometry(qf_result *r, const qf_mol *mol, qf_err *err)
{
	int n = mol->natoms;
	int *z = malloc((size_t)n * sizeof(int));
	double *xyz = malloc(3 * (size_t)n * sizeof(double));
	if (!z || !xyz) {
		free(z);
		free(xyz);
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory copying the geometry");
	}
	memcpy(z, mol->z, (size_t)n * sizeof(int));
	memcpy(xyz, mol->xyz, 3 * (size_t)n * sizeof(double));
	free(r->z);
	free(r->geometry);
	r->z = z;
	r->geometry = xyz;
	return 0;
}

/* Take from the stdout parse (t) what stdout knows best. */
static void merge_stdout(qf_result *r, const qf_result *t)
{
	if (t->has_energy) {
		r->has_energy = true;
		r->total_energy = t->total_energy;
	}
	if (t->has_electronic_energy) {
		r->has_electronic_energy = true;
		r->electronic_energy = t->electronic_energy;
	}
	if (t->has_gap) {
		r->has_gap = true;
		r->gap_ev = t->gap_ev;
	}
	if (t->has_gradient_norm) {
		r->has_gradient_norm = true;
		r->gradient_norm = t->gradient_norm;
	}
	if (t->has_dipole) {
		bool differ = !r->has_dipole;
		for (int k = 0; k < 3 && !differ; k++)
			differ = fabs(r->dipole[k] - t->dipole[k]) > DIPOLE_AGREE_AU * AU_TO_DEBYE;
		if (differ) {
			r->has_dipole = true;
			memcpy(r->dipole, t->dipole, sizeof(r->dipole));
			r->dipole_debye = t->dipole_debye;
		}
	}
	if (t->has_thermo) {
		r->has_thermo = true;
		r->zpve = t->zpve;
		r->enthalpy = t->enthalpy;
		r->free_energy = t->free_energy;
		r->g_rrho = t->g_rrho;
		r->thermo_temperature = t->thermo_temperature;
	}
}

int qf_xtb_collect(const char *dir, const qf_mol *mol, const qf_spec *spec, qf_result *r,
                   qf_metrics *m, qf_xtb_outinfo *info, qf_err *err)
{
	int rc = 0;
	char *out = NULL, *errtext = NULL, *json = NULL;
	qf_result t;
	qf_result_init(&t);
	qf_xtb_outinfo_init(info);
	const int natoms = mol ? mol->natoms : 0;
	const bool optimises = spec && qf_task_optimises(spec->task);
	/* GFN0 (one diagonalisation) and GFN-FF have no SCC to converge. */
	const bool has_scc = !spec || (spec->method != QF_METHOD_GFN0 && spec->method != QF_METHOD_GFNFF);

	/* What the text says, first: it never fails. */
	if ((rc = read_file(dir, "stdout.log", (size_t)QF_MAX_CAPTURE_BYTES + CAPTURE_SLACK, &out, err)))
		goto out;
	if ((rc = read_file(dir, "stderr.log", (size_t)QF_MAX_CAPTURE_BYTES + CAPTURE_SLACK, &errtext, err)))
		goto out;
	if (out)
		qf_xtb_parse_stdout(out, &t, m, info);
	if (errtext)
		qf_xtb_parse_stderr(errtext, info);
	info->xtboptok = marker(dir, ".xtboptok");
	if (marker(dir, "NOT_CONVERGED"))
		info->opt_not_converged = true;
	if (marker(dir, ".sccnotconverged"))
		info->scc_not_converged = true;

	if (natoms > 0 && r->natoms == 0)
		r->natoms = natoms;
	if (mol && natoms > 0 && !optimises && (rc = copy_geometry(r, mol, err)))
		goto out;

	if ((rc = read_file(dir, "xtbout.json", QF_XTB_MAX_FILE_BYTES, &json, err)))
		goto out;
	if (json) {
		if ((rc = qf_xtb_parse_json(json, r, m, err)))
			goto out;
		info->has_json = true;
	}
	merge_stdout(r, &t);

	if (natoms > 0) {
		if ((rc = parse_with_natoms(dir, "charges", qf_xtb_parse_charges, natoms, r, err)) ||
		    (rc = parse_with_natoms(dir, "wbo", qf_xtb_parse_wbo, natoms, r, err)) ||
		    (rc = parse_with_natoms(dir, "gradient", qf_xtb_parse_gradient, natoms, r, err)))
			goto out;
		if (optimises &&
		    (rc = parse_with_natoms(dir, "xtbopt.xyz", qf_xtb_parse_xyz_geometry, natoms, r, err)))
			goto out;
	}
	if (!r->frequencies) {
		char *vib;
		if ((rc = read_file(dir, "vibspectrum", QF_XTB_MAX_FILE_BYTES, &vib, err)))
			goto out;
		if (vib) {
			rc = qf_xtb_parse_vibspectrum(vib, r, err);
			free(vib);
			if (rc)
				goto out;
		}
	}
	if (optimises) {
		char *log;
		qf_err e;
		qf_err_init(&e);
		rc = read_file(dir, "xtbopt.log", QF_XTB_MAX_FILE_BYTES, &log, &e);
		if (rc == QF_ENOMEM) {
			*err = e;
			goto out;
		}
		if (rc) {
			/* Only the energies along the way are lost. */
			qf_log_warn("xtb", "%s", e.message);
			rc = 0;
		} else if (log) {
			rc = qf_xtb_parse_optlog(log, r, err);
			free(log);
			if (rc)
				goto out;
		}
	}

out:
	/* Metrics from whatever was read, also after an error. */
	if (m) {
		if (r->has_gradient_norm) {
			m->has_gradient_norm = true;
			m->gradient_norm = r->gradient_norm;
		}
		m->scf_cycles = has_scc ? info->scc_iterations : -1;
		m->optimization_cycles = optimises ? info->opt_cycles : -1;
		bool scc_ok = has_scc ? info->scc_converged && !info->scc_not_converged
		                      : !info->scc_not_converged;
		bool opt_ok = !optimises || (info->opt_converged && !info->opt_not_converged);
		m->is_converged = rc == 0 && r->has_energy && scc_ok && opt_ok;
		if (!m->method[0] && spec)
			qf_strlcpy(m->method, qf_method_label(spec->method), sizeof(m->method));
	}
	if (rc && err)
		qf_err_detail(err, dir, strlen(dir));
	qf_result_release(&t);
	free(out);
	free(errtext);
	free(json);
	return rc;
}
