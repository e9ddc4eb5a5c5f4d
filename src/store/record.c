/*
 * Recording finished jobs (qf_store_record_jobs): the hot path.
 *
 * All n jobs go in one transaction. Per job: the molecule (found by owner,
 * organisation and geometry hash, else inserted), the calculation (id = job
 * id; inserted, or updated when this is a newer attempt or the row was
 * still queued/running), one atomic_properties row per atom,
 * calculation_execution_metrics for (calculation, attempt) and, for a
 * failed attempt, calculation_errors. Recording the same job again changes
 * nothing: a calculation already at that attempt and finished is skipped,
 * and the per-attempt rows are inserted with ON CONFLICT DO NOTHING.
 *
 * Owner: the acting user; for the system actor (a worker) an existing
 * calculation keeps its owner, organisation and molecule, and a new one
 * belongs to the built-in local user.
 *
 * Speed: the statements are prepared once per call and reused for every
 * job (PostgreSQL: prepared on the server, see pg.c). Atoms go one row per
 * statement execution on SQLite (cheap: no round trip), and on PostgreSQL
 * as arrays through INSERT ... SELECT FROM unnest(...), many jobs per
 * statement (COPY FROM is refused for tables with row-level security).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qf/fs.h"
#include "qf/log.h"
#include "qf/str.h"
#include "qf/uuid.h"
#include "store_int.h"

/* Atom rows per PostgreSQL unnest statement: ~13 arrays of up to 25 bytes
 * per value, a few MB per statement. */
#define PG_ATOM_CHUNK 20000

/* Bytes of one array literal (PG_ATOM_CHUNK values of at most 40 bytes). */
#define PG_ARRAY_CAP ((size_t)PG_ATOM_CHUNK * 48 + 64)

enum { A_CALC, A_INDEX, A_OWNER, A_ORG, A_Z, A_ELEM, A_X, A_Y, A_ZZ, A_Q, A_FX, A_FY, A_FZ, A_N };

typedef struct rec {
	qf_store *s;
	qf__db *db;
	const qf_actor *a;
	const qf_record_opts *o;
	bool pg;
	double now;
	/* statements, prepared on first use */
	qf__query find_calc_q; /* its first parameter is cur_id */
	char cur_id[QF_UUID_STR];
	qf__stmt *find_calc, *find_mol, *find_mol_org, *ins_mol, *ins_calc, *upd_calc, *del_atoms;
	qf__stmt *ins_atom, *ins_cem, *ins_err;
	/* PostgreSQL atom arrays */
	qf_buf arr[A_N];
	int natoms_pending;
} rec;

static int oom(qf_err *err)
{
	return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
}

static int prep(rec *r, qf__stmt **st, const char *sql, qf_err *err)
{
	if (*st) {
		qf__stmt_reset(*st);
		return 0;
	}
	return qf__db_prepare(r->db, sql, st, err);
}

/* Run a statement that returns no rows. */
static int done(qf__stmt *st, qf_err *err)
{
	int rc = qf__stmt_step(st, err);
	while (rc > 0)
		rc = qf__stmt_step(st, err);
	return rc;
}

/* ---- bind helpers (i advances) ------------------------------------------- */

static void b_text(qf__stmt *st, int *i, const char *s)
{
	if (s)
		qf__stmt_bind_text(st, (*i)++, s, strlen(s));
	else
		qf__stmt_bind_null(st, (*i)++);
}

static void b_text_nonempty(qf__stmt *st, int *i, const char *s)
{
	b_text(st, i, s && *s ? s : NULL);
}

static void b_int(qf__stmt *st, int *i, int64_t v)
{
	qf__stmt_bind_int64(st, (*i)++, v);
}

static void b_int_opt(qf__stmt *st, int *i, bool has, int64_t v)
{
	if (has)
		qf__stmt_bind_int64(st, (*i)++, v);
	else
		qf__stmt_bind_null(st, (*i)++);
}

static void b_real_opt(qf__stmt *st, int *i, bool has, double v)
{
	if (has && isfinite(v))
		qf__stmt_bind_double(st, (*i)++, v);
	else
		qf__stmt_bind_null(st, (*i)++);
}

static void b_bool_opt(qf__stmt *st, int *i, bool has, bool v)
{
	if (has)
		qf__stmt_bind_bool(st, (*i)++, v);
	else
		qf__stmt_bind_null(st, (*i)++);
}

static void b_time(qf__stmt *st, int *i, double t)
{
	if (t > 0) {
		char ts[QF_TIME_STR];
		qf__time_format(t, ts);
		qf__stmt_bind_text(st, (*i)++, ts, strlen(ts));
	} else {
		qf__stmt_bind_null(st, (*i)++);
	}
}

/* A JSON value as text (NULL binds SQL NULL); takes the reference. */
static int b_json(qf__stmt *st, int *i, json_t *v, qf_err *err)
{
	if (!v || json_is_null(v)) {
		json_decref(v);
		qf__stmt_bind_null(st, (*i)++);
		return 0;
	}
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
	json_decref(v);
	if (!s)
		return oom(err);
	size_t n = strlen(s);
	if (n > (size_t)QF_STORE_MAX_JSON) {
		free(s);
		return qf_err_set(err, QF_CAT_VALIDATION, "store.too_large",
		                  "a JSON document of the job is %zu bytes, more than the %ld allowed", n,
		                  (long)QF_STORE_MAX_JSON);
	}
	qf__stmt_bind_text(st, (*i)++, s, n);
	free(s);
	return 0;
}

/* ---- what a job says ------------------------------------------------------ */

static bool job_ran(const qf_job *j)
{
	return j->started_at > 0 || j->metrics.exit_code >= 0 || j->metrics.term_signal ||
	       j->metrics.timed_out;
}

static const char *severity(qf_category c)
{
	switch (c) {
	case QF_CAT_SYSTEM: return "critical";
	case QF_CAT_TIMEOUT: return "warning";
	default: return "error";
	}
}

/* The spec's options that are not columns of their own. */
static json_t *spec_parameters(const qf_spec *sp)
{
	json_t *p = qf_spec_to_json(sp);
	if (!p)
		return NULL;
	static const char *const cols[] = {"task", "level", "method", "alpb", "gbsa", "charge", "uhf"};
	for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++)
		json_object_del(p, cols[k]);
	return p;
}

static bool has_results(const qf_result *res)
{
	return res->has_energy || res->has_gap || res->natoms > 0 || res->has_dipole;
}

/* The tail of a log file of the job, sanitised, or NULL. */
static char *read_log(const char *dir, const char *name)
{
	char path[QF_MAX_PATH];
	if (qf_fs_join(path, sizeof(path), dir, name))
		return NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat stt;
	if (fstat(fd, &stt) || !S_ISREG(stt.st_mode)) {
		close(fd);
		return NULL;
	}
	static const char marker[] = "[... earlier output truncated ...]\n";
	size_t keep = (size_t)QF_STORE_MAX_LOG_BYTES - sizeof(marker);
	size_t size = (size_t)stt.st_size;
	size_t off = size > keep ? size - keep : 0;
	size_t want = size - off;
	size_t pre = off ? sizeof(marker) - 1 : 0;
	char *buf = malloc(pre + want + 1);
	if (!buf) {
		close(fd);
		return NULL;
	}
	memcpy(buf, marker, pre);
	size_t got = 0;
	while (got < want) {
		ssize_t k = pread(fd, buf + pre + got, want - got, (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	buf[pre + got] = '\0';
	qf__text_sanitize(buf, pre + got);
	return buf;
}

/* ---- statements ------------------------------------------------------------ */

/* The calculation as it is, if visible: owner, org, molecule, attempt,
 * status, and whether the actor may change it. */
static int find_calc(rec *r, const char *id, bool *found, json_t **cur, bool *writable, qf_err *err)
{
	*found = false;
	*cur = NULL;
	int rc;
	/* The id parameter points at cur_id: prepared once, bound per job. */
	qf_strlcpy(r->cur_id, id, sizeof(r->cur_id));
	qf__query *q = &r->find_calc_q;
	if (!r->find_calc) {
		const qf__table *t = qf__catalog_find("calculations");
		qf__query_sql(q, "SELECT owner_id, org_id, molecule_id, attempt, status, ");
		qf__scope_where(q, t, r->a, QF__OP_UPDATE);
		qf__query_sql(q, " FROM calculations WHERE id = ");
		qf__query_text(q, r->cur_id);
		qf__query_sql(q, " AND ");
		qf__scope_where(q, t, r->a, QF__OP_READ);
		if ((rc = qf__query_prepare(q, r->db, &r->find_calc, err)))
			return rc;
	} else {
		qf__stmt_reset(r->find_calc);
		for (int i = 0; i < q->n; i++) {
			if (q->p[i].s == r->cur_id)
				q->p[i].len = strlen(r->cur_id);
			qf__param_bind(&q->p[i], r->find_calc, i + 1);
		}
	}
	qf__stmt *st = r->find_calc;
	rc = qf__stmt_step(st, err);
	if (rc <= 0)
		return rc;
	*found = true;
	*writable = qf__stmt_col_bool(st, 5);
	*cur = json_pack("{s:s?,s:s?,s:s?,s:I,s:s?}", "owner_id", qf__stmt_col_text(st, 0, NULL),
	                 "org_id", qf__stmt_col_text(st, 1, NULL), "molecule_id",
	                 qf__stmt_col_text(st, 2, NULL), "attempt",
	                 (json_int_t)qf__stmt_col_int64(st, 3), "status", qf__stmt_col_text(st, 4, NULL));
	if (!*cur)
		return oom(err);
	/* Finish the statement before others run on the connection. */
	while ((rc = qf__stmt_step(st, err)) > 0)
		;
	if (rc) {
		json_decref(*cur);
		*cur = NULL;
	}
	return rc;
}

/* Find the molecule of this owner/org/geometry, or insert it. */
static int molecule_id(rec *r, const qf_job *j, const char *owner, const char *org, char out[QF_UUID_STR],
                       qf_err *err)
{
	qf__stmt **st = org ? &r->find_mol_org : &r->find_mol;
	int rc = prep(r, st,
	              org ? "SELECT id FROM molecules WHERE geometry_sha256 = ? AND owner_id = ? AND org_id = ? "
	                    "ORDER BY created_at, id LIMIT 1"
	                  : "SELECT id FROM molecules WHERE geometry_sha256 = ? AND owner_id = ? AND org_id "
	                    "IS NULL ORDER BY created_at, id LIMIT 1",
	              err);
	if (rc)
		return rc;
	int i = 1;
	b_text(*st, &i, j->geometry_sha256);
	b_text(*st, &i, owner);
	if (org)
		b_text(*st, &i, org);
	rc = qf__stmt_step(*st, err);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		const char *id = qf__stmt_col_text(*st, 0, NULL);
		qf_strlcpy(out, id ? id : "", QF_UUID_STR);
		return done(*st, err);
	}

	const qf_mol *m = &j->mol;
	if ((rc = prep(r, &r->ins_mol,
	               "INSERT INTO molecules (id, owner_id, org_id, name, formula, natoms, charge, uhf, "
	               "atomic_numbers, coordinates, input_format, input_sha256, geometry_sha256, smiles, "
	               "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	               err)))
		return rc;
	qf_uuid_v7(out);
	char formula[1024];
	qf_mol_formula(m, formula, sizeof(formula));
	json_t *zs = json_array(), *xyz = json_array();
	if (!zs || !xyz) {
		json_decref(zs);
		json_decref(xyz);
		return oom(err);
	}
	for (int k = 0; k < m->natoms; k++) {
		json_array_append_new(zs, json_integer(m->z[k]));
		json_array_append_new(xyz, json_pack("[fff]", m->xyz[3 * k], m->xyz[3 * k + 1],
		                                     m->xyz[3 * k + 2]));
	}
	char name[QF_MAX_NAME];
	qf_strlcpy(name, j->name[0] ? j->name : (m->name[0] ? m->name : formula), sizeof(name));
	qf__text_sanitize(name, strlen(name));
	i = 1;
	b_text(r->ins_mol, &i, out);
	b_text(r->ins_mol, &i, owner);
	b_text(r->ins_mol, &i, org);
	b_text(r->ins_mol, &i, name);
	b_text(r->ins_mol, &i, formula);
	b_int(r->ins_mol, &i, m->natoms);
	b_int(r->ins_mol, &i, m->charge);
	b_int(r->ins_mol, &i, m->uhf);
	if ((rc = b_json(r->ins_mol, &i, zs, err)) || (rc = b_json(r->ins_mol, &i, xyz, err)))
		return rc;
	b_text_nonempty(r->ins_mol, &i, j->input_format ? qf_format_name(j->input_format) : NULL);
	b_text(r->ins_mol, &i, j->input_sha256);
	b_text(r->ins_mol, &i, j->geometry_sha256);
	b_text_nonempty(r->ins_mol, &i, m->smiles);
	b_time(r->ins_mol, &i, r->now);
	return done(r->ins_mol, err);
}

/* The columns of a calculation that recording an attempt sets, bound from
 * *i on: status, attempt, total_energy, homo_lumo_gap, dipole_moment,
 * is_converged, gradient_norm, xtb_version, job_dir, results,
 * error_category, error_code, error_message, started_at, finished_at,
 * updated_at. */
#define RESULT_COLS                                                                         \
	"status, attempt, total_energy, homo_lumo_gap, dipole_moment, is_converged, "           \
	"gradient_norm, xtb_version, job_dir, results, error_category, error_code, error_message, " \
	"started_at, finished_at, updated_at"

static int bind_results(rec *r, qf__stmt *st, int *i, const qf_job *j, qf_err *err)
{
	const qf_result *res = &j->result;
	const qf_metrics *me = &j->metrics;
	bool failed = qf_err_is_set(&j->error);
	b_text(st, i, qf_job_status_name(j->status));
	b_int(st, i, j->attempt);
	b_real_opt(st, i, res->has_energy, res->total_energy);
	b_real_opt(st, i, res->has_gap, res->gap_ev);
	b_real_opt(st, i, res->has_dipole, res->dipole_debye);
	b_bool_opt(st, i, job_ran(j), me->is_converged);
	if (res->has_gradient_norm)
		b_real_opt(st, i, true, res->gradient_norm);
	else
		b_real_opt(st, i, me->has_gradient_norm, me->gradient_norm);
	b_text_nonempty(st, i, me->xtb_version);
	b_text_nonempty(st, i, j->dir);
	int rc = b_json(st, i, has_results(res) ? qf_result_to_json(res) : NULL, err);
	if (rc)
		return rc;
	char msg[QF_MAX_ERR_MSG];
	qf_strlcpy(msg, j->error.message, sizeof(msg));
	qf__text_sanitize(msg, strlen(msg));
	qf_category cat = j->error.category == QF_CAT_NONE ? QF_CAT_UNKNOWN : j->error.category;
	b_text(st, i, failed ? qf_category_name(cat) : NULL);
	b_text_nonempty(st, i, failed ? j->error.code : NULL);
	b_text_nonempty(st, i, failed ? msg : NULL);
	b_time(st, i, j->started_at);
	b_time(st, i, j->finished_at);
	b_time(st, i, j->finished_at > 0 ? j->finished_at : r->now);
	return 0;
}

/* A new calculation. An id that is already taken (by a row this actor
 * cannot see, or by a concurrent recorder) inserts nothing: *inserted
 * says. */
static int insert_calc(rec *r, const qf_job *j, const char *mol_id, const char *batch,
                       const char *owner, const char *org, bool *inserted, qf_err *err)
{
	int rc = prep(r, &r->ins_calc,
	              "INSERT INTO calculations (id, molecule_id, batch_id, owner_id, org_id, method, task, "
	              "optimization_level, solvation_model, solvent, charge, uhf, parameters, spec, "
	              "created_at, " RESULT_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	              "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
	              err);
	if (rc)
		return rc;
	qf__stmt *st = r->ins_calc;
	const qf_spec *sp = &j->spec;
	int i = 1;
	b_text(st, &i, j->id);
	b_text(st, &i, mol_id);
	b_text(st, &i, batch);
	b_text(st, &i, owner);
	b_text(st, &i, org);
	b_text(st, &i, qf_method_name(sp->method));
	b_text(st, &i, qf_task_name(sp->task));
	b_text(st, &i, qf_level_name(sp->level));
	b_text(st, &i, sp->solvation != QF_SOLV_NONE ? qf_solvation_name(sp->solvation) : NULL);
	b_text_nonempty(st, &i, sp->solvation != QF_SOLV_NONE ? sp->solvent : NULL);
	b_int(st, &i, j->mol.charge);
	b_int(st, &i, j->mol.uhf);
	json_t *params = spec_parameters(sp), *spec = qf_spec_to_json(sp);
	if (!params || !spec) {
		json_decref(params);
		json_decref(spec);
		return oom(err);
	}
	if ((rc = b_json(st, &i, params, err))) {
		json_decref(spec);
		return rc;
	}
	if ((rc = b_json(st, &i, spec, err)))
		return rc;
	b_time(st, &i, j->created_at > 0 ? j->created_at : r->now);
	if ((rc = bind_results(r, st, &i, j, err)) || (rc = done(st, err)))
		return rc;
	*inserted = qf__stmt_changes(st) > 0;
	return 0;
}

/* A newer attempt of a calculation the actor may change (checked by
 * find_calc in this transaction), or the end of a queued/running one. A
 * second completion of the same attempt changes nothing: *updated says. */
static int update_calc(rec *r, const qf_job *j, const char *batch, bool *updated, qf_err *err)
{
	int rc = prep(r, &r->upd_calc,
	              "UPDATE calculations SET batch_id = coalesce(?, batch_id), (" RESULT_COLS
	              ") = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), lease_owner = NULL, "
	              "lease_token = NULL, lease_expires_at = NULL WHERE id = ? AND (attempt < ? OR "
	              "(attempt = ? AND status IN ('queued', 'running')))",
	              err);
	if (rc)
		return rc;
	qf__stmt *st = r->upd_calc;
	int i = 1;
	b_text(st, &i, batch);
	if ((rc = bind_results(r, st, &i, j, err)))
		return rc;
	b_text(st, &i, j->id);
	b_int(st, &i, j->attempt);
	b_int(st, &i, j->attempt);
	if ((rc = done(st, err)))
		return rc;
	*updated = qf__stmt_changes(st) > 0;
	return 0;
}

/* ---- atoms --------------------------------------------------------------------- */

static void arr_sep(qf_buf *b)
{
	qf_buf_puts(b, b->len ? "," : "{");
}

static void arr_real(qf_buf *b, bool has, double v)
{
	arr_sep(b);
	if (has && isfinite(v))
		qf_buf_printf(b, "%.17g", v);
	else
		qf_buf_puts(b, "NULL");
}

static int flush_atoms(rec *r, qf_err *err)
{
	if (!r->natoms_pending)
		return 0;
	int rc = prep(r, &r->ins_atom,
	              "INSERT INTO atomic_properties (calculation_id, atom_index, owner_id, org_id, "
	              "atomic_number, element, x, y, z, partial_charge, force_x, force_y, force_z) "
	              "SELECT * FROM unnest(?::uuid[], ?::int[], ?::uuid[], ?::uuid[], ?::int[], "
	              "?::text[], ?::float8[], ?::float8[], ?::float8[], ?::float8[], ?::float8[], "
	              "?::float8[], ?::float8[]) ON CONFLICT DO NOTHING",
	              err);
	if (rc)
		return rc;
	for (int k = 0; k < A_N; k++) {
		if (qf_buf_puts(&r->arr[k], "}"))
			return oom(err);
		qf__stmt_bind_text(r->ins_atom, k + 1, r->arr[k].data, r->arr[k].len);
	}
	rc = done(r->ins_atom, err);
	for (int k = 0; k < A_N; k++)
		qf_buf_clear(&r->arr[k]);
	r->natoms_pending = 0;
	return rc;
}

static int insert_atoms(rec *r, const qf_job *j, const char *owner, const char *org, qf_err *err)
{
	const qf_result *res = &j->result;
	const qf_mol *m = &j->mol;
	if (!res->charges && !res->gradient && !res->geometry)
		return 0;
	int n = res->natoms;
	const int *z = res->z ? res->z : (n == m->natoms ? m->z : NULL);
	const double *xyz = res->geometry ? res->geometry : (n == m->natoms ? m->xyz : NULL);
	if (n <= 0 || !z || !xyz) {
		qf_log_warn("store", "job %s: per-atom results without atoms to attach them to", j->id);
		return 0;
	}
	int rc;
	if (!r->pg) {
		if ((rc = prep(r, &r->ins_atom,
		               "INSERT INTO atomic_properties (calculation_id, atom_index, owner_id, org_id, "
		               "atomic_number, element, x, y, z, partial_charge, force_x, force_y, force_z) "
		               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
		               err)))
			return rc;
		for (int a = 0; a < n; a++) {
			qf__stmt *st = r->ins_atom;
			if (a)
				qf__stmt_reset(st);
			const char *sym = qf_element_symbol(z[a]);
			int i = 1;
			b_text(st, &i, j->id);
			b_int(st, &i, a);
			b_text(st, &i, owner);
			b_text(st, &i, org);
			b_int(st, &i, z[a]);
			b_text(st, &i, sym ? sym : "X");
			qf__stmt_bind_double(st, i++, xyz[3 * a]);
			qf__stmt_bind_double(st, i++, xyz[3 * a + 1]);
			qf__stmt_bind_double(st, i++, xyz[3 * a + 2]);
			b_real_opt(st, &i, res->charges != NULL, res->charges ? res->charges[a] : 0);
			for (int k = 0; k < 3; k++)
				b_real_opt(st, &i, res->gradient != NULL, res->gradient ? -res->gradient[3 * a + k] : 0);
			if ((rc = done(st, err)))
				return rc;
		}
		return 0;
	}
	for (int a = 0; a < n; a++) {
		const char *sym = qf_element_symbol(z[a]);
		qf_buf *b = r->arr;
		arr_sep(&b[A_CALC]);
		qf_buf_puts(&b[A_CALC], j->id);
		arr_sep(&b[A_INDEX]);
		qf_buf_printf(&b[A_INDEX], "%d", a);
		arr_sep(&b[A_OWNER]);
		qf_buf_puts(&b[A_OWNER], owner);
		arr_sep(&b[A_ORG]);
		qf_buf_puts(&b[A_ORG], org ? org : "NULL");
		arr_sep(&b[A_Z]);
		qf_buf_printf(&b[A_Z], "%d", z[a]);
		arr_sep(&b[A_ELEM]);
		qf_buf_puts(&b[A_ELEM], sym ? sym : "X");
		arr_real(&b[A_X], true, xyz[3 * a]);
		arr_real(&b[A_Y], true, xyz[3 * a + 1]);
		arr_real(&b[A_ZZ], true, xyz[3 * a + 2]);
		arr_real(&b[A_Q], res->charges != NULL, res->charges ? res->charges[a] : 0);
		arr_real(&b[A_FX], res->gradient != NULL, res->gradient ? -res->gradient[3 * a] : 0);
		arr_real(&b[A_FY], res->gradient != NULL, res->gradient ? -res->gradient[3 * a + 1] : 0);
		arr_real(&b[A_FZ], res->gradient != NULL, res->gradient ? -res->gradient[3 * a + 2] : 0);
		if (++r->natoms_pending >= PG_ATOM_CHUNK && (rc = flush_atoms(r, err)))
			return rc;
	}
	for (int k = 0; k < A_N; k++)
		if (r->arr[k].len && !r->arr[k].data)
			return oom(err);
	return 0;
}

/* ---- metrics and errors ----------------------------------------------------- */

static int insert_metrics(rec *r, const qf_job *j, const char *owner, const char *org, qf_err *err)
{
	int rc = prep(r, &r->ins_cem,
	              "INSERT INTO calculation_execution_metrics (calculation_id, attempt, owner_id, org_id, "
	              "xtb_version, method, solvation_model, optimization_level, wall_time_seconds, "
	              "cpu_time_seconds, scf_cycles, optimization_cycles, convergence_iterations, "
	              "memory_peak_mb, is_converged, convergence_criterion_met, exit_code, worker, "
	              "stdout_log, stderr_log, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	              "?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (calculation_id, attempt) DO NOTHING",
	              err);
	if (rc)
		return rc;
	qf__stmt *st = r->ins_cem;
	const qf_metrics *me = &j->metrics;
	const qf_spec *sp = &j->spec;
	bool ran = job_ran(j);
	bool opt = qf_task_optimises(sp->task);
	int iters = opt && me->optimization_cycles >= 0 ? me->optimization_cycles : me->scf_cycles;
	int i = 1;
	b_text(st, &i, j->id);
	b_int(st, &i, j->attempt);
	b_text(st, &i, owner);
	b_text(st, &i, org);
	b_text_nonempty(st, &i, me->xtb_version);
	b_text(st, &i, me->method[0] ? me->method : qf_method_label(sp->method));
	b_text(st, &i, sp->solvation != QF_SOLV_NONE ? qf_solvation_name(sp->solvation) : NULL);
	b_text(st, &i, opt ? qf_level_name(sp->level) : NULL);
	b_real_opt(st, &i, ran, me->wall_time);
	b_real_opt(st, &i, ran, me->cpu_time);
	b_int_opt(st, &i, ran && me->scf_cycles >= 0, me->scf_cycles);
	b_int_opt(st, &i, ran && me->optimization_cycles >= 0, me->optimization_cycles);
	b_int_opt(st, &i, ran && iters >= 0, iters);
	b_real_opt(st, &i, ran, me->memory_peak_mb);
	b_bool_opt(st, &i, ran, me->is_converged);
	b_real_opt(st, &i, me->has_gradient_norm, me->gradient_norm);
	b_int_opt(st, &i, ran, me->exit_code);
	b_text(st, &i, NULL);
	char *out = NULL, *errlog = NULL;
	if (r->o && r->o->keep_logs && j->dir[0]) {
		out = read_log(j->dir, "stdout.log");
		errlog = read_log(j->dir, "stderr.log");
	}
	b_text(st, &i, out);
	b_text(st, &i, errlog);
	free(out);
	free(errlog);
	b_time(st, &i, j->finished_at > 0 ? j->finished_at : r->now);
	return done(st, err);
}

static int insert_error(rec *r, const qf_job *j, const char *owner, const char *org, qf_err *err)
{
	if (!qf_err_is_set(&j->error))
		return 0;
	int rc = prep(r, &r->ins_err,
	              "INSERT INTO calculation_errors (calculation_id, attempt, owner_id, org_id, error_type, "
	              "error_severity, error_message, error_code, stack_trace, retry_count, "
	              "user_action_required, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
	              "ON CONFLICT (calculation_id, attempt) DO NOTHING",
	              err);
	if (rc)
		return rc;
	qf__stmt *st = r->ins_err;
	const qf_err *e = &j->error;
	qf_category cat = e->category == QF_CAT_NONE ? QF_CAT_UNKNOWN : e->category;
	char msg[QF_MAX_ERR_MSG], trace[QF_ERR_TAIL_BYTES];
	qf_strlcpy(msg, e->message[0] ? e->message : (e->code[0] ? e->code : "unknown error"), sizeof(msg));
	qf__text_sanitize(msg, strlen(msg));
	qf_strlcpy(trace, e->detail, sizeof(trace));
	qf__text_sanitize(trace, strlen(trace));
	int i = 1;
	b_text(st, &i, j->id);
	b_int(st, &i, j->attempt);
	b_text(st, &i, owner);
	b_text(st, &i, org);
	b_text(st, &i, qf_category_name(cat));
	b_text(st, &i, severity(cat));
	b_text(st, &i, msg);
	b_text(st, &i, e->code[0] ? e->code : "unknown");
	b_text_nonempty(st, &i, trace);
	b_int(st, &i, j->attempt > 1 ? j->attempt - 1 : 0);
	qf__stmt_bind_bool(st, i++, e->user_action);
	b_time(st, &i, j->finished_at > 0 ? j->finished_at : r->now);
	return done(st, err);
}

/* ---- one job ---------------------------------------------------------------- */

static int check_job(const qf_job *j, size_t k, qf_err *err)
{
	if (!j || !qf_uuid_valid(j->id))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "job %zu to record has no valid id", k + 1);
	if (j->mol.natoms <= 0 || j->mol.natoms > QF_MAX_ATOMS || !j->mol.z || !j->mol.xyz)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "job %s to record has no molecule (or more than %d atoms)", j->id,
		                  QF_MAX_ATOMS);
	if (strlen(j->geometry_sha256) != 64 || strlen(j->input_sha256) != 64)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "job %s to record lacks its input or geometry hash", j->id);
	if (j->attempt < 1)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "job %s to record has attempt %d: attempts count from 1", j->id, j->attempt);
	if (j->result.natoms < 0 || j->result.natoms > QF_MAX_ATOMS)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "job %s to record has %d result atoms", j->id, j->result.natoms);
	return 0;
}

static int record_one(rec *r, const qf_job *j, qf_err *err)
{
	bool found = false, writable = false;
	json_t *cur = NULL;
	int rc = find_calc(r, j->id, &found, &cur, &writable, err);
	if (rc)
		return rc;
	const char *owner, *org, *batch = r->o ? r->o->batch_id : NULL;
	char mol[QF_UUID_STR], owner_buf[QF_UUID_STR], org_buf[QF_UUID_STR];
	if (found) {
		if (!writable) {
			json_decref(cur);
			return qf_err_set(err, QF_CAT_VALIDATION, "store.forbidden",
			                  "calculation %s exists and you may not change it", j->id);
		}
		const char *status = json_string_value(json_object_get(cur, "status"));
		json_int_t attempt = json_integer_value(json_object_get(cur, "attempt"));
		bool open = status && (!strcmp(status, "queued") || !strcmp(status, "running"));
		if (attempt > j->attempt || (attempt == j->attempt && !open)) {
			/* Recorded already (or a newer attempt is): nothing changes. */
			json_decref(cur);
			return 0;
		}
		qf_strlcpy(owner_buf, json_string_value(json_object_get(cur, "owner_id")), sizeof(owner_buf));
		const char *o = json_string_value(json_object_get(cur, "org_id"));
		if (o)
			qf_strlcpy(org_buf, o, sizeof(org_buf));
		json_decref(cur);
		owner = owner_buf;
		org = o ? org_buf : NULL;
		if (attempt != j->attempt) {
			/* Per-atom data of an earlier attempt gives way to this one. */
			if ((rc = prep(r, &r->del_atoms, "DELETE FROM atomic_properties WHERE calculation_id = ?",
			               err)))
				return rc;
			qf__stmt_bind_str(r->del_atoms, 1, j->id);
			if ((rc = done(r->del_atoms, err)))
				return rc;
		}
		bool updated = false;
		if ((rc = update_calc(r, j, batch, &updated, err)))
			return rc;
		if (!updated)
			return 0;
	} else {
		owner = r->a->kind == QF_ACTOR_USER ? r->a->user_id : QF_LOCAL_USER_ID;
		org = r->o ? r->o->org_id : NULL;
		bool inserted = false;
		if ((rc = molecule_id(r, j, owner, org, mol, err)) ||
		    (rc = insert_calc(r, j, mol, batch, owner, org, &inserted, err)))
			return rc;
		if (!inserted)
			/* The id is taken by a calculation this actor cannot see:
			 * nothing of this call stays. */
			return qf_err_set(err, QF_CAT_VALIDATION, "store.duplicate",
			                  "calculation %s already exists", j->id);
	}
	if ((rc = insert_atoms(r, j, owner, org, err)) || (rc = insert_metrics(r, j, owner, org, err)) ||
	    (rc = insert_error(r, j, owner, org, err)))
		return rc;
	return 0;
}

static void rec_release(rec *r)
{
	qf__stmt *all[] = {r->find_calc, r->find_mol, r->find_mol_org, r->ins_mol, r->ins_calc, r->upd_calc,
	                   r->del_atoms, r->ins_atom, r->ins_cem, r->ins_err};
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		qf__stmt_finalize(all[k]);
	qf__query_release(&r->find_calc_q);
	for (int k = 0; k < A_N; k++)
		qf_buf_release(&r->arr[k]);
}

int qf_store_record_jobs(qf_store *s, const qf_actor *a, const qf_job *const *jobs, size_t n,
                         const qf_record_opts *o, qf_err *err)
{
	if (a->kind == QF_ACTOR_ANONYMOUS)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.forbidden", "sign in to record calculations");
	if (o && o->org_id && !qf_uuid_valid(o->org_id))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "organisation id '%s' is not a lowercase UUID", o->org_id);
	if (o && o->batch_id && !qf_uuid_valid(o->batch_id))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "batch id '%s' is not a lowercase UUID", o->batch_id);
	int rc;
	for (size_t k = 0; k < n; k++)
		if ((rc = check_job(jobs[k], k, err)))
			return rc;
	if (!n)
		return 0;

	rec r;
	memset(&r, 0, sizeof(r));
	r.s = s;
	r.a = a;
	r.o = o;
	r.pg = s->dialect == QF__PG;
	r.now = qf_clock_now();
	qf__query_init(&r.find_calc_q, s->dialect);
	for (int k = 0; k < A_N; k++)
		qf_buf_init(&r.arr[k], PG_ARRAY_CAP);

	qf__tx tx;
	if ((rc = qf__tx_begin(s, a, true, &tx, err))) {
		rec_release(&r);
		return rc;
	}
	r.db = tx.db;
	/* What the actor puts in: its own rows, into an organisation where it
	 * may write, under a batch it can see. */
	if (a->kind == QF_ACTOR_USER) {
		json_t *probe = json_pack("{s:s,s:s?}", "owner_id", a->user_id, "org_id", o ? o->org_id : NULL);
		rc = probe ? qf__scope_check_insert(tx.db, qf__catalog_find("calculations"), a, probe, err)
		           : oom(err);
		json_decref(probe);
		if (rc)
			goto out;
	}
	if (o && o->batch_id && (rc = qf__scope_check_ref(tx.db, "batches", a, o->batch_id, "batch", err)))
		goto out;
	for (size_t k = 0; k < n; k++) {
		if ((rc = record_one(&r, jobs[k], err))) {
			qf_err_prefix(err, "recording job %s", jobs[k]->id);
			goto out;
		}
	}
	if (r.pg)
		rc = flush_atoms(&r, err);
out:
	rec_release(&r);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}
