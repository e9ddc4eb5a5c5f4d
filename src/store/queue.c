/*
 * The queue inside the store (include/qf/store.h, "the queue"): submit with
 * reuse of identical work, claim, heartbeat, the guarded finish and
 * release, the sweep of expired leases, counts.
 *
 * A calculation is a job. Its row keeps the request as given (spec,
 * spec_key, input_text/format/source/record), so that every attempt runs
 * the same thing ("inputs are never consumed"), and the queue state:
 *
 *   queued    waiting; claimable once not_before has passed
 *   running   claimed: attempt (claims so far), lease_owner, lease_token (32
 *             random hex digits, libsodium), lease_expires_at
 *   completed / failed / cancelled
 *
 * Every change of a running job is one transaction guarded by (id, attempt,
 * lease token). A job whose lease expired goes back to queued with its
 * token kept (the sweep): if its worker was only slow, its finish is still
 * taken once, as long as nobody claimed the job since (the claim replaces
 * attempt and token). Claims, finishes and sweeps run as the system: rows
 * keep the owner and organisation of their calculation.
 *
 * Times are qf_clock_now(), never the database clock (tests pin it).
 */
#include <ctype.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/hash.h"
#include "qf/log.h"
#include "qf/str.h"
#include "qf/uuid.h"
#include "store_int.h"

#define WORKER_MAX 255 /* lease_owner, calculation_execution_metrics.worker */

static int invalid(qf_err *err, const char *msg)
{
	return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid", "%s", msg);
}

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

/* "?" with the cast PostgreSQL needs where a parameter has no context (a
 * select list). */
static const char *cast(bool pg, const char *type)
{
	if (!pg)
		return "?";
	if (!strcmp(type, "uuid"))
		return "?::uuid";
	if (!strcmp(type, "jsonb"))
		return "?::jsonb";
	if (!strcmp(type, "timestamptz"))
		return "?::timestamptz";
	if (!strcmp(type, "integer"))
		return "?::integer";
	return "?::text";
}

static int check_worker(const char *worker, bool required, qf_err *err)
{
	if (!worker)
		return required ? invalid(err, "the worker needs a name (\"host:pid/slot\")") : 0;
	size_t n = strlen(worker);
	if (!n || n > WORKER_MAX || !qf__text_valid(worker, n))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "the worker name must be 1 to %d bytes of UTF-8 text", WORKER_MAX);
	return 0;
}

static int check_lease(double lease, qf_err *err)
{
	if (!(lease > 0) || !(lease <= QF_QUEUE_MAX_LEASE_S))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "a lease must last more than 0 and at most %g seconds",
		                  QF_QUEUE_MAX_LEASE_S);
	return 0;
}

static bool is_token(const char *t)
{
	if (strlen(t) != QF_LEASE_TOKEN_STR - 1)
		return false;
	for (const char *p = t; *p; p++)
		if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
			return false;
	return true;
}

/* A claim as a caller hands it back (finish, release, heartbeat). */
static int check_claim(const qf_claim *c, const char *what, qf_err *err)
{
	if (!c)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid", "%s: no claim given", what);
	if (!qf_uuid_valid(c->id))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "%s: the claim's job id is not a lowercase UUID", what);
	if (c->attempt < 1)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "%s: claim of job %s has attempt %d: attempts count from 1", what, c->id,
		                  c->attempt);
	if (!is_token(c->lease_token))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "%s: claim of job %s has no lease token (32 lowercase hex digits)", what,
		                  c->id);
	return 0;
}

static int stale(const qf_claim *c, qf_err *err)
{
	return qf_err_setrc(err, QF_ECONFLICT, QF_CAT_SYSTEM, "queue.stale",
	                    "job %s attempt %d is no longer this claim's (its lease was taken over, or "
	                    "it was finished or cancelled): nothing was changed",
	                    c->id, c->attempt);
}

/* ---- claims ------------------------------------------------------------------ */

void qf_claim_init(qf_claim *c)
{
	memset(c, 0, sizeof(*c));
	qf_mol_init(&c->mol);
	qf_spec_init(&c->spec);
}

void qf_claim_release(qf_claim *c)
{
	qf_mol_release(&c->mol);
	free(c->input);
	qf_claim_init(c);
}

/* ---- submit --------------------------------------------------------------------- */

/* The canonical spec: its JSON with the effective charge and uhf, without
 * the time limit (which does not change a completed result), compact with
 * sorted keys. Heap. */
static char *spec_key(const qf_spec *spec, int charge, int uhf)
{
	json_t *j = qf_spec_to_json(spec);
	if (!j)
		return NULL;
	json_object_set_new(j, "charge", json_integer(charge));
	json_object_set_new(j, "uhf", json_integer(uhf));
	json_object_del(j, "timeout");
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
	json_decref(j);
	return s;
}

static int check_item(const qf_submit_item *it, size_t k, const qf_spec *spec, qf_err *err)
{
	const qf_mol *m = it->mol;
	if (!m)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid", "item %zu has no molecule", k + 1);
	if (m->natoms < 1 || m->natoms > QF_MAX_ATOMS || !m->z || !m->xyz)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "item %zu: a molecule needs 1 to %d atoms", k + 1, QF_MAX_ATOMS);
	for (int a = 0; a < m->natoms; a++) {
		if (m->z[a] < 1 || m->z[a] > QF_MAX_Z)
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "item %zu: atom %d has atomic number %d", k + 1, a + 1, m->z[a]);
		for (int d = 0; d < 3; d++)
			if (!isfinite(m->xyz[3 * a + d]) || fabs(m->xyz[3 * a + d]) > QF_MAX_COORD)
				return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
				                  "item %zu: atom %d has a coordinate that is not a number of at "
				                  "most %g A",
				                  k + 1, a + 1, QF_MAX_COORD);
	}
	int charge, uhf;
	qf_job_effective_charge(m, spec, &charge, &uhf);
	if (charge < -QF_MAX_ABS_CHARGE || charge > QF_MAX_ABS_CHARGE || uhf < 0 || uhf > QF_MAX_UHF)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "item %zu: charge %d / unpaired electrons %d out of range (|charge| <= %d, "
		                  "0 <= uhf <= %d)",
		                  k + 1, charge, uhf, QF_MAX_ABS_CHARGE, QF_MAX_UHF);
	if (it->input) {
		if (it->input_len > (size_t)QF_QUEUE_MAX_INPUT_BYTES)
			return qf_err_set(err, QF_CAT_VALIDATION, "store.too_large",
			                  "item %zu: its input record has %zu bytes, more than the %ld kept",
			                  k + 1, it->input_len, (long)QF_QUEUE_MAX_INPUT_BYTES);
		if (!qf__text_valid(it->input, it->input_len))
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "item %zu: its input record is not UTF-8 text (or holds NUL bytes)",
			                  k + 1);
	}
	if (it->source &&
	    (strlen(it->source) >= QF_MAX_PATH || !qf__text_valid(it->source, strlen(it->source))))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "item %zu: its source must be UTF-8 text of less than %d bytes", k + 1,
		                  QF_MAX_PATH);
	if (it->record < 0)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "item %zu: record number %d (1-based, 0 unknown)", k + 1, it->record);
	return 0;
}

typedef struct submit {
	qf__db *db;
	const qf_actor *a;
	const qf_spec *spec;
	const qf_submit_opts *o;
	bool pg;
	double now;
	const char *owner, *org, *batch;
	int max_attempts;
	char *params_json, *spec_json; /* the calculations' parameters and spec */
	qf__query reuse_q;             /* the reuse lookup, scoped to the actor */
	int reuse_fixed;               /* its first parameter the scope owns */
	qf__stmt *reuse, *mol_find, *mol_insert, *calc_insert, *atoms_copy;
} submit;

/* Results of a reused calculation, as the lookup returns them. */
#define REUSE_COLS                                                                           \
	"id, total_energy, homo_lumo_gap, dipole_moment, is_converged, gradient_norm, " \
	"xtb_version, job_dir, results"

static int prepare_submit(submit *sb, qf_err *err)
{
	int rc;
	const char *J = sb->pg ? "?::jsonb" : "?";
	if (sb->o->xtb_version && !sb->o->force) {
		qf__query *q = &sb->reuse_q;
		/* Item values first (bound per item), the actor's scope last. */
		qf__query_sql(q, "SELECT " REUSE_COLS " FROM calculations WHERE molecule_id IN (SELECT id "
		                 "FROM molecules WHERE geometry_sha256 = ?) AND spec_key = ? AND "
		                 "xtb_version = ? AND charge = ? AND uhf = ? AND status = 'completed' AND ");
		q->n = 5;
		for (int i = 0; i < 5; i++) {
			memset(&q->p[i], 0, sizeof(q->p[i]));
			q->p[i].kind = QF__P_NULL;
		}
		sb->reuse_fixed = 6;
		qf__scope_where(q, qf__catalog_find("calculations"), sb->a, QF__OP_READ);
		qf__query_sql(q, " ORDER BY finished_at, id LIMIT 1");
		if ((rc = qf__query_prepare(q, sb->db, &sb->reuse, err)))
			return rc;
	}
	char sql[1024];
	snprintf(sql, sizeof(sql),
	         "SELECT id FROM molecules WHERE owner_id = ? AND %s AND geometry_sha256 = ? ORDER BY "
	         "created_at, id LIMIT 1",
	         sb->org ? "org_id = ?" : "org_id IS NULL");
	if ((rc = qf__db_prepare(sb->db, sql, &sb->mol_find, err)))
		return rc;
	snprintf(sql, sizeof(sql),
	         "INSERT INTO molecules (id, owner_id, org_id, name, formula, natoms, charge, uhf, "
	         "atomic_numbers, coordinates, input_format, input_sha256, geometry_sha256, smiles, "
	         "created_at, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, %s, %s, ?, ?, ?, ?, ?, %s)",
	         J, J, J);
	if ((rc = qf__db_prepare(sb->db, sql, &sb->mol_insert, err)))
		return rc;
	snprintf(sql, sizeof(sql),
	         "INSERT INTO calculations (id, molecule_id, batch_id, owner_id, org_id, method, task, "
	         "optimization_level, solvation_model, solvent, charge, uhf, parameters, spec, status, "
	         "attempt, max_attempts, priority, force_rerun, spec_key, input_text, input_format, "
	         "input_source, input_record, created_at, updated_at, reused_from, total_energy, "
	         "homo_lumo_gap, dipole_moment, is_converged, gradient_norm, xtb_version, job_dir, "
	         "results, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, %s, %s, "
	         "?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, %s, ?, ?)",
	         J, J, J);
	if ((rc = qf__db_prepare(sb->db, sql, &sb->calc_insert, err)))
		return rc;
	snprintf(sql, sizeof(sql),
	         "INSERT INTO atomic_properties (calculation_id, atom_index, owner_id, org_id, "
	         "atomic_number, element, x, y, z, partial_charge, force_x, force_y, force_z) SELECT %s, "
	         "atom_index, %s, %s, atomic_number, element, x, y, z, partial_charge, force_x, force_y, "
	         "force_z FROM atomic_properties WHERE calculation_id = ?",
	         cast(sb->pg, "uuid"), cast(sb->pg, "uuid"), cast(sb->pg, "uuid"));
	return qf__db_prepare(sb->db, sql, &sb->atoms_copy, err);
}

static void submit_release(submit *sb)
{
	qf__stmt_finalize(sb->reuse);
	qf__stmt_finalize(sb->mol_find);
	qf__stmt_finalize(sb->mol_insert);
	qf__stmt_finalize(sb->calc_insert);
	qf__stmt_finalize(sb->atoms_copy);
	qf__query_release(&sb->reuse_q);
	free(sb->params_json);
	free(sb->spec_json);
}

/* A completed calculation visible to the actor with the same work. */
typedef struct reusable {
	bool found;
	char id[QF_UUID_STR];
	bool has[5];
	double v[5];    /* total_energy, homo_lumo_gap, dipole_moment, (is_converged), gradient_norm */
	bool converged;
	char *xtb_version, *job_dir, *results;
} reusable;

static void reusable_release(reusable *r)
{
	free(r->xtb_version);
	free(r->job_dir);
	free(r->results);
	memset(r, 0, sizeof(*r));
}

static char *dup_col(qf__stmt *st, int i)
{
	size_t n = 0;
	const char *s = qf__stmt_col_text(st, i, &n);
	if (!s)
		return NULL;
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int find_reusable(submit *sb, const char *geo, const char *key, int charge, int uhf,
                         reusable *out, qf_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!sb->reuse)
		return 0;
	qf__stmt *st = sb->reuse;
	qf__stmt_reset(st);
	qf__stmt_bind_str(st, 1, geo);
	qf__stmt_bind_str(st, 2, key);
	qf__stmt_bind_str(st, 3, sb->o->xtb_version);
	qf__stmt_bind_int64(st, 4, charge);
	qf__stmt_bind_int64(st, 5, uhf);
	int rc = qf__query_rebind(&sb->reuse_q, st, sb->reuse_fixed, err);
	if (rc)
		return rc;
	rc = qf__stmt_step(st, err);
	if (rc == 1) {
		out->found = true;
		const char *id = qf__stmt_col_text(st, 0, NULL);
		qf_strlcpy(out->id, id ? id : "", sizeof(out->id));
		for (int i = 0; i < 5; i++) {
			out->has[i] = !qf__stmt_col_null(st, 1 + i);
			out->v[i] = qf__stmt_col_double(st, 1 + i);
		}
		out->converged = qf__stmt_col_bool(st, 4);
		out->xtb_version = dup_col(st, 6);
		out->job_dir = dup_col(st, 7);
		out->results = dup_col(st, 8);
		rc = qf__stmt_done(st, err);
	}
	return rc;
}

/* The molecule of this owner, organisation and geometry, else a new one. */
static int find_molecule(submit *sb, const qf_submit_item *it, int charge, int uhf, const char *geo,
                         char id[QF_UUID_STR], qf_err *err)
{
	qf__stmt *st = sb->mol_find;
	qf__stmt_reset(st);
	int i = 1;
	qf__stmt_bind_str(st, i++, sb->owner);
	if (sb->org)
		qf__stmt_bind_str(st, i++, sb->org);
	qf__stmt_bind_str(st, i++, geo);
	int rc = qf__stmt_step(st, err);
	if (rc == 1) {
		const char *found = qf__stmt_col_text(st, 0, NULL);
		qf_strlcpy(id, found ? found : "", QF_UUID_STR);
		return qf__stmt_done(st, err);
	}
	if (rc < 0)
		return rc;

	const qf_mol *m = it->mol;
	char formula[1024], name[QF_MAX_NAME];
	qf_mol_formula(m, formula, sizeof(formula));
	qf_strlcpy(name, m->name[0] ? m->name : formula, sizeof(name));
	qf__text_sanitize(name, strlen(name));
	json_t *zs = json_array(), *xyz = json_array();
	for (int a = 0; zs && xyz && a < m->natoms; a++) {
		json_array_append_new(zs, json_integer(m->z[a]));
		json_array_append_new(xyz, json_pack("[fff]", m->xyz[3 * a], m->xyz[3 * a + 1],
		                                     m->xyz[3 * a + 2]));
	}
	char *zs_s = zs ? json_dumps(zs, JSON_COMPACT) : NULL;
	char *xyz_s = xyz ? json_dumps(xyz, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	json_decref(zs);
	json_decref(xyz);
	char in_sha[QF_SHA256_HEX];
	qf_sha256_hex(it->input ? it->input : "", it->input ? it->input_len : 0, in_sha);
	char ts[QF_TIME_STR];
	qf__time_format(sb->now, ts);
	if (!zs_s || !xyz_s) {
		free(zs_s);
		free(xyz_s);
		return qf__oom(err);
	}
	qf_uuid_v7(id);
	st = sb->mol_insert;
	qf__stmt_reset(st);
	qf__stmt_bind_str(st, 1, id);
	qf__stmt_bind_str(st, 2, sb->owner);
	qf__stmt_bind_str(st, 3, sb->org);
	qf__stmt_bind_str(st, 4, name);
	qf__stmt_bind_str(st, 5, formula);
	qf__stmt_bind_int64(st, 6, m->natoms);
	qf__stmt_bind_int64(st, 7, charge);
	qf__stmt_bind_int64(st, 8, uhf);
	qf__stmt_bind_str(st, 9, zs_s);
	qf__stmt_bind_str(st, 10, xyz_s);
	qf__stmt_bind_str(st, 11, it->input_format ? qf_format_name(it->input_format) : NULL);
	qf__stmt_bind_str(st, 12, in_sha);
	qf__stmt_bind_str(st, 13, geo);
	qf__stmt_bind_str(st, 14, m->smiles && *m->smiles && qf__text_valid(m->smiles, strlen(m->smiles))
	                                  ? m->smiles
	                                  : NULL);
	qf__stmt_bind_str(st, 15, ts);
	qf__stmt_bind_str(st, 16, m->embedding);
	rc = qf__stmt_done(st, err);
	free(zs_s);
	free(xyz_s);
	return rc;
}

static void bind_real(qf__stmt *st, int i, bool has, double v)
{
	if (has && isfinite(v))
		qf__stmt_bind_double(st, i, v);
	else
		qf__stmt_bind_null(st, i);
}

static int insert_calculation(submit *sb, const qf_submit_item *it, const char *id, const char *mol,
                              int charge, int uhf, const char *key, const reusable *ru, qf_err *err)
{
	const qf_spec *sp = sb->spec;
	char ts[QF_TIME_STR];
	qf__time_format(sb->now, ts);
	qf__stmt *st = sb->calc_insert;
	qf__stmt_reset(st);
	int i = 1;
	qf__stmt_bind_str(st, i++, id);
	qf__stmt_bind_str(st, i++, mol);
	qf__stmt_bind_str(st, i++, sb->batch);
	qf__stmt_bind_str(st, i++, sb->owner);
	qf__stmt_bind_str(st, i++, sb->org);
	qf__stmt_bind_str(st, i++, qf_method_name(sp->method));
	qf__stmt_bind_str(st, i++, qf_task_name(sp->task));
	qf__stmt_bind_str(st, i++, qf_level_name(sp->level));
	qf__stmt_bind_str(st, i++, sp->solvation != QF_SOLV_NONE ? qf_solvation_name(sp->solvation) : NULL);
	qf__stmt_bind_str(st, i++, sp->solvation != QF_SOLV_NONE ? nonempty(sp->solvent) : NULL);
	qf__stmt_bind_int64(st, i++, charge);
	qf__stmt_bind_int64(st, i++, uhf);
	qf__stmt_bind_str(st, i++, sb->params_json);
	qf__stmt_bind_str(st, i++, sb->spec_json);
	qf__stmt_bind_str(st, i++, ru->found ? "completed" : "queued");
	qf__stmt_bind_int64(st, i++, sb->max_attempts);
	qf__stmt_bind_int64(st, i++, sb->o->priority);
	qf__stmt_bind_bool(st, i++, sb->o->force);
	qf__stmt_bind_str(st, i++, key);
	if (it->input)
		qf__stmt_bind_text(st, i++, it->input, it->input_len);
	else
		qf__stmt_bind_null(st, i++);
	qf__stmt_bind_str(st, i++, it->input_format ? qf_format_name(it->input_format) : NULL);
	qf__stmt_bind_str(st, i++, nonempty(it->source));
	if (it->record > 0)
		qf__stmt_bind_int64(st, i++, it->record);
	else
		qf__stmt_bind_null(st, i++);
	qf__stmt_bind_str(st, i++, ts);
	qf__stmt_bind_str(st, i++, ts);
	/* reused_from and the results of the reused calculation */
	qf__stmt_bind_str(st, i++, ru->found ? ru->id : NULL);
	bind_real(st, i++, ru->found && ru->has[0], ru->v[0]);
	bind_real(st, i++, ru->found && ru->has[1], ru->v[1]);
	bind_real(st, i++, ru->found && ru->has[2], ru->v[2]);
	if (ru->found && ru->has[3])
		qf__stmt_bind_bool(st, i++, ru->converged);
	else
		qf__stmt_bind_null(st, i++);
	bind_real(st, i++, ru->found && ru->has[4], ru->v[4]);
	qf__stmt_bind_str(st, i++, ru->found ? ru->xtb_version : NULL);
	qf__stmt_bind_str(st, i++, ru->found ? ru->job_dir : NULL);
	qf__stmt_bind_str(st, i++, ru->found ? ru->results : NULL);
	qf__stmt_bind_str(st, i++, ru->found ? ts : NULL);
	qf__stmt_bind_str(st, i++, ru->found ? ts : NULL);
	int rc = qf__stmt_done(st, err);
	if (rc || !ru->found)
		return rc;
	/* The reused calculation's atoms, under the new one. */
	st = sb->atoms_copy;
	qf__stmt_reset(st);
	qf__stmt_bind_str(st, 1, id);
	qf__stmt_bind_str(st, 2, sb->owner);
	qf__stmt_bind_str(st, 3, sb->org);
	qf__stmt_bind_str(st, 4, ru->id);
	return qf__stmt_done(st, err);
}

static int cmp_ids(const void *x, const void *y)
{
	return strcmp((const char *)x, (const char *)y);
}

static int submit_one(submit *sb, const qf_submit_item *it, const char *id, bool *was_reused,
                      qf_err *err)
{
	int charge, uhf;
	qf_job_effective_charge(it->mol, sb->spec, &charge, &uhf);
	char geo[QF_SHA256_HEX];
	qf_job_geometry_hash(it->mol, charge, uhf, geo);
	char *key = spec_key(sb->spec, charge, uhf);
	if (!key)
		return qf__oom(err);
	reusable ru;
	char mol[QF_UUID_STR];
	int rc = find_reusable(sb, geo, key, charge, uhf, &ru, err);
	if (!rc)
		rc = find_molecule(sb, it, charge, uhf, geo, mol, err);
	if (!rc)
		rc = insert_calculation(sb, it, id, mol, charge, uhf, key, &ru, err);
	*was_reused = !rc && ru.found;
	reusable_release(&ru);
	free(key);
	return rc;
}

/* After a submission into a batch: its total, its state, its statistics. */
static int submit_batch(submit *sb, size_t n, size_t nreused, qf_err *err)
{
	char ts[QF_TIME_STR];
	qf__time_format(sb->now, ts);
	int rc = 0;
	if (nreused) {
		qf__bjp_delta d;
		memset(&d, 0, sizeof(d));
		d.successful = (int)nreused;
		if ((rc = qf__bjp_apply(sb->db, sb->batch, &d, sb->now, err)))
			return rc;
	}
	qf__stmt *st;
	if ((rc = qf__db_prepare(sb->db,
	                         "UPDATE batches SET total = total + ?, status = CASE WHEN status = "
	                         "'running' THEN 'running' ELSE 'queued' END, finished_at = NULL, "
	                         "updated_at = ? WHERE id = ?",
	                         &st, err)))
		return rc;
	qf__stmt_bind_int64(st, 1, (int64_t)n);
	qf__stmt_bind_str(st, 2, ts);
	qf__stmt_bind_str(st, 3, sb->batch);
	rc = qf__stmt_done(st, err);
	qf__stmt_finalize(st);
	if (!rc)
		rc = qf__batch_settle(sb->db, sb->batch, sb->now, err);
	return rc;
}

int qf_store_submit(qf_store *s, const qf_actor *a, const qf_spec *spec,
                    const qf_submit_item *items, size_t n, const qf_submit_opts *o,
                    char (*ids)[QF_UUID_STR], size_t *reused, qf_err *err)
{
	if (reused)
		*reused = 0;
	qf_submit_opts defaults;
	memset(&defaults, 0, sizeof(defaults));
	if (!o)
		o = &defaults;
	if (a->kind == QF_ACTOR_ANONYMOUS)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.forbidden",
		                  "sign in to submit calculations");
	if (!spec)
		return invalid(err, "a submission needs a spec");
	if (!items || n == 0)
		return invalid(err, "nothing to submit: give at least one item");
	if (!ids)
		return invalid(err, "a submission needs somewhere to put the calculation ids");
	if (n > QF_QUEUE_MAX_SUBMIT)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.too_large",
		                  "%zu calculations in one submission: submit at most %d at a time", n,
		                  QF_QUEUE_MAX_SUBMIT);
	int rc = qf_spec_validate(spec, err);
	if (rc) {
		qf_err_prefix(err, "the spec of the submission");
		return rc;
	}
	if (o->org_id && !qf_uuid_valid(o->org_id))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "organisation id '%s' is not a lowercase UUID", o->org_id);
	if (o->batch_id && !qf_uuid_valid(o->batch_id))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "batch id '%s' is not a lowercase UUID", o->batch_id);
	if (o->max_attempts < 0 || o->max_attempts > QF_QUEUE_MAX_ATTEMPTS)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "max_attempts %d is out of range: use 1 to %d (0: %d)", o->max_attempts,
		                  QF_QUEUE_MAX_ATTEMPTS, QF_DEFAULT_MAX_ATTEMPTS);
	if (o->xtb_version && (!*o->xtb_version || strlen(o->xtb_version) > 32 ||
	                       !qf__text_valid(o->xtb_version, strlen(o->xtb_version))))
		return invalid(err, "the xtb version to reuse results of must be 1 to 32 bytes of text");
	for (size_t k = 0; k < n; k++)
		if ((rc = check_item(&items[k], k, spec, err)))
			return rc;

	submit sb;
	memset(&sb, 0, sizeof(sb));
	sb.a = a;
	sb.spec = spec;
	sb.o = o;
	sb.pg = s->dialect == QF__PG;
	sb.now = qf_clock_now();
	sb.owner = a->kind == QF_ACTOR_USER ? a->user_id : QF_LOCAL_USER_ID;
	sb.org = o->org_id;
	sb.batch = o->batch_id;
	sb.max_attempts = o->max_attempts ? o->max_attempts : QF_DEFAULT_MAX_ATTEMPTS;
	qf__query_init(&sb.reuse_q, s->dialect);
	json_t *pj = qf__spec_parameters(spec), *sj = qf_spec_to_json(spec);
	sb.params_json = pj ? json_dumps(pj, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	sb.spec_json = sj ? json_dumps(sj, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	json_decref(pj);
	json_decref(sj);
	if (!sb.params_json || !sb.spec_json) {
		submit_release(&sb);
		return qf__oom(err);
	}
	/* The ids in item order: uuid v7 of the same millisecond sort by their
	 * random bits, and the claim takes equally old jobs by id. */
	for (size_t k = 0; k < n; k++)
		qf_uuid_v7(ids[k]);
	qsort(ids, n, QF_UUID_STR, cmp_ids);

	qf__tx tx;
	if ((rc = qf__tx_begin(s, a, true, &tx, err))) {
		submit_release(&sb);
		memset(ids, 0, n * QF_UUID_STR);
		return rc;
	}
	sb.db = tx.db;
	size_t nreused = 0;
	/* What the actor puts in: its own rows, into an organisation where it
	 * may write, into a batch it may change (of the same organisation). */
	if (a->kind == QF_ACTOR_USER) {
		json_t *probe = json_pack("{s:s,s:s?}", "owner_id", a->user_id, "org_id", sb.org);
		rc = probe ? qf__scope_check_insert(tx.db, qf__catalog_find("calculations"), a, probe, err)
		           : qf__oom(err);
		json_decref(probe);
		if (rc)
			goto out;
	}
	if (sb.batch) {
		char borg[QF_UUID_STR];
		if ((rc = qf__batch_find(tx.db, a, sb.batch, QF__OP_UPDATE, borg, err))) {
			if (rc == QF_ENOENT)
				rc = qf_err_set(err, QF_CAT_VALIDATION, "store.constraint",
				                "batch %s: the referenced row of table 'batches' does not exist "
				                "(or you may not add to it)",
				                sb.batch);
			goto out;
		}
		if (strcmp(borg, sb.org ? sb.org : "")) {
			rc = qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                "the calculations of batch %s belong to its organisation: submit them "
			                "with org_id %s",
			                sb.batch, borg[0] ? borg : "unset (personal)");
			goto out;
		}
	}
	if ((rc = prepare_submit(&sb, err)))
		goto out;
	for (size_t k = 0; k < n; k++) {
		bool was = false;
		if ((rc = submit_one(&sb, &items[k], ids[k], &was, err))) {
			qf_err_prefix(err, "submitting item %zu", k + 1);
			goto out;
		}
		nreused += was;
	}
	if (sb.batch)
		rc = submit_batch(&sb, n, nreused, err);
out:
	submit_release(&sb);
	if (!rc)
		rc = qf__tx_commit(&tx, err);
	else
		qf__tx_rollback(&tx);
	if (rc) {
		memset(ids, 0, n * QF_UUID_STR);
		return rc;
	}
	if (reused)
		*reused = nreused;
	return 0;
}

/* ---- claim ------------------------------------------------------------------------ */

typedef struct claimed {
	char id[QF_UUID_STR];
	int64_t priority;
	char created[40];
} claimed;

static int cmp_claimed(const void *x, const void *y)
{
	const claimed *a = x, *b = y;
	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	int c = strcmp(a->created, b->created);
	return c ? c : strcmp(a->id, b->id);
}

/* A JSON array of n [x, y, z] into xyz (3n). */
static bool coords_from_json(const json_t *arr, int n, double *xyz)
{
	if (!json_is_array(arr) || (int)json_array_size(arr) != n)
		return false;
	for (int a = 0; a < n; a++) {
		json_t *p = json_array_get(arr, (size_t)a);
		if (!json_is_array(p) || json_array_size(p) != 3)
			return false;
		for (int d = 0; d < 3; d++) {
			json_t *v = json_array_get(p, (size_t)d);
			if (!json_is_number(v) || !isfinite(json_number_value(v)))
				return false;
			xyz[3 * a + d] = json_number_value(v);
		}
	}
	return true;
}

static json_t *load_col(qf__stmt *st, int i)
{
	size_t n = 0;
	const char *s = qf__stmt_col_text(st, i, &n);
	json_error_t je;
	return s ? json_loadb(s, n, 0, &je) : NULL;
}

#define CLAIM_COLS                                                                                 \
	"c.attempt, c.owner_id, c.org_id, c.batch_id, c.charge, c.uhf, c.spec, c.max_attempts, "      \
	"c.input_text, c.input_format, c.input_source, c.input_record, c.resume_coordinates, m.name, " \
	"m.atomic_numbers, m.coordinates, m.smiles, m.embedding"

/* Fill c from the row of a claimed job; false when the row cannot be run
 * (a spec or a geometry that does not parse: a damaged row). */
static bool claim_from_row(qf__stmt *st, qf_claim *c, char *why, size_t whylen)
{
	c->attempt = (int)qf__stmt_col_int64(st, 0);
	const char *s;
	qf_strlcpy(c->owner_id, (s = qf__stmt_col_text(st, 1, NULL)) ? s : "", sizeof(c->owner_id));
	qf_strlcpy(c->org_id, (s = qf__stmt_col_text(st, 2, NULL)) ? s : "", sizeof(c->org_id));
	qf_strlcpy(c->batch_id, (s = qf__stmt_col_text(st, 3, NULL)) ? s : "", sizeof(c->batch_id));
	int charge = (int)qf__stmt_col_int64(st, 4), uhf = (int)qf__stmt_col_int64(st, 5);
	json_t *spec = load_col(st, 6);
	qf_err e;
	qf_err_init(&e);
	bool ok = spec && !qf_spec_from_json(&c->spec, spec, &e);
	json_decref(spec);
	if (!ok) {
		snprintf(why, whylen, "its stored spec does not parse: %.200s", e.message);
		return false;
	}
	c->max_attempts = (int)qf__stmt_col_int64(st, 7);
	size_t n = 0;
	const char *in = qf__stmt_col_text(st, 8, &n);
	if (in) {
		if (!(c->input = malloc(n + 1))) {
			snprintf(why, whylen, "out of memory");
			return false;
		}
		memcpy(c->input, in, n);
		c->input[n] = '\0';
		c->input_len = n;
	}
	c->input_format = (s = qf__stmt_col_text(st, 9, NULL)) ? qf_format_parse(s) : QF_FMT_UNKNOWN;
	qf_strlcpy(c->source, (s = qf__stmt_col_text(st, 10, NULL)) ? s : "", sizeof(c->source));
	c->record = (int)qf__stmt_col_int64(st, 11);
	json_t *zs = load_col(st, 14), *xyz = load_col(st, 15), *resume = load_col(st, 12);
	int natoms = json_is_array(zs) ? (int)json_array_size(zs) : 0;
	ok = natoms > 0 && natoms <= QF_MAX_ATOMS && !qf_mol_resize(&c->mol, natoms, &e);
	for (int a = 0; ok && a < natoms; a++) {
		json_t *z = json_array_get(zs, (size_t)a);
		ok = json_is_integer(z) && json_integer_value(z) >= 1 && json_integer_value(z) <= QF_MAX_Z;
		if (ok)
			c->mol.z[a] = (int)json_integer_value(z);
	}
	ok = ok && coords_from_json(xyz, natoms, c->mol.xyz);
	/* An optimisation that stopped short goes on from where it was. */
	if (ok && resume && coords_from_json(resume, natoms, c->mol.xyz))
		c->resumed = true;
	else if (ok && resume)
		coords_from_json(xyz, natoms, c->mol.xyz);
	json_decref(zs);
	json_decref(xyz);
	json_decref(resume);
	if (!ok) {
		snprintf(why, whylen, "its molecule's stored geometry does not parse");
		return false;
	}
	c->mol.charge = charge;
	c->mol.uhf = uhf;
	qf_strlcpy(c->mol.name, (s = qf__stmt_col_text(st, 13, NULL)) ? s : "", sizeof(c->mol.name));
	if (((s = qf__stmt_col_text(st, 16, NULL)) && !(c->mol.smiles = strdup(s))) ||
	    ((s = qf__stmt_col_text(st, 17, NULL)) && !(c->mol.embedding = strdup(s)))) {
		snprintf(why, whylen, "out of memory");
		return false;
	}
	return true;
}

/* The error history of a job: its calculation_errors rows by type. */
static int claim_errors(qf__db *db, qf_claim *c, qf_err *err)
{
	qf__stmt *st;
	int rc = qf__db_prepare(db,
	                        "SELECT error_type, count(*) FROM calculation_errors WHERE "
	                        "calculation_id = ? GROUP BY error_type",
	                        &st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, c->id);
	rc = qf__stmt_step(st, err);
	while (rc == 1) {
		const char *type = qf__stmt_col_text(st, 0, NULL);
		int k = (int)qf__stmt_col_int64(st, 1);
		qf_category cat = qf_category_parse(type);
		c->errors += k;
		c->errors_by_category[cat == QF_CAT_NONE ? QF_CAT_UNKNOWN : cat] += k;
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	return rc;
}

/* A claimed row that cannot be run fails at once (it would otherwise be
 * claimed first, again and again). */
static int fail_damaged(qf__db *db, const char *id, const char *batch, const char *why, double now,
                        qf_err *err)
{
	qf_log_error("queue", "job %s cannot be run: %s; failing it", id, why);
	char ts[QF_TIME_STR], msg[QF_MAX_ERR_MSG];
	qf__time_format(now, ts);
	snprintf(msg, sizeof(msg), "the stored job cannot be run: %s", why);
	qf__text_sanitize(msg, strlen(msg));
	qf__stmt *st;
	int rc = qf__db_prepare(db,
	                        "UPDATE calculations SET status = 'failed', error_category = 'system', "
	                        "error_code = 'queue.damaged', error_message = ?, lease_owner = NULL, "
	                        "lease_token = NULL, lease_expires_at = NULL, finished_at = ?, "
	                        "updated_at = ? WHERE id = ?",
	                        &st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, msg);
	qf__stmt_bind_str(st, 2, ts);
	qf__stmt_bind_str(st, 3, ts);
	qf__stmt_bind_str(st, 4, id);
	rc = qf__stmt_done(st, err);
	qf__stmt_finalize(st);
	if (rc || !batch || !*batch)
		return rc;
	qf__bjp_delta d;
	memset(&d, 0, sizeof(d));
	d.failed = 1;
	if (!(rc = qf__bjp_apply(db, batch, &d, now, err)))
		rc = qf__batch_settle(db, batch, now, err);
	return rc;
}

int qf_store_claim(qf_store *s, const char *worker, double lease_seconds, int max, qf_claim *out,
                   int *n, qf_err *err)
{
	if (n)
		*n = 0;
	if (!n || !out)
		return invalid(err, "a claim needs somewhere to put the jobs and their count");
	int rc = check_worker(worker, true, err);
	if (rc || (rc = check_lease(lease_seconds, err)))
		return rc;
	if (max < 1)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "claim at least one job (max %d)", max);
	if (max > QF_QUEUE_MAX_CLAIM)
		max = QF_QUEUE_MAX_CLAIM;
	bool pg = s->dialect == QF__PG;
	double now = qf_clock_now();
	double expires = now + lease_seconds;
	unsigned char raw[16];
	randombytes_buf(raw, sizeof(raw));
	char token[QF_LEASE_TOKEN_STR];
	sodium_bin2hex(token, sizeof(token), raw, sizeof(raw));
	char ts[QF_TIME_STR], exp_ts[QF_TIME_STR];
	qf__time_format(now, ts);
	qf__time_format(expires, exp_ts);

	qf_actor sys = qf_actor_system();
	qf__tx tx;
	if ((rc = qf__tx_begin(s, &sys, true, &tx, err)))
		return rc;
	claimed *got = calloc((size_t)max, sizeof(*got));
	qf__stmt *st = NULL, *rd = NULL, *bat = NULL;
	int ngot = 0, nout = 0;
	if (!got) {
		rc = qf__oom(err);
		goto out;
	}
	/* One statement takes the jobs: SQLite holds the write lock
	 * (BEGIN IMMEDIATE); PostgreSQL locks the chosen rows and skips the
	 * rows other claimers hold. */
	if ((rc = qf__db_prepare(tx.db,
	                         pg ? "UPDATE calculations SET status = 'running', attempt = attempt + 1, "
	                              "lease_owner = ?, lease_token = ?, lease_expires_at = ?, "
	                              "started_at = ?, finished_at = NULL, last_worker = ?, updated_at = ? "
	                              "WHERE id IN (SELECT id FROM calculations WHERE status = 'queued' AND "
	                              "(not_before IS NULL OR not_before <= ?) ORDER BY priority DESC, "
	                              "created_at, id LIMIT ? FOR UPDATE SKIP LOCKED) "
	                              "RETURNING id, priority, created_at"
	                            : "UPDATE calculations SET status = 'running', attempt = attempt + 1, "
	                              "lease_owner = ?, lease_token = ?, lease_expires_at = ?, "
	                              "started_at = ?, finished_at = NULL, last_worker = ?, updated_at = ? "
	                              "WHERE id IN (SELECT id FROM calculations WHERE status = 'queued' AND "
	                              "(not_before IS NULL OR not_before <= ?) ORDER BY priority DESC, "
	                              "created_at, id LIMIT ?) "
	                              "RETURNING id, priority, created_at",
	                         &st, err)))
		goto out;
	qf__stmt_bind_str(st, 1, worker);
	qf__stmt_bind_str(st, 2, token);
	qf__stmt_bind_str(st, 3, exp_ts);
	qf__stmt_bind_str(st, 4, ts);
	qf__stmt_bind_str(st, 5, worker);
	qf__stmt_bind_str(st, 6, ts);
	qf__stmt_bind_str(st, 7, ts);
	qf__stmt_bind_int64(st, 8, max);
	rc = qf__stmt_step(st, err);
	while (rc == 1) {
		if (ngot < max) {
			const char *id = qf__stmt_col_text(st, 0, NULL);
			const char *cr = qf__stmt_col_text(st, 2, NULL);
			qf_strlcpy(got[ngot].id, id ? id : "", sizeof(got[ngot].id));
			got[ngot].priority = qf__stmt_col_int64(st, 1);
			qf_strlcpy(got[ngot].created, cr ? cr : "", sizeof(got[ngot].created));
			ngot++;
		}
		rc = qf__stmt_step(st, err);
	}
	if (rc)
		goto out;
	qsort(got, (size_t)ngot, sizeof(*got), cmp_claimed);
	/* What the worker needs, read back in the same transaction. */
	if ((rc = qf__db_prepare(tx.db,
	                         "SELECT " CLAIM_COLS " FROM calculations c JOIN molecules m ON m.id = "
	                         "c.molecule_id WHERE c.id = ?",
	                         &rd, err)) ||
	    (rc = qf__db_prepare(tx.db,
	                         "UPDATE batches SET status = 'running', updated_at = ? WHERE id = ? AND "
	                         "status = 'queued'",
	                         &bat, err)))
		goto out;
	for (int k = 0; k < ngot; k++) {
		qf_claim *c = &out[nout];
		qf_claim_init(c);
		qf_strlcpy(c->id, got[k].id, sizeof(c->id));
		qf_strlcpy(c->lease_token, token, sizeof(c->lease_token));
		c->lease_expires_at = expires;
		qf__stmt_reset(rd);
		qf__stmt_bind_str(rd, 1, c->id);
		rc = qf__stmt_step(rd, err);
		char why[QF_MAX_ERR_MSG] = "its molecule is missing";
		bool ok = rc == 1 && claim_from_row(rd, c, why, sizeof(why));
		if (rc == 1)
			rc = qf__stmt_done(rd, err);
		if (rc)
			goto out;
		if (!ok) {
			char batch[QF_UUID_STR];
			qf_strlcpy(batch, c->batch_id, sizeof(batch));
			qf_claim_release(c);
			if ((rc = fail_damaged(tx.db, got[k].id, batch, why, now, err)))
				goto out;
			continue;
		}
		if ((rc = claim_errors(tx.db, c, err)))
			goto out;
		if (c->batch_id[0]) {
			qf__stmt_reset(bat);
			qf__stmt_bind_str(bat, 1, ts);
			qf__stmt_bind_str(bat, 2, c->batch_id);
			if ((rc = qf__stmt_done(bat, err)))
				goto out;
		}
		nout++;
	}
out:
	qf__stmt_finalize(st);
	qf__stmt_finalize(rd);
	qf__stmt_finalize(bat);
	free(got);
	if (!rc)
		rc = qf__tx_commit(&tx, err);
	else
		qf__tx_rollback(&tx);
	if (rc) {
		for (int k = 0; k < nout; k++)
			qf_claim_release(&out[k]);
		return rc;
	}
	*n = nout;
	return 0;
}

/* ---- heartbeat --------------------------------------------------------------------- */

int qf_store_heartbeat(qf_store *s, qf_claim *const *claims, int n, double lease_seconds,
                       bool *lost, bool *cancel, qf_err *err)
{
	if (!claims || n < 1)
		return invalid(err, "a heartbeat needs at least one claim");
	if (n > QF_QUEUE_MAX_HEARTBEAT)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.too_large",
		                  "%d claims in one heartbeat: at most %d", n, QF_QUEUE_MAX_HEARTBEAT);
	int rc = check_lease(lease_seconds, err);
	if (rc)
		return rc;
	for (int i = 0; i < n; i++)
		if ((rc = check_claim(claims[i], "heartbeat", err)))
			return rc;
	double now = qf_clock_now(), expires = now + lease_seconds;
	char ts[QF_TIME_STR], exp_ts[QF_TIME_STR];
	qf__time_format(now, ts);
	qf__time_format(expires, exp_ts);
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	if ((rc = qf__tx_begin(s, &sys, true, &tx, err)))
		return rc;
	qf__stmt *st = NULL;
	bool *l = calloc((size_t)n, sizeof(bool)), *c = calloc((size_t)n, sizeof(bool));
	if (!l || !c) {
		rc = qf__oom(err);
		goto out;
	}
	if ((rc = qf__db_prepare(tx.db,
	                         "UPDATE calculations SET lease_expires_at = ?, updated_at = ? WHERE id = ? "
	                         "AND attempt = ? AND lease_token = ? AND status = 'running' "
	                         "RETURNING cancel_requested",
	                         &st, err)))
		goto out;
	for (int i = 0; i < n; i++) {
		qf__stmt_reset(st);
		qf__stmt_bind_str(st, 1, exp_ts);
		qf__stmt_bind_str(st, 2, ts);
		qf__stmt_bind_str(st, 3, claims[i]->id);
		qf__stmt_bind_int64(st, 4, claims[i]->attempt);
		qf__stmt_bind_str(st, 5, claims[i]->lease_token);
		rc = qf__stmt_step(st, err);
		if (rc < 0)
			goto out;
		l[i] = rc == 0;
		c[i] = rc == 1 && qf__stmt_col_bool(st, 0);
		if (rc == 1 && (rc = qf__stmt_done(st, err)))
			goto out;
	}
out:
	qf__stmt_finalize(st);
	if (!rc)
		rc = qf__tx_commit(&tx, err);
	else
		qf__tx_rollback(&tx);
	if (!rc) {
		for (int i = 0; i < n; i++) {
			if (!l[i])
				claims[i]->lease_expires_at = expires;
			if (lost)
				lost[i] = l[i];
			if (cancel)
				cancel[i] = c[i];
		}
	}
	free(l);
	free(c);
	return rc;
}

/* ---- the guard ------------------------------------------------------------------------ */

/* The job row as the guard sees it. */
typedef struct guarded {
	bool swept;      /* status queued: the lease expired and nobody claimed since */
	bool cancel_requested;
	char owner[QF_UUID_STR], org[QF_UUID_STR], batch[QF_UUID_STR];
	int max_attempts;
	int natoms;
} guarded;

/* Lock the job when (id, attempt, token) still hold it: running, or queued
 * by a sweep since. *held false otherwise. */
static int guard(qf__db *db, const qf_claim *c, guarded *g, bool *held, qf_err *err)
{
	memset(g, 0, sizeof(*g));
	*held = false;
	bool pg = qf__db_dialect(db) == QF__PG;
	qf__stmt *st;
	int rc = qf__db_prepare(
		db,
		pg ? "SELECT c.status, c.cancel_requested, c.owner_id, c.org_id, c.batch_id, c.max_attempts, "
		     "(SELECT natoms FROM molecules m WHERE m.id = c.molecule_id) FROM calculations c WHERE "
		     "c.id = ? AND c.attempt = ? AND c.lease_token = ? AND c.status IN ('running', 'queued') "
		     "FOR UPDATE OF c"
		   : "SELECT c.status, c.cancel_requested, c.owner_id, c.org_id, c.batch_id, c.max_attempts, "
		     "(SELECT natoms FROM molecules m WHERE m.id = c.molecule_id) FROM calculations c WHERE "
		     "c.id = ? AND c.attempt = ? AND c.lease_token = ? AND c.status IN ('running', 'queued')",
		&st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, c->id);
	qf__stmt_bind_int64(st, 2, c->attempt);
	qf__stmt_bind_str(st, 3, c->lease_token);
	rc = qf__stmt_step(st, err);
	if (rc == 1) {
		*held = true;
		const char *s = qf__stmt_col_text(st, 0, NULL);
		g->swept = s && !strcmp(s, "queued");
		g->cancel_requested = qf__stmt_col_bool(st, 1);
		qf_strlcpy(g->owner, (s = qf__stmt_col_text(st, 2, NULL)) ? s : "", sizeof(g->owner));
		qf_strlcpy(g->org, (s = qf__stmt_col_text(st, 3, NULL)) ? s : "", sizeof(g->org));
		qf_strlcpy(g->batch, (s = qf__stmt_col_text(st, 4, NULL)) ? s : "", sizeof(g->batch));
		g->max_attempts = (int)qf__stmt_col_int64(st, 5);
		g->natoms = (int)qf__stmt_col_int64(st, 6);
		rc = qf__stmt_done(st, err);
	}
	qf__stmt_finalize(st);
	return rc;
}

/* The sweep took the worker for lost, but it was only late: its
 * queue.worker_lost row of this attempt goes. */
static int unsweep(qf__db *db, const qf_claim *c, const guarded *g, double now, qf_err *err)
{
	qf__stmt *st;
	int rc = qf__db_prepare(db,
	                        "DELETE FROM calculation_errors WHERE calculation_id = ? AND attempt = ? "
	                        "AND error_code = 'queue.worker_lost'",
	                        &st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, c->id);
	qf__stmt_bind_int64(st, 2, c->attempt);
	rc = qf__stmt_done(st, err);
	int64_t gone = qf__stmt_changes(st);
	qf__stmt_finalize(st);
	if (rc || !gone || !g->batch[0])
		return rc;
	qf__bjp_delta d;
	memset(&d, 0, sizeof(d));
	d.error_type = "system";
	d.errors = -(int)gone;
	return qf__bjp_apply(db, g->batch, &d, now, err);
}

/* ---- finish ------------------------------------------------------------------------------ */

/* The calculation_errors history so far (the latest row's), or []. */
static int history_so_far(qf__db *db, const char *id, json_t **out, qf_err *err)
{
	*out = NULL;
	qf__stmt *st;
	int rc = qf__db_prepare(db,
	                        "SELECT retry_attempts FROM calculation_errors WHERE calculation_id = ? "
	                        "ORDER BY attempt DESC LIMIT 1",
	                        &st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, id);
	rc = qf__stmt_step(st, err);
	if (rc == 1) {
		*out = load_col(st, 0);
		rc = qf__stmt_done(st, err);
	}
	qf__stmt_finalize(st);
	if (!rc && !json_is_array(*out)) {
		json_decref(*out);
		if (!(*out = json_array()))
			rc = qf__oom(err);
	}
	return rc;
}

static const char *natoms_bucket(int n)
{
	static const struct {
		int max;
		const char *name;
	} b[] = {{10, "1-10"}, {25, "11-25"}, {50, "26-50"}, {100, "51-100"}, {250, "101-250"},
	         {500, "251-500"}, {1000, "501-1000"}};
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		if (n <= b[i].max)
			return b[i].name;
	return ">1000";
}

/* performance_metrics: the attempt's wall time (ms) and peak memory (MB),
 * tagged for the dashboards (method, task, size, outcome). */
static int add_samples(qf__db *db, const qf_job *j, const guarded *g, const char *status,
                       double now, qf_err *err)
{
	if (!qf__job_ran(j))
		return 0;
	bool pg = qf__db_dialect(db) == QF__PG;
	json_t *tags = json_pack("{s:s,s:s,s:s,s:s,s:s}", "method", qf_method_name(j->spec.method),
	                         "task", qf_task_name(j->spec.task), "natoms_bucket",
	                         natoms_bucket(j->mol.natoms > 0 ? j->mol.natoms : g->natoms), "status",
	                         status, "xtb_version", j->metrics.xtb_version);
	char *tag_s = tags ? json_dumps(tags, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(tags);
	if (!tag_s)
		return qf__oom(err);
	char ts[QF_TIME_STR];
	qf__time_format(now, ts);
	qf__stmt *st;
	int rc = qf__db_prepare(db,
	                        pg ? "INSERT INTO performance_metrics (user_id, org_id, metric_type, "
	                             "metric_name, value, unit, tags, \"timestamp\") VALUES (?, ?, "
	                             "'calculation_completed', ?, ?, ?, ?::jsonb, ?)"
	                           : "INSERT INTO performance_metrics (user_id, org_id, metric_type, "
	                             "metric_name, value, unit, tags, \"timestamp\") VALUES (?, ?, "
	                             "'calculation_completed', ?, ?, ?, ?, ?)",
	                        &st, err);
	if (rc) {
		free(tag_s);
		return rc;
	}
	static const char *const names[] = {"wall_time", "memory_peak"};
	static const char *const units[] = {"ms", "MB"};
	double values[] = {j->metrics.wall_time * 1000.0, j->metrics.memory_peak_mb};
	for (int i = 0; i < 2 && !rc; i++) {
		if (!isfinite(values[i]))
			continue;
		qf__stmt_reset(st);
		qf__stmt_bind_str(st, 1, g->owner);
		qf__stmt_bind_str(st, 2, nonempty(g->org));
		qf__stmt_bind_str(st, 3, names[i]);
		qf__stmt_bind_double(st, 4, values[i]);
		qf__stmt_bind_str(st, 5, units[i]);
		qf__stmt_bind_str(st, 6, tag_s);
		qf__stmt_bind_str(st, 7, ts);
		rc = qf__stmt_done(st, err);
	}
	qf__stmt_finalize(st);
	free(tag_s);
	return rc;
}

/* [[x, y, z], ...] of the attempt's last geometry, or NULL. */
static char *last_geometry(const qf_job *j, int natoms)
{
	const qf_result *r = &j->result;
	if (!r->geometry || r->natoms <= 0 || r->natoms != natoms)
		return NULL;
	json_t *arr = json_array();
	for (int a = 0; arr && a < r->natoms; a++) {
		double x = r->geometry[3 * a], y = r->geometry[3 * a + 1], z = r->geometry[3 * a + 2];
		if (!isfinite(x) || !isfinite(y) || !isfinite(z)) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, json_pack("[fff]", x, y, z));
	}
	char *s = arr ? json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	json_decref(arr);
	return s;
}

typedef enum resume_mode { RESUME_KEEP = 0, RESUME_SET, RESUME_CLEAR } resume_mode;

/* The calculation row after the attempt: its results (QF__RESULT_COLS),
 * its new state, the lease gone; when queued again, not_before, the next
 * attempt's spec and where it starts from. */
static int update_job(qf__db *db, const qf_job *j, const char *status, double now, double not_before,
                      const qf_spec *next_spec, resume_mode resume, const char *resume_json,
                      qf_err *err)
{
	bool pg = qf__db_dialect(db) == QF__PG;
	const char *J = pg ? "?::jsonb" : "?";
	static const char *const cols[] = {QF__RESULT_COLS};
	qf_buf sql;
	qf_buf_init(&sql, 8192);
	int rc = qf_buf_puts(&sql, "UPDATE calculations SET ");
	for (int i = 0; i < QF__N_RESULT_COLS && !rc; i++)
		rc = qf_buf_printf(&sql, "%s\"%s\" = %s", i ? ", " : "", cols[i],
		                   !strcmp(cols[i], "results") ? J : "?");
	if (!rc)
		rc = qf_buf_printf(&sql, ", not_before = ?, lease_owner = NULL, lease_expires_at = NULL, "
		                         "lease_token = NULL, cancel_requested = %s",
		                   pg ? "false" : "0");
	if (!rc && next_spec)
		rc = qf_buf_printf(&sql, ", method = ?, task = ?, optimization_level = ?, "
		                         "solvation_model = ?, solvent = ?, parameters = %s, spec = %s",
		                   J, J);
	if (!rc && resume != RESUME_KEEP)
		rc = qf_buf_printf(&sql, ", resume_coordinates = %s", J);
	if (!rc)
		rc = qf_buf_puts(&sql, " WHERE id = ?");
	if (rc) {
		qf_buf_release(&sql);
		return qf__oom(err);
	}
	qf__stmt *st;
	rc = qf__db_prepare(db, qf_buf_str(&sql), &st, err);
	qf_buf_release(&sql);
	if (rc)
		return rc;
	/* The results as record_jobs writes them: bound in order through a
	 * one-row "bulk" over the statement. */
	qf__bulk b;
	memset(&b, 0, sizeof(b));
	b.st = st;
	b.ncols = QF__N_RESULT_COLS;
	if ((rc = qf__record_results(&b, j, status, now, err))) {
		qf__stmt_finalize(st);
		return rc;
	}
	int i = b.cur + 1;
	if (not_before > 0) {
		char nb[QF_TIME_STR];
		qf__time_format(not_before, nb);
		qf__stmt_bind_str(st, i++, nb);
	} else {
		qf__stmt_bind_null(st, i++);
	}
	char *params = NULL, *spec = NULL;
	if (next_spec) {
		json_t *pj = qf__spec_parameters(next_spec), *sj = qf_spec_to_json(next_spec);
		params = pj ? json_dumps(pj, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
		spec = sj ? json_dumps(sj, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
		json_decref(pj);
		json_decref(sj);
		if (!params || !spec) {
			free(params);
			free(spec);
			qf__stmt_finalize(st);
			return qf__oom(err);
		}
		const qf_spec *sp = next_spec;
		qf__stmt_bind_str(st, i++, qf_method_name(sp->method));
		qf__stmt_bind_str(st, i++, qf_task_name(sp->task));
		qf__stmt_bind_str(st, i++, qf_level_name(sp->level));
		qf__stmt_bind_str(st, i++,
		                  sp->solvation != QF_SOLV_NONE ? qf_solvation_name(sp->solvation) : NULL);
		qf__stmt_bind_str(st, i++, sp->solvation != QF_SOLV_NONE ? nonempty(sp->solvent) : NULL);
		qf__stmt_bind_str(st, i++, params);
		qf__stmt_bind_str(st, i++, spec);
	}
	if (resume != RESUME_KEEP)
		qf__stmt_bind_str(st, i++, resume == RESUME_SET ? resume_json : NULL);
	qf__stmt_bind_str(st, i++, j->id);
	rc = qf__stmt_done(st, err);
	qf__stmt_finalize(st);
	free(params);
	free(spec);
	return rc;
}

int qf_store_finish(qf_store *s, const qf_claim *c, const qf_job *job, const qf_retry *retry,
                    const char *worker, qf_err *err)
{
	int rc = check_claim(c, "finish", err);
	if (rc || (rc = check_worker(worker, false, err)))
		return rc;
	if (!job)
		return invalid(err, "finish: no job given");
	if (strcmp(job->id, c->id) || job->attempt != c->attempt)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "finish: the job (%s attempt %d) is not the claimed one (%s attempt %d)",
		                  job->id, job->attempt, c->id, c->attempt);
	if (job->status != QF_JOB_COMPLETED && job->status != QF_JOB_FAILED &&
	    job->status != QF_JOB_CANCELLED)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "finish: job %s is %s; a finished job is completed, failed or cancelled",
		                  job->id, qf_job_status_name(job->status));
	if (job->result.natoms < 0 || job->result.natoms > QF_MAX_ATOMS)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "finish: job %s has %d result atoms", job->id, job->result.natoms);
	bool cancelled = job->status == QF_JOB_CANCELLED;
	bool ok = !cancelled && job->status == QF_JOB_COMPLETED && !qf_err_is_set(&job->error);
	bool failed = !cancelled && !ok;
	if (failed && retry && retry->retry) {
		if (!(retry->delay >= 0) || !(retry->delay <= QF_QUEUE_MAX_RETRY_DELAY_S))
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "finish: a retry delay must be 0 to %g seconds",
			                  QF_QUEUE_MAX_RETRY_DELAY_S);
		if ((rc = qf_spec_validate(&retry->spec, err))) {
			qf_err_prefix(err, "finish: the spec of the retry");
			return rc;
		}
	}
	/* A failure without an error says nothing: it gets one. */
	qf_job j = *job;
	if (failed && !qf_err_is_set(&j.error))
		qf_err_set(&j.error, QF_CAT_UNKNOWN, "queue.no_error",
		           "the attempt failed without saying why");

	double now = qf_clock_now();
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	if ((rc = qf__tx_begin(s, &sys, true, &tx, err)))
		return rc;
	guarded g;
	bool held = false;
	json_t *history = NULL;
	char *resume_json = NULL;
	if ((rc = guard(tx.db, c, &g, &held, err)))
		goto out;
	if (!held) {
		rc = stale(c, err);
		goto out;
	}
	if (g.swept && (rc = unsweep(tx.db, c, &g, now, err)))
		goto out;

	/* The new state. */
	const char *status;
	bool again = false;
	if (cancelled) {
		status = "cancelled";
	} else if (ok) {
		status = "completed";
	} else if (retry && retry->retry && c->attempt < g.max_attempts && !g.cancel_requested) {
		status = "queued";
		again = true;
	} else {
		status = g.cancel_requested ? "cancelled" : "failed";
	}
	resume_mode resume = RESUME_CLEAR;
	if (again && retry->resume_geometry) {
		resume_json = last_geometry(&j, g.natoms);
		/* no geometry from this attempt: keep where the previous one was */
		resume = resume_json ? RESUME_SET : RESUME_KEEP;
	} else if (!again && !ok) {
		resume = RESUME_KEEP;
	}
	if ((rc = update_job(tx.db, &j, status, now,
	                     again ? now + retry->delay : 0, again ? &retry->spec : NULL, resume,
	                     resume_json, err)))
		goto out;

	/* The attempt's rows: atoms, metrics (with the worker and the logs),
	 * and for a failed attempt its error with the history so far. */
	qf__attempt_rows ar = {.owner = g.owner,
	                       .org = nonempty(g.org),
	                       .worker = worker,
	                       .keep_logs = j.dir[0] != '\0',
	                       .failed = failed,
	                       .now = now};
	if (failed) {
		if ((rc = history_so_far(tx.db, c->id, &history, err)))
			goto out;
		char at[QF_TIME_STR];
		qf__time_format(now, at);
		json_t *entry = json_pack("{s:i,s:s,s:s,s:o,s:o}", "attempt", c->attempt, "at", at,
		                          "error_code", j.error.code[0] ? j.error.code : "unknown",
		                          "delay_seconds", again ? json_real(retry->delay) : json_null(),
		                          "remedy",
		                          retry && retry->remedy[0] ? json_string(retry->remedy)
		                                                    : json_null());
		if (!entry || json_array_append_new(history, entry)) {
			rc = qf__oom(err);
			goto out;
		}
		ar.history = history;
		ar.resolution = again ? "auto_retry" : NULL;
	}
	if ((rc = qf__record_attempt(tx.db, &j, &ar, err)) ||
	    (rc = add_samples(tx.db, &j, &g, status, now, err)))
		goto out;

	if (g.batch[0]) {
		qf__bjp_delta d;
		memset(&d, 0, sizeof(d));
		bool final_failure = !strcmp(status, "failed");
		d.successful = ok;
		d.failed = final_failure;
		qf_category cat = j.error.category;
		d.timeout = final_failure && cat == QF_CAT_TIMEOUT;
		d.convergence = final_failure && cat == QF_CAT_CONVERGENCE;
		if (failed) {
			d.error_type = qf_category_name(cat == QF_CAT_NONE ? QF_CAT_UNKNOWN : cat);
			d.errors = 1;
		}
		d.ran = qf__job_ran(&j);
		d.started_at = j.started_at;
		d.finished_at = j.finished_at > 0 ? j.finished_at : now;
		d.wall = j.metrics.wall_time;
		d.cpu = j.metrics.cpu_time;
		d.memory = j.metrics.memory_peak_mb;
		d.worker = worker;
		if ((rc = qf__bjp_apply(tx.db, g.batch, &d, now, err)))
			goto out;
		if (!again && (rc = qf__batch_settle(tx.db, g.batch, now, err)))
			goto out;
	} else if (!again && !cancelled && (rc = qf__outbox_calculation(tx.db, c->id, now, err))) {
		goto out;
	}
out:
	json_decref(history);
	free(resume_json);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}

/* ---- release ---------------------------------------------------------------------------- */

int qf_store_release(qf_store *s, const qf_claim *c, qf_err *err)
{
	int rc = check_claim(c, "release", err);
	if (rc)
		return rc;
	double now = qf_clock_now();
	char ts[QF_TIME_STR];
	qf__time_format(now, ts);
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	if ((rc = qf__tx_begin(s, &sys, true, &tx, err)))
		return rc;
	guarded g;
	bool held = false;
	if ((rc = guard(tx.db, c, &g, &held, err)))
		goto out;
	if (!held) {
		rc = stale(c, err);
		goto out;
	}
	if (g.swept && (rc = unsweep(tx.db, c, &g, now, err)))
		goto out;
	/* Back to the queue, this attempt not counted; a job someone asked to
	 * cancel is cancelled instead. */
	qf__stmt *st;
	if ((rc = qf__db_prepare(tx.db,
	                         "UPDATE calculations SET status = ?, attempt = attempt - 1, "
	                         "lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, "
	                         "finished_at = ?, updated_at = ? WHERE id = ?",
	                         &st, err)))
		goto out;
	qf__stmt_bind_str(st, 1, g.cancel_requested ? "cancelled" : "queued");
	qf__stmt_bind_str(st, 2, g.cancel_requested ? ts : NULL);
	qf__stmt_bind_str(st, 3, ts);
	qf__stmt_bind_str(st, 4, c->id);
	rc = qf__stmt_done(st, err);
	qf__stmt_finalize(st);
	if (!rc && g.cancel_requested && g.batch[0])
		rc = qf__batch_settle(tx.db, g.batch, now, err);
out:
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}

/* ---- sweep ------------------------------------------------------------------------------- */

typedef struct swept {
	char id[QF_UUID_STR];
	char batch[QF_UUID_STR];
	bool failed;
	bool errored; /* its worker_lost row was written */
} swept;

typedef struct sweep_list {
	swept *v;
	size_t n, cap;
} sweep_list;

static int collect(qf__stmt *st, sweep_list *l, bool failed, qf_err *err)
{
	int rc = qf__stmt_step(st, err);
	while (rc == 1) {
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 64;
			swept *v = realloc(l->v, cap * sizeof(*v));
			if (!v)
				return qf__oom(err);
			l->v = v;
			l->cap = cap;
		}
		swept *w = &l->v[l->n++];
		memset(w, 0, sizeof(*w));
		const char *id = qf__stmt_col_text(st, 0, NULL), *b = qf__stmt_col_text(st, 1, NULL);
		qf_strlcpy(w->id, id ? id : "", sizeof(w->id));
		qf_strlcpy(w->batch, b ? b : "", sizeof(w->batch));
		w->failed = failed;
		rc = qf__stmt_step(st, err);
	}
	return rc;
}

static int cmp_swept(const void *x, const void *y)
{
	const swept *a = x, *b = y;
	int c = strcmp(a->batch, b->batch);
	return c ? c : strcmp(a->id, b->id);
}

static int cmp_swept_id(const void *x, const void *y)
{
	return strcmp(((const swept *)x)->id, ((const swept *)y)->id);
}

/* One worker_lost row per swept job, with its retry history, in one
 * statement; marks the jobs whose row was written. */
static int sweep_errors(qf__db *db, sweep_list *l, double now, qf_err *err)
{
	bool pg = qf__db_dialect(db) == QF__PG;
	qf_buf list;
	qf_buf_init(&list, l->n * (QF_UUID_STR + 4) + 8);
	int rc = qf_buf_puts(&list, pg ? "{" : "[");
	for (size_t i = 0; i < l->n && !rc; i++)
		rc = qf_buf_printf(&list, pg ? "%s%s" : "%s\"%s\"", i ? "," : "", l->v[i].id);
	if (!rc)
		rc = qf_buf_puts(&list, pg ? "}" : "]");
	if (rc) {
		qf_buf_release(&list);
		return qf__oom(err);
	}
	char ts[QF_TIME_STR];
	qf__time_format(now, ts);
	static const char msg[] = "the worker running this attempt stopped renewing its lease (it "
	                          "crashed, hung or lost the store)";
	static const char again[] = "queued again for another worker";
	static const char last[] = "not retried: its attempts are used up";
	char sql[4096];
	const char *T = cast(pg, "text"), *TS = cast(pg, "timestamptz");
	if (pg)
		snprintf(sql, sizeof(sql),
		         "INSERT INTO calculation_errors (calculation_id, attempt, owner_id, org_id, "
		         "error_type, error_severity, error_message, error_code, retry_count, retry_attempts, "
		         "user_action_required, resolution, created_at) SELECT c.id, c.attempt, c.owner_id, "
		         "c.org_id, 'system', 'critical', %s, 'queue.worker_lost', greatest(c.attempt - 1, 0), "
		         "coalesce((SELECT e.retry_attempts FROM calculation_errors e WHERE e.calculation_id = "
		         "c.id ORDER BY e.attempt DESC LIMIT 1), '[]'::jsonb) || jsonb_build_array("
		         "jsonb_build_object('attempt', c.attempt, 'at', %s, 'error_code', 'queue.worker_lost', "
		         "'delay_seconds', CASE WHEN c.status = 'queued' THEN 0 END, 'remedy', CASE WHEN "
		         "c.status = 'queued' THEN %s ELSE %s END)), false, CASE WHEN c.status = 'queued' THEN "
		         "'auto_retry' END, %s FROM calculations c WHERE c.id = ANY(?::uuid[]) "
		         "ON CONFLICT (calculation_id, attempt) DO NOTHING RETURNING calculation_id",
		         T, T, T, T, TS);
	else
		snprintf(sql, sizeof(sql),
		         "INSERT INTO calculation_errors (calculation_id, attempt, owner_id, org_id, "
		         "error_type, error_severity, error_message, error_code, retry_count, retry_attempts, "
		         "user_action_required, resolution, created_at) SELECT c.id, c.attempt, c.owner_id, "
		         "c.org_id, 'system', 'critical', ?, 'queue.worker_lost', max(c.attempt - 1, 0), "
		         "json_insert(coalesce((SELECT e.retry_attempts FROM calculation_errors e WHERE "
		         "e.calculation_id = c.id ORDER BY e.attempt DESC LIMIT 1), '[]'), '$[#]', "
		         "json_object('attempt', c.attempt, 'at', ?, 'error_code', 'queue.worker_lost', "
		         "'delay_seconds', CASE WHEN c.status = 'queued' THEN 0 END, 'remedy', CASE WHEN "
		         "c.status = 'queued' THEN ? ELSE ? END)), 0, CASE WHEN c.status = 'queued' THEN "
		         "'auto_retry' END, ? FROM calculations c WHERE c.id IN (SELECT value FROM "
		         "json_each(?)) ON CONFLICT (calculation_id, attempt) DO NOTHING RETURNING "
		         "calculation_id");
	qf__stmt *st;
	rc = qf__db_prepare(db, sql, &st, err);
	if (rc) {
		qf_buf_release(&list);
		return rc;
	}
	qf__stmt_bind_str(st, 1, msg);
	qf__stmt_bind_str(st, 2, ts);
	qf__stmt_bind_str(st, 3, again);
	qf__stmt_bind_str(st, 4, last);
	qf__stmt_bind_str(st, 5, ts);
	qf__stmt_bind_text(st, 6, list.data, list.len);
	qsort(l->v, l->n, sizeof(*l->v), cmp_swept_id);
	rc = qf__stmt_step(st, err);
	while (rc == 1) {
		swept key;
		memset(&key, 0, sizeof(key));
		const char *id = qf__stmt_col_text(st, 0, NULL);
		qf_strlcpy(key.id, id ? id : "", sizeof(key.id));
		swept *w = bsearch(&key, l->v, l->n, sizeof(*l->v), cmp_swept_id);
		if (w)
			w->errored = true;
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	qf_buf_release(&list);
	return rc;
}

int qf_store_sweep(qf_store *s, double now, int *requeued, int *failed, qf_err *err)
{
	if (requeued)
		*requeued = 0;
	if (failed)
		*failed = 0;
	if (!(now > 0) || !isfinite(now))
		return invalid(err, "a sweep needs the current time in seconds since 1970");
	char ts[QF_TIME_STR];
	qf__time_format(now, ts);
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	int rc = qf__tx_begin(s, &sys, true, &tx, err);
	if (rc)
		return rc;
	sweep_list l = {0};
	size_t nq = 0;
	qf__stmt *st = NULL;
	/* Requeue (the token stays: a late finish of this attempt is still
	 * taken, until someone claims the job) ... */
	if ((rc = qf__db_prepare(tx.db,
	                         "UPDATE calculations SET status = 'queued', lease_owner = NULL, "
	                         "lease_expires_at = NULL, not_before = NULL, updated_at = ? WHERE "
	                         "status = 'running' AND lease_expires_at < ? AND attempt < max_attempts "
	                         "RETURNING id, batch_id",
	                         &st, err)))
		goto out;
	qf__stmt_bind_str(st, 1, ts);
	qf__stmt_bind_str(st, 2, ts);
	if ((rc = collect(st, &l, false, err)))
		goto out;
	nq = l.n;
	qf__stmt_finalize(st);
	st = NULL;
	/* ... or fail, when the attempts are used up. */
	if ((rc = qf__db_prepare(tx.db,
	                         "UPDATE calculations SET status = 'failed', lease_owner = NULL, "
	                         "lease_token = NULL, lease_expires_at = NULL, error_category = 'system', "
	                         "error_code = 'queue.worker_lost', error_message = ?, finished_at = ?, "
	                         "updated_at = ? WHERE status = 'running' AND lease_expires_at < ? "
	                         "RETURNING id, batch_id",
	                         &st, err)))
		goto out;
	qf__stmt_bind_str(st, 1, "the worker running its last attempt stopped renewing its lease (it "
	                         "crashed, hung or lost the store): run it again with "
	                         "qforge batch retry");
	qf__stmt_bind_str(st, 2, ts);
	qf__stmt_bind_str(st, 3, ts);
	qf__stmt_bind_str(st, 4, ts);
	if ((rc = collect(st, &l, true, err)))
		goto out;
	qf__stmt_finalize(st);
	st = NULL;
	if (!l.n)
		goto out;
	if ((rc = sweep_errors(tx.db, &l, now, err)))
		goto out;
	/* The batches' statistics and states, batch by batch in id order. */
	qsort(l.v, l.n, sizeof(*l.v), cmp_swept);
	for (size_t i = 0; i < l.n;) {
		size_t k = i;
		qf__bjp_delta d;
		memset(&d, 0, sizeof(d));
		d.error_type = "system";
		bool any_failed = false;
		for (; k < l.n && !strcmp(l.v[k].batch, l.v[i].batch); k++) {
			d.errors += l.v[k].errored;
			d.failed += l.v[k].failed;
			any_failed |= l.v[k].failed;
		}
		if (l.v[i].batch[0]) {
			if ((rc = qf__bjp_apply(tx.db, l.v[i].batch, &d, now, err)))
				goto out;
			if (any_failed && (rc = qf__batch_settle(tx.db, l.v[i].batch, now, err)))
				goto out;
		} else {
			/* a job of no batch that failed for good notifies its owner */
			for (size_t m = i; m < k; m++)
				if (l.v[m].failed && (rc = qf__outbox_calculation(tx.db, l.v[m].id, now, err)))
					goto out;
		}
		i = k;
	}
out:
	qf__stmt_finalize(st);
	size_t total = l.n;
	free(l.v);
	if (!rc)
		rc = qf__tx_commit(&tx, err);
	else
		qf__tx_rollback(&tx);
	if (rc)
		return rc;
	if (requeued)
		*requeued = (int)nq;
	if (failed)
		*failed = (int)(total - nq);
	if (total)
		qf_log_info("queue", "sweep: %zu expired leases (%zu queued again, %zu failed)", total, nq,
		            total - nq);
	return 0;
}

/* ---- counts ------------------------------------------------------------------------------ */

int qf_store_queue_counts(qf_store *s, const qf_actor *a, const char *batch_id, qf_queue_counts *c,
                          qf_err *err)
{
	if (!c)
		return invalid(err, "queue counts need somewhere to go");
	memset(c, 0, sizeof(*c));
	if (batch_id && !qf_uuid_valid(batch_id))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "batch id '%s' is not a lowercase UUID", batch_id);
	if (a->kind == QF_ACTOR_ANONYMOUS)
		return 0;
	double now = qf_clock_now();
	qf__query q;
	qf__query_init(&q, s->dialect);
	qf__query_sql(&q, "SELECT status, count(*), coalesce(sum(CASE WHEN status = 'queued' AND "
	                  "(not_before IS NULL OR not_before <= ");
	qf__query_time(&q, now);
	qf__query_sql(&q, ") THEN 1 ELSE 0 END), 0), min(not_before) FROM calculations WHERE ");
	if (batch_id) {
		qf__query_sql(&q, "batch_id = ");
		qf__query_text(&q, batch_id);
		qf__query_sql(&q, " AND ");
	}
	qf__scope_where(&q, qf__catalog_find("calculations"), a, QF__OP_READ);
	qf__query_sql(&q, " GROUP BY status");
	qf__tx tx;
	int rc = qf__tx_begin(s, a, false, &tx, err);
	if (rc) {
		qf__query_release(&q);
		return rc;
	}
	qf__stmt *st = NULL;
	rc = qf__query_run(&q, tx.db, &st, err);
	while (rc == 1) {
		const char *status = qf__stmt_col_text(st, 0, NULL);
		int64_t k = qf__stmt_col_int64(st, 1);
		if (!status)
			status = "";
		if (!strcmp(status, "queued")) {
			c->queued = k;
			c->ready = qf__stmt_col_int64(st, 2);
			c->next_ready_at = qf__stmt_col_time(st, 3);
		} else if (!strcmp(status, "running")) {
			c->running = k;
		} else if (!strcmp(status, "completed")) {
			c->completed = k;
		} else if (!strcmp(status, "failed")) {
			c->failed = k;
		} else if (!strcmp(status, "cancelled")) {
			c->cancelled = k;
		}
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	if (rc) {
		qf__tx_rollback(&tx);
		memset(c, 0, sizeof(*c));
		return rc;
	}
	return qf__tx_commit(&tx, err);
}
