/*
 * /metrics in the Prometheus text format (version 0.0.4): requests by route,
 * method and status, a latency histogram per route, the queue (depth, jobs
 * by status), a histogram of job durations, the workers (running,
 * restarts), the usage-log writer, the live-event subscribers and the build.
 * Request counters are atomics updated by the request threads; the store's
 * figures are read when scraped, at most every COUNTS_TTL_S.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "qf/clock.h"

#define NSTATUS 24
#define COUNTS_TTL_S 2.0

static const double lat_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
#define NLAT (sizeof(lat_bounds) / sizeof(lat_bounds[0]))
static const double job_bounds[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400};
#define NJOB (sizeof(job_bounds) / sizeof(job_bounds[0]))

typedef struct route_stats {
	atomic_int status[NSTATUS];         /* the status codes seen, 0 = free */
	atomic_llong count[NSTATUS];
	atomic_llong lat[NLAT + 1];          /* per bucket (not cumulative); last: +Inf */
	atomic_llong lat_sum_us;
} route_stats;

struct qf__metrics {
	size_t n;            /* routes; index n: requests without a route */
	double started;
	route_stats r[];
};

qf__metrics *qf__metrics_new(size_t nroutes)
{
	qf__metrics *m = calloc(1, sizeof(*m) + (nroutes + 1) * sizeof(route_stats));
	if (m) {
		m->n = nroutes;
		m->started = qf_clock_now();
	}
	return m;
}

void qf__metrics_free(qf__metrics *m)
{
	free(m);
}

void qf__metrics_request(qf__metrics *m, int ri, int status, double seconds)
{
	if (!m)
		return;
	route_stats *rs = &m->r[ri >= 0 && (size_t)ri < m->n ? (size_t)ri : m->n];
	for (int i = 0; i < NSTATUS; i++) {
		int cur = atomic_load(&rs->status[i]);
		if (cur == 0) {
			int zero = 0;
			if (!atomic_compare_exchange_strong(&rs->status[i], &zero, status))
				cur = zero;
			else
				cur = status;
		}
		if (cur == status) {
			atomic_fetch_add(&rs->count[i], 1);
			break;
		}
	}
	size_t b = 0;
	while (b < NLAT && seconds > lat_bounds[b])
		b++;
	atomic_fetch_add(&rs->lat[b], 1);
	atomic_fetch_add(&rs->lat_sum_us, (long long)llround(seconds * 1e6));
}

/* Route labels: the template, escaped for a label value. */
static void label(qf_buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			qf_buf_puts(out, "\\");
		if (*s == '\n')
			qf_buf_puts(out, "\\n");
		else
			qf_buf_append(out, s, 1);
	}
}

static void route_labels(qf_buf *out, qf_server *s, size_t i)
{
	qf_buf_puts(out, "route=\"");
	label(out, i < s->nroutes ? s->routes[i].path : "(none)");
	qf_buf_puts(out, "\",method=\"");
	label(out, i < s->nroutes ? s->routes[i].method : "");
	qf_buf_puts(out, "\"");
}

/* The scheduled retention: runs, failures, rows deleted by table, the
 * last run's time. */
static void render_retention(qf_server *s, qf_buf *out)
{
	json_t *st = qf__retention_status(s->retention);
	qf_buf_printf(out, "# HELP qforge_retention_runs_total Runs of the scheduled retention "
	                   "(qf_store_purge).\n# TYPE qforge_retention_runs_total counter\n"
	                   "qforge_retention_runs_total %lld\n"
	                   "# HELP qforge_retention_failures_total Runs of the scheduled retention "
	                   "that failed.\n# TYPE qforge_retention_failures_total counter\n"
	                   "qforge_retention_failures_total %lld\n",
	              (long long)json_integer_value(json_object_get(st, "runs")),
	              (long long)json_integer_value(json_object_get(st, "failures")));
	qf_buf_puts(out, "# HELP qforge_retention_rows_deleted_total Rows the scheduled retention "
	                 "deleted, by table.\n# TYPE qforge_retention_rows_deleted_total counter\n");
	const char *table;
	json_t *v;
	json_object_foreach(json_object_get(st, "deleted_by_table"), table, v) {
		qf_buf_puts(out, "qforge_retention_rows_deleted_total{table=\"");
		label(out, table);
		qf_buf_printf(out, "\"} %lld\n", (long long)json_integer_value(v));
	}
	double at = 0;
	const char *ts = json_string_value(json_object_get(st, "last_run_at"));
	if (ts)
		qf_clock_parse(ts, &at);
	qf_buf_printf(out, "# HELP qforge_retention_last_run_timestamp_seconds When the scheduled "
	                   "retention last ran (Unix time; 0: not yet).\n"
	                   "# TYPE qforge_retention_last_run_timestamp_seconds gauge\n"
	                   "qforge_retention_last_run_timestamp_seconds %.3f\n",
	              at);
	json_decref(st);
}

int qf__metrics_render(qf_server *s, qf_buf *out, qf_err *err)
{
	qf__metrics *m = s->metrics;
	qf_buf_printf(out, "# HELP qforge_build_info The running build of qforge.\n"
	                   "# TYPE qforge_build_info gauge\n"
	                   "qforge_build_info{version=\"%s\",store=\"%s\"} 1\n",
	              QF_VERSION, qf_store_backend(s->store));
	qf_buf_printf(out, "# HELP qforge_start_time_seconds When the server started (Unix time).\n"
	                   "# TYPE qforge_start_time_seconds gauge\nqforge_start_time_seconds %.3f\n",
	              m->started);
	qf_buf_puts(out, "# HELP qforge_http_requests_total HTTP requests answered, by route "
	                 "template, method and status.\n# TYPE qforge_http_requests_total counter\n");
	for (size_t i = 0; i <= m->n; i++)
		for (int k = 0; k < NSTATUS; k++) {
			int st = atomic_load(&m->r[i].status[k]);
			if (!st)
				break;
			qf_buf_puts(out, "qforge_http_requests_total{");
			route_labels(out, s, i);
			qf_buf_printf(out, ",status=\"%d\"} %lld\n", st, atomic_load(&m->r[i].count[k]));
		}
	qf_buf_puts(out, "# HELP qforge_http_request_duration_seconds Time from a request's headers "
	                 "to its answer.\n# TYPE qforge_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i <= m->n; i++) {
		long long cum = 0, total = 0;
		for (size_t b = 0; b <= NLAT; b++)
			total += atomic_load(&m->r[i].lat[b]);
		if (!total)
			continue;
		for (size_t b = 0; b <= NLAT; b++) {
			cum += atomic_load(&m->r[i].lat[b]);
			qf_buf_puts(out, "qforge_http_request_duration_seconds_bucket{");
			route_labels(out, s, i);
			if (b < NLAT)
				qf_buf_printf(out, ",le=\"%g\"} %lld\n", lat_bounds[b], cum);
			else
				qf_buf_printf(out, ",le=\"+Inf\"} %lld\n", cum);
		}
		qf_buf_puts(out, "qforge_http_request_duration_seconds_sum{");
		route_labels(out, s, i);
		qf_buf_printf(out, "} %.6f\n", atomic_load(&m->r[i].lat_sum_us) / 1e6);
		qf_buf_puts(out, "qforge_http_request_duration_seconds_count{");
		route_labels(out, s, i);
		qf_buf_printf(out, "} %lld\n", total);
	}

	/* the store's figures, cached briefly: a scrape every second must not
	 * become a full count every second */
	pthread_mutex_lock(&s->cache_mu);
	json_t *c = NULL;
	double now = qf_clock_mono();
	if (s->counts && now - s->counts_at < COUNTS_TTL_S) {
		c = json_incref(s->counts);
	} else {
		qf_actor sys = qf_actor_system();
		qf_queue_counts qc;
		int64_t cum[NJOB], count = 0;
		double sum = 0;
		int rc = qf_store_queue_counts(s->store, &sys, NULL, &qc, err);
		if (!rc)
			rc = qf_store_job_durations(s->store, &sys, job_bounds, (int)NJOB, cum, &count, &sum, err);
		if (!rc) {
			json_t *h = json_array();
			for (size_t b = 0; h && b < NJOB; b++)
				json_array_append_new(h, json_integer(cum[b]));
			c = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:I,s:f}", "queued", (json_int_t)qc.queued,
			              "ready", (json_int_t)qc.ready, "running", (json_int_t)qc.running,
			              "completed", (json_int_t)qc.completed, "failed", (json_int_t)qc.failed,
			              "cancelled", (json_int_t)qc.cancelled, "hist", h, "count",
			              (json_int_t)count, "sum", sum);
			if (c) {
				json_decref(s->counts);
				s->counts = json_incref(c);
				s->counts_at = now;
			}
		}
	}
	pthread_mutex_unlock(&s->cache_mu);
	if (!c)
		return err && err->rc ? err->rc : QF_ESYS;
	qf_buf_printf(out, "# HELP qforge_queue_depth Calculations waiting to run (claimable now or "
	                   "later).\n# TYPE qforge_queue_depth gauge\nqforge_queue_depth %lld\n",
	              (long long)json_integer_value(json_object_get(c, "queued")));
	qf_buf_printf(out, "# HELP qforge_queue_ready Calculations claimable now.\n"
	                   "# TYPE qforge_queue_ready gauge\nqforge_queue_ready %lld\n",
	              (long long)json_integer_value(json_object_get(c, "ready")));
	qf_buf_puts(out, "# HELP qforge_jobs Calculations in the store, by status.\n"
	                 "# TYPE qforge_jobs gauge\n");
	static const char *const sts[] = {"queued", "running", "completed", "failed", "cancelled"};
	for (size_t i = 0; i < 5; i++)
		qf_buf_printf(out, "qforge_jobs{status=\"%s\"} %lld\n", sts[i],
		              (long long)json_integer_value(json_object_get(c, sts[i])));
	qf_buf_puts(out, "# HELP qforge_job_duration_seconds Wall time of calculation attempts.\n"
	                 "# TYPE qforge_job_duration_seconds histogram\n");
	json_t *h = json_object_get(c, "hist");
	for (size_t b = 0; b < NJOB; b++)
		qf_buf_printf(out, "qforge_job_duration_seconds_bucket{le=\"%g\"} %lld\n", job_bounds[b],
		              (long long)json_integer_value(json_array_get(h, b)));
	long long jc = (long long)json_integer_value(json_object_get(c, "count"));
	qf_buf_printf(out, "qforge_job_duration_seconds_bucket{le=\"+Inf\"} %lld\n", jc);
	qf_buf_printf(out, "qforge_job_duration_seconds_sum %.6f\nqforge_job_duration_seconds_count %lld\n",
	              json_real_value(json_object_get(c, "sum")), jc);
	json_decref(c);
	qf_buf_printf(out, "# HELP qforge_workers Worker processes this server supervises, running.\n"
	                   "# TYPE qforge_workers gauge\nqforge_workers %d\n",
	              s->sup ? qf__supervisor_running(s->sup) : 0);
	qf_buf_printf(out, "# HELP qforge_worker_restarts_total Worker processes restarted after they "
	                   "died.\n# TYPE qforge_worker_restarts_total counter\n"
	                   "qforge_worker_restarts_total %lld\n",
	              (long long)(s->sup ? qf__supervisor_restarts(s->sup) : 0));
	qf_buf_printf(out, "# HELP qforge_usage_log_written_total API usage and audit rows written.\n"
	                   "# TYPE qforge_usage_log_written_total counter\n"
	                   "qforge_usage_log_written_total %lld\n"
	                   "# HELP qforge_usage_log_dropped_total API usage and audit rows dropped "
	                   "(queue full or store unreachable).\n"
	                   "# TYPE qforge_usage_log_dropped_total counter\n"
	                   "qforge_usage_log_dropped_total %lld\n",
	              (long long)qf__writer_written(s->writer), (long long)qf__writer_dropped(s->writer));
	render_retention(s, out);
	return out->len ? 0 : QF_ENOMEM;
}
