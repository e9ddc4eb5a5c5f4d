/*
 * Request-rate buckets, the login throttle and the quotas' tallies: small
 * fixed-size tables keyed by a string (a user, an API key, a client address, an e-mail
 * address). A full table forgets its least recently seen key in the probe
 * window, so that a flood of new keys cannot grow memory; the callers hold
 * the server's limits lock.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "qf/str.h"

#define PROBE 8
#define KEY 128

size_t qf__hash_key(const char *k)
{
	size_t h = 1469598103934665603ULL;
	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ULL;
	return h;
}

/* ---- token buckets ---------------------------------------------------------------- */

typedef struct bucket {
	char key[KEY];
	double tokens;
	double at; /* monotonic time of the last refill */
} bucket;

struct qf__buckets {
	int n;
	bucket b[];
};

qf__buckets *qf__buckets_new(int capacity)
{
	qf__buckets *t = calloc(1, sizeof(*t) + (size_t)capacity * sizeof(bucket));
	if (t)
		t->n = capacity;
	return t;
}

void qf__buckets_free(qf__buckets *b)
{
	free(b);
}

static bucket *find_or_take(bucket *arr, int n, size_t stride, const char *key, bool *fresh)
{
	size_t i0 = qf__hash_key(key) % (size_t)n, oldest = i0;
	double oldest_at = INFINITY;
	for (int p = 0; p < PROBE; p++) {
		size_t i = (i0 + (size_t)p) % (size_t)n;
		bucket *e = (bucket *)((char *)arr + i * stride);
		if (!e->key[0] || !strcmp(e->key, key)) {
			*fresh = !e->key[0];
			return e;
		}
		if (e->at < oldest_at) {
			oldest_at = e->at;
			oldest = i;
		}
	}
	*fresh = true;
	return (bucket *)((char *)arr + oldest * stride);
}

bool qf__buckets_take(qf__buckets *t, const char *key, int per_min, double now, double *retry_after)
{
	*retry_after = 0;
	if (!t || per_min <= 0)
		return true;
	bool fresh;
	bucket *e = find_or_take(t->b, t->n, sizeof(bucket), key, &fresh);
	double cap = per_min, rate = per_min / 60.0;
	if (fresh) {
		qf_strlcpy(e->key, key, sizeof(e->key));
		e->tokens = cap;
		e->at = now;
	}
	e->tokens = fmin(cap, e->tokens + (now - e->at) * rate);
	e->at = now;
	if (e->tokens >= 1.0) {
		e->tokens -= 1.0;
		return true;
	}
	*retry_after = (1.0 - e->tokens) / rate;
	return false;
}

/* ---- login throttle ------------------------------------------------------------------- */

typedef struct fail {
	char key[KEY];
	double tokens_unused; /* keeps the layout of bucket for find_or_take */
	double at;            /* monotonic time of the last failure */
	int failures;
	double next_ok;       /* monotonic time from which it may try again */
	double since;         /* a window's first failure (qf__throttle_window_*) */
} fail;

_Static_assert(offsetof(fail, at) == offsetof(bucket, at), "layouts");

struct qf__throttle {
	int n;
	fail f[];
};

qf__throttle *qf__throttle_new(int capacity)
{
	qf__throttle *t = calloc(1, sizeof(*t) + (size_t)capacity * sizeof(fail));
	if (t)
		t->n = capacity;
	return t;
}

void qf__throttle_free(qf__throttle *t)
{
	free(t);
}

static fail *lookup(qf__throttle *t, const char *key, bool create)
{
	size_t i0 = qf__hash_key(key) % (size_t)t->n;
	for (int p = 0; p < PROBE; p++) {
		fail *e = &t->f[(i0 + (size_t)p) % (size_t)t->n];
		if (e->key[0] && !strcmp(e->key, key))
			return e;
	}
	if (!create)
		return NULL;
	bool fresh;
	fail *e = (fail *)find_or_take((bucket *)t->f, t->n, sizeof(fail), key, &fresh);
	memset(e, 0, sizeof(*e));
	qf_strlcpy(e->key, key, sizeof(e->key));
	return e;
}

double qf__throttle_wait(qf__throttle *t, const char *key, double now)
{
	fail *e = t ? lookup(t, key, false) : NULL;
	return e && e->next_ok > now ? e->next_ok - now : 0;
}

void qf__throttle_fail(qf__throttle *t, const char *key, double now)
{
	fail *e = t ? lookup(t, key, true) : NULL;
	if (!e)
		return;
	/* failures long ago are forgiven */
	if (e->failures && now - e->at > QF_LOGIN_MAX_DELAY_S)
		e->failures = 0;
	e->failures++;
	e->at = now;
	int over = e->failures - QF_LOGIN_FREE_FAILURES;
	if (over > 0)
		e->next_ok = now + fmin(QF_LOGIN_MAX_DELAY_S, pow(2.0, over - 1 < 20 ? over - 1 : 20));
}

void qf__throttle_clear(qf__throttle *t, const char *key)
{
	fail *e = t ? lookup(t, key, false) : NULL;
	if (e)
		memset(e, 0, sizeof(*e));
}

/* ---- failures in a window (two-factor codes) --------------------------------------------- */

double qf__throttle_window_wait(qf__throttle *t, const char *key, int max, double window, double now)
{
	fail *e = t ? lookup(t, key, false) : NULL;
	if (!e || e->failures < max || now - e->since >= window)
		return 0;
	return e->since + window - now;
}

void qf__throttle_window_fail(qf__throttle *t, const char *key, double window, double now)
{
	fail *e = t ? lookup(t, key, true) : NULL;
	if (!e)
		return;
	if (!e->failures || now - e->since >= window) {
		e->failures = 0;
		e->since = now;
	}
	e->failures++;
	e->at = now;
}

/* ---- tallies -------------------------------------------------------------------------- */

typedef struct tally {
	char key[KEY];
	double tokens_unused; /* keeps the layout of bucket for find_or_take */
	double at;            /* monotonic time the count was set */
	int64_t count;
} tally;

_Static_assert(offsetof(tally, at) == offsetof(bucket, at), "layouts");

struct qf__tally {
	int n;
	tally t[];
};

qf__tally *qf__tally_new(int capacity)
{
	qf__tally *t = calloc(1, sizeof(*t) + (size_t)capacity * sizeof(tally));
	if (t)
		t->n = capacity;
	return t;
}

void qf__tally_free(qf__tally *t)
{
	free(t);
}

static tally *tally_find(qf__tally *t, const char *key)
{
	bool fresh;
	tally *e = (tally *)find_or_take((bucket *)t->t, t->n, sizeof(tally), key, &fresh);
	return fresh ? NULL : e;
}

bool qf__tally_get(qf__tally *t, const char *key, double now, int64_t *count, double *age)
{
	tally *e = tally_find(t, key);
	if (!e || now < e->at)
		return false;
	*count = e->count;
	*age = now - e->at;
	return true;
}

void qf__tally_set(qf__tally *t, const char *key, double now, int64_t count)
{
	bool fresh;
	tally *e = (tally *)find_or_take((bucket *)t->t, t->n, sizeof(tally), key, &fresh);
	qf_strlcpy(e->key, key, sizeof(e->key));
	e->at = now;
	e->count = count;
}

void qf__tally_add(qf__tally *t, const char *key, int64_t n)
{
	tally *e = tally_find(t, key);
	if (e)
		e->count += n;
}

void qf__tally_forget(qf__tally *t, const char *key)
{
	tally *e = tally_find(t, key);
	if (e)
		e->at = -INFINITY; /* stale, and the first to be reused */
}
