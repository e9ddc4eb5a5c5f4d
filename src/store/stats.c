/*
 * Aggregates for the dashboard and /metrics (include/qf/store.h): average
 * job time by molecule size, method and optimisation level; failures by
 * category and code; throughput and average time over a window against the
 * window before (the "is it slowing down" question); queue depth over time
 * from the queue_length samples; and the histogram of job durations. Every
 * aggregate is over the rows the actor may read (the base table scoped in a
 * subquery, as every read of the store).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* Run q (SELECT label, count, average...) and append {"label":..,"count":..,
 * "average_wall_time_seconds":..} objects to arr. */
static int rows_of(qf__db *db, qf__query *q, json_t *arr, const char *const *names, int ncols,
                   qf_err *err)
{
	qf__stmt *st = NULL;
	int rc = qf__query_run(q, db, &st, err);
	while (rc == 1) {
		json_t *o = json_object();
		for (int i = 0; o && i < ncols; i++) {
			json_t *v;
			if (qf__stmt_col_null(st, i))
				v = json_null();
			else if (!strcmp(names[i], "count"))
				v = json_integer(qf__stmt_col_int64(st, i));
			else if (i == 0 || !strncmp(names[i], "error_", 6)) {
				const char *t = qf__stmt_col_text(st, i, NULL);
				v = json_string(t ? t : "");
			} else
				v = json_real(qf__stmt_col_double(st, i));
			json_object_set_new(o, names[i], v);
		}
		if (!o || json_array_append_new(arr, o)) {
			rc = qf__oom(err);
			break;
		}
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	return rc;
}

/* The metrics rows the actor may read, as the subquery "cem". */
static void scoped_metrics(qf__query *q, const qf_actor *a)
{
	qf__query_sql(q, "(SELECT * FROM calculation_execution_metrics WHERE wall_time_seconds IS NOT "
	                 "NULL AND ");
	qf__scope_where(q, qf__catalog_find("calculation_execution_metrics"), a, QF__OP_READ);
	qf__query_sql(q, ") cem");
}

#define SIZE_BUCKET                                                                               \
	"CASE WHEN m.natoms <= 10 THEN '1-10' WHEN m.natoms <= 25 THEN '11-25' WHEN m.natoms <= 50 " \
	"THEN '26-50' WHEN m.natoms <= 100 THEN '51-100' WHEN m.natoms <= 250 THEN '101-250' WHEN "  \
	"m.natoms <= 500 THEN '251-500' WHEN m.natoms <= 1000 THEN '501-1000' ELSE '>1000' END"

static int by_group(qf__db *db, const qf_actor *a, const char *label_sql, bool join_molecules,
                    const char *order, json_t *arr, qf_err *err)
{
	qf__query q;
	qf__query_init(&q, qf__db_dialect(db));
	qf__query_sql(&q, "SELECT %s AS label, count(*), avg(cem.wall_time_seconds), "
	                  "min(cem.wall_time_seconds), max(cem.wall_time_seconds), avg(cem.memory_peak_mb) "
	                  "FROM ",
	              label_sql);
	scoped_metrics(&q, a);
	if (join_molecules)
		qf__query_sql(&q, " JOIN calculations c ON c.id = cem.calculation_id JOIN molecules m ON "
		                  "m.id = c.molecule_id");
	qf__query_sql(&q, " GROUP BY 1 ORDER BY %s", order);
	static const char *const names[] = {"label", "count", "average_wall_time_seconds",
	                                    "min_wall_time_seconds", "max_wall_time_seconds",
	                                    "average_memory_mb"};
	int rc = q.rc ? q.rc : rows_of(db, &q, arr, names, 6, err);
	qf__query_release(&q);
	return rc;
}

static int failures(qf__db *db, const qf_actor *a, double since, json_t *arr, qf_err *err)
{
	qf__query q;
	qf__query_init(&q, qf__db_dialect(db));
	qf__query_sql(&q, "SELECT error_type, error_code, count(*) FROM calculation_errors WHERE ");
	qf__scope_where(&q, qf__catalog_find("calculation_errors"), a, QF__OP_READ);
	if (since > 0) {
		qf__query_sql(&q, " AND created_at >= ");
		qf__query_time(&q, since);
	}
	qf__query_sql(&q, " GROUP BY error_type, error_code ORDER BY 3 DESC, 1, 2 LIMIT 100");
	static const char *const names[] = {"error_type", "error_code", "count"};
	int rc = q.rc ? q.rc : rows_of(db, &q, arr, names, 3, err);
	qf__query_release(&q);
	return rc;
}

/* Count and average wall time of the attempts that finished in [from, to). */
static int window(qf__db *db, const qf_actor *a, double from, double to, int64_t *count,
                  double *avg, qf_err *err)
{
	qf__query q;
	qf__query_init(&q, qf__db_dialect(db));
	qf__query_sql(&q, "SELECT count(*), avg(wall_time_seconds) FROM calculation_execution_metrics "
	                  "WHERE wall_time_seconds IS NOT NULL AND created_at >= ");
	qf__query_time(&q, from);
	qf__query_sql(&q, " AND created_at < ");
	qf__query_time(&q, to);
	qf__query_sql(&q, " AND ");
	qf__scope_where(&q, qf__catalog_find("calculation_execution_metrics"), a, QF__OP_READ);
	qf__stmt *st = NULL;
	int rc = q.rc ? q.rc : qf__query_run(&q, db, &st, err);
	*count = 0;
	*avg = NAN;
	if (rc == 1) {
		*count = qf__stmt_col_int64(st, 0);
		if (!qf__stmt_col_null(st, 1))
			*avg = qf__stmt_col_double(st, 1);
		rc = qf__stmt_done(st, err);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	return rc;
}

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* Queue length samples (performance_metrics, metric_type queue_length)
 * since `since`, oldest first. */
static int queue_series(qf__db *db, const qf_actor *a, double since, json_t *arr, qf_err *err)
{
	qf__query q;
	qf__query_init(&q, qf__db_dialect(db));
	qf__query_sql(&q, "SELECT \"timestamp\", metric_name, value FROM performance_metrics WHERE "
	                  "metric_type = 'queue_length' AND \"timestamp\" >= ");
	qf__query_time(&q, since);
	qf__query_sql(&q, " AND ");
	qf__scope_where(&q, qf__catalog_find("performance_metrics"), a, QF__OP_READ);
	qf__query_sql(&q, " ORDER BY \"timestamp\" LIMIT 10000");
	qf__stmt *st = NULL;
	int rc = q.rc ? q.rc : qf__query_run(&q, db, &st, err);
	while (rc == 1) {
		char ts[QF_TIME_STR];
		qf__time_format(qf__stmt_col_time(st, 0), ts);
		const char *name = qf__stmt_col_text(st, 1, NULL);
		json_t *o = json_pack("{s:s,s:s,s:f}", "time", ts, "name", name ? name : "",
		                      "value", qf__stmt_col_double(st, 2));
		if (!o || json_array_append_new(arr, o)) {
			rc = qf__oom(err);
			break;
		}
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	return rc;
}

int qf_store_dashboard(qf_store *s, const qf_actor *a, double window_s, double threshold_s,
                       double slow_factor, json_t **out, qf_err *err)
{
	*out = NULL;
	if (!(window_s > 0) || window_s > 366 * 86400.0)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "the window must be 1 s to 366 days");
	double now = qf_clock_now();
	qf_queue_counts qc;
	int rc = qf_store_queue_counts(s, a, NULL, &qc, err);
	if (rc)
		return rc;
	json_t *doc = json_object(), *atoms = json_array(), *methods = json_array(),
	       *levels = json_array(), *fails = json_array(), *series = json_array(),
	       *queue = json_array();
	if (!doc || !atoms || !methods || !levels || !fails || !series || !queue) {
		json_decref(doc);
		json_decref(atoms);
		json_decref(methods);
		json_decref(levels);
		json_decref(fails);
		json_decref(series);
		json_decref(queue);
		return qf__oom(err);
	}
	json_object_set_new(doc, "by_atom_count", atoms);
	json_object_set_new(doc, "by_method", methods);
	json_object_set_new(doc, "by_optimization_level", levels);
	json_object_set_new(doc, "failures", fails);
	json_object_set_new(doc, "throughput_series", series);
	json_object_set_new(doc, "queue_series", queue);
	qf__tx tx;
	if ((rc = qf__tx_begin(s, a, false, &tx, err))) {
		json_decref(doc);
		return rc;
	}
	int64_t cur_n = 0, prev_n = 0;
	double cur_avg = NAN, prev_avg = NAN;
	if (!rc)
		rc = by_group(tx.db, a, SIZE_BUCKET, true, "min(m.natoms)", atoms, err);
	if (!rc)
		rc = by_group(tx.db, a, "cem.method", false, "1", methods, err);
	if (!rc)
		rc = by_group(tx.db, a, "cem.optimization_level", false, "1", levels, err);
	if (!rc)
		rc = failures(tx.db, a, 0, fails, err);
	if (!rc)
		rc = window(tx.db, a, now - window_s, now, &cur_n, &cur_avg, err);
	if (!rc)
		rc = window(tx.db, a, now - 2 * window_s, now - window_s, &prev_n, &prev_avg, err);
	/* twelve slices of the window: completions and their average time */
	const int slices = 12;
	for (int i = 0; !rc && i < slices; i++) {
		double from = now - window_s + i * window_s / slices, to = from + window_s / slices;
		int64_t n;
		double avg;
		rc = window(tx.db, a, from, to, &n, &avg, err);
		if (!rc) {
			char ts[QF_TIME_STR];
			qf__time_format(from, ts);
			json_t *o = json_pack("{s:s,s:I,s:o,s:f}", "start", ts, "completed", (json_int_t)n,
			                      "average_wall_time_seconds", num(avg), "per_hour",
			                      n * 3600.0 / (window_s / slices));
			if (!o || json_array_append_new(series, o))
				rc = qf__oom(err);
		}
	}
	if (!rc)
		rc = queue_series(tx.db, a, now - window_s, queue, err);
	if (rc) {
		qf__tx_rollback(&tx);
		json_decref(doc);
		return rc;
	}
	if ((rc = qf__tx_commit(&tx, err))) {
		json_decref(doc);
		return rc;
	}
	bool slow;
	const char *why;
	if (threshold_s > 0) {
		slow = isfinite(cur_avg) && cur_avg > threshold_s;
		why = "the average job time of the window is above the threshold";
	} else {
		slow = isfinite(cur_avg) && isfinite(prev_avg) && prev_avg > 0 &&
		       cur_avg > slow_factor * prev_avg;
		why = "the average job time of the window is above the factor times the previous window's";
	}
	json_object_set_new(doc, "queue",
	                    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "queued", (json_int_t)qc.queued, "ready",
	                              (json_int_t)qc.ready, "running", (json_int_t)qc.running,
	                              "completed", (json_int_t)qc.completed, "failed",
	                              (json_int_t)qc.failed, "cancelled", (json_int_t)qc.cancelled));
	char ts[QF_TIME_STR];
	qf__time_format(now, ts);
	json_t *tp = json_pack("{s:f,s:s,s:I,s:o,s:f,s:I,s:o}", "window_seconds", window_s, "until", ts,
	                       "completed", (json_int_t)cur_n, "average_wall_time_seconds", num(cur_avg),
	                       "per_hour", cur_n * 3600.0 / window_s, "previous_completed",
	                       (json_int_t)prev_n, "previous_average_wall_time_seconds", num(prev_avg));
	json_object_set_new(doc, "throughput", tp);
	json_t *alert = json_pack("{s:b,s:s,s:o,s:f}", "slow", slow, "rule", why, "threshold_seconds",
	                          threshold_s > 0 ? json_real(threshold_s) : json_null(), "factor",
	                          slow_factor);
	json_object_set_new(doc, "alert", alert);
	*out = doc;
	return 0;
}

int qf_store_job_durations(qf_store *s, const qf_actor *a, const double *bounds, int nb,
                           int64_t *cumulative, int64_t *count, double *sum, qf_err *err)
{
	qf__query q;
	qf__query_init(&q, s->dialect);
	qf__query_sql(&q, "SELECT count(*), coalesce(sum(wall_time_seconds), 0)");
	for (int i = 0; i < nb; i++) {
		qf__query_sql(&q, ", coalesce(sum(CASE WHEN wall_time_seconds <= ");
		qf__query_real(&q, bounds[i]);
		qf__query_sql(&q, " THEN 1 ELSE 0 END), 0)");
	}
	qf__query_sql(&q, " FROM calculation_execution_metrics WHERE wall_time_seconds IS NOT NULL AND ");
	qf__scope_where(&q, qf__catalog_find("calculation_execution_metrics"), a, QF__OP_READ);
	qf__tx tx;
	int rc = qf__tx_begin(s, a, false, &tx, err);
	if (rc) {
		qf__query_release(&q);
		return rc;
	}
	qf__stmt *st = NULL;
	rc = q.rc ? q.rc : qf__query_run(&q, tx.db, &st, err);
	if (rc == 1) {
		*count = qf__stmt_col_int64(st, 0);
		*sum = qf__stmt_col_double(st, 1);
		for (int i = 0; i < nb; i++)
			cumulative[i] = qf__stmt_col_int64(st, 2 + i);
		rc = qf__stmt_done(st, err);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}

int qf_store_changes(qf_store *s, const char *table, double since, int limit, json_t **out,
                     qf_err *err)
{
	*out = NULL;
	bool calcs = !strcmp(table, "calculations");
	if (!calcs && strcmp(table, "batches"))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "changes are followed for calculations and batches only");
	if (limit < 1 || limit > QF_STORE_MAX_LIMIT)
		limit = QF_STORE_MAX_LIMIT;
	qf_actor sys = qf_actor_system();
	qf__query q;
	qf__query_init(&q, s->dialect);
	qf__query_sql(&q,
	              calcs ? "SELECT id, owner_id, org_id, batch_id, status, updated_at, error_code FROM "
	                      "calculations WHERE updated_at >= "
	                    : "SELECT id, owner_id, org_id, NULL, status, updated_at, name, total FROM "
	                      "batches WHERE updated_at >= ");
	qf__query_time(&q, since);
	qf__query_sql(&q, " ORDER BY updated_at, id LIMIT ");
	qf__query_int(&q, limit);
	json_t *arr = json_array();
	if (!arr) {
		qf__query_release(&q);
		return qf__oom(err);
	}
	qf__tx tx;
	int rc = qf__tx_begin(s, &sys, false, &tx, err);
	qf__stmt *st = NULL;
	if (!rc)
		rc = q.rc ? q.rc : qf__query_run(&q, tx.db, &st, err);
	while (rc == 1) {
		char ts[QF_TIME_STR];
		qf__time_format(qf__stmt_col_time(st, 5), ts);
		const char *cols[] = {"id", "owner_id", "org_id", "batch_id", "status"};
		json_t *o = json_object();
		for (int i = 0; o && i < 5; i++) {
			const char *v = qf__stmt_col_text(st, i, NULL);
			json_object_set_new(o, cols[i], v ? json_string(v) : json_null());
		}
		if (o) {
			json_object_set_new(o, "updated_at", json_string(ts));
			const char *extra = qf__stmt_col_text(st, 6, NULL);
			json_object_set_new(o, calcs ? "error_code" : "name", extra ? json_string(extra) : json_null());
			if (!calcs) {
				json_object_del(o, "batch_id");
				json_object_set_new(o, "total", json_integer(qf__stmt_col_int64(st, 7)));
			}
		}
		if (!o || json_array_append_new(arr, o)) {
			rc = qf__oom(err);
			break;
		}
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	if (rc) {
		if (tx.s)
			qf__tx_rollback(&tx);
		json_decref(arr);
		return rc;
	}
	if ((rc = qf__tx_commit(&tx, err))) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

int qf_store_queue_by_owner(qf_store *s, json_t **out, qf_err *err)
{
	*out = NULL;
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	int rc = qf__tx_begin(s, &sys, false, &tx, err);
	if (rc)
		return rc;
	json_t *arr = json_array();
	qf__stmt *st = NULL;
	rc = arr ? qf__db_prepare(tx.db,
	                          "SELECT owner_id, sum(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), "
	                          "sum(CASE WHEN status = 'running' THEN 1 ELSE 0 END) FROM calculations "
	                          "WHERE status IN ('queued', 'running') GROUP BY owner_id LIMIT 10000",
	                          &st, err)
	         : qf__oom(err);
	if (!rc)
		rc = qf__stmt_step(st, err);
	while (rc == 1) {
		const char *owner = qf__stmt_col_text(st, 0, NULL);
		json_t *o = json_pack("{s:s,s:f,s:f}", "owner_id", owner ? owner : "", "queued",
		                      (double)qf__stmt_col_int64(st, 1), "running",
		                      (double)qf__stmt_col_int64(st, 2));
		if (!o || json_array_append_new(arr, o)) {
			rc = qf__oom(err);
			break;
		}
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	if (rc) {
		qf__tx_rollback(&tx);
		json_decref(arr);
		return rc;
	}
	if ((rc = qf__tx_commit(&tx, err))) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

int qf_store_storage_used(qf_store *s, const char *user_id, int64_t *bytes, qf_err *err)
{
	*bytes = 0;
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	int rc = qf__tx_begin(s, &sys, false, &tx, err);
	if (rc)
		return rc;
	/* bytes, not characters, of text and JSON columns on both backends */
	static const char *const sql[] = {
		[QF__SQLITE] =
			"SELECT (SELECT coalesce(sum(length(CAST(atomic_numbers AS BLOB)) + "
			"length(CAST(coordinates AS BLOB)) + coalesce(length(CAST(input_text AS BLOB)), 0) + "
			"coalesce(length(CAST(embedding AS BLOB)), 0)), 0) FROM molecules WHERE owner_id = ?) + "
			"(SELECT coalesce(sum(length(CAST(results AS BLOB))), 0) FROM calculations WHERE "
			"owner_id = ?)",
		[QF__PG] =
			"SELECT ((SELECT coalesce(sum(octet_length(atomic_numbers::text) + "
			"octet_length(coordinates::text) + coalesce(octet_length(input_text), 0) + "
			"coalesce(octet_length(embedding::text), 0)), 0) FROM molecules WHERE owner_id = ?) + "
			"(SELECT coalesce(sum(octet_length(results::text)), 0) FROM calculations WHERE "
			"owner_id = ?))::bigint",
	};
	qf__stmt *st = NULL;
	rc = qf__db_prepare(tx.db, sql[qf__db_dialect(tx.db)], &st, err);
	if (!rc) {
		qf__stmt_bind_str(st, 1, user_id);
		qf__stmt_bind_str(st, 2, user_id);
		rc = qf__stmt_step(st, err);
		if (rc == 1) {
			*bytes = qf__stmt_col_int64(st, 0);
			rc = 0;
		}
	}
	qf__stmt_finalize(st);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}
