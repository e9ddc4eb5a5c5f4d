/* Results and metrics: lifecycle and the JSON documented in the README. */
#include "qf/result.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qf/str.h"

void qf_result_init(qf_result *r)
{
	memset(r, 0, sizeof(*r));
	r->homo_index = -1;
}

void qf_result_release(qf_result *r)
{
	free(r->charges);
	free(r->gradient);
	free(r->geometry);
	free(r->z);
	free(r->bonds);
	free(r->orbital_energies_ev);
	free(r->occupations);
	free(r->opt_energies);
	free(r->frequencies);
	free(r->ir_intensities);
	free(r->reduced_masses);
	qf_result_init(r);
}

void qf_metrics_init(qf_metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->scf_cycles = -1;
	m->optimization_cycles = -1;
	m->exit_code = -1;
	m->xtb_wall_time = -1;
}

/* ---- to JSON ------------------------------------------------------------ */

static json_t *reals(const double *v, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

static json_t *triples(const double *v, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, reals(v + 3 * i, 3));
	return a;
}

static void set_opt_real(json_t *o, const char *key, bool has, double v)
{
	json_object_set_new(o, key, has && isfinite(v) ? json_real(v) : json_null());
}

json_t *qf_result_to_json(const qf_result *r)
{
	json_t *j = json_object();
	set_opt_real(j, "total_energy_hartree", r->has_energy, r->total_energy);
	set_opt_real(j, "total_energy_ev", r->has_energy, r->total_energy * 27.211386245988);
	set_opt_real(j, "electronic_energy_hartree", r->has_electronic_energy, r->electronic_energy);
	set_opt_real(j, "homo_lumo_gap_ev", r->has_gap, r->gap_ev);
	set_opt_real(j, "dipole_debye", r->has_dipole, r->dipole_debye);
	json_object_set_new(j, "dipole_vector_debye", r->has_dipole ? reals(r->dipole, 3) : json_null());
	json_object_set_new(j, "partial_charges", r->charges ? reals(r->charges, r->natoms) : json_null());
	json_object_set_new(j, "gradient_hartree_per_bohr",
	                    r->gradient ? triples(r->gradient, r->natoms) : json_null());
	if (r->z) {
		json_t *zs = json_array();
		for (int i = 0; i < r->natoms; i++)
			json_array_append_new(zs, json_integer(r->z[i]));
		json_object_set_new(j, "atomic_numbers", zs);
	} else {
		json_object_set_new(j, "atomic_numbers", json_null());
	}
	json_object_set_new(j, "geometry_angstrom",
	                    r->geometry ? triples(r->geometry, r->natoms) : json_null());
	if (r->bonds) {
		json_t *b = json_array();
		for (int i = 0; i < r->nbonds; i++)
			json_array_append_new(b, json_pack("[iif]", r->bonds[i].i, r->bonds[i].j,
			                                   r->bonds[i].order));
		json_object_set_new(j, "wiberg_bond_orders", b);
	} else {
		json_object_set_new(j, "wiberg_bond_orders", json_null());
	}
	json_object_set_new(j, "orbital_energies_ev",
	                    r->orbital_energies_ev ? reals(r->orbital_energies_ev, r->norbitals) : json_null());
	json_object_set_new(j, "orbital_occupations",
	                    r->occupations ? reals(r->occupations, r->norbitals) : json_null());
	json_object_set_new(j, "homo_index", r->homo_index >= 0 ? json_integer(r->homo_index) : json_null());
	json_object_set_new(j, "optimization_energies_hartree",
	                    r->opt_energies ? reals(r->opt_energies, r->nopt) : json_null());
	set_opt_real(j, "gradient_norm", r->has_gradient_norm, r->gradient_norm);
	json_object_set_new(j, "frequencies_cm1", r->frequencies ? reals(r->frequencies, r->nfreq) : json_null());
	json_object_set_new(j, "ir_intensities_km_mol",
	                    r->ir_intensities ? reals(r->ir_intensities, r->nfreq) : json_null());
	json_object_set_new(j, "reduced_masses_amu",
	                    r->reduced_masses ? reals(r->reduced_masses, r->nfreq) : json_null());
	json_object_set_new(j, "imaginary_frequencies",
	                    r->frequencies ? json_integer(r->n_imaginary) : json_null());
	if (r->has_thermo) {
		json_object_set_new(j, "thermo",
		                    json_pack("{s:f,s:f,s:f,s:f,s:f}", "zpve_hartree", r->zpve,
		                              "enthalpy_hartree", r->enthalpy, "free_energy_hartree",
		                              r->free_energy, "g_rrho_hartree", r->g_rrho,
		                              "temperature_k", r->thermo_temperature));
	} else {
		json_object_set_new(j, "thermo", json_null());
	}
	return j;
}

json_t *qf_metrics_to_json(const qf_metrics *m)
{
	json_t *j = json_object();
	json_object_set_new(j, "wall_time_seconds", json_real(m->wall_time));
	json_object_set_new(j, "cpu_time_seconds", json_real(m->cpu_time));
	json_object_set_new(j, "memory_peak_mb", json_real(m->memory_peak_mb));
	json_object_set_new(j, "scf_cycles", m->scf_cycles >= 0 ? json_integer(m->scf_cycles) : json_null());
	json_object_set_new(j, "optimization_cycles",
	                    m->optimization_cycles >= 0 ? json_integer(m->optimization_cycles) : json_null());
	json_object_set_new(j, "is_converged", json_boolean(m->is_converged));
	set_opt_real(j, "gradient_norm", m->has_gradient_norm, m->gradient_norm);
	json_object_set_new(j, "xtb_version", m->xtb_version[0] ? json_string(m->xtb_version) : json_null());
	json_object_set_new(j, "method", m->method[0] ? json_string(m->method) : json_null());
	json_object_set_new(j, "solvation", m->solvation[0] ? json_string(m->solvation) : json_null());
	json_object_set_new(j, "exit_code", json_integer(m->exit_code));
	json_object_set_new(j, "term_signal", json_integer(m->term_signal));
	json_object_set_new(j, "timed_out", json_boolean(m->timed_out));
	set_opt_real(j, "xtb_wall_time_seconds", m->xtb_wall_time >= 0, m->xtb_wall_time);
	return j;
}

/* ---- from JSON (for reindex and the store) ------------------------------ */

static int bad(qf_err *err, const char *key)
{
	return qf_err_set(err, QF_CAT_VALIDATION, "metadata.invalid",
	                  "results: '%s' has the wrong type or length", key);
}

static bool get_real(const json_t *j, const char *key, double *out)
{
	json_t *v = json_object_get(j, key);
	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return true;
}

/* A flat array of n reals (n < 0: any length, returned in *n). */
static int get_reals(const json_t *j, const char *key, double **out, int *n, qf_err *err)
{
	json_t *a = json_object_get(j, key);
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a) || (*n >= 0 && (int)json_array_size(a) != *n))
		return bad(err, key);
	int k = (int)json_array_size(a);
	double *v = calloc(k ? (size_t)k : 1, sizeof(double));
	if (!v)
		return QF_ENOMEM;
	for (int i = 0; i < k; i++) {
		json_t *x = json_array_get(a, (size_t)i);
		if (!json_is_number(x)) {
			free(v);
			return bad(err, key);
		}
		v[i] = json_number_value(x);
	}
	*out = v;
	*n = k;
	return 0;
}

static int get_triples(const json_t *j, const char *key, int natoms, double **out, qf_err *err)
{
	json_t *a = json_object_get(j, key);
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a) || (int)json_array_size(a) != natoms)
		return bad(err, key);
	double *v = calloc(natoms ? 3 * (size_t)natoms : 1, sizeof(double));
	if (!v)
		return QF_ENOMEM;
	for (int i = 0; i < natoms; i++) {
		json_t *t = json_array_get(a, (size_t)i);
		if (!json_is_array(t) || json_array_size(t) != 3)
			goto fail;
		for (int k = 0; k < 3; k++) {
			json_t *x = json_array_get(t, (size_t)k);
			if (!json_is_number(x))
				goto fail;
			v[3 * i + k] = json_number_value(x);
		}
	}
	*out = v;
	return 0;
fail:
	free(v);
	return bad(err, key);
}

int qf_result_from_json(qf_result *r, const json_t *j, qf_err *err)
{
	int rc;
	qf_result_init(r);
	if (!json_is_object(j))
		return qf_err_set(err, QF_CAT_VALIDATION, "metadata.invalid", "results must be an object");
	r->has_energy = get_real(j, "total_energy_hartree", &r->total_energy);
	r->has_electronic_energy = get_real(j, "electronic_energy_hartree", &r->electronic_energy);
	r->has_gap = get_real(j, "homo_lumo_gap_ev", &r->gap_ev);
	r->has_dipole = get_real(j, "dipole_debye", &r->dipole_debye);
	json_t *dv = json_object_get(j, "dipole_vector_debye");
	if (json_is_array(dv) && json_array_size(dv) == 3)
		for (int k = 0; k < 3; k++)
			r->dipole[k] = json_number_value(json_array_get(dv, (size_t)k));
	r->has_gradient_norm = get_real(j, "gradient_norm", &r->gradient_norm);

	json_t *zs = json_object_get(j, "atomic_numbers");
	json_t *ch = json_object_get(j, "partial_charges");
	if (json_is_array(zs))
		r->natoms = (int)json_array_size(zs);
	else if (json_is_array(ch))
		r->natoms = (int)json_array_size(ch);
	if (json_is_array(zs)) {
		r->z = calloc(r->natoms ? (size_t)r->natoms : 1, sizeof(int));
		if (!r->z)
			return QF_ENOMEM;
		for (int i = 0; i < r->natoms; i++) {
			json_t *x = json_array_get(zs, (size_t)i);
			if (!json_is_integer(x))
				return bad(err, "atomic_numbers");
			r->z[i] = (int)json_integer_value(x);
		}
	}
	int n = r->natoms;
	if ((rc = get_reals(j, "partial_charges", &r->charges, &n, err)))
		return rc;
	if ((rc = get_triples(j, "gradient_hartree_per_bohr", r->natoms, &r->gradient, err)))
		return rc;
	if ((rc = get_triples(j, "geometry_angstrom", r->natoms, &r->geometry, err)))
		return rc;
	json_t *b = json_object_get(j, "wiberg_bond_orders");
	if (json_is_array(b)) {
		r->nbonds = (int)json_array_size(b);
		r->bonds = calloc(r->nbonds ? (size_t)r->nbonds : 1, sizeof(qf_bond));
		if (!r->bonds)
			return QF_ENOMEM;
		for (int i = 0; i < r->nbonds; i++) {
			json_t *t = json_array_get(b, (size_t)i);
			int bi, bj;
			double o;
			if (json_unpack((json_t *)t, "[iiF]", &bi, &bj, &o))
				return bad(err, "wiberg_bond_orders");
			r->bonds[i] = (qf_bond){bi, bj, o};
		}
	}
	n = -1;
	if ((rc = get_reals(j, "orbital_energies_ev", &r->orbital_energies_ev, &n, err)))
		return rc;
	if (n >= 0)
		r->norbitals = n;
	n = r->orbital_energies_ev ? r->norbitals : -1;
	if ((rc = get_reals(j, "orbital_occupations", &r->occupations, &n, err)))
		return rc;
	if (!r->orbital_energies_ev && n >= 0)
		r->norbitals = n;
	json_t *h = json_object_get(j, "homo_index");
	r->homo_index = json_is_integer(h) ? (int)json_integer_value(h) : -1;
	n = -1;
	if ((rc = get_reals(j, "optimization_energies_hartree", &r->opt_energies, &n, err)))
		return rc;
	r->nopt = n >= 0 ? n : 0;
	n = -1;
	if ((rc = get_reals(j, "frequencies_cm1", &r->frequencies, &n, err)))
		return rc;
	r->nfreq = n >= 0 ? n : 0;
	if (r->frequencies) {
		n = r->nfreq;
		if ((rc = get_reals(j, "ir_intensities_km_mol", &r->ir_intensities, &n, err)))
			return rc;
		n = r->nfreq;
		if ((rc = get_reals(j, "reduced_masses_amu", &r->reduced_masses, &n, err)))
			return rc;
		json_t *ni = json_object_get(j, "imaginary_frequencies");
		r->n_imaginary = json_is_integer(ni) ? (int)json_integer_value(ni) : 0;
	}
	json_t *t = json_object_get(j, "thermo");
	if (json_is_object(t)) {
		r->has_thermo = true;
		if (json_unpack((json_t *)t, "{s:F,s:F,s:F,s:F,s:F}", "zpve_hartree", &r->zpve,
		                "enthalpy_hartree", &r->enthalpy, "free_energy_hartree", &r->free_energy,
		                "g_rrho_hartree", &r->g_rrho, "temperature_k", &r->thermo_temperature))
			return bad(err, "thermo");
	}
	return 0;
}

int qf_metrics_from_json(qf_metrics *m, const json_t *j, qf_err *err)
{
	qf_metrics_init(m);
	if (!json_is_object(j))
		return qf_err_set(err, QF_CAT_VALIDATION, "metadata.invalid", "metrics must be an object");
	get_real(j, "wall_time_seconds", &m->wall_time);
	get_real(j, "cpu_time_seconds", &m->cpu_time);
	get_real(j, "memory_peak_mb", &m->memory_peak_mb);
	json_t *v;
	if (json_is_integer(v = json_object_get(j, "scf_cycles")))
		m->scf_cycles = (int)json_integer_value(v);
	if (json_is_integer(v = json_object_get(j, "optimization_cycles")))
		m->optimization_cycles = (int)json_integer_value(v);
	m->is_converged = json_is_true(json_object_get(j, "is_converged"));
	m->has_gradient_norm = get_real(j, "gradient_norm", &m->gradient_norm);
	if (json_is_string(v = json_object_get(j, "xtb_version")))
		qf_strlcpy(m->xtb_version, json_string_value(v), sizeof(m->xtb_version));
	if (json_is_string(v = json_object_get(j, "method")))
		qf_strlcpy(m->method, json_string_value(v), sizeof(m->method));
	if (json_is_string(v = json_object_get(j, "solvation")))
		qf_strlcpy(m->solvation, json_string_value(v), sizeof(m->solvation));
	if (json_is_integer(v = json_object_get(j, "exit_code")))
		m->exit_code = (int)json_integer_value(v);
	if (json_is_integer(v = json_object_get(j, "term_signal")))
		m->term_signal = (int)json_integer_value(v);
	m->timed_out = json_is_true(json_object_get(j, "timed_out"));
	if (!get_real(j, "xtb_wall_time_seconds", &m->xtb_wall_time))
		m->xtb_wall_time = -1;
	return 0;
}
