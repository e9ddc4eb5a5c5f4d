/* Calculation spec: defaults, validation, names, JSON. See include/qf/spec.h. */
#include "qf/spec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "qf/limits.h"
#include "qf/str.h"

static const char *const task_names[] = {"sp", "opt", "hess", "ohess"};
static const char *const level_names[] = {"crude", "sloppy", "loose", "lax",
                                          "normal", "tight", "vtight", "extreme"};
static const char *const method_names[] = {"gfn2", "gfn1", "gfn0", "gfnff"};
static const char *const method_labels[] = {"GFN2-xTB", "GFN1-xTB", "GFN0-xTB", "GFN-FF"};
static const char *const solvation_names[] = {"", "alpb", "gbsa"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

void qf_spec_init(qf_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->task = QF_TASK_SP;
	s->level = QF_LEVEL_NORMAL;
	s->method = QF_METHOD_GFN2;
	s->solvation = QF_SOLV_NONE;
	s->etemp = 300.0;
	s->accuracy = 1.0;
	s->max_scc_iterations = 250;
	s->max_opt_cycles = 0;
	s->timeout = QF_DEFAULT_TIMEOUT_S;
	s->threads = 1;
}

const char *qf_task_name(qf_task t)
{
	return (int)t >= 0 && (int)t < COUNT(task_names) ? task_names[t] : "?";
}

const char *qf_level_name(qf_level l)
{
	return (int)l >= 0 && (int)l < COUNT(level_names) ? level_names[l] : "?";
}

const char *qf_method_name(qf_method m)
{
	return (int)m >= 0 && (int)m < COUNT(method_names) ? method_names[m] : "?";
}

const char *qf_method_label(qf_method m)
{
	return (int)m >= 0 && (int)m < COUNT(method_labels) ? method_labels[m] : "?";
}

const char *qf_solvation_name(qf_solvation s)
{
	return (int)s >= 0 && (int)s < COUNT(solvation_names) ? solvation_names[s] : "";
}

static int lookup(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (qf_streq_ci(s, names[i]))
			return i;
	return -1;
}

int qf_task_parse(const char *s, qf_task *out)
{
	int i = lookup(task_names, COUNT(task_names), s);
	if (i < 0)
		return QF_EINVAL;
	*out = (qf_task)i;
	return 0;
}

int qf_level_parse(const char *s, qf_level *out)
{
	int i = lookup(level_names, COUNT(level_names), s);
	if (i < 0)
		return QF_EINVAL;
	*out = (qf_level)i;
	return 0;
}

int qf_method_parse(const char *s, qf_method *out)
{
	int i = lookup(method_names, COUNT(method_names), s);
	if (i < 0) {
		/* accept the labels too: "GFN2-xTB", "gfn-ff" */
		i = lookup(method_labels, COUNT(method_labels), s);
		if (i < 0 && qf_streq_ci(s, "gfn-ff"))
			i = QF_METHOD_GFNFF;
	}
	if (i < 0)
		return QF_EINVAL;
	*out = (qf_method)i;
	return 0;
}

int qf_method_max_z(qf_method m)
{
	switch (m) {
	case QF_METHOD_GFN2:
	case QF_METHOD_GFN1:
	case QF_METHOD_GFN0:
		return 86; /* H-Rn */
	case QF_METHOD_GFNFF:
		return 103; /* H-Lr */
	}
	return 0;
}

bool qf_task_optimises(qf_task t)
{
	return t == QF_TASK_OPT || t == QF_TASK_OHESS;
}

bool qf_task_hessian(qf_task t)
{
	return t == QF_TASK_HESS || t == QF_TASK_OHESS;
}

/* Solvents xtb 6.5.1 parametrises (notes/xtb-6.5.1.md, "Solvents").
 * Bit 0: ALPB (GFN1, GFN2, GFN-FF); bit 1: GBSA with GFN2; bit 2: GBSA with GFN1. */
enum { S_ALPB = 1, S_GBSA2 = 2, S_GBSA1 = 4 };
static const struct solvent {
	const char *name;
	const char *alias;
	int where;
} solvents[] = {
	{"acetone", NULL, S_ALPB | S_GBSA2 | S_GBSA1},
	{"acetonitrile", NULL, S_ALPB | S_GBSA2 | S_GBSA1},
	{"aniline", NULL, S_ALPB},
	{"benzaldehyde", NULL, S_ALPB},
	{"benzene", NULL, S_ALPB | S_GBSA2 | S_GBSA1},
	{"ch2cl2", NULL, S_ALPB | S_GBSA2 | S_GBSA1},
	{"chcl3", NULL, S_ALPB | S_GBSA2 | S_GBSA1},
	{"cs2", NULL, S_ALPB | S_GBSA2 | S_GBSA1},
	{"dioxane", NULL, S_ALPB},
	{"dmf", NULL, S_ALPB | S_GBSA2},
	{"dmso", NULL, S_ALPB | S_GBSA2 | S_GBSA1},
	{"ether", NULL, S_ALPB | S_GBSA2 | S_GBSA1},
	{"ethanol", NULL, S_ALPB},
	{"ethylacetate", NULL, S_ALPB},
	{"furane", NULL, S_ALPB},
	{"hexadecane", NULL, S_ALPB},
	{"methanol", NULL, S_ALPB | S_GBSA2 | S_GBSA1},
	{"nitromethane", NULL, S_ALPB},
	{"octanol", NULL, S_ALPB},
	{"woctanol", NULL, S_ALPB},
	{"phenol", NULL, S_ALPB},
	{"thf", NULL, S_ALPB | S_GBSA2 | S_GBSA1},
	{"toluene", NULL, S_ALPB | S_GBSA2 | S_GBSA1},
	{"water", "h2o", S_ALPB | S_GBSA2 | S_GBSA1},
	{"hexane", "n-hexane", S_ALPB | S_GBSA2},
};

const char *qf_solvent_canonical(qf_solvation model, qf_method method, const char *name)
{
	int need;
	if (model == QF_SOLV_ALPB) {
		if (method == QF_METHOD_GFN0)
			return NULL;
		need = S_ALPB;
	} else if (model == QF_SOLV_GBSA) {
		if (method == QF_METHOD_GFN2)
			need = S_GBSA2;
		else if (method == QF_METHOD_GFN1)
			need = S_GBSA1;
		else
			return NULL;
	} else {
		return NULL;
	}
	for (int i = 0; i < COUNT(solvents); i++) {
		const struct solvent *s = &solvents[i];
		if ((qf_streq_ci(name, s->name) || (s->alias && qf_streq_ci(name, s->alias))) &&
		    (s->where & need))
			return s->name;
	}
	return NULL;
}

int qf_spec_validate(const qf_spec *s, qf_err *err)
{
	if ((int)s->task < 0 || (int)s->task >= COUNT(task_names))
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.task", "unknown task");
	if ((int)s->level < 0 || (int)s->level >= COUNT(level_names))
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.level", "unknown optimisation level");
	if ((int)s->method < 0 || (int)s->method >= COUNT(method_names))
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.method", "unknown method");
	if (s->solvation != QF_SOLV_NONE) {
		if (s->solvation != QF_SOLV_ALPB && s->solvation != QF_SOLV_GBSA)
			return qf_err_set(err, QF_CAT_VALIDATION, "spec.solvent", "unknown solvation model");
		if (!qf_solvent_canonical(s->solvation, s->method, s->solvent))
			return qf_err_set(err, QF_CAT_VALIDATION, "spec.solvent",
			                  "solvent '%s' is not available for %s with %s; "
			                  "see the README for the solvents xtb supports",
			                  s->solvent, qf_solvation_name(s->solvation), qf_method_label(s->method));
	} else if (s->solvent[0]) {
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.solvent",
		                  "a solvent needs a solvation model (alpb or gbsa)");
	}
	if (s->has_charge && (s->charge < -QF_MAX_ABS_CHARGE || s->charge > QF_MAX_ABS_CHARGE))
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.range", "charge must be between %d and %d",
		                  -QF_MAX_ABS_CHARGE, QF_MAX_ABS_CHARGE);
	if (s->has_uhf && (s->uhf < 0 || s->uhf > QF_MAX_UHF))
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.range",
		                  "uhf (unpaired electrons) must be between 0 and %d", QF_MAX_UHF);
	if (!(s->etemp >= QF_MIN_ETEMP && s->etemp <= QF_MAX_ETEMP))
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.range",
		                  "etemp must be between %g and %g K", QF_MIN_ETEMP, QF_MAX_ETEMP);
	if (!(s->accuracy >= QF_MIN_ACCURACY && s->accuracy <= QF_MAX_ACCURACY))
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.range",
		                  "accuracy must be between %g and %g", QF_MIN_ACCURACY, QF_MAX_ACCURACY);
	if (s->max_scc_iterations < 1 || s->max_scc_iterations > QF_MAX_SCC_ITERATIONS)
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.range",
		                  "max-scc-iterations must be between 1 and %d", QF_MAX_SCC_ITERATIONS);
	if (s->max_opt_cycles < 0 || s->max_opt_cycles > QF_MAX_OPT_CYCLES)
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.range",
		                  "max-opt-cycles must be between 1 and %d (0: xtb's default)", QF_MAX_OPT_CYCLES);
	if (!(s->timeout > 0 && s->timeout <= QF_MAX_TIMEOUT_S))
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.range",
		                  "timeout must be more than 0 and at most %g seconds", QF_MAX_TIMEOUT_S);
	if (s->threads < 1 || s->threads > QF_MAX_THREADS)
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.range", "threads must be between 1 and %d",
		                  QF_MAX_THREADS);
	return 0;
}

static int bad_value(qf_err *err, const char *key, const char *value, const char *what)
{
	return qf_err_set(err, QF_CAT_VALIDATION, "spec.invalid", "invalid value '%s' for %s: %s",
	                  value, key, what);
}

int qf_spec_set(qf_spec *s, const char *key, const char *value, qf_err *err)
{
	double d;
	long l;
	if (!value)
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.invalid", "%s needs a value", key);
	if (!strcmp(key, "task")) {
		if (qf_task_parse(value, &s->task))
			return bad_value(err, key, value, "expected sp, opt, hess or ohess");
	} else if (!strcmp(key, "level")) {
		if (qf_level_parse(value, &s->level))
			return bad_value(err, key, value,
			                 "expected crude, sloppy, loose, lax, normal, tight, vtight or extreme");
	} else if (!strcmp(key, "method")) {
		if (qf_method_parse(value, &s->method))
			return bad_value(err, key, value, "expected gfn0, gfn1, gfn2 or gfnff");
	} else if (!strcmp(key, "alpb") || !strcmp(key, "gbsa")) {
		s->solvation = !strcmp(key, "alpb") ? QF_SOLV_ALPB : QF_SOLV_GBSA;
		if (qf_strlcpy(s->solvent, value, sizeof(s->solvent)) >= sizeof(s->solvent))
			return bad_value(err, key, value, "not a solvent xtb knows");
		for (char *p = s->solvent; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	} else if (!strcmp(key, "charge")) {
		if (!qf_parse_int(value, -QF_MAX_ABS_CHARGE, QF_MAX_ABS_CHARGE, &l))
			return bad_value(err, key, value, "expected an integer");
		s->has_charge = true;
		s->charge = (int)l;
	} else if (!strcmp(key, "uhf")) {
		if (!qf_parse_int(value, 0, QF_MAX_UHF, &l))
			return bad_value(err, key, value, "expected a whole number of unpaired electrons");
		s->has_uhf = true;
		s->uhf = (int)l;
	} else if (!strcmp(key, "etemp")) {
		if (!qf_parse_double(value, &d))
			return bad_value(err, key, value, "expected a temperature in K");
		s->etemp = d;
	} else if (!strcmp(key, "accuracy")) {
		if (!qf_parse_double(value, &d))
			return bad_value(err, key, value, "expected a number");
		s->accuracy = d;
	} else if (!strcmp(key, "max-scc-iterations") || !strcmp(key, "max_scc_iterations")) {
		if (!qf_parse_int(value, 1, QF_MAX_SCC_ITERATIONS, &l))
			return bad_value(err, key, value, "expected a whole number of iterations");
		s->max_scc_iterations = (int)l;
	} else if (!strcmp(key, "max-opt-cycles") || !strcmp(key, "max_opt_cycles")) {
		if (!qf_parse_int(value, 0, QF_MAX_OPT_CYCLES, &l))
			return bad_value(err, key, value, "expected a whole number of cycles");
		s->max_opt_cycles = (int)l;
	} else if (!strcmp(key, "timeout")) {
		if (!qf_parse_double(value, &d) || d <= 0)
			return bad_value(err, key, value, "expected seconds");
		s->timeout = d;
	} else if (!strcmp(key, "threads")) {
		if (!qf_parse_int(value, 1, QF_MAX_THREADS, &l))
			return bad_value(err, key, value, "expected a number of threads");
		s->threads = (int)l;
	} else {
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.unknown_key", "unknown spec option '%s'", key);
	}
	return 0;
}

json_t *qf_spec_to_json(const qf_spec *s)
{
	json_t *j = json_object();
	json_object_set_new(j, "task", json_string(qf_task_name(s->task)));
	json_object_set_new(j, "level", json_string(qf_level_name(s->level)));
	json_object_set_new(j, "method", json_string(qf_method_name(s->method)));
	if (s->solvation != QF_SOLV_NONE)
		json_object_set_new(j, qf_solvation_name(s->solvation), json_string(s->solvent));
	if (s->has_charge)
		json_object_set_new(j, "charge", json_integer(s->charge));
	if (s->has_uhf)
		json_object_set_new(j, "uhf", json_integer(s->uhf));
	json_object_set_new(j, "etemp", json_real(s->etemp));
	json_object_set_new(j, "accuracy", json_real(s->accuracy));
	json_object_set_new(j, "max_scc_iterations", json_integer(s->max_scc_iterations));
	json_object_set_new(j, "max_opt_cycles", json_integer(s->max_opt_cycles));
	json_object_set_new(j, "timeout", json_real(s->timeout));
	json_object_set_new(j, "threads", json_integer(s->threads));
	return j;
}

int qf_spec_from_json(qf_spec *s, const json_t *j, qf_err *err)
{
	qf_spec_init(s);
	if (!json_is_object(j))
		return qf_err_set(err, QF_CAT_VALIDATION, "spec.invalid", "the spec must be a JSON object");
	const char *key;
	json_t *v;
	bool solvation_seen = false;
	json_object_foreach((json_t *)j, key, v) {
		char text[64];
		if (json_is_string(v)) {
			if (qf_strlcpy(text, json_string_value(v), sizeof(text)) >= sizeof(text))
				return bad_value(err, key, "(too long)", "value too long");
		} else if (json_is_integer(v)) {
			snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
		} else if (json_is_real(v)) {
			snprintf(text, sizeof(text), "%.17g", json_real_value(v));
		} else if (json_is_null(v)) {
			continue;
		} else {
			return qf_err_set(err, QF_CAT_VALIDATION, "spec.invalid",
			                  "spec option '%s' must be a string or a number", key);
		}
		if (!strcmp(key, "alpb") || !strcmp(key, "gbsa")) {
			if (solvation_seen)
				return qf_err_set(err, QF_CAT_VALIDATION, "spec.solvent",
				                  "give one solvation model, alpb or gbsa, not both");
			solvation_seen = true;
		}
		int rc = qf_spec_set(s, key, text, err);
		if (rc)
			return rc;
	}
	return qf_spec_validate(s, err);
}
