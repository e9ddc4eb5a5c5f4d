/*
 * The writer of the API usage log and the audit log: requests queue rows
 * (never waiting), a thread of its own writes them in batches, one
 * transaction per table per batch, every QF_USAGE_FLUSH_S. A full queue
 * drops rows and counts them (qforge_usage_log_dropped_total) rather than
 * slow requests down; while the store is unreachable, the batch waits and is
 * tried again.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_int.h"
#include "qf/clock.h"
#include "qf/log.h"
#include "qf/str.h"

typedef struct item {
	const char *table; /* a literal */
	json_t *row;
} item;

struct qf__writer {
	qf_store *store;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	item *q;
	size_t head, n;
	bool stop;
	uint64_t queued, finished; /* sequence numbers: rows queued / written or dropped */
	uint64_t flush_to;
	int64_t dropped, written;
};

static void abs_after(struct timespec *ts, double s)
{
	clock_gettime(CLOCK_REALTIME, ts);
	double t = (double)ts->tv_sec + ts->tv_nsec * 1e-9 + s;
	ts->tv_sec = (time_t)t;
	ts->tv_nsec = (long)((t - floor(t)) * 1e9);
}

/* Write one batch: rows of the same table together. */
static void write_batch(qf__writer *w, item *batch, size_t n)
{
	const char *tables[] = {"api_usage_logs", "user_audit_log", "performance_metrics"};
	for (size_t t = 0; t < 3; t++) {
		json_t *rows = json_array();
		for (size_t i = 0; rows && i < n; i++)
			if (!strcmp(batch[i].table, tables[t]))
				json_array_append(rows, batch[i].row);
		size_t m = json_array_size(rows);
		for (int attempt = 0; m; attempt++) {
			qf_err err;
			qf_err_init(&err);
			qf_actor sys = qf_actor_system();
			int rc = qf_store_insert_many(w->store, &sys, tables[t], rows, &err);
			if (!rc) {
				pthread_mutex_lock(&w->mu);
				w->written += (int64_t)m;
				pthread_mutex_unlock(&w->mu);
				break;
			}
			pthread_mutex_lock(&w->mu);
			bool stopping = w->stop;
			pthread_mutex_unlock(&w->mu);
			if (err.category != QF_CAT_SYSTEM || attempt >= (stopping ? 2 : 60)) {
				qf_log_warn("usage", "dropped %zu %s rows: %s", m, tables[t], err.message);
				pthread_mutex_lock(&w->mu);
				w->dropped += (int64_t)m;
				pthread_mutex_unlock(&w->mu);
				break;
			}
			struct timespec d = {1, 0};
			nanosleep(&d, NULL);
		}
		json_decref(rows);
	}
}

static void *run(void *arg)
{
	qf__writer *w = arg;
	item *batch = malloc(QF_USAGE_BATCH * sizeof(*batch));
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->n && !w->stop) {
			struct timespec ts;
			abs_after(&ts, QF_USAGE_FLUSH_S);
			pthread_cond_timedwait(&w->work, &w->mu, &ts);
		}
		if (!w->n && w->stop)
			break;
		/* gather for a moment, unless flushing or full */
		if (w->n < QF_USAGE_BATCH && w->flush_to <= w->finished && !w->stop) {
			struct timespec ts;
			abs_after(&ts, QF_USAGE_FLUSH_S);
			pthread_cond_timedwait(&w->work, &w->mu, &ts);
		}
		size_t n = w->n < QF_USAGE_BATCH ? w->n : QF_USAGE_BATCH;
		for (size_t i = 0; i < n && batch; i++)
			batch[i] = w->q[(w->head + i) % QF_USAGE_QUEUE];
		w->head = (w->head + n) % QF_USAGE_QUEUE;
		w->n -= n;
		pthread_mutex_unlock(&w->mu);
		if (batch)
			write_batch(w, batch, n);
		for (size_t i = 0; i < n && batch; i++)
			json_decref(batch[i].row);
		pthread_mutex_lock(&w->mu);
		w->finished += n;
		pthread_cond_broadcast(&w->done);
	}
	pthread_mutex_unlock(&w->mu);
	free(batch);
	return NULL;
}

int qf__writer_new(qf__writer **out, qf_store *store, qf_err *err)
{
	qf__writer *w = calloc(1, sizeof(*w));
	if (w)
		w->q = calloc(QF_USAGE_QUEUE, sizeof(item));
	if (!w || !w->q) {
		if (w)
			free(w->q);
		free(w);
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	}
	w->store = store;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->done, NULL);
	if (pthread_create(&w->thread, NULL, run, w)) {
		free(w->q);
		free(w);
		return qf_err_set(err, QF_CAT_SYSTEM, "system.thread", "cannot start the usage-log writer");
	}
	*out = w;
	return 0;
}

void qf__writer_put(qf__writer *w, const char *table, json_t *row)
{
	if (!w || !row) {
		json_decref(row);
		return;
	}
	pthread_mutex_lock(&w->mu);
	if (w->n >= QF_USAGE_QUEUE || w->stop) {
		w->dropped++;
		pthread_mutex_unlock(&w->mu);
		json_decref(row);
		return;
	}
	w->q[(w->head + w->n) % QF_USAGE_QUEUE] = (item){table, row};
	w->n++;
	w->queued++;
	if (w->n >= QF_USAGE_BATCH)
		pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
}

void qf__writer_flush(qf__writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	uint64_t target = w->queued;
	if (target > w->flush_to)
		w->flush_to = target;
	pthread_cond_signal(&w->work);
	while (w->finished < target)
		pthread_cond_wait(&w->done, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

void qf__writer_free(qf__writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	for (size_t i = 0; i < w->n; i++)
		json_decref(w->q[(w->head + i) % QF_USAGE_QUEUE].row);
	free(w->q);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->done);
	free(w);
}

int64_t qf__writer_dropped(const qf__writer *w)
{
	return w ? w->dropped : 0;
}

int64_t qf__writer_written(const qf__writer *w)
{
	return w ? w->written : 0;
}

/* ---- audit entries ------------------------------------------------------------------ */

static void sanitize(const char *in, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = in ? in : ""; *p && n + 1 < size; p++)
		out[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	out[n] = '\0';
}

void qf__audit_user(qf__req *r, const char *user_id, const char *action, const char *entity_type,
                    const char *entity_id, json_t *changes, const char *status, const char *reason)
{
	char ua[260], rs[1024];
	sanitize(qf__req_header(r, "User-Agent"), ua, sizeof(ua));
	sanitize(reason, rs, sizeof(rs));
	json_t *row = json_pack("{s:s,s:s,s:s,s:s}", "action", action, "ip_address", r->ip, "user_agent",
	                        ua, "status", status);
	if (!row) {
		json_decref(changes);
		return;
	}
	if (user_id && *user_id)
		json_object_set_new(row, "user_id", json_string(user_id));
	if (entity_type)
		json_object_set_new(row, "entity_type", json_string(entity_type));
	if (entity_id) {
		char id[129];
		sanitize(entity_id, id, sizeof(id));
		json_object_set_new(row, "entity_id", json_string(id));
	}
	if (changes)
		json_object_set_new(row, "changes", changes);
	if (reason)
		json_object_set_new(row, "reason", json_string(rs));
	qf__writer_put(r->srv->writer, "user_audit_log", row);
}

void qf__audit(qf__req *r, const char *action, const char *entity_type, const char *entity_id,
               json_t *changes, const char *status, const char *reason)
{
	qf__audit_user(r, r->actor.kind == QF_ACTOR_USER ? r->actor.user_id : NULL, action, entity_type,
	               entity_id, changes, status, reason);
}
