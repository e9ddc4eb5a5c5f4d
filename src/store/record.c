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
 * the per-attempt rows are inserted with ON CONFLICT DO NOTHING, and the
 * atoms of a calculation are replaced whenever its row is.
 *
 * Owner: the acting user; for the system actor (a worker) an existing
 * calculation keeps its owner, organisation and molecule, and a new one
 * belongs to the built-in local user.
 *
 * Speed: jobs are taken in groups. For a group, one query finds the
 * calculations that exist already and one the molecules; the new rows then
 * go through bulk inserts (bulk.c: on SQLite a prepared INSERT per row, on
 * PostgreSQL one unnest() statement per table for many rows), written in
 * foreign-key order: molecules, calculations, atoms, metrics, errors. The
 * rare update of an existing calculation is a statement of its own.
 *
 * The queue's finish (queue.c) writes one attempt with the same code:
 * qf__record_results for the calculation's result columns and
 * qf__record_attempt for its atoms, metrics (with the worker) and error row
 * (with the retry history).
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

/* Jobs looked up together (one query each for calculations and molecules;
 * the lists travel as one array or JSON parameter). */
#define GROUP 500

/* Rows per PostgreSQL statement: atoms (13 columns of numbers) and the
 * other tables (calculations carry their results JSON). bulk.c also
 * flushes when a column's text reaches a few MB. */
#define ATOM_ROWS 20000
#define ROWS 1000

/* Open-addressing tables for a group's calculations and molecules (a power
 * of two, at least twice GROUP). */
#define MAP 1024

typedef struct calc_info {
	bool used;
	char id[QF_UUID_STR];
	char owner[QF_UUID_STR];
	char org[QF_UUID_STR]; /* "" when personal */
	char mol[QF_UUID_STR];
	int64_t attempt;
	char status[16];
	bool writable;
} calc_info;

typedef struct mol_entry {
	bool used;
	char geo[QF_SHA256_HEX];
	char id[QF_UUID_STR];
} mol_entry;

/* A group's lookups (record_jobs only). */
typedef struct rec_maps {
	calc_info calc_map[MAP];
	mol_entry mol_map[MAP];
	char seen[MAP][QF_UUID_STR]; /* job ids of the group */
} rec_maps;

typedef struct rec {
	qf__db *db;
	const qf_actor *a;
	const qf_record_opts *o;
	bool pg;
	double now;
	const char *new_owner; /* of new calculations and molecules */
	const char *new_org;
	qf__bulk mols, calcs, atoms, cems, errs;
	bool bulks;
	qf__stmt *upd_calc, *del_atoms;
	rec_maps *maps;
	/* One attempt finished through the queue (qf__record_attempt). */
	const char *worker;     /* calculation_execution_metrics.worker */
	const json_t *history;  /* calculation_errors.retry_attempts (NULL: []) */
	const char *resolution; /* calculation_errors.resolution */
} rec;

static int oom(qf_err *err)
{
	return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
}

/* Run a statement that returns no rows. */
static int done(qf__stmt *st, qf_err *err)
{
	int rc = qf__stmt_step(st, err);
	while (rc > 0)
		rc = qf__stmt_step(st, err);
	return rc;
}

static unsigned hash_str(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static calc_info *calc_slot(rec *r, const char *id)
{
	for (unsigned i = hash_str(id) & (MAP - 1);; i = (i + 1) & (MAP - 1))
		if (!r->maps->calc_map[i].used || !strcmp(r->maps->calc_map[i].id, id))
			return &r->maps->calc_map[i];
}

static mol_entry *mol_slot(rec *r, const char *geo)
{
	for (unsigned i = hash_str(geo) & (MAP - 1);; i = (i + 1) & (MAP - 1))
		if (!r->maps->mol_map[i].used || !strcmp(r->maps->mol_map[i].geo, geo))
			return &r->maps->mol_map[i];
}

/* Whether id was seen before in this group (and mark it). */
static bool seen_before(rec *r, const char *id)
{
	for (unsigned i = hash_str(id) & (MAP - 1);; i = (i + 1) & (MAP - 1)) {
		if (!r->maps->seen[i][0]) {
			qf_strlcpy(r->maps->seen[i], id, QF_UUID_STR);
			return false;
		}
		if (!strcmp(r->maps->seen[i], id))
			return true;
	}
}

/* ---- what a job says ------------------------------------------------------ */

bool qf__job_ran(const qf_job *j)
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

json_t *qf__spec_parameters(const qf_spec *sp)
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

/* ---- bulk inserts ----------------------------------------------------------- */

static const char *const mol_cols[] = {"id", "owner_id", "org_id", "name", "formula", "natoms",
                                       "charge", "uhf", "atomic_numbers", "coordinates",
                                       "input_format", "input_sha256", "geometry_sha256", "smiles",
                                       "created_at", "embedding"};

#define RESULT_COLS QF__RESULT_COLS
#define N_RESULT_COLS QF__N_RESULT_COLS

static const char *const calc_cols[] = {"id", "molecule_id", "batch_id", "owner_id", "org_id",
                                        "method", "task", "optimization_level", "solvation_model",
                                        "solvent", "charge", "uhf", "parameters", "spec",
                                        "created_at", RESULT_COLS};

static const char *const atom_cols[] = {"calculation_id", "atom_index", "owner_id", "org_id",
                                        "atomic_number", "element", "x", "y", "z", "partial_charge",
                                        "force_x", "force_y", "force_z"};

static const char *const cem_cols[] = {"calculation_id", "attempt", "owner_id", "org_id",
                                       "xtb_version", "method", "solvation_model",
                                       "optimization_level", "wall_time_seconds",
                                       "cpu_time_seconds", "scf_cycles", "optimization_cycles",
                                       "convergence_iterations", "memory_peak_mb", "is_converged",
                                       "convergence_criterion_met", "exit_code", "worker",
                                       "stdout_log", "stderr_log", "created_at", "started_at",
                                       "slurm_job_id", "slurm_array_task_id", "slurm_node"};

static const char *const err_cols[] = {"calculation_id", "attempt", "owner_id", "org_id",
                                       "error_type", "error_severity", "error_message",
                                       "error_code", "stack_trace", "retry_count",
                                       "user_action_required", "retry_attempts", "resolution",
                                       "created_at"};

#define NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int bulks_init(rec *r, qf_err *err)
{
	int rc;
	if ((rc = qf__bulk_init(&r->mols, r->db, qf__catalog_find("molecules"), mol_cols,
	                        NCOLS(mol_cols), NULL, ROWS, err)) ||
	    (rc = qf__bulk_init(&r->calcs, r->db, qf__catalog_find("calculations"), calc_cols,
	                        NCOLS(calc_cols), "ON CONFLICT (id) DO NOTHING", ROWS, err)) ||
	    (rc = qf__bulk_init(&r->atoms, r->db, qf__catalog_find("atomic_properties"), atom_cols,
	                        NCOLS(atom_cols), NULL, ATOM_ROWS, err)) ||
	    (rc = qf__bulk_init(&r->cems, r->db, qf__catalog_find("calculation_execution_metrics"),
	                        cem_cols, NCOLS(cem_cols),
	                        "ON CONFLICT (calculation_id, attempt) DO NOTHING", ROWS, err)) ||
	    (rc = qf__bulk_init(&r->errs, r->db, qf__catalog_find("calculation_errors"), err_cols,
	                        NCOLS(err_cols), "ON CONFLICT (calculation_id, attempt) DO NOTHING",
	                        ROWS, err)))
		return rc;
	r->bulks = true;
	return 0;
}

/* Write what waits, parents first. A new calculation whose id was taken
 * (by a row this actor cannot see, or by a concurrent recorder) was not
 * inserted: the call fails and nothing of it stays. */
static int flush_all(rec *r, qf_err *err)
{
	int rc;
	if ((rc = qf__bulk_flush(&r->mols, err)) || (rc = qf__bulk_flush(&r->calcs, err)))
		return rc;
	if (r->calcs.changes != r->calcs.appended)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.duplicate",
		                  "a calculation with one of these job ids already exists");
	if ((rc = qf__bulk_flush(&r->atoms, err)) || (rc = qf__bulk_flush(&r->cems, err)) ||
	    (rc = qf__bulk_flush(&r->errs, err)))
		return rc;
	return 0;
}

/* End a bulk row; flush everything when a table's batch is full. */
static int end_row(rec *r, qf__bulk *b, qf_err *err)
{
	int rc = qf__bulk_end_row(b, err);
	if (rc > 0)
		rc = flush_all(r, err);
	return rc;
}

static int add_molecule(rec *r, const qf_job *j, const char *id, qf_err *err)
{
	const qf_mol *m = &j->mol;
	qf__bulk *b = &r->mols;
	char formula[1024], name[QF_MAX_NAME];
	qf_mol_formula(m, formula, sizeof(formula));
	qf_strlcpy(name, j->name[0] ? j->name : (m->name[0] ? m->name : formula), sizeof(name));
	qf__text_sanitize(name, strlen(name));
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
	qf__bulk_text(b, id);
	qf__bulk_text(b, r->new_owner);
	qf__bulk_text(b, r->new_org);
	qf__bulk_text(b, name);
	qf__bulk_text(b, formula);
	qf__bulk_int(b, m->natoms);
	qf__bulk_int(b, m->charge);
	qf__bulk_int(b, m->uhf);
	int rc = qf__bulk_json(b, zs, err);
	int rc2 = qf__bulk_json(b, xyz, err);
	qf__bulk_text(b, j->input_format ? qf_format_name(j->input_format) : NULL);
	qf__bulk_text(b, j->input_sha256);
	qf__bulk_text(b, j->geometry_sha256);
	qf__bulk_text(b, m->smiles && *m->smiles ? m->smiles : NULL);
	qf__bulk_time(b, r->now);
	json_error_t je;
	json_t *emb = m->embedding ? json_loads(m->embedding, 0, &je) : NULL;
	int rc3 = qf__bulk_json(b, emb, err); /* NULL (none, or not JSON): null */
	if (rc || rc2 || rc3) {
		b->rc = b->rc ? b->rc : QF_EINVAL;
		qf__bulk_end_row(b, NULL);
		return rc ? rc : rc2 ? rc2 : rc3;
	}
	return end_row(r, b, err);
}

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

int qf__record_results(qf__bulk *b, const qf_job *j, const char *status, double now, qf_err *err)
{
	const qf_result *res = &j->result;
	const qf_metrics *me = &j->metrics;
	bool failed = qf_err_is_set(&j->error);
	qf__bulk_text(b, status ? status : qf_job_status_name(j->status));
	qf__bulk_int(b, j->attempt);
	qf__bulk_real(b, res->has_energy, res->total_energy);
	qf__bulk_real(b, res->has_gap, res->gap_ev);
	qf__bulk_real(b, res->has_dipole, res->dipole_debye);
	qf__bulk_bool(b, qf__job_ran(j), me->is_converged);
	if (res->has_gradient_norm)
		qf__bulk_real(b, true, res->gradient_norm);
	else
		qf__bulk_real(b, me->has_gradient_norm, me->gradient_norm);
	qf__bulk_text(b, nonempty(me->xtb_version));
	qf__bulk_text(b, nonempty(j->dir));
	int rc = qf__bulk_json(b, has_results(res) ? qf_result_to_json(res) : NULL, err);
	char msg[QF_MAX_ERR_MSG];
	qf_strlcpy(msg, j->error.message, sizeof(msg));
	qf__text_sanitize(msg, strlen(msg));
	qf_category cat = j->error.category == QF_CAT_NONE ? QF_CAT_UNKNOWN : j->error.category;
	qf__bulk_text(b, failed ? qf_category_name(cat) : NULL);
	qf__bulk_text(b, failed ? nonempty(j->error.code) : NULL);
	qf__bulk_text(b, failed ? nonempty(msg) : NULL);
	qf__bulk_time(b, j->started_at);
	qf__bulk_time(b, j->finished_at);
	qf__bulk_time(b, j->finished_at > 0 ? j->finished_at : now);
	return rc;
}

static int add_results(rec *r, qf__bulk *b, const qf_job *j, qf_err *err)
{
	return qf__record_results(b, j, NULL, r->now, err);
}

static int add_calculation(rec *r, const qf_job *j, const char *mol, qf_err *err)
{
	qf__bulk *b = &r->calcs;
	const qf_spec *sp = &j->spec;
	qf__bulk_text(b, j->id);
	qf__bulk_text(b, mol);
	qf__bulk_text(b, r->o ? r->o->batch_id : NULL);
	qf__bulk_text(b, r->new_owner);
	qf__bulk_text(b, r->new_org);
	qf__bulk_text(b, qf_method_name(sp->method));
	qf__bulk_text(b, qf_task_name(sp->task));
	qf__bulk_text(b, qf_level_name(sp->level));
	qf__bulk_text(b, sp->solvation != QF_SOLV_NONE ? qf_solvation_name(sp->solvation) : NULL);
	qf__bulk_text(b, sp->solvation != QF_SOLV_NONE ? nonempty(sp->solvent) : NULL);
	qf__bulk_int(b, j->mol.charge);
	qf__bulk_int(b, j->mol.uhf);
	json_t *params = qf__spec_parameters(sp), *spec = qf_spec_to_json(sp);
	int rc = (!params || !spec) ? QF_ENOMEM : 0;
	int rc1 = qf__bulk_json(b, params, err);
	int rc2 = qf__bulk_json(b, spec, err);
	qf__bulk_time(b, j->created_at > 0 ? j->created_at : r->now);
	int rc3 = add_results(r, b, j, err);
	if (rc || rc1 || rc2 || rc3) {
		b->rc = b->rc ? b->rc : QF_EINVAL;
		qf__bulk_end_row(b, NULL);
		return rc ? oom(err) : (rc1 ? rc1 : (rc2 ? rc2 : rc3));
	}
	return end_row(r, b, err);
}

/* A newer attempt of a calculation the actor may change (checked by the
 * group's lookup in this transaction), or the end of a queued/running one.
 * A second completion of the same attempt changes nothing: *updated says. */
static int update_calculation(rec *r, const qf_job *j, bool *updated, qf_err *err)
{
	int rc;
	if (!r->upd_calc) {
		qf_buf sql;
		qf_buf_init(&sql, 4096);
		static const char *const cols[] = {RESULT_COLS};
		rc = qf_buf_puts(&sql, "UPDATE calculations SET batch_id = coalesce(?, batch_id)");
		for (int i = 0; i < N_RESULT_COLS && !rc; i++)
			rc = qf_buf_printf(&sql, ", \"%s\" = ?", cols[i]);
		if (!rc)
			rc = qf_buf_puts(&sql, ", lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL "
			                       "WHERE id = ? AND (attempt < ? OR (attempt = ? AND status IN "
			                       "('queued', 'running')))");
		if (rc) {
			qf_buf_release(&sql);
			return oom(err);
		}
		rc = qf__db_prepare(r->db, qf_buf_str(&sql), &r->upd_calc, err);
		qf_buf_release(&sql);
		if (rc)
			return rc;
	} else {
		qf__stmt_reset(r->upd_calc);
	}
	/* The bulk helpers bind in order: borrow a one-row "bulk" over the
	 * statement (SQLite-style binding, whatever the backend). */
	qf__bulk b;
	memset(&b, 0, sizeof(b));
	b.st = r->upd_calc;
	b.ncols = N_RESULT_COLS + 4;
	qf__bulk_text(&b, r->o ? r->o->batch_id : NULL);
	if ((rc = add_results(r, &b, j, err)))
		return rc;
	qf__bulk_text(&b, j->id);
	qf__bulk_int(&b, j->attempt);
	qf__bulk_int(&b, j->attempt);
	if ((rc = done(r->upd_calc, err)))
		return rc;
	*updated = qf__stmt_changes(r->upd_calc) > 0;
	return 0;
}

static int add_atoms(rec *r, const qf_job *j, const char *owner, const char *org, qf_err *err)
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
	qf__bulk *b = &r->atoms;
	for (int a = 0; a < n; a++) {
		const char *sym = qf_element_symbol(z[a]);
		qf__bulk_text(b, j->id);
		qf__bulk_int(b, a);
		qf__bulk_text(b, owner);
		qf__bulk_text(b, org);
		qf__bulk_int(b, z[a]);
		qf__bulk_text(b, sym ? sym : "X");
		qf__bulk_real(b, true, xyz[3 * a]);
		qf__bulk_real(b, true, xyz[3 * a + 1]);
		qf__bulk_real(b, true, xyz[3 * a + 2]);
		qf__bulk_real(b, res->charges != NULL, res->charges ? res->charges[a] : 0);
		/* The force is minus the gradient, kept in xtb's Eh/Bohr. */
		for (int k = 0; k < 3; k++)
			qf__bulk_real(b, res->gradient != NULL, res->gradient ? -res->gradient[3 * a + k] : 0);
		int rc = end_row(r, b, err);
		if (rc)
			return rc;
	}
	return 0;
}

static int add_metrics(rec *r, const qf_job *j, const char *owner, const char *org, qf_err *err)
{
	qf__bulk *b = &r->cems;
	const qf_metrics *me = &j->metrics;
	const qf_spec *sp = &j->spec;
	bool ran = qf__job_ran(j);
	bool opt = qf_task_optimises(sp->task);
	int iters = opt && me->optimization_cycles >= 0 ? me->optimization_cycles : me->scf_cycles;
	qf__bulk_text(b, j->id);
	qf__bulk_int(b, j->attempt);
	qf__bulk_text(b, owner);
	qf__bulk_text(b, org);
	qf__bulk_text(b, nonempty(me->xtb_version));
	qf__bulk_text(b, me->method[0] ? me->method : qf_method_label(sp->method));
	qf__bulk_text(b, sp->solvation != QF_SOLV_NONE ? qf_solvation_name(sp->solvation) : NULL);
	qf__bulk_text(b, opt ? qf_level_name(sp->level) : NULL);
	qf__bulk_real(b, ran, me->wall_time);
	qf__bulk_real(b, ran, me->cpu_time);
	if (ran && me->scf_cycles >= 0)
		qf__bulk_int(b, me->scf_cycles);
	else
		qf__bulk_null(b);
	if (ran && me->optimization_cycles >= 0)
		qf__bulk_int(b, me->optimization_cycles);
	else
		qf__bulk_null(b);
	if (ran && iters >= 0)
		qf__bulk_int(b, iters);
	else
		qf__bulk_null(b);
	qf__bulk_real(b, ran, me->memory_peak_mb);
	qf__bulk_bool(b, ran, me->is_converged);
	qf__bulk_real(b, me->has_gradient_norm, me->gradient_norm);
	if (ran)
		qf__bulk_int(b, me->exit_code);
	else
		qf__bulk_null(b);
	qf__bulk_text(b, r->worker); /* NULL from the metadata alone */
	char *out = NULL, *errlog = NULL;
	if (r->o && r->o->keep_logs && j->dir[0]) {
		out = read_log(j->dir, "stdout.log");
		errlog = read_log(j->dir, "stderr.log");
	}
	qf__bulk_text(b, out);
	qf__bulk_text(b, errlog);
	free(out);
	free(errlog);
	qf__bulk_time(b, j->finished_at > 0 ? j->finished_at : r->now);
	qf__bulk_time(b, j->started_at);
	/* 007: where it ran when Slurm started the worker (NULL otherwise) */
	const qf_job_placement *pl = &j->placement;
	if (pl->slurm_job_id > 0) {
		qf__bulk_int(b, pl->slurm_job_id);
		if (pl->slurm_array_task_id >= 0)
			qf__bulk_int(b, pl->slurm_array_task_id);
		else
			qf__bulk_null(b);
		char node[256];
		qf_strlcpy(node, pl->node, sizeof(node));
		qf__text_sanitize(node, strlen(node));
		qf__bulk_text(b, nonempty(node));
	} else {
		qf__bulk_null(b);
		qf__bulk_null(b);
		qf__bulk_null(b);
	}
	return end_row(r, b, err);
}

static int add_error(rec *r, const qf_job *j, const char *owner, const char *org, qf_err *err)
{
	if (!qf_err_is_set(&j->error))
		return 0;
	qf__bulk *b = &r->errs;
	const qf_err *e = &j->error;
	qf_category cat = e->category == QF_CAT_NONE ? QF_CAT_UNKNOWN : e->category;
	char msg[QF_MAX_ERR_MSG], trace[QF_ERR_TAIL_BYTES];
	qf_strlcpy(msg, e->message[0] ? e->message : (e->code[0] ? e->code : "unknown error"), sizeof(msg));
	qf__text_sanitize(msg, strlen(msg));
	qf_strlcpy(trace, e->detail, sizeof(trace));
	qf__text_sanitize(trace, strlen(trace));
	qf__bulk_text(b, j->id);
	qf__bulk_int(b, j->attempt);
	qf__bulk_text(b, owner);
	qf__bulk_text(b, org);
	qf__bulk_text(b, qf_category_name(cat));
	qf__bulk_text(b, severity(cat));
	qf__bulk_text(b, msg);
	qf__bulk_text(b, e->code[0] ? e->code : "unknown");
	qf__bulk_text(b, nonempty(trace));
	qf__bulk_int(b, j->attempt > 1 ? j->attempt - 1 : 0);
	qf__bulk_bool(b, true, e->user_action);
	int rc = qf__bulk_json(b, r->history ? json_copy((json_t *)r->history) : json_array(), err);
	qf__bulk_text(b, r->resolution);
	qf__bulk_time(b, j->finished_at > 0 ? j->finished_at : r->now);
	if (rc) {
		b->rc = b->rc ? b->rc : rc;
		qf__bulk_end_row(b, NULL);
		return rc;
	}
	return end_row(r, b, err);
}

/* ---- a group of jobs --------------------------------------------------------- */

/* A list of texts as one parameter: a PostgreSQL array literal or a JSON
 * array (SQLite's json_each). The texts are UUIDs or hex digests. */
static char *list_param(rec *r, const char *const *items, size_t n)
{
	qf_buf b;
	qf_buf_init(&b, n * (QF_SHA256_HEX + 4) + 8);
	int rc = qf_buf_puts(&b, r->pg ? "{" : "[");
	for (size_t i = 0; i < n && !rc; i++)
		rc = qf_buf_printf(&b, r->pg ? "%s%s" : "%s\"%s\"", i ? "," : "", items[i]);
	if (!rc)
		rc = qf_buf_puts(&b, r->pg ? "}" : "]");
	if (rc) {
		qf_buf_release(&b);
		return NULL;
	}
	return qf_buf_detach(&b, NULL);
}

/* "SELECT ... FROM the list" around the list parameter. */
static void list_sql(rec *r, qf__query *q, char *list, const char *type)
{
	if (!r->pg) {
		qf__query_sql(q, "SELECT value FROM json_each(");
		qf__query_text_take(q, list);
		qf__query_sql(q, ")");
		return;
	}
	qf__query_sql(q, "SELECT unnest(");
	qf__query_text_take(q, list);
	qf__query_sql(q, "::%s[])", type);
}

/* The group's calculations that exist and the actor can see, with
 * whether it may change them. */
static int lookup_calcs(rec *r, const qf_job *const *jobs, size_t n, qf_err *err)
{
	const char **ids = malloc(n * sizeof(*ids));
	if (!ids)
		return oom(err);
	for (size_t k = 0; k < n; k++)
		ids[k] = jobs[k]->id;
	char *list = list_param(r, ids, n);
	free(ids);
	const qf__table *t = qf__catalog_find("calculations");
	qf__query q;
	qf__query_init(&q, r->pg ? QF__PG : QF__SQLITE);
	qf__query_sql(&q, "SELECT id, owner_id, org_id, molecule_id, attempt, status, ");
	qf__scope_where(&q, t, r->a, QF__OP_UPDATE);
	qf__query_sql(&q, " FROM calculations WHERE id IN (");
	list_sql(r, &q, list, "uuid");
	qf__query_sql(&q, ") AND ");
	qf__scope_where(&q, t, r->a, QF__OP_READ);
	qf__stmt *st = NULL;
	int rc = qf__query_run(&q, r->db, &st, err);
	while (rc == 1) {
		const char *id = qf__stmt_col_text(st, 0, NULL);
		calc_info *c = id ? calc_slot(r, id) : NULL;
		if (c) {
			const char *owner = qf__stmt_col_text(st, 1, NULL);
			const char *org = qf__stmt_col_text(st, 2, NULL);
			const char *mol = qf__stmt_col_text(st, 3, NULL);
			const char *status = qf__stmt_col_text(st, 5, NULL);
			c->used = true;
			qf_strlcpy(c->id, id, sizeof(c->id));
			qf_strlcpy(c->owner, owner ? owner : "", sizeof(c->owner));
			qf_strlcpy(c->org, org ? org : "", sizeof(c->org));
			qf_strlcpy(c->mol, mol ? mol : "", sizeof(c->mol));
			c->attempt = qf__stmt_col_int64(st, 4);
			qf_strlcpy(c->status, status ? status : "", sizeof(c->status));
			c->writable = qf__stmt_col_bool(st, 6);
		}
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	return rc;
}

/* The molecules of the new calculations' owner and organisation with the
 * group's geometries; the oldest wins where there are several. */
static int lookup_molecules(rec *r, const qf_job *const *jobs, size_t n, qf_err *err)
{
	const char **geos = malloc((n ? n : 1) * sizeof(*geos));
	if (!geos)
		return oom(err);
	size_t m = 0;
	for (size_t k = 0; k < n; k++)
		if (!calc_slot(r, jobs[k]->id)->used)
			geos[m++] = jobs[k]->geometry_sha256;
	if (!m) {
		free(geos);
		return 0;
	}
	char *list = list_param(r, geos, m);
	free(geos);
	qf__query q;
	qf__query_init(&q, r->pg ? QF__PG : QF__SQLITE);
	qf__query_sql(&q, "SELECT geometry_sha256, id FROM molecules WHERE owner_id = ");
	qf__query_text(&q, r->new_owner);
	if (r->new_org) {
		qf__query_sql(&q, " AND org_id = ");
		qf__query_text(&q, r->new_org);
	} else {
		qf__query_sql(&q, " AND org_id IS NULL");
	}
	qf__query_sql(&q, " AND geometry_sha256 IN (");
	list_sql(r, &q, list, "text");
	qf__query_sql(&q, ") ORDER BY created_at, id");
	qf__stmt *st = NULL;
	int rc = qf__query_run(&q, r->db, &st, err);
	while (rc == 1) {
		const char *geo = qf__stmt_col_text(st, 0, NULL);
		const char *id = qf__stmt_col_text(st, 1, NULL);
		mol_entry *e = geo && id ? mol_slot(r, geo) : NULL;
		if (e && !e->used) {
			e->used = true;
			qf_strlcpy(e->geo, geo, sizeof(e->geo));
			qf_strlcpy(e->id, id, sizeof(e->id));
		}
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	return rc;
}

static int record_one(rec *r, const qf_job *j, qf_err *err)
{
	if (seen_before(r, j->id))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "job %s appears twice in one call: record each job once", j->id);
	calc_info *c = calc_slot(r, j->id);
	int rc;
	if (c->used) {
		if (!c->writable)
			return qf_err_set(err, QF_CAT_VALIDATION, "store.forbidden",
			                  "calculation %s exists and you may not change it", j->id);
		bool open = !strcmp(c->status, "queued") || !strcmp(c->status, "running");
		if (c->attempt > j->attempt || (c->attempt == j->attempt && !open))
			return 0; /* recorded already (or a newer attempt is): nothing changes */
		bool updated = false;
		if ((rc = update_calculation(r, j, &updated, err)))
			return rc;
		if (!updated)
			return 0;
		/* Per-atom data of an earlier attempt (or written while it ran)
		 * gives way to this one's. */
		if (!r->del_atoms &&
		    (rc = qf__db_prepare(r->db, "DELETE FROM atomic_properties WHERE calculation_id = ?",
		                         &r->del_atoms, err)))
			return rc;
		qf__stmt_reset(r->del_atoms);
		qf__stmt_bind_str(r->del_atoms, 1, j->id);
		if ((rc = done(r->del_atoms, err)))
			return rc;
		const char *org = c->org[0] ? c->org : NULL;
		if ((rc = add_atoms(r, j, c->owner, org, err)) || (rc = add_metrics(r, j, c->owner, org, err)) ||
		    (rc = add_error(r, j, c->owner, org, err)))
			return rc;
		return 0;
	}
	mol_entry *m = mol_slot(r, j->geometry_sha256);
	if (!m->used) {
		m->used = true;
		qf_strlcpy(m->geo, j->geometry_sha256, sizeof(m->geo));
		qf_uuid_v7(m->id);
		if ((rc = add_molecule(r, j, m->id, err)))
			return rc;
	}
	if ((rc = add_calculation(r, j, m->id, err)) ||
	    (rc = add_atoms(r, j, r->new_owner, r->new_org, err)) ||
	    (rc = add_metrics(r, j, r->new_owner, r->new_org, err)) ||
	    (rc = add_error(r, j, r->new_owner, r->new_org, err)))
		return rc;
	return 0;
}

static int record_group(rec *r, const qf_job *const *jobs, size_t n, qf_err *err)
{
	memset(r->maps, 0, sizeof(*r->maps));
	int rc;
	if ((rc = lookup_calcs(r, jobs, n, err)) || (rc = lookup_molecules(r, jobs, n, err)))
		return rc;
	for (size_t k = 0; k < n; k++) {
		if ((rc = record_one(r, jobs[k], err))) {
			qf_err_prefix(err, "recording job %s", jobs[k]->id);
			return rc;
		}
	}
	/* The next group's lookups must see this one's rows. */
	return flush_all(r, err);
}

static void rec_free(rec *r)
{
	if (r->bulks) {
		qf__bulk_release(&r->mols);
		qf__bulk_release(&r->calcs);
		qf__bulk_release(&r->atoms);
		qf__bulk_release(&r->cems);
		qf__bulk_release(&r->errs);
	}
	qf__stmt_finalize(r->upd_calc);
	qf__stmt_finalize(r->del_atoms);
	free(r->maps);
	free(r);
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

	rec *r = calloc(1, sizeof(*r));
	if (!r || !(r->maps = calloc(1, sizeof(*r->maps)))) {
		free(r);
		return oom(err);
	}
	r->a = a;
	r->o = o;
	r->pg = s->dialect == QF__PG;
	r->now = qf_clock_now();
	r->new_owner = a->kind == QF_ACTOR_USER ? a->user_id : QF_LOCAL_USER_ID;
	r->new_org = o ? o->org_id : NULL;

	qf__tx tx;
	if ((rc = qf__tx_begin(s, a, true, &tx, err))) {
		rec_free(r);
		return rc;
	}
	r->db = tx.db;
	/* What the actor puts in: its own rows, into an organisation where it
	 * may write, under a batch it can see. */
	if (a->kind == QF_ACTOR_USER) {
		json_t *probe = json_pack("{s:s,s:s?}", "owner_id", a->user_id, "org_id", r->new_org);
		rc = probe ? qf__scope_check_insert(tx.db, qf__catalog_find("calculations"), a, probe, err)
		           : oom(err);
		json_decref(probe);
		if (rc)
			goto out;
	}
	if (o && o->batch_id && (rc = qf__scope_check_ref(tx.db, "batches", a, o->batch_id, "batch", err)))
		goto out;
	if ((rc = bulks_init(r, err)))
		goto out;
	for (size_t k = 0; k < n && !rc; k += GROUP)
		rc = record_group(r, jobs + k, n - k < GROUP ? n - k : GROUP, err);
out:
	rec_free(r);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}

/* ---- one attempt, for the queue --------------------------------------------- */

int qf__record_attempt(qf__db *db, const qf_job *j, const qf__attempt_rows *o, qf_err *err)
{
	rec *r = calloc(1, sizeof(*r));
	if (!r)
		return oom(err);
	qf_record_opts ro = {.keep_logs = o->keep_logs};
	r->db = db;
	r->o = &ro;
	r->pg = qf__db_dialect(db) == QF__PG;
	r->now = o->now;
	r->worker = o->worker;
	r->history = o->history;
	r->resolution = o->resolution;
	int rc = bulks_init(r, err);
	if (!rc) {
		/* Per-atom data of an earlier attempt gives way to this one's. */
		rc = qf__db_prepare(db, "DELETE FROM atomic_properties WHERE calculation_id = ?",
		                    &r->del_atoms, err);
		if (!rc) {
			qf__stmt_bind_str(r->del_atoms, 1, j->id);
			rc = done(r->del_atoms, err);
		}
	}
	if (!rc)
		rc = add_atoms(r, j, o->owner, o->org, err);
	if (!rc)
		rc = add_metrics(r, j, o->owner, o->org, err);
	if (!rc && o->failed)
		rc = add_error(r, j, o->owner, o->org, err);
	if (!rc)
		rc = flush_all(r, err);
	r->maps = NULL;
	rec_free(r);
	return rc;
}
