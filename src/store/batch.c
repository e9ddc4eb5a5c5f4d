/*
 * Batches (include/qf/store.h, "batches") and their statistics.
 *
 * batch_job_performance is kept up to date one change at a time by the
 * queue (qf__bjp_apply: a finished attempt, a job reaching or leaving a
 * final state, an error row added or removed), reading and writing one row,
 * and recomputed from the batch's rows by qf_store_batch_status. Both give
 * the same numbers:
 *
 *   successful_jobs, failed_jobs   the batch's calculations completed / failed
 *                                  (a reused result counts as completed)
 *   timeout_jobs,                  failed ones whose error_category is
 *   convergence_failure_jobs       timeout / convergence
 *   error_breakdown                calculation_errors rows of the batch (every
 *                                  failed attempt, retried or not, and every
 *                                  lost worker) by error_type
 *   execution_start_time / _end    earliest start / latest end of an attempt
 *                                  that ran (calculation_execution_metrics
 *                                  with a wall time)
 *   total_execution_time_seconds   end - start
 *   min/average/max_job_time       over those attempts' wall times
 *   average_memory_mb              their mean peak memory
 *   total_cpu_time_hours           their CPU time, summed
 *   workers                        distinct worker slots that ran them
 *   parallelization_efficiency     sum of wall times / (workers x total time):
 *                                  1 when every slot was busy from the first
 *                                  start to the last end
 *   timed_attempts, job_time_sum_seconds, memory_sum_mb: the sums behind the
 *   averages.
 *
 * Lock order, everywhere in the store: calculations, then
 * batch_job_performance, then batches (PostgreSQL: no deadlock between a
 * finish, a claim, a sweep and a batch command).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qf/str.h"
#include "qf/uuid.h"
#include "store_int.h"

/* ---- the statistics row ---------------------------------------------------- */

typedef struct bjp {
	double start, end;          /* 0: none */
	bool has_min;
	double min, max;
	int64_t failed, successful, timeout, convergence;
	bool has_cpu;
	double cpu_hours;
	json_t *breakdown;          /* {"type": n} */
	int64_t workers, timed;
	double time_sum, mem_sum;
} bjp;

static void bjp_release(bjp *v)
{
	json_decref(v->breakdown);
	v->breakdown = NULL;
}

/* Epoch seconds as stored (rounded to the millisecond), so that values kept
 * one change at a time and values read back from the rows compare equal. */
static double stored_time(double t)
{
	if (t <= 0)
		return 0;
	char s[QF_TIME_STR];
	qf__time_format(t, s);
	double back = 0;
	return qf_clock_parse(s, &back) ? 0 : back;
}

static void add_breakdown(json_t *o, const char *type, json_int_t n)
{
	if (!type || !n)
		return;
	json_int_t now = json_integer_value(json_object_get(o, type)) + n;
	if (now > 0)
		json_object_set_new(o, type, json_integer(now));
	else
		json_object_del(o, type);
}

/* Make sure the batch has its row (batches made through the generic API
 * have none yet). */
static int bjp_ensure(qf__db *db, const char *batch_id, double now, qf_err *err)
{
	bool pg = qf__db_dialect(db) == QF__PG;
	qf__query q;
	qf__query_init(&q, qf__db_dialect(db));
	/* (PostgreSQL types a parameter in a select list as text: cast it) */
	qf__query_sql(&q, "INSERT INTO batch_job_performance (batch_id, owner_id, org_id, updated_at) "
	                  "SELECT id, owner_id, org_id, ");
	qf__query_time(&q, now);
	qf__query_sql(&q, "%s FROM batches WHERE id = ", pg ? "::timestamptz" : "");
	qf__query_text(&q, batch_id);
	qf__query_sql(&q, " ON CONFLICT (batch_id) DO NOTHING");
	qf__stmt *st = NULL;
	int rc = qf__query_run(&q, db, &st, err);
	if (rc > 0)
		rc = qf__stmt_done(st, err);
	qf__stmt_finalize(st);
	qf__query_release(&q);
	return rc;
}

#define BJP_COLS                                                                                 \
	"execution_start_time, execution_end_time, min_job_time_seconds, max_job_time_seconds, "    \
	"failed_jobs, successful_jobs, timeout_jobs, convergence_failure_jobs, "                 \
	"total_cpu_time_hours, error_breakdown, workers, timed_attempts, job_time_sum_seconds, " \
	"memory_sum_mb"

/* The row as it is (locked until commit on PostgreSQL); *found false when
 * there is none. */
static int bjp_read(qf__db *db, const char *batch_id, bjp *v, bool *found, qf_err *err)
{
	memset(v, 0, sizeof(*v));
	*found = false;
	bool pg = qf__db_dialect(db) == QF__PG;
	qf__stmt *st;
	int rc = qf__db_prepare(db,
	                        pg ? "SELECT " BJP_COLS " FROM batch_job_performance WHERE batch_id = ? "
	                             "FOR UPDATE"
	                           : "SELECT " BJP_COLS " FROM batch_job_performance WHERE batch_id = ?",
	                        &st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, batch_id);
	rc = qf__stmt_step(st, err);
	if (rc == 1) {
		*found = true;
		v->start = qf__stmt_col_time(st, 0);
		v->end = qf__stmt_col_time(st, 1);
		v->has_min = !qf__stmt_col_null(st, 2);
		v->min = qf__stmt_col_double(st, 2);
		v->max = qf__stmt_col_double(st, 3);
		v->failed = qf__stmt_col_int64(st, 4);
		v->successful = qf__stmt_col_int64(st, 5);
		v->timeout = qf__stmt_col_int64(st, 6);
		v->convergence = qf__stmt_col_int64(st, 7);
		v->has_cpu = !qf__stmt_col_null(st, 8);
		v->cpu_hours = qf__stmt_col_double(st, 8);
		size_t len = 0;
		const char *bd = qf__stmt_col_text(st, 9, &len);
		json_error_t je;
		v->breakdown = bd ? json_loadb(bd, len, 0, &je) : NULL;
		v->workers = qf__stmt_col_int64(st, 10);
		v->timed = qf__stmt_col_int64(st, 11);
		v->time_sum = qf__stmt_col_double(st, 12);
		v->mem_sum = qf__stmt_col_double(st, 13);
		rc = qf__stmt_done(st, err);
	}
	qf__stmt_finalize(st);
	if (!rc && *found && !json_is_object(v->breakdown)) {
		json_decref(v->breakdown);
		if (!(v->breakdown = json_object()))
			rc = qf__oom(err);
	}
	return rc;
}

static void q_real_or_null(qf__query *q, bool has, double v)
{
	if (has && isfinite(v))
		qf__query_real(q, v);
	else
		qf__query_null(q);
}

/* Write v, with the values derived from it. */
static int bjp_write(qf__db *db, const char *batch_id, const bjp *v, double now, qf_err *err)
{
	bool pg = qf__db_dialect(db) == QF__PG;
	bool timed = v->timed > 0;
	bool span = v->start > 0 && v->end > 0;
	double total = span ? v->end - v->start : 0;
	qf__query q;
	qf__query_init(&q, qf__db_dialect(db));
	qf__query_sql(&q, "UPDATE batch_job_performance SET execution_start_time = ");
	if (v->start > 0)
		qf__query_time(&q, v->start);
	else
		qf__query_null(&q);
	qf__query_sql(&q, ", execution_end_time = ");
	if (v->end > 0)
		qf__query_time(&q, v->end);
	else
		qf__query_null(&q);
	qf__query_sql(&q, ", total_execution_time_seconds = ");
	q_real_or_null(&q, span, total);
	qf__query_sql(&q, ", average_job_time_seconds = ");
	q_real_or_null(&q, timed, timed ? v->time_sum / (double)v->timed : 0);
	qf__query_sql(&q, ", min_job_time_seconds = ");
	q_real_or_null(&q, timed && v->has_min, v->min);
	qf__query_sql(&q, ", max_job_time_seconds = ");
	q_real_or_null(&q, timed && v->has_min, v->max);
	qf__query_sql(&q, ", failed_jobs = ");
	qf__query_int(&q, v->failed);
	qf__query_sql(&q, ", successful_jobs = ");
	qf__query_int(&q, v->successful);
	qf__query_sql(&q, ", timeout_jobs = ");
	qf__query_int(&q, v->timeout);
	qf__query_sql(&q, ", convergence_failure_jobs = ");
	qf__query_int(&q, v->convergence);
	qf__query_sql(&q, ", average_memory_mb = ");
	q_real_or_null(&q, timed, timed ? v->mem_sum / (double)v->timed : 0);
	qf__query_sql(&q, ", total_cpu_time_hours = ");
	q_real_or_null(&q, v->has_cpu, v->cpu_hours);
	qf__query_sql(&q, ", parallelization_efficiency = ");
	q_real_or_null(&q, timed && v->workers > 0 && total > 0,
	               total > 0 && v->workers > 0 ? v->time_sum / ((double)v->workers * total) : 0);
	qf__query_sql(&q, ", error_breakdown = ");
	qf__query_text_take(&q, json_dumps(v->breakdown, JSON_COMPACT | JSON_SORT_KEYS));
	qf__query_sql(&q, "%s, workers = ", pg ? "::jsonb" : "");
	qf__query_int(&q, v->workers);
	qf__query_sql(&q, ", timed_attempts = ");
	qf__query_int(&q, v->timed);
	qf__query_sql(&q, ", job_time_sum_seconds = ");
	qf__query_real(&q, v->time_sum);
	qf__query_sql(&q, ", memory_sum_mb = ");
	qf__query_real(&q, v->mem_sum);
	qf__query_sql(&q, ", updated_at = ");
	qf__query_time(&q, now);
	qf__query_sql(&q, " WHERE batch_id = ");
	qf__query_text(&q, batch_id);
	qf__stmt *st = NULL;
	int rc = qf__query_run(&q, db, &st, err);
	if (rc > 0)
		rc = qf__stmt_done(st, err);
	qf__stmt_finalize(st);
	qf__query_release(&q);
	return rc;
}

/* A finished attempt from worker: whether the batch sees that slot for the
 * first time (then its batch_workers row is created). */
static int note_worker(qf__db *db, const char *batch_id, const char *worker, double at, bool *first,
                       qf_err *err)
{
	bool pg = qf__db_dialect(db) == QF__PG;
	*first = false;
	char ts[QF_TIME_STR];
	qf__time_format(at, ts);
	qf__stmt *st;
	int rc = qf__db_prepare(db,
	                        "UPDATE batch_workers SET attempts = attempts + 1, updated_at = ? "
	                        "WHERE batch_id = ? AND worker = ?",
	                        &st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, ts);
	qf__stmt_bind_str(st, 2, batch_id);
	qf__stmt_bind_str(st, 3, worker);
	rc = qf__stmt_done(st, err);
	bool had = qf__stmt_changes(st) > 0;
	qf__stmt_finalize(st);
	if (rc || had)
		return rc;
	if ((rc = qf__db_prepare(db,
	                         pg ? "INSERT INTO batch_workers (batch_id, worker, owner_id, org_id, "
	                              "attempts, created_at, updated_at) SELECT id, ?::text, owner_id, "
	                              "org_id, 1, ?::timestamptz, ?::timestamptz FROM batches WHERE id = ?"
	                            : "INSERT INTO batch_workers (batch_id, worker, owner_id, org_id, "
	                              "attempts, created_at, updated_at) SELECT id, ?, owner_id, org_id, "
	                              "1, ?, ? FROM batches WHERE id = ?",
	                         &st, err)))
		return rc;
	qf__stmt_bind_str(st, 1, worker);
	qf__stmt_bind_str(st, 2, ts);
	qf__stmt_bind_str(st, 3, ts);
	qf__stmt_bind_str(st, 4, batch_id);
	rc = qf__stmt_done(st, err);
	*first = qf__stmt_changes(st) > 0;
	qf__stmt_finalize(st);
	return rc;
}

int qf__bjp_apply(qf__db *db, const char *batch_id, const qf__bjp_delta *d, double now,
                  qf_err *err)
{
	if (!batch_id || !*batch_id)
		return 0;
	bjp v;
	bool found = false;
	int rc = bjp_read(db, batch_id, &v, &found, err);
	if (!rc && !found) {
		bjp_release(&v);
		if (!(rc = bjp_ensure(db, batch_id, now, err)))
			rc = bjp_read(db, batch_id, &v, &found, err);
		if (!rc && !found) {
			/* The batch itself is gone: nothing to keep up to date. */
			bjp_release(&v);
			return 0;
		}
	}
	if (rc) {
		bjp_release(&v);
		return rc;
	}
	v.successful += d->successful;
	v.failed += d->failed;
	v.timeout += d->timeout;
	v.convergence += d->convergence;
	add_breakdown(v.breakdown, d->error_type, d->errors);
	if (d->ran) {
		double start = stored_time(d->started_at), end = stored_time(d->finished_at);
		if (start > 0 && (v.start <= 0 || start < v.start))
			v.start = start;
		if (end > 0 && end > v.end)
			v.end = end;
		double w = isfinite(d->wall) ? d->wall : 0;
		if (!v.has_min || w < v.min)
			v.min = w;
		if (!v.has_min || w > v.max)
			v.max = w;
		v.has_min = true;
		v.timed++;
		v.time_sum += w;
		v.mem_sum += isfinite(d->memory) ? d->memory : 0;
		v.cpu_hours = (v.has_cpu ? v.cpu_hours : 0) + (isfinite(d->cpu) ? d->cpu : 0) / 3600.0;
		v.has_cpu = true;
		if (d->worker && *d->worker) {
			bool first = false;
			if ((rc = note_worker(db, batch_id, d->worker, end > 0 ? end : now, &first, err))) {
				bjp_release(&v);
				return rc;
			}
			v.workers += first;
		}
	}
	rc = bjp_write(db, batch_id, &v, now, err);
	bjp_release(&v);
	return rc;
}

/* ---- recomputed from the rows ------------------------------------------------ */

/* The batch's attempts that ran (as qf__bjp_apply counts them). */
#define RAN_ATTEMPTS                                                                             \
	" FROM calculation_execution_metrics WHERE calculation_id IN (SELECT id FROM calculations " \
	"WHERE batch_id = ?) AND wall_time_seconds IS NOT NULL"

static int recompute_attempts(qf__db *db, const char *batch_id, bjp *v, qf_err *err)
{
	qf__stmt *st;
	int rc = qf__db_prepare(db,
	                        "SELECT count(*), coalesce(sum(wall_time_seconds), 0), "
	                        "min(wall_time_seconds), max(wall_time_seconds), "
	                        "coalesce(sum(memory_peak_mb), 0), sum(cpu_time_seconds), "
	                        "min(started_at), max(created_at), count(DISTINCT worker)" RAN_ATTEMPTS,
	                        &st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, batch_id);
	rc = qf__stmt_step(st, err);
	if (rc == 1) {
		v->timed = qf__stmt_col_int64(st, 0);
		v->time_sum = qf__stmt_col_double(st, 1);
		v->has_min = !qf__stmt_col_null(st, 2);
		v->min = qf__stmt_col_double(st, 2);
		v->max = qf__stmt_col_double(st, 3);
		v->mem_sum = qf__stmt_col_double(st, 4);
		v->has_cpu = !qf__stmt_col_null(st, 5);
		v->cpu_hours = qf__stmt_col_double(st, 5) / 3600.0;
		v->start = qf__stmt_col_time(st, 6);
		v->end = qf__stmt_col_time(st, 7);
		v->workers = qf__stmt_col_int64(st, 8);
		rc = qf__stmt_done(st, err);
	}
	qf__stmt_finalize(st);
	return rc;
}

static int recompute_jobs(qf__db *db, const char *batch_id, bjp *v, qf_err *err)
{
	qf__stmt *st;
	int rc = qf__db_prepare(
		db,
		"SELECT coalesce(sum(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0), "
		"coalesce(sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0), "
		"coalesce(sum(CASE WHEN status = 'failed' AND error_category = 'timeout' THEN 1 ELSE 0 END), 0), "
		"coalesce(sum(CASE WHEN status = 'failed' AND error_category = 'convergence' THEN 1 ELSE 0 "
		"END), 0) FROM calculations WHERE batch_id = ?",
		&st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, batch_id);
	rc = qf__stmt_step(st, err);
	if (rc == 1) {
		v->successful = qf__stmt_col_int64(st, 0);
		v->failed = qf__stmt_col_int64(st, 1);
		v->timeout = qf__stmt_col_int64(st, 2);
		v->convergence = qf__stmt_col_int64(st, 3);
		rc = qf__stmt_done(st, err);
	}
	qf__stmt_finalize(st);
	if (rc)
		return rc;
	if ((rc = qf__db_prepare(db,
	                         "SELECT error_type, count(*) FROM calculation_errors WHERE "
	                         "calculation_id IN (SELECT id FROM calculations WHERE batch_id = ?) "
	                         "GROUP BY error_type",
	                         &st, err)))
		return rc;
	qf__stmt_bind_str(st, 1, batch_id);
	rc = qf__stmt_step(st, err);
	while (rc == 1) {
		const char *type = qf__stmt_col_text(st, 0, NULL);
		add_breakdown(v->breakdown, type, qf__stmt_col_int64(st, 1));
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	return rc;
}

/* batch_workers again from the metrics of the attempts that ran. */
static int rebuild_workers(qf__db *db, const char *batch_id, qf_err *err)
{
	qf__stmt *st;
	int rc = qf__db_prepare(db, "DELETE FROM batch_workers WHERE batch_id = ?", &st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, batch_id);
	rc = qf__stmt_done(st, err);
	qf__stmt_finalize(st);
	if (rc)
		return rc;
	if ((rc = qf__db_prepare(db,
	                         "INSERT INTO batch_workers (batch_id, worker, owner_id, org_id, attempts, "
	                         "created_at, updated_at) SELECT b.id, m.worker, b.owner_id, b.org_id, "
	                         "count(*), min(m.created_at), max(m.created_at) FROM "
	                         "calculation_execution_metrics m JOIN calculations c ON c.id = "
	                         "m.calculation_id JOIN batches b ON b.id = c.batch_id WHERE c.batch_id = ? "
	                         "AND m.worker IS NOT NULL AND m.wall_time_seconds IS NOT NULL "
	                         "GROUP BY b.id, b.owner_id, b.org_id, m.worker",
	                         &st, err)))
		return rc;
	qf__stmt_bind_str(st, 1, batch_id);
	rc = qf__stmt_done(st, err);
	qf__stmt_finalize(st);
	return rc;
}

static int bjp_recompute(qf__db *db, const char *batch_id, double now, qf_err *err)
{
	int rc = bjp_ensure(db, batch_id, now, err);
	if (rc)
		return rc;
	bjp v;
	bool found = false;
	/* Read first: on PostgreSQL this locks the row against a concurrent
	 * finish for the rest of the transaction. */
	if ((rc = bjp_read(db, batch_id, &v, &found, err))) {
		bjp_release(&v);
		return rc;
	}
	bjp_release(&v);
	memset(&v, 0, sizeof(v));
	if (!(v.breakdown = json_object()))
		return qf__oom(err);
	if (!(rc = recompute_attempts(db, batch_id, &v, err)) &&
	    !(rc = recompute_jobs(db, batch_id, &v, err)) && !(rc = rebuild_workers(db, batch_id, err)))
		rc = bjp_write(db, batch_id, &v, now, err);
	bjp_release(&v);
	return rc;
}

/* ---- the batch's own state --------------------------------------------------- */

int qf__batch_settle(qf__db *db, const char *batch_id, double now, qf_err *err)
{
	if (!batch_id || !*batch_id)
		return 0;
	char ts[QF_TIME_STR];
	qf__time_format(now, ts);
	qf__stmt *st;
	int rc = qf__db_prepare(db,
	                        "UPDATE batches SET status = CASE WHEN status = 'cancelled' THEN "
	                        "'cancelled' ELSE 'completed' END, finished_at = ?, updated_at = ? "
	                        "WHERE id = ? AND finished_at IS NULL AND NOT EXISTS (SELECT 1 FROM "
	                        "calculations WHERE batch_id = ? AND status IN ('queued', 'running'))",
	                        &st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, ts);
	qf__stmt_bind_str(st, 2, ts);
	qf__stmt_bind_str(st, 3, batch_id);
	qf__stmt_bind_str(st, 4, batch_id);
	rc = qf__stmt_done(st, err);
	bool settled = !rc && qf__stmt_changes(st) > 0;
	qf__stmt_finalize(st);
	/* it finished just now: its owner may want to know */
	if (settled)
		rc = qf__outbox_batch(db, batch_id, now, err);
	return rc;
}

int qf__batch_find(qf__db *db, const qf_actor *a, const char *id, qf__op op,
                   char org[QF_UUID_STR], qf_err *err)
{
	if (org)
		org[0] = '\0';
	if (!id || !qf_uuid_valid(id))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "batch id '%s' is not a lowercase UUID", id ? id : "");
	const qf__table *t = qf__catalog_find("batches");
	qf__query q;
	qf__query_init(&q, qf__db_dialect(db));
	qf__query_sql(&q, "SELECT org_id FROM batches WHERE id = ");
	qf__query_text(&q, id);
	qf__query_sql(&q, " AND ");
	qf__scope_where(&q, t, a, op);
	qf__stmt *st = NULL;
	int rc = qf__query_run(&q, db, &st, err);
	if (rc == 1) {
		const char *o = qf__stmt_col_text(st, 0, NULL);
		if (org)
			qf_strlcpy(org, o ? o : "", QF_UUID_STR);
		rc = qf__stmt_done(st, err);
	} else if (rc == 0) {
		rc = qf_err_setrc(err, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found",
		                  "no batch '%s'", id);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	return rc;
}

/* ---- qf_store_batch_create ------------------------------------------------------ */

int qf_store_batch_create(qf_store *s, const qf_actor *a, const char *name, const qf_spec *spec,
                          const char *source, const char *org_id, char id[QF_UUID_STR],
                          qf_err *err)
{
	if (id)
		id[0] = '\0';
	if (!id)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "a batch needs somewhere to put its id");
	if (a->kind == QF_ACTOR_ANONYMOUS)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.forbidden", "sign in to create a batch");
	if (!name || !*name)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid", "a batch needs a name");
	if (!spec)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid", "a batch needs a spec");
	int rc = qf_spec_validate(spec, err);
	if (rc) {
		qf_err_prefix(err, "the spec of batch '%.64s'", name);
		return rc;
	}
	if (org_id && !qf_uuid_valid(org_id))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "organisation id '%s' is not a lowercase UUID", org_id);
	qf_uuid_v7(id);
	json_t *row = json_pack("{s:s,s:s,s:o,s:s,s:i}", "id", id, "name", name, "spec",
	                        qf_spec_to_json(spec), "status", "queued", "total", 0);
	if (!row) {
		id[0] = '\0';
		/* json_pack refuses a name that is not UTF-8 too */
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "the batch name must be UTF-8 text");
	}
	if (source)
		json_object_set_new(row, "source", json_string(source));
	if (org_id)
		json_object_set_new(row, "org_id", json_string(org_id));
	if (a->kind == QF_ACTOR_SYSTEM)
		json_object_set_new(row, "owner_id", json_string(QF_LOCAL_USER_ID));
	if (source && !json_object_get(row, "source")) {
		json_decref(row);
		id[0] = '\0';
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "the source of a batch must be UTF-8 text");
	}
	/* The batch row through the generic insert (checks, scoping, defaults),
	 * then its statistics row: two transactions, the second one by the
	 * system. A batch without its row gets one at its first change. */
	rc = qf_store_insert(s, a, "batches", row, NULL, err);
	json_decref(row);
	if (rc) {
		id[0] = '\0';
		return rc;
	}
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	if ((rc = qf__tx_begin(s, &sys, true, &tx, err)))
		return rc;
	if ((rc = bjp_ensure(tx.db, id, qf_clock_now(), err))) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}

/* ---- qf_store_batch_status -------------------------------------------------------- */

static int status_counts(qf__db *db, const char *batch_id, json_t *out, qf_err *err)
{
	qf__stmt *st;
	int rc = qf__db_prepare(db,
	                        "SELECT status, count(*) FROM calculations WHERE batch_id = ? GROUP BY "
	                        "status",
	                        &st, err);
	if (rc)
		return rc;
	static const char *const names[] = {"queued", "running", "completed", "failed", "cancelled"};
	json_int_t total = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		json_object_set_new(out, names[i], json_integer(0));
	qf__stmt_bind_str(st, 1, batch_id);
	rc = qf__stmt_step(st, err);
	while (rc == 1) {
		const char *name = qf__stmt_col_text(st, 0, NULL);
		json_int_t k = qf__stmt_col_int64(st, 1);
		if (name)
			json_object_set_new(out, name, json_integer(k));
		total += k;
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	json_object_set_new(out, "total", json_integer(total));
	return rc;
}

/* The batch's failed jobs by error category and by error code. */
static int failures(qf__db *db, const char *batch_id, json_t *out, qf_err *err)
{
	json_t *by_cat = json_object(), *by_code = json_object();
	if (!by_cat || !by_code) {
		json_decref(by_cat);
		json_decref(by_code);
		return qf__oom(err);
	}
	json_object_set_new(out, "by_category", by_cat);
	json_object_set_new(out, "by_code", by_code);
	qf__stmt *st;
	int rc = qf__db_prepare(db,
	                        "SELECT error_category, error_code, count(*) FROM calculations WHERE "
	                        "batch_id = ? AND status = 'failed' GROUP BY error_category, error_code",
	                        &st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, batch_id);
	rc = qf__stmt_step(st, err);
	while (rc == 1) {
		const char *cat = qf__stmt_col_text(st, 0, NULL);
		const char *code = qf__stmt_col_text(st, 1, NULL);
		json_int_t k = qf__stmt_col_int64(st, 2);
		add_breakdown(by_cat, cat ? cat : "unknown", k);
		add_breakdown(by_code, code ? code : "unknown", k);
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	return rc;
}

/* One row of table as JSON (the catalogue's columns), or *out NULL. */
static int row_of(qf__db *db, const char *table, const char *key_col, const char *key, json_t **out,
                  qf_err *err)
{
	*out = NULL;
	const qf__table *t = qf__catalog_find(table);
	qf__query q;
	qf__query_init(&q, qf__db_dialect(db));
	qf__query_sql(&q, "SELECT ");
	qf__query_columns(&q, t);
	qf__query_sql(&q, " FROM \"%s\" WHERE \"%s\" = ", t->name, key_col);
	qf__query_text(&q, key);
	qf__stmt *st = NULL;
	int rc = qf__query_run(&q, db, &st, err);
	if (rc == 1) {
		if (!(*out = qf__row_json(st, t, false, false)))
			rc = qf__oom(err);
		else
			rc = qf__stmt_done(st, err);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	return rc;
}

int qf_store_batch_status(qf_store *s, const qf_actor *a, const char *id, json_t **out,
                          qf_err *err)
{
	if (!out)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "batch status needs somewhere to put it");
	*out = NULL;
	if (a->kind == QF_ACTOR_ANONYMOUS)
		return qf_err_setrc(err, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found", "no batch '%s'",
		                    id ? id : "");
	/* Whether the actor sees the batch, in its own transaction ... */
	qf__tx tx;
	int rc = qf__tx_begin(s, a, false, &tx, err);
	if (rc)
		return rc;
	rc = qf__batch_find(tx.db, a, id, QF__OP_READ, NULL, err);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	if ((rc = qf__tx_commit(&tx, err)))
		return rc;
	/* ... then the whole batch by the system: a batch's statistics are the
	 * same for everyone who sees it, and a viewer may not write the
	 * recomputed row. */
	qf_actor sys = qf_actor_system();
	if ((rc = qf__tx_begin(s, &sys, true, &tx, err)))
		return rc;
	json_t *doc = json_object(), *counts = json_object(), *fails = json_object();
	json_t *batch = NULL, *perf = NULL;
	if (!doc || !counts || !fails) {
		rc = qf__oom(err);
		goto out;
	}
	double now = qf_clock_now();
	if ((rc = bjp_recompute(tx.db, id, now, err)) || (rc = status_counts(tx.db, id, counts, err)) ||
	    (rc = failures(tx.db, id, fails, err)) ||
	    (rc = row_of(tx.db, "batches", "id", id, &batch, err)) ||
	    (rc = row_of(tx.db, "batch_job_performance", "batch_id", id, &perf, err)))
		goto out;
	if (!batch) {
		rc = qf_err_setrc(err, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found", "no batch '%s'", id);
		goto out;
	}
	json_object_set_new(doc, "batch", batch);
	json_object_set_new(doc, "counts", counts);
	json_object_set_new(doc, "failures", fails);
	json_object_set_new(doc, "performance", perf ? perf : json_null());
	batch = counts = fails = perf = NULL;
out:
	json_decref(batch);
	json_decref(perf);
	json_decref(counts);
	json_decref(fails);
	if (rc) {
		json_decref(doc);
		qf__tx_rollback(&tx);
		return rc;
	}
	if ((rc = qf__tx_commit(&tx, err))) {
		json_decref(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

/* ---- qf_store_batch_cancel --------------------------------------------------------- */

/* Run an UPDATE of the batch's calculations the actor may change; *n gets
 * the rows changed. */
static int update_calcs(qf__db *db, const qf_actor *a, const char *col, const char *val,
                        const char *set_sql, bool finished, double now, const char *where_sql, int *n,
                        qf_err *err)
{
	qf__query q;
	qf__query_init(&q, qf__db_dialect(db));
	qf__query_sql(&q, "UPDATE calculations SET %s, updated_at = ", set_sql);
	qf__query_time(&q, now);
	if (finished) {
		qf__query_sql(&q, ", finished_at = ");
		qf__query_time(&q, now);
	}
	qf__query_sql(&q, " WHERE %s = ", col);
	qf__query_text(&q, val);
	qf__query_sql(&q, " AND %s AND ", where_sql);
	qf__scope_where(&q, qf__catalog_find("calculations"), a, QF__OP_UPDATE);
	qf__stmt *st = NULL;
	int rc = qf__query_run(&q, db, &st, err);
	if (rc >= 0) {
		if (rc > 0)
			rc = qf__stmt_done(st, err);
		if (!rc)
			*n = (int)qf__stmt_changes(st);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	return rc;
}

/* Queued jobs (also those whose worker was lost: a late result of theirs is
 * then refused) whose col is val are cancelled; running ones are asked to
 * stop. */
static int cancel_calcs(qf__db *db, const qf_actor *a, const char *col, const char *val, double now,
                        int *c, int *r, qf_err *err)
{
	bool pg = qf__db_dialect(db) == QF__PG;
	int rc = update_calcs(db, a, col, val,
	                      "status = 'cancelled', lease_owner = NULL, lease_token = NULL, "
	                      "lease_expires_at = NULL, not_before = NULL",
	                      true, now, "status = 'queued'", c, err);
	if (!rc)
		rc = update_calcs(db, a, col, val, pg ? "cancel_requested = true" : "cancel_requested = 1",
		                  false, now, "status = 'running' AND NOT cancel_requested", r, err);
	return rc;
}

int qf_store_batch_cancel(qf_store *s, const qf_actor *a, const char *id, int *cancelled,
                          int *requested, qf_err *err)
{
	int c = 0, r = 0;
	if (cancelled)
		*cancelled = 0;
	if (requested)
		*requested = 0;
	if (a->kind == QF_ACTOR_ANONYMOUS)
		return qf_err_setrc(err, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found", "no batch '%s'",
		                    id ? id : "");
	qf__tx tx;
	int rc = qf__tx_begin(s, a, true, &tx, err);
	if (rc)
		return rc;
	double now = qf_clock_now();
	char ts[QF_TIME_STR];
	qf__time_format(now, ts);
	if ((rc = qf__batch_find(tx.db, a, id, QF__OP_UPDATE, NULL, err)))
		goto out;
	if ((rc = cancel_calcs(tx.db, a, "batch_id", id, now, &c, &r, err)))
		goto out;
	/* The batch is cancelled unless it had finished already; it is finished
	 * once its running jobs are. */
	qf__stmt *st;
	if ((rc = qf__db_prepare(tx.db,
	                         "UPDATE batches SET status = 'cancelled', updated_at = ? WHERE id = ? "
	                         "AND finished_at IS NULL",
	                         &st, err)))
		goto out;
	qf__stmt_bind_str(st, 1, ts);
	qf__stmt_bind_str(st, 2, id);
	rc = qf__stmt_done(st, err);
	qf__stmt_finalize(st);
	if (!rc)
		rc = qf__batch_settle(tx.db, id, now, err);
out:
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	if ((rc = qf__tx_commit(&tx, err)))
		return rc;
	if (cancelled)
		*cancelled = c;
	if (requested)
		*requested = r;
	return 0;
}

/* ---- qf_store_batch_retry_failed ---------------------------------------------------- */

typedef struct failed_job {
	char id[QF_UUID_STR];
	char category[16];
	int64_t errors;
} failed_job;

/* Failed jobs whose col is val go back to the queue with a fresh allowance
 * of attempts; validation failures are skipped unless force. *d gets what
 * that does to their batch's statistics. */
static int retry_calcs(qf__db *db, const qf_actor *a, const char *col, const char *val, bool force,
                       double now, int *nq, int *ns, qf__bjp_delta *d, qf_err *err)
{
	bool pg = qf__db_dialect(db) == QF__PG;
	char ts[QF_TIME_STR];
	qf__time_format(now, ts);
	failed_job *jobs = NULL;
	size_t njobs = 0, cap = 0;
	qf__stmt *st = NULL;
	qf__query q;
	qf__query_init(&q, qf__db_dialect(db));
	/* The failed jobs the actor may change, locked. */
	qf__query_sql(&q, "SELECT id, error_category, (SELECT count(*) FROM calculation_errors e WHERE "
	                  "e.calculation_id = calculations.id) FROM calculations WHERE %s = ",
	              col);
	qf__query_text(&q, val);
	qf__query_sql(&q, " AND status = 'failed' AND ");
	qf__scope_where(&q, qf__catalog_find("calculations"), a, QF__OP_UPDATE);
	qf__query_sql(&q, " ORDER BY id%s", pg ? " FOR UPDATE" : "");
	int rc = qf__query_run(&q, db, &st, err);
	while (rc == 1) {
		if (njobs == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			failed_job *nj = realloc(jobs, ncap * sizeof(*jobs));
			if (!nj) {
				rc = qf__oom(err);
				break;
			}
			jobs = nj;
			cap = ncap;
		}
		failed_job *f = &jobs[njobs++];
		const char *cid = qf__stmt_col_text(st, 0, NULL);
		const char *cat = qf__stmt_col_text(st, 1, NULL);
		qf_strlcpy(f->id, cid ? cid : "", sizeof(f->id));
		qf_strlcpy(f->category, cat ? cat : "", sizeof(f->category));
		f->errors = qf__stmt_col_int64(st, 2);
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	st = NULL;
	if (rc)
		goto out;
	if ((rc = qf__db_prepare(db,
	                         pg ? "UPDATE calculations SET status = 'queued', max_attempts = ?, "
	                              "not_before = NULL, lease_owner = NULL, lease_token = NULL, "
	                              "lease_expires_at = NULL, cancel_requested = false, error_category "
	                              "= NULL, error_code = NULL, error_message = NULL, finished_at = NULL, "
	                              "updated_at = ? WHERE id = ? AND status = 'failed'"
	                            : "UPDATE calculations SET status = 'queued', max_attempts = ?, "
	                              "not_before = NULL, lease_owner = NULL, lease_token = NULL, "
	                              "lease_expires_at = NULL, cancel_requested = 0, error_category = "
	                              "NULL, error_code = NULL, error_message = NULL, finished_at = NULL, "
	                              "updated_at = ? WHERE id = ? AND status = 'failed'",
	                         &st, err)))
		goto out;
	for (size_t k = 0; k < njobs; k++) {
		const failed_job *f = &jobs[k];
		/* The input or the spec must change first: run again, it fails
		 * again (unless the caller says the cause went away). */
		if (!strcmp(f->category, "validation") && !force) {
			(*ns)++;
			continue;
		}
		int64_t allow = f->errors + QF_DEFAULT_MAX_ATTEMPTS;
		qf__stmt_reset(st);
		qf__stmt_bind_int64(st, 1, allow > INT32_MAX ? INT32_MAX : allow);
		qf__stmt_bind_str(st, 2, ts);
		qf__stmt_bind_str(st, 3, f->id);
		if ((rc = qf__stmt_done(st, err)))
			goto out;
		if (qf__stmt_changes(st) <= 0)
			continue;
		(*nq)++;
		d->failed--;
		if (!strcmp(f->category, "timeout"))
			d->timeout--;
		else if (!strcmp(f->category, "convergence"))
			d->convergence--;
	}
out:
	qf__stmt_finalize(st);
	qf__query_release(&q);
	free(jobs);
	return rc;
}

/* After nq jobs of a batch were queued again: its statistics and state. */
static int batch_requeued(qf__db *db, const char *id, const qf__bjp_delta *d, double now, qf_err *err)
{
	/* (whoever may change the batch may change its statistics row: both
	 * have the batch's owner and organisation) */
	int rc = qf__bjp_apply(db, id, d, now, err);
	if (rc)
		return rc;
	char ts[QF_TIME_STR];
	qf__time_format(now, ts);
	qf__stmt *st;
	if ((rc = qf__db_prepare(db,
	                         "UPDATE batches SET status = 'queued', finished_at = NULL, updated_at = ? "
	                         "WHERE id = ?",
	                         &st, err)))
		return rc;
	qf__stmt_bind_str(st, 1, ts);
	qf__stmt_bind_str(st, 2, id);
	rc = qf__stmt_done(st, err);
	qf__stmt_finalize(st);
	return rc;
}

int qf_store_batch_retry_failed(qf_store *s, const qf_actor *a, const char *id, bool force,
                                int *requeued, int *skipped, qf_err *err)
{
	int nq = 0, ns = 0;
	if (requeued)
		*requeued = 0;
	if (skipped)
		*skipped = 0;
	if (a->kind == QF_ACTOR_ANONYMOUS)
		return qf_err_setrc(err, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found", "no batch '%s'",
		                    id ? id : "");
	qf__tx tx;
	int rc = qf__tx_begin(s, a, true, &tx, err);
	if (rc)
		return rc;
	double now = qf_clock_now();
	qf__bjp_delta d;
	memset(&d, 0, sizeof(d));
	if (!(rc = qf__batch_find(tx.db, a, id, QF__OP_UPDATE, NULL, err)) &&
	    !(rc = retry_calcs(tx.db, a, "batch_id", id, force, now, &nq, &ns, &d, err)) && nq)
		rc = batch_requeued(tx.db, id, &d, now, err);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	if ((rc = qf__tx_commit(&tx, err)))
		return rc;
	if (requeued)
		*requeued = nq;
	if (skipped)
		*skipped = ns;
	return 0;
}

/* ---- one calculation ---------------------------------------------------------------- */

/* The calculation's status and batch ("" none) when a may change it;
 * store.not_found otherwise. */
static int calc_find(qf__db *db, const qf_actor *a, const char *id, char status[16],
                     char batch[QF_UUID_STR], qf_err *err)
{
	if (!id || !qf_uuid_valid(id))
		return qf_err_setrc(err, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found",
		                    "no calculation '%.64s'", id ? id : "");
	qf__query q;
	qf__query_init(&q, qf__db_dialect(db));
	qf__query_sql(&q, "SELECT status, batch_id FROM calculations WHERE id = ");
	qf__query_text(&q, id);
	qf__query_sql(&q, " AND ");
	qf__scope_where(&q, qf__catalog_find("calculations"), a, QF__OP_UPDATE);
	qf__stmt *st = NULL;
	int rc = qf__query_run(&q, db, &st, err);
	if (rc == 1) {
		const char *v = qf__stmt_col_text(st, 0, NULL), *b = qf__stmt_col_text(st, 1, NULL);
		qf_strlcpy(status, v ? v : "", 16);
		qf_strlcpy(batch, b ? b : "", QF_UUID_STR);
		rc = qf__stmt_done(st, err);
	} else if (rc == 0) {
		rc = qf_err_setrc(err, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found",
		                  "no calculation '%s'", id);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	return rc;
}

int qf_store_calc_cancel(qf_store *s, const qf_actor *a, const char *id, char status[16],
                         qf_err *err)
{
	status[0] = '\0';
	if (a->kind == QF_ACTOR_ANONYMOUS)
		return qf_err_setrc(err, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found",
		                    "no calculation '%.64s'", id ? id : "");
	qf__tx tx;
	int rc = qf__tx_begin(s, a, true, &tx, err);
	if (rc)
		return rc;
	double now = qf_clock_now();
	char batch[QF_UUID_STR];
	int c = 0, r = 0;
	if (!(rc = calc_find(tx.db, a, id, status, batch, err)) &&
	    !(rc = cancel_calcs(tx.db, a, "id", id, now, &c, &r, err)) && c && batch[0])
		rc = qf__batch_settle(tx.db, batch, now, err);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	if ((rc = qf__tx_commit(&tx, err)))
		return rc;
	qf_strlcpy(status, c ? "cancelled" : r ? "cancel_requested" : status, 16);
	return 0;
}

int qf_store_calc_retry(qf_store *s, const qf_actor *a, const char *id, bool force, bool *requeued,
                        qf_err *err)
{
	*requeued = false;
	if (a->kind == QF_ACTOR_ANONYMOUS)
		return qf_err_setrc(err, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found",
		                    "no calculation '%.64s'", id ? id : "");
	qf__tx tx;
	int rc = qf__tx_begin(s, a, true, &tx, err);
	if (rc)
		return rc;
	double now = qf_clock_now();
	char status[16], batch[QF_UUID_STR];
	int nq = 0, ns = 0;
	qf__bjp_delta d;
	memset(&d, 0, sizeof(d));
	if (!(rc = calc_find(tx.db, a, id, status, batch, err))) {
		if (strcmp(status, "failed"))
			rc = qf_err_set(err, QF_CAT_VALIDATION, "store.conflict",
			                "calculation %s is %s: only a failed calculation is retried", id, status);
		else if (!(rc = retry_calcs(tx.db, a, "id", id, force, now, &nq, &ns, &d, err)) && ns)
			rc = qf_err_set(err, QF_CAT_VALIDATION, "store.conflict",
			                "calculation %s failed validation: it would fail again; fix the input "
			                "or the spec, or retry with force",
			                id);
		else if (!rc && nq && batch[0])
			rc = batch_requeued(tx.db, batch, &d, now, err);
	}
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	if ((rc = qf__tx_commit(&tx, err)))
		return rc;
	*requeued = nq > 0;
	return 0;
}
