/*
 * Live events (/api/v1/events, Server-Sent Events): a hub thread asks the
 * store every QF_SSE_POLL_S what calculations and batches changed (their
 * updated_at), whichever process changed them (workers, other servers of
 * the same store), and hands each change to the subscribers who may see it:
 * the owner, members of its organisation, administrators (the store's read
 * rule). Each look reaches QF_SSE_LOOKBACK_S back, so that a transaction
 * that committed late with an earlier updated_at is still seen; changes
 * already sent are remembered and not sent twice.
 *
 * The hub also samples the queue's length once a minute into
 * performance_metrics (queue_length: the whole queue, and per user with
 * work waiting) for the dashboard's queue-over-time plot.
 *
 * A subscriber's connection is parked (suspended) while it has nothing to
 * read, and resumed when the hub appends to it; one too slow to take
 * QF_SSE_MAX_PENDING bytes is closed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_int.h"
#include "qf/clock.h"
#include "qf/log.h"
#include "qf/str.h"

#define MAX_ORGS 64
#define SEEN 8192
#define ORGS_REFRESH_S 30.0
#define SAMPLE_S 60.0

struct qf__sub {
	qf__hub *hub;
	qf__sub *next;
	char user_id[QF_UUID_STR];
	bool admin;
	char orgs[MAX_ORGS][QF_UUID_STR];
	int norgs;
	double orgs_at;
	qf_buf pending;
	size_t sent;     /* bytes of pending already read */
	bool closed;
	void (*ready)(void *);
	void *ready_arg;
};

typedef struct seen {
	char key[QF_UUID_STR + 48]; /* id|status|updated_at */
	double at;
} seen;

struct qf__hub {
	qf_server *srv;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	qf__sub *subs;
	int nsubs;
	double cursor[2];       /* calculations, batches */
	seen seen[SEEN];
	size_t seen_next;
	double keepalive_at, sample_at;
};

static bool was_seen(qf__hub *h, const char *key)
{
	for (size_t i = 0; i < SEEN; i++)
		if (h->seen[i].key[0] && !strcmp(h->seen[i].key, key))
			return true;
	return false;
}

static void mark_seen(qf__hub *h, const char *key, double now)
{
	qf_strlcpy(h->seen[h->seen_next].key, key, sizeof(h->seen[0].key));
	h->seen[h->seen_next].at = now;
	h->seen_next = (h->seen_next + 1) % SEEN;
}

/* Call a subscriber's ready callback (once), under the hub lock. */
static void wake(qf__sub *s)
{
	void (*fn)(void *) = s->ready;
	if (fn) {
		s->ready = NULL;
		fn(s->ready_arg);
	}
}

static void append(qf__sub *s, const char *text, size_t len)
{
	if (s->closed)
		return;
	if (s->sent && s->sent == s->pending.len) {
		qf_buf_clear(&s->pending);
		s->sent = 0;
	}
	if (qf_buf_append(&s->pending, text, len)) {
		s->closed = true; /* too slow: dropped */
		qf_log_info("events", "a subscriber fell %d bytes behind: closed", QF_SSE_MAX_PENDING);
	}
	wake(s);
}

static bool may_see(qf__sub *s, const json_t *row)
{
	if (s->admin)
		return true;
	const char *owner = json_string_value(json_object_get(row, "owner_id"));
	if (owner && !strcmp(owner, s->user_id))
		return true;
	const char *org = json_string_value(json_object_get(row, "org_id"));
	for (int i = 0; org && i < s->norgs; i++)
		if (!strcmp(s->orgs[i], org))
			return true;
	return false;
}

static void load_orgs(qf__hub *h, qf__sub *s)
{
	qf_actor sys = qf_actor_system();
	json_t *where = json_pack("{s:s}", "user_id", s->user_id), *rows = NULL;
	qf_store_filter f = {.where = where, .limit = MAX_ORGS};
	qf_err err;
	qf_err_init(&err);
	if (!qf_store_list(h->srv->store, &sys, "memberships", &f, &rows, &err)) {
		s->norgs = 0;
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
			if (s->norgs < MAX_ORGS)
				qf_strlcpy(s->orgs[s->norgs++], json_string_value(json_object_get(row, "org_id")),
				           QF_UUID_STR);
	}
	s->orgs_at = qf_clock_mono();
	json_decref(rows);
	json_decref(where);
}

/* One look at the store: new changes to the subscribers. */
static void poll_changes(qf__hub *h)
{
	static const char *const tables[] = {"calculations", "batches"};
	static const char *const events[] = {"calculation", "batch"};
	double now = qf_clock_now();
	for (int t = 0; t < 2; t++) {
		json_t *rows = NULL;
		qf_err err;
		qf_err_init(&err);
		double since = h->cursor[t] - QF_SSE_LOOKBACK_S;
		if (qf_store_changes(h->srv->store, tables[t], since, 2000, &rows, &err)) {
			qf_log_debug("events", "cannot read changes: %s", err.message);
			continue;
		}
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row) {
			const char *id = json_string_value(json_object_get(row, "id"));
			const char *st = json_string_value(json_object_get(row, "status"));
			const char *up = json_string_value(json_object_get(row, "updated_at"));
			char key[sizeof(h->seen[0].key)];
			snprintf(key, sizeof(key), "%.36s|%.9s|%.24s", id ? id : "", st ? st : "", up ? up : "");
			double ut = 0;
			if (up && !qf_clock_parse(up, &ut) && ut > h->cursor[t])
				h->cursor[t] = ut;
			pthread_mutex_lock(&h->mu);
			if (was_seen(h, key)) {
				pthread_mutex_unlock(&h->mu);
				continue;
			}
			mark_seen(h, key, now);
			json_t *data = json_deep_copy(row);
			json_object_del(data, "owner_id");
			char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
			json_decref(data);
			char *msg = NULL;
			if (text && asprintf(&msg, "id: %s\nevent: %s\ndata: %s\n\n", up ? up : "", events[t],
			                     text) < 0)
				msg = NULL;
			for (qf__sub *s = h->subs; msg && s; s = s->next) {
				if (qf_clock_mono() - s->orgs_at > ORGS_REFRESH_S)
					load_orgs(h, s);
				if (may_see(s, row))
					append(s, msg, strlen(msg));
			}
			pthread_mutex_unlock(&h->mu);
			free(text);
			free(msg);
		}
		json_decref(rows);
	}
}

/* queue_length samples for the dashboard: the whole queue, and each user's. */
static void sample_queue(qf__hub *h)
{
	qf_server *srv = h->srv;
	qf_actor sys = qf_actor_system();
	qf_queue_counts qc;
	qf_err err;
	qf_err_init(&err);
	if (qf_store_queue_counts(srv->store, &sys, NULL, &qc, &err))
		return;
	static const char *const names[] = {"queued", "running"};
	int64_t vals[] = {qc.queued, qc.running};
	for (int i = 0; i < 2; i++) {
		json_t *row = json_pack("{s:s,s:s,s:f,s:s}", "metric_type", "queue_length", "metric_name",
		                        names[i], "value", (double)vals[i], "unit", "count");
		qf__writer_put(srv->writer, "performance_metrics", row);
	}
	/* per user, for the users whose work waits or runs */
	json_t *rows = NULL;
	if (qf_store_queue_by_owner(srv->store, &rows, &err))
		return;
	size_t k;
	json_t *o;
	json_array_foreach(rows, k, o) {
		for (int i = 0; i < 2; i++) {
			json_t *row = json_pack("{s:O,s:s,s:s,s:O,s:s}", "user_id", json_object_get(o, "owner_id"),
			                        "metric_type", "queue_length", "metric_name", names[i], "value",
			                        json_object_get(o, names[i]), "unit", "count");
			qf__writer_put(srv->writer, "performance_metrics", row);
		}
	}
	json_decref(rows);
}

static void *run(void *arg)
{
	qf__hub *h = arg;
	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		bool any = h->subs != NULL;
		pthread_mutex_unlock(&h->mu);
		double mono = qf_clock_mono();
		if (any)
			poll_changes(h);
		else
			h->cursor[0] = h->cursor[1] = qf_clock_now();
		if (mono >= h->sample_at) {
			h->sample_at = mono + SAMPLE_S;
			sample_queue(h);
		}
		pthread_mutex_lock(&h->mu);
		if (mono >= h->keepalive_at) {
			h->keepalive_at = mono + QF_SSE_KEEPALIVE_S;
			for (qf__sub *s = h->subs; s; s = s->next)
				append(s, ": keepalive\n\n", 13);
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		double t = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + QF_SSE_POLL_S;
		ts.tv_sec = (time_t)t;
		ts.tv_nsec = (long)((t - floor(t)) * 1e9);
		if (!h->stop)
			pthread_cond_timedwait(&h->cv, &h->mu, &ts);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

int qf__hub_new(qf__hub **out, qf_server *srv, qf_err *err)
{
	qf__hub *h = calloc(1, sizeof(*h));
	if (!h)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	h->srv = srv;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->cursor[0] = h->cursor[1] = qf_clock_now();
	h->keepalive_at = qf_clock_mono() + QF_SSE_KEEPALIVE_S;
	h->sample_at = qf_clock_mono() + 1.0;
	if (pthread_create(&h->thread, NULL, run, h)) {
		free(h);
		return qf_err_set(err, QF_CAT_SYSTEM, "system.thread", "cannot start the event hub");
	}
	*out = h;
	return 0;
}

void qf__hub_close_all(qf__hub *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	for (qf__sub *s = h->subs; s; s = s->next) {
		s->closed = true;
		wake(s);
	}
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

void qf__hub_free(qf__hub *h)
{
	if (!h)
		return;
	qf__hub_close_all(h);
	pthread_join(h->thread, NULL);
	/* subscribers still listed belong to connections the daemon has closed */
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}

int qf__hub_subscribe(qf__hub *h, qf__req *r, qf__sub **out)
{
	*out = NULL;
	qf__sub *s = calloc(1, sizeof(*s));
	if (!s)
		return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	s->hub = h;
	qf_strlcpy(s->user_id, r->actor.user_id, sizeof(s->user_id));
	s->admin = r->actor.is_admin;
	qf_buf_init(&s->pending, QF_SSE_MAX_PENDING);
	load_orgs(h, s);
	qf_buf_puts(&s->pending, "retry: 3000\n: connected\n\n");
	pthread_mutex_lock(&h->mu);
	if (h->stop || h->nsubs >= QF_SSE_MAX_CLIENTS) {
		bool full = !h->stop;
		pthread_mutex_unlock(&h->mu);
		qf_buf_release(&s->pending);
		free(s);
		return qf__fail(r, QF_ESYS, QF_CAT_SYSTEM, "http.unavailable",
		                full ? "too many event subscribers: try again later"
		                     : "the server is stopping");
	}
	s->next = h->subs;
	h->subs = s;
	h->nsubs++;
	pthread_mutex_unlock(&h->mu);
	*out = s;
	return 0;
}

long qf__sub_read(qf__sub *s, char *buf, size_t max)
{
	qf__hub *h = s->hub;
	pthread_mutex_lock(&h->mu);
	long n = 0;
	size_t avail = s->pending.len - s->sent;
	if (avail) {
		n = (long)(avail < max ? avail : max);
		memcpy(buf, s->pending.data + s->sent, (size_t)n);
		s->sent += (size_t)n;
	} else if (s->closed) {
		n = -1;
	}
	pthread_mutex_unlock(&h->mu);
	return n;
}

void qf__sub_on_ready(qf__sub *s, void (*fn)(void *), void *arg)
{
	qf__hub *h = s->hub;
	pthread_mutex_lock(&h->mu);
	s->ready = fn;
	s->ready_arg = arg;
	if (s->closed || s->pending.len > s->sent)
		wake(s);
	pthread_mutex_unlock(&h->mu);
}

void qf__sub_free(qf__sub *s)
{
	if (!s)
		return;
	qf__hub *h = s->hub;
	pthread_mutex_lock(&h->mu);
	for (qf__sub **p = &h->subs; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			h->nsubs--;
			break;
		}
	pthread_mutex_unlock(&h->mu);
	qf_buf_release(&s->pending);
	free(s);
}
