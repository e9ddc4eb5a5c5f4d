/*
 * xtbout.json (xtb --json), see include/qf/xtbparse.h.
 *
 * xtb 6.5.1 writes the file by hand: 8 decimals, the dipole in e*Bohr, and
 * "program call" unescaped (a '"' in an argument makes the file invalid
 * JSON; we name all files ourselves, and a broken file is an xtb.parse
 * error). Every key is optional (GFN0 has no quadrupoles, only --hess adds
 * frequencies); a key that is present with the wrong type or length is an
 * error. The file is parsed completely before anything is stored in the
 * result, so a malformed file leaves the result as it was.
 */
#include "qf/xtbparse.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qf/limits.h"
#include "qf/str.h"

/* 1 e*Bohr in Debye (CODATA 2018: e * a0 / (1e-21 / c) C*m). */
#define EBOHR_TO_DEBYE 2.541746

/* Orbitals per atom of the largest xTB basis (GFN1/GFN2: s, p and d). */
#define MAX_AO_PER_ATOM 9

static int parse_error(qf_err *err, const char *fmt, const char *key)
{
	return qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse", fmt, key);
}

/* Optional number under key: 0 when absent (has stays false), 1 when read. */
static int get_number(const json_t *root, const char *key, bool *has, double *out, qf_err *err)
{
	json_t *v = json_object_get(root, key);
	if (!v)
		return 0;
	if (!json_is_number(v) || !isfinite(json_number_value(v)))
		return parse_error(err, "xtbout.json: '%s' is not a number", key);
	*out = json_number_value(v);
	*has = true;
	return 0;
}

/* Optional array of at most max numbers under key (heap, *n elements);
 * *out stays NULL when the key is absent. */
static int get_numbers(const json_t *root, const char *key, int max, double **out, int *n,
                       qf_err *err)
{
	json_t *a = json_object_get(root, key);
	*out = NULL;
	*n = 0;
	if (!a)
		return 0;
	if (!json_is_array(a))
		return parse_error(err, "xtbout.json: '%s' is not an array", key);
	size_t k = json_array_size(a);
	if (k > (size_t)max)
		return qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
		                  "xtbout.json: '%s' has %zu values, more than the %d expected", key, k, max);
	double *v = calloc(k ? k : 1, sizeof(double));
	if (!v)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory reading xtbout.json");
	for (size_t i = 0; i < k; i++) {
		json_t *x = json_array_get(a, i);
		if (!json_is_number(x) || !isfinite(json_number_value(x))) {
			free(v);
			return qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
			                  "xtbout.json: '%s' value %zu is not a number", key, i + 1);
		}
		v[i] = json_number_value(x);
	}
	*out = v;
	*n = (int)k;
	return 0;
}

static int get_string(const json_t *root, const char *key, const char **out, qf_err *err)
{
	json_t *v = json_object_get(root, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return parse_error(err, "xtbout.json: '%s' is not a string", key);
	*out = json_string_value(v);
	return 0;
}

static int check_integer(const json_t *root, const char *key, qf_err *err)
{
	json_t *v = json_object_get(root, key);
	if (v && !json_is_integer(v))
		return parse_error(err, "xtbout.json: '%s' is not an integer", key);
	return 0;
}

int qf_xtb_homo_index(const double *occupations, int n)
{
	if (!occupations)
		return -1;
	for (int i = n - 1; i >= 0; i--)
		if (occupations[i] > 0.5)
			return i;
	for (int i = n - 1; i >= 0; i--)
		if (occupations[i] > 1e-3)
			return i;
	return -1;
}

int qf_xtb_count_imaginary(const double *frequencies, int n)
{
	int k = 0;
	for (int i = 0; frequencies && i < n; i++)
		if (frequencies[i] < -QF_IMAG_THRESHOLD)
			k++;
	return k;
}

static void replace(double **dst, double **src)
{
	free(*dst);
	*dst = *src;
	*src = NULL;
}

/* First word of xtb's version string ("6.5.1 (unknown)" -> "6.5.1"). */
static void copy_version(char *out, size_t size, const char *v)
{
	size_t k = strcspn(v, " \t");
	if (k >= size)
		k = size - 1;
	memcpy(out, v, k);
	out[k] = '\0';
}

int qf_xtb_parse_json(const char *text, qf_result *r, qf_metrics *m, qf_err *err)
{
	json_error_t jerr;
	int rc = 0;
	json_t *root = json_loads(text ? text : "", JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
		                  "could not parse xtbout.json line %d: %s", jerr.line, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse", "xtbout.json is not a JSON object");
	}

	bool has_energy = false, has_eel = false, has_gap = false;
	double energy = 0, eel = 0, gap = 0;
	double *dipole = NULL, *charges = NULL, *orb = NULL, *occ = NULL;
	double *freq = NULL, *redm = NULL, *ir = NULL;
	int ndip, ncharges, norb, nocc, nfreq, nredm, nir;
	const char *method, *version;
	const int max_freq = 3 * QF_MAX_ATOMS;
	const int max_orb = MAX_AO_PER_ATOM * QF_MAX_ATOMS;

	if ((rc = get_number(root, "total energy", &has_energy, &energy, err)) ||
	    (rc = get_number(root, "electronic energy", &has_eel, &eel, err)) ||
	    (rc = get_number(root, "HOMO-LUMO gap/eV", &has_gap, &gap, err)) ||
	    (rc = check_integer(root, "number of molecular orbitals", err)) ||
	    (rc = check_integer(root, "number of electrons", err)) ||
	    (rc = check_integer(root, "number of unpaired electrons", err)) ||
	    (rc = get_numbers(root, "dipole", 3, &dipole, &ndip, err)) ||
	    (rc = get_numbers(root, "partial charges", QF_MAX_ATOMS, &charges, &ncharges, err)) ||
	    (rc = get_numbers(root, "orbital energies/eV", max_orb, &orb, &norb, err)) ||
	    (rc = get_numbers(root, "fractional occupation", max_orb, &occ, &nocc, err)) ||
	    (rc = get_numbers(root, "vibrational frequencies/rcm", max_freq, &freq, &nfreq, err)) ||
	    (rc = get_numbers(root, "reduced masses", max_freq, &redm, &nredm, err)) ||
	    (rc = get_numbers(root, "IR intensities/amu", max_freq, &ir, &nir, err)) ||
	    (rc = get_string(root, "method", &method, err)) ||
	    (rc = get_string(root, "xtb version", &version, err)))
		goto out;

	if (dipole && ndip != 3) {
		rc = parse_error(err, "xtbout.json: '%s' does not have 3 components", "dipole");
		goto out;
	}
	if (charges && r->natoms > 0 && ncharges != r->natoms) {
		rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
		                "xtbout.json: 'partial charges' has %d values for %d atoms", ncharges,
		                r->natoms);
		goto out;
	}
	if (charges && ncharges == 0) {
		rc = parse_error(err, "xtbout.json: '%s' is empty", "partial charges");
		goto out;
	}
	if ((orb || occ) && (!orb || !occ || norb != nocc)) {
		rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
		                "xtbout.json: %d orbital energies but %d occupations", norb, nocc);
		goto out;
	}
	if ((redm && (!freq || nredm != nfreq)) || (ir && (!freq || nir != nfreq))) {
		rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
		                "xtbout.json: %d frequencies but %d reduced masses and %d IR intensities",
		                nfreq, nredm, nir);
		goto out;
	}

	/* Everything is valid: store it. */
	if (has_energy) {
		r->has_energy = true;
		r->total_energy = energy;
	}
	if (has_eel) {
		r->has_electronic_energy = true;
		r->electronic_energy = eel;
	}
	if (has_gap) {
		r->has_gap = true;
		r->gap_ev = gap;
	}
	if (dipole) {
		r->has_dipole = true;
		for (int k = 0; k < 3; k++)
			r->dipole[k] = dipole[k] * EBOHR_TO_DEBYE;
		r->dipole_debye = sqrt(r->dipole[0] * r->dipole[0] + r->dipole[1] * r->dipole[1] +
		                       r->dipole[2] * r->dipole[2]);
	}
	if (charges) {
		if (r->natoms == 0)
			r->natoms = ncharges;
		replace(&r->charges, &charges);
	}
	if (orb) {
		r->norbitals = norb;
		replace(&r->orbital_energies_ev, &orb);
		replace(&r->occupations, &occ);
		r->homo_index = qf_xtb_homo_index(r->occupations, r->norbitals);
	}
	if (freq) {
		r->nfreq = nfreq;
		replace(&r->frequencies, &freq);
		replace(&r->reduced_masses, &redm);
		replace(&r->ir_intensities, &ir);
		r->n_imaginary = qf_xtb_count_imaginary(r->frequencies, r->nfreq);
	}
	if (m && method)
		qf_strlcpy(m->method, method, sizeof(m->method));
	if (m && version)
		copy_version(m->xtb_version, sizeof(m->xtb_version), version);

out:
	free(dipole);
	free(charges);
	free(orb);
	free(occ);
	free(freq);
	free(redm);
	free(ir);
	json_decref(root);
	return rc;
}
