/*
 * Scheduled retention: a thread of the server that runs qf_store_purge (the
 * same as `qforge db purge`: sessions idle 7 days, metrics and usage logs 90
 * days, audit entries a year, expired logins) every interval, as of the
 * wall clock. It never runs on a request thread, so no request waits for
 * it; the first run comes shortly after start-up (a server restarted more
 * often than the interval still purges). Each run is logged, and its time
 * and counts are kept for /metrics and the dashboard.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_int.h"
#include "qf/clock.h"
#include "qf/limits.h"
#include "qf/log.h"
#include "qf/str.h"

#define MODULE "retention"

struct qf__retention {
	qf_store *store;
	double interval;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* signalled to stop */
	bool stop;

	/* under mu */
	int64_t runs, failures, deleted_total;
	double last_at;    /* wall clock of the last run (0: none yet) */
	double last_s;     /* its duration */
	json_t *last;      /* its counts by table */
	json_t *totals;    /* rows deleted by table since start */
	char last_error[256];
};

/* One run: purge, log, remember. */
static void run_once(qf__retention *t)
{
	qf_actor sys = qf_actor_system();
	qf_err e;
	qf_err_init(&e);
	json_t *counts = NULL;
	double t0 = qf_clock_mono(), now = qf_clock_now();
	int rc = qf_store_purge(t->store, &sys, now, &counts, &e);
	double took = qf_clock_mono() - t0;
	int64_t n = 0;
	const char *table;
	json_t *v;
	json_object_foreach(counts, table, v)
		n += json_integer_value(v);
	if (rc) {
		qf_log_warn(MODULE, "the retention run failed (it is tried again in %.0f s): %s",
		            t->interval, e.message);
	} else {
		char *text = json_dumps(counts, JSON_COMPACT | JSON_SORT_KEYS);
		qf_log_info(MODULE, "deleted %lld rows past retention in %.3f s: %s", (long long)n, took,
		            text ? text : "");
		free(text);
	}
	pthread_mutex_lock(&t->mu);
	t->runs++;
	t->last_at = now;
	t->last_s = took;
	if (rc) {
		t->failures++;
		qf_strlcpy(t->last_error, e.message, sizeof(t->last_error));
		json_decref(counts);
	} else {
		t->last_error[0] = '\0';
		t->deleted_total += n;
		json_object_foreach(counts, table, v) {
			json_t *sum = json_object_get(t->totals, table);
			json_object_set_new(t->totals, table,
			                    json_integer(json_integer_value(sum) + json_integer_value(v)));
		}
		json_decref(t->last);
		t->last = counts;
	}
	pthread_mutex_unlock(&t->mu);
}

/* Wait until the monotonic time until, or a stop; true when stopping. */
static bool wait_until(qf__retention *t, double until)
{
	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		double left = until - qf_clock_mono();
		if (left <= 0)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		double s = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + left;
		ts.tv_sec = (time_t)s;
		ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
		pthread_cond_timedwait(&t->cv, &t->mu, &ts);
	}
	bool stop = t->stop;
	pthread_mutex_unlock(&t->mu);
	return stop;
}

static void *loop(void *arg)
{
	qf__retention *t = arg;
	double first = t->interval < QF_RETENTION_FIRST_S ? t->interval : QF_RETENTION_FIRST_S;
	double next = qf_clock_mono() + first;
	while (!wait_until(t, next)) {
		run_once(t);
		next = qf_clock_mono() + t->interval;
	}
	return NULL;
}

int qf__retention_start(qf__retention **out, qf_store *store, double interval, qf_err *err)
{
	*out = NULL;
	qf__retention *t = calloc(1, sizeof(*t));
	if (!t || !(t->totals = json_object())) {
		free(t);
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	}
	t->store = store;
	t->interval = interval;
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&t->thread, NULL, loop, t);
	if (rc) {
		qf__retention_free(t);
		return qf_err_set(err, QF_CAT_SYSTEM, "serve.start",
		                  "could not start the retention thread: %s", strerror(rc));
	}
	t->started = true;
	*out = t;
	return 0;
}

void qf__retention_stop(qf__retention *t)
{
	if (!t || !t->started)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	t->started = false;
}

void qf__retention_free(qf__retention *t)
{
	if (!t)
		return;
	qf__retention_stop(t);
	json_decref(t->last);
	json_decref(t->totals);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

json_t *qf__retention_status(qf__retention *t)
{
	if (!t)
		return json_pack("{s:b}", "enabled", false);
	pthread_mutex_lock(&t->mu);
	char at[QF_TIME_STR] = "";
	if (t->last_at > 0)
		qf_clock_format(t->last_at, at);
	json_t *doc = json_pack("{s:b,s:f,s:I,s:I,s:I,s:f,s:O,s:O}", "enabled", true,
	                        "interval_seconds", t->interval, "runs", (json_int_t)t->runs,
	                        "failures", (json_int_t)t->failures, "rows_deleted_total",
	                        (json_int_t)t->deleted_total, "last_run_seconds", t->last_s,
	                        "last_deleted", t->last ? t->last : json_null(), "deleted_by_table",
	                        t->totals);
	if (doc) {
		json_object_set_new(doc, "last_run_at", t->last_at > 0 ? json_string(at) : json_null());
		json_object_set_new(doc, "last_error",
		                    t->last_error[0] ? json_string(t->last_error) : json_null());
	}
	pthread_mutex_unlock(&t->mu);
	return doc;
}
