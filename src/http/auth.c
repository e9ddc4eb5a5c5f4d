/*
 * Who is asking: session cookies, bearer session tokens and API keys
 * (include/qf/auth.h for the tokens themselves).
 *
 * A presented token is hashed (SHA-256) and looked up by its hash; the
 * answer is kept in memory for QF_AUTH_CACHE_TTL_S so that a busy client's
 * requests cost no store round trip for their authentication. Logout,
 * revocation, a role change or a disabled account drop the entries of this
 * server at once (other servers of the same store within the TTL).
 *
 * Sessions expire QF_SESSION_IDLE_S after their last use and
 * QF_SESSION_MAX_S after the login, whichever comes first; their
 * last_seen_at is written at most every QF_SESSION_TOUCH_S.
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"
#include "qf/clock.h"
#include "qf/log.h"
#include "qf/str.h"

#define PROBE 8

typedef struct entry {
	char hash[QF_SHA256_HEX];
	qf__auth_kind kind;
	char user_id[QF_UUID_STR];
	char row_id[QF_UUID_STR]; /* the session or key */
	char role[16];
	bool is_admin, viewer;
	int rate_limit;
	double cached_at;   /* monotonic */
	double expires_at;  /* wall clock: the earliest of absolute and idle expiry */
	double touched_at;  /* wall clock of the last last_seen_at written */
} entry;

static entry *cache(qf_server *s)
{
	if (!s->auth_cache)
		s->auth_cache = calloc(QF_AUTH_CACHE_ENTRIES, sizeof(entry));
	return s->auth_cache;
}

static size_t slot_of(const char *hash)
{
	size_t h = 0;
	for (int i = 0; i < 12 && hash[i]; i++)
		h = h * 16 + (size_t)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
	return h % QF_AUTH_CACHE_ENTRIES;
}

static bool cache_get(qf_server *s, const char *hash, entry *out)
{
	bool found = false;
	pthread_mutex_lock(&s->auth_mu);
	entry *c = cache(s);
	size_t i0 = slot_of(hash);
	for (int p = 0; c && p < PROBE; p++) {
		entry *e = &c[(i0 + (size_t)p) % QF_AUTH_CACHE_ENTRIES];
		if (e->hash[0] && !strcmp(e->hash, hash)) {
			if (qf_clock_mono() - e->cached_at < QF_AUTH_CACHE_TTL_S) {
				*out = *e;
				found = true;
			} else {
				e->hash[0] = '\0';
			}
			break;
		}
	}
	pthread_mutex_unlock(&s->auth_mu);
	return found;
}

static void cache_put(qf_server *s, const entry *in)
{
	pthread_mutex_lock(&s->auth_mu);
	entry *c = cache(s);
	if (c) {
		size_t i0 = slot_of(in->hash), best = i0;
		double oldest = INFINITY;
		for (int p = 0; p < PROBE; p++) {
			size_t i = (i0 + (size_t)p) % QF_AUTH_CACHE_ENTRIES;
			if (!c[i].hash[0] || !strcmp(c[i].hash, in->hash)) {
				best = i;
				break;
			}
			if (c[i].cached_at < oldest) {
				oldest = c[i].cached_at;
				best = i;
			}
		}
		c[best] = *in;
	}
	pthread_mutex_unlock(&s->auth_mu);
}

static void cache_touched(qf_server *s, const char *hash, double when)
{
	pthread_mutex_lock(&s->auth_mu);
	entry *c = cache(s);
	size_t i0 = slot_of(hash);
	for (int p = 0; c && p < PROBE; p++) {
		entry *e = &c[(i0 + (size_t)p) % QF_AUTH_CACHE_ENTRIES];
		if (e->hash[0] && !strcmp(e->hash, hash)) {
			e->touched_at = when;
			break;
		}
	}
	pthread_mutex_unlock(&s->auth_mu);
}

void qf__auth_forget(qf_server *s, const char *hash)
{
	pthread_mutex_lock(&s->auth_mu);
	entry *c = cache(s);
	size_t i0 = slot_of(hash);
	for (int p = 0; c && p < PROBE; p++) {
		entry *e = &c[(i0 + (size_t)p) % QF_AUTH_CACHE_ENTRIES];
		if (e->hash[0] && !strcmp(e->hash, hash))
			e->hash[0] = '\0';
	}
	pthread_mutex_unlock(&s->auth_mu);
}

void qf__auth_forget_user(qf_server *s, const char *user_id)
{
	pthread_mutex_lock(&s->auth_mu);
	entry *c = cache(s);
	for (size_t i = 0; c && i < QF_AUTH_CACHE_ENTRIES; i++)
		if (c[i].hash[0] && !strcmp(c[i].user_id, user_id))
			c[i].hash[0] = '\0';
	pthread_mutex_unlock(&s->auth_mu);
}

/* ---- the store side ------------------------------------------------------------- */

static double row_time(const json_t *row, const char *key)
{
	double t = 0;
	const char *v = json_string_value(json_object_get(row, key));
	if (v && qf_clock_parse(v, &t))
		t = 0;
	return t;
}

/* The user behind a session or key: role, administrator, not disabled. */
static int load_user(qf_server *s, const char *user_id, entry *e, qf_err *err)
{
	qf_actor sys = qf_actor_system();
	json_t *u = NULL;
	int rc = qf_store_get(s->store, &sys, "users", user_id, &u, err);
	if (rc)
		return rc;
	bool disabled = json_is_true(json_object_get(u, "disabled"));
	const char *role = json_string_value(json_object_get(u, "role"));
	e->is_admin = json_is_true(json_object_get(u, "is_admin")) && !disabled;
	qf_strlcpy(e->role, e->is_admin ? "admin" : role ? role : "researcher", sizeof(e->role));
	e->viewer = !e->is_admin && !strcmp(e->role, "viewer");
	qf_strlcpy(e->user_id, user_id, sizeof(e->user_id));
	json_decref(u);
	if (disabled)
		return qf_err_set(err, QF_CAT_VALIDATION, "auth.disabled", "this account is disabled");
	return 0;
}

static int lookup_session(qf_server *s, const char *hash, entry *e, qf_err *err)
{
	qf_actor sys = qf_actor_system();
	json_t *where = json_pack("{s:s}", "token_hash", hash), *rows = NULL;
	qf_store_filter f = {.where = where, .limit = 1};
	int rc = qf_store_list(s->store, &sys, "auth_sessions", &f, &rows, err);
	json_decref(where);
	if (rc)
		return rc;
	json_t *row = json_array_get(rows, 0);
	if (!row) {
		json_decref(rows);
		return qf_err_set(err, QF_CAT_VALIDATION, "auth.invalid_token",
		                  "the session has ended: log in again");
	}
	double now = qf_clock_now();
	double expires = row_time(row, "expires_at");
	double seen = row_time(row, "last_seen_at");
	if (seen <= 0)
		seen = row_time(row, "created_at");
	double idle_end = seen + QF_SESSION_IDLE_S;
	e->expires_at = fmin(expires, idle_end);
	e->touched_at = seen;
	qf_strlcpy(e->row_id, json_string_value(json_object_get(row, "id")), sizeof(e->row_id));
	char user[QF_UUID_STR];
	qf_strlcpy(user, json_string_value(json_object_get(row, "user_id")), sizeof(user));
	json_decref(rows);
	if (e->expires_at <= now)
		return qf_err_set(err, QF_CAT_VALIDATION, "auth.invalid_token",
		                  "the session has expired: log in again");
	return load_user(s, user, e, err);
}

static bool has_scope(const json_t *scopes, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(scopes, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), name))
			return true;
	return false;
}

static int lookup_key(qf_server *s, const char *hash, const char *prefix, entry *e, qf_err *err)
{
	qf_actor sys = qf_actor_system();
	json_t *where = json_pack("{s:s}", "prefix", prefix), *rows = NULL;
	qf_store_filter f = {.where = where, .limit = 16};
	int rc = qf_store_list(s->store, &sys, "api_keys", &f, &rows, err);
	json_decref(where);
	if (rc)
		return rc;
	size_t i;
	json_t *row, *match = NULL;
	json_array_foreach(rows, i, row) {
		const char *kh = json_string_value(json_object_get(row, "key_hash"));
		if (qf_token_hash_equal(kh, hash))
			match = row;
	}
	double now = qf_clock_now();
	double exp = match ? row_time(match, "expires_at") : 0;
	if (!match || !json_is_null(json_object_get(match, "revoked_at")) || (exp > 0 && exp <= now)) {
		json_decref(rows);
		return qf_err_set(err, QF_CAT_VALIDATION, "auth.invalid_token",
		                  "the API key is not valid (unknown, revoked or expired)");
	}
	e->expires_at = exp > 0 ? exp : INFINITY;
	e->touched_at = row_time(match, "last_used_at");
	qf_strlcpy(e->row_id, json_string_value(json_object_get(match, "id")), sizeof(e->row_id));
	json_t *rl = json_object_get(match, "rate_limit_per_minute");
	e->rate_limit = json_is_integer(rl) ? (int)json_integer_value(rl) : 0;
	json_t *scopes = json_object_get(match, "scopes");
	bool read_only = has_scope(scopes, "read") && !has_scope(scopes, "write");
	char user[QF_UUID_STR];
	qf_strlcpy(user, json_string_value(json_object_get(match, "user_id")), sizeof(user));
	json_decref(rows);
	rc = load_user(s, user, e, err);
	if (!rc && read_only) {
		/* a read-only key reads only, whoever made it */
		e->viewer = true;
		e->is_admin = false;
	}
	return rc;
}

/* Write last_seen_at / last_used_at, at most every QF_SESSION_TOUCH_S. */
static void touch(qf_server *s, const entry *e)
{
	double now = qf_clock_now();
	if (now - e->touched_at < QF_SESSION_TOUCH_S)
		return;
	cache_touched(s, e->hash, now);
	char ts[QF_TIME_STR];
	qf_clock_format(now, ts);
	qf_actor sys = qf_actor_system();
	json_t *ch = json_pack("{s:s}", e->kind == QF__AUTH_API_KEY ? "last_used_at" : "last_seen_at", ts);
	qf_err err;
	qf_err_init(&err);
	if (ch && qf_store_update(s->store, &sys, e->kind == QF__AUTH_API_KEY ? "api_keys" : "auth_sessions",
	                          e->row_id, ch, &err))
		qf_log_warn("auth", "could not note the use of a session: %s", err.message);
	json_decref(ch);
}

int qf__auth_request(qf__req *r)
{
	qf_server *s = r->srv;
	char token[QF_TOKEN_STR + 2];
	qf__auth_kind kind = QF__AUTH_NONE;
	char prefix[QF_KEY_PREFIX_LEN + 1] = "";
	const char *authz = qf__req_header(r, "Authorization");
	if (authz) {
		if (strncasecmp(authz, "Bearer ", 7))
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.invalid_token",
			                "the Authorization header must be 'Bearer <token or API key>'");
		const char *t = qf_lskip(authz + 7);
		if (qf_strlcpy(token, t, sizeof(token)) >= sizeof(token))
			token[0] = '\0';
		qf_rstrip(token);
		if (qf_token_is_api_key(token, prefix))
			kind = QF__AUTH_API_KEY;
		else if (qf_token_is_session(token))
			kind = QF__AUTH_BEARER;
		else
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.invalid_token",
			                "the bearer token is neither a session token (qfs_...) nor an API "
			                "key (qf_...)");
	} else if (qf__req_cookie(r, "qf_session", token, sizeof(token))) {
		/* a stale or mangled cookie leaves the request anonymous: public
		 * routes (the login itself) still work */
		if (!qf_token_is_session(token))
			return 0;
		kind = QF__AUTH_COOKIE;
	} else {
		return 0;
	}
	char hash[QF_SHA256_HEX];
	qf_token_hash(token, hash);
	entry e;
	if (!cache_get(s, hash, &e)) {
		memset(&e, 0, sizeof(e));
		qf_strlcpy(e.hash, hash, sizeof(e.hash));
		e.kind = kind == QF__AUTH_API_KEY ? QF__AUTH_API_KEY : QF__AUTH_BEARER;
		qf_err err;
		qf_err_init(&err);
		int rc = kind == QF__AUTH_API_KEY ? lookup_key(s, hash, prefix, &e, &err)
		                                  : lookup_session(s, hash, &e, &err);
		if (rc) {
			if (kind == QF__AUTH_COOKIE && err.category == QF_CAT_VALIDATION) {
				qf__auth_clear_cookies(r);
				return 0;
			}
			r->err = err;
			if (err.category == QF_CAT_VALIDATION) {
				qf_strlcpy(r->err.code, "auth.invalid_token", sizeof(r->err.code));
				qf__audit(r, "access_denied", "token", NULL, NULL, "denied", err.message);
			}
			return rc;
		}
		e.cached_at = qf_clock_mono();
		cache_put(s, &e);
	}
	double now = qf_clock_now();
	if (e.expires_at <= now) {
		qf__auth_forget(s, hash);
		if (kind == QF__AUTH_COOKIE) {
			qf__auth_clear_cookies(r);
			return 0;
		}
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.invalid_token",
		                "the session has expired: log in again");
	}
	touch(s, &e);
	r->auth = kind;
	memset(&r->actor, 0, sizeof(r->actor));
	r->actor.kind = QF_ACTOR_USER;
	qf_strlcpy(r->actor.user_id, e.user_id, sizeof(r->actor.user_id));
	r->actor.is_admin = e.is_admin;
	r->actor.viewer = e.viewer;
	qf_strlcpy(r->role, e.viewer && strcmp(e.role, "viewer") ? "viewer" : e.role, sizeof(r->role));
	qf_strlcpy(r->token_hash, hash, sizeof(r->token_hash));
	if (kind == QF__AUTH_API_KEY)
		qf_strlcpy(r->key_id, e.row_id, sizeof(r->key_id));
	else
		qf_strlcpy(r->session_id, e.row_id, sizeof(r->session_id));
	r->rate_limit = e.rate_limit;
	return 0;
}

/* ---- sessions ------------------------------------------------------------------------ */

/* A user agent fit for a log: printable ASCII, at most 256 bytes. */
static void sanitize_ua(const char *in, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = in ? in : ""; *p && n + 1 < size && n < 256; p++)
		out[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	out[n] = '\0';
}

static void cookie(qf__req *r, const char *name, const char *value, long max_age, bool http_only)
{
	char c[512];
	snprintf(c, sizeof(c), "%s=%s; Path=/; Max-Age=%ld; SameSite=Strict%s%s", name, value, max_age,
	         http_only ? "; HttpOnly" : "", r->srv->o.secure_cookies ? "; Secure" : "");
	qf__reply_header(r, "Set-Cookie", c);
}

void qf__auth_clear_cookies(qf__req *r)
{
	cookie(r, "qf_session", "", 0, true);
	cookie(r, "qf_csrf", "", 0, false);
}

int qf__auth_start_session(qf__req *r, const char *user_id, json_t *doc)
{
	qf_server *s = r->srv;
	char token[QF_TOKEN_STR], hash[QF_SHA256_HEX], csrf[QF_SHA256_HEX], exp[QF_TIME_STR],
		now_s[QF_TIME_STR], ua[260];
	qf_token_session(token);
	qf_token_hash(token, hash);
	qf_token_csrf(token, csrf);
	double now = qf_clock_now();
	qf_clock_format(now + QF_SESSION_MAX_S, exp);
	qf_clock_format(now, now_s);
	sanitize_ua(qf__req_header(r, "User-Agent"), ua, sizeof(ua));
	json_t *row = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "user_id", user_id, "token_hash", hash,
	                        "expires_at", exp, "last_seen_at", now_s, "ip_address", r->ip,
	                        "user_agent", ua);
	qf_actor sys = qf_actor_system();
	qf_err err;
	qf_err_init(&err);
	int rc = row ? qf_store_insert(s->store, &sys, "auth_sessions", row, NULL, &err) : QF_ENOMEM;
	json_decref(row);
	if (rc) {
		r->err = err;
		return rc ? rc : QF_ENOMEM;
	}
	cookie(r, "qf_session", token, (long)QF_SESSION_MAX_S, true);
	cookie(r, "qf_csrf", csrf, (long)QF_SESSION_MAX_S, false);
	json_object_set_new(doc, "token", json_string(token));
	json_object_set_new(doc, "csrf_token", json_string(csrf));
	json_object_set_new(doc, "expires_at", json_string(exp));
	sodium_memzero(token, sizeof(token));
	return 0;
}
