/*
 * Shared by the HTTP tests (tests/integration/http/): the real `qforge
 * serve` as a child on a free port of 127.0.0.1, and libcurl as the client.
 *
 *   servers     ht_serve: qforge serve --port 0 --port-file F --store URL
 *               --workers N --quiet, waited for until it answers /livez;
 *               ht_stop: SIGTERM, and its exit status
 *   requests    ht_call: method, path, bearer token, body; the answer's
 *               status, headers and body (parsed when JSON)
 *   accounts    ht_register / ht_login: a token
 *   leaks       ht_check_no_secrets: no answer ever carries a password hash,
 *               a token hash, a sealed secret or a key
 *
 * Stores and processes come from tests/integration/queue/survive.h (SQLite
 * in a fresh directory, a fresh database on $QF_TEST_PG_URL, children
 * killed at teardown).
 */
#ifndef HTTP_TEST_H
#define HTTP_TEST_H

#include "../queue/survive.h"

#include <curl/curl.h>

typedef struct ht_server {
	sv_proc proc;
	sv_store store;
	char tmp[QF_MAX_PATH];
	char jobs[QF_MAX_PATH];
	char log[QF_MAX_PATH];
	char port_file[QF_MAX_PATH];
	int port;
	char base[64]; /* http://127.0.0.1:PORT */
} ht_server;

typedef struct ht_resp {
	long status;
	char *body;     /* NUL-terminated */
	size_t len;
	char *headers;  /* raw header block(s), NUL-terminated */
	size_t hlen;
	json_t *json;   /* when the body parses as JSON */
} ht_resp;

static inline void ht_resp_release(ht_resp *r)
{
	free(r->body);
	free(r->headers);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

static inline size_t ht_sink(char *data, size_t size, size_t n, void *arg)
{
	char **buf = arg;
	size_t *len = (size_t *)(buf + 1);
	size_t add = size * n;
	char *grown = realloc(*buf, *len + add + 1);
	if (!grown)
		return 0;
	memcpy(grown + *len, data, add);
	*len += add;
	grown[*len] = '\0';
	*buf = grown;
	return add;
}

/* The value of header name in r (the last one), copied into out; false
 * when absent. */
static inline bool ht_header(const ht_resp *r, const char *name, char *out, size_t size)
{
	bool found = false;
	size_t nl = strlen(name);
	for (const char *p = r->headers; p && *p;) {
		const char *end = strstr(p, "\r\n");
		size_t line = end ? (size_t)(end - p) : strlen(p);
		if (line > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = line - (size_t)(v - p);
			if (vl >= size)
				vl = size - 1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			found = true;
		}
		p = end ? end + 2 : p + line;
	}
	return found;
}

/* One request. token: a bearer token or NULL; body: NULL for none, sent as
 * ctype (NULL: application/json); extra: "Name: value" headers, NULL-ended. */
static inline void ht_call_h(ht_resp *out, const ht_server *s, const char *method, const char *path,
                             const char *token, const char *ctype, const char *body, size_t body_len,
                             const char *const *extra)
{
	memset(out, 0, sizeof(*out));
	CURL *c = curl_easy_init();
	assert_non_null(c);
	char url[8192];
	snprintf(url, sizeof(url), "%s%s", s->base, path);
	struct curl_slist *h = NULL;
	char line[8192];
	if (token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, line);
	}
	if (body) {
		snprintf(line, sizeof(line), "Content-Type: %s", ctype ? ctype : "application/json");
		h = curl_slist_append(h, line);
	}
	h = curl_slist_append(h, "Expect:");
	for (const char *const *e = extra; e && *e; e++)
		h = curl_slist_append(h, *e);
	struct {
		char *buf;
		size_t len;
	} b = {0}, hd = {0};
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ht_sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ht_sink);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hd);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	out->body = b.buf ? b.buf : strdup("");
	out->len = b.len;
	out->headers = hd.buf ? hd.buf : strdup("");
	out->hlen = hd.len;
	if (out->len)
		out->json = json_loadb(out->body, out->len, 0, NULL);
}

static inline void ht_call(ht_resp *out, const ht_server *s, const char *method, const char *path,
                           const char *token, const char *body)
{
	ht_call_h(out, s, method, path, token, NULL, body, body ? strlen(body) : 0, NULL);
}

/* A request that must answer status; the answer is kept in out. */
static inline void ht_expect(ht_resp *out, const ht_server *s, const char *method, const char *path,
                             const char *token, const char *body, long status)
{
	ht_call(out, s, method, path, token, body);
	if (out->status != status)
		fail_msg("%s %s: status %ld, expected %ld: %s", method, path, out->status, status, out->body);
}

/* The error code of an error answer ("" when it is not one). */
static inline const char *ht_error_code(const ht_resp *r)
{
	const char *code = json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
	return code ? code : "";
}

/* Every error answer has the one shape {"error":{"code","category","message"}}. */
static inline void ht_check_error_shape(const ht_resp *r, const char *what)
{
	json_t *e = json_object_get(r->json, "error");
	if (!json_is_object(e) || !json_is_string(json_object_get(e, "code")) ||
	    !json_is_string(json_object_get(e, "category")) || !json_is_string(json_object_get(e, "message")))
		fail_msg("%s: status %ld without the error shape: %s", what, r->status, r->body);
}

/* Nothing secret in an answer: no password hash (argon2id strings), no
 * stored token or key hash column, no sealed value. */
static inline void ht_check_no_secrets(const ht_resp *r, const char *what)
{
	static const char *const bad[] = {"$argon2", "password_hash", "token_hash", "key_hash",
	                                  "slack_webhook_url_sealed", "secret_sealed", "totp_secret",
	                                  NULL};
	for (int i = 0; bad[i]; i++)
		if (r->body && strstr(r->body, bad[i]))
			fail_msg("%s: the answer carries '%s': %s", what, bad[i], r->body);
}

/* ---- the server ---------------------------------------------------------------- */

/* Does HEAD /livez answer 200 within timeout_s, from local address src
 * (NULL: any)? */
static inline bool ht_alive_from(const ht_server *s, const char *src, long timeout_s)
{
	CURL *c = curl_easy_init();
	char url[128];
	snprintf(url, sizeof(url), "%s/livez", s->base);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	if (src)
		curl_easy_setopt(c, CURLOPT_INTERFACE, src);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	long status = 0;
	bool ok = curl_easy_perform(c) == CURLE_OK &&
	          curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200;
	curl_easy_cleanup(c);
	return ok;
}

static inline bool ht_alive(const ht_server *s)
{
	return ht_alive_from(s, NULL, 2);
}

/* Start qforge serve on store (already set up) with N workers and extra
 * arguments (NULL-terminated), in its own temporary directory tmp, with
 * env ("NAME=value", NULL-terminated; may be NULL) added to the
 * environment (QF_FAKE_NOW pins the server's wall clock). */
static inline void ht_serve_env(ht_server *s, const char *tmp, int workers, const char *const *extra,
                                const char *const *env)
{
	qf_strlcpy(s->tmp, tmp, sizeof(s->tmp));
	qft_join(s->jobs, tmp, "jobs");
	qft_join(s->port_file, tmp, "port");
	char logname[64];
	static int nserve;
	snprintf(logname, sizeof(logname), "serve-%d.log", nserve++);
	qft_join(s->log, tmp, logname);
	unlink(s->port_file);
	char nw[16];
	snprintf(nw, sizeof(nw), "%d", workers);
	const char *argv[64] = {qft_qforge(), "serve", "--port", "0", "--bind", "127.0.0.1",
	                        "--port-file", s->port_file, "--store", s->store.url, "--workers", nw,
	                        "--jobs-root", s->jobs, "--quiet"};
	int n = 15;
	for (const char *const *e = extra; e && *e; e++) {
		assert_true(n < 62);
		argv[n++] = *e;
	}
	argv[n] = NULL;
	sv_spawn(&s->proc, argv, env, s->log, NULL, NULL);
	double end = sv_now() + 60;
	s->port = 0;
	for (;;) {
		if (sv_wait(&s->proc, 0)) {
			char *text = sv_read(s->log);
			fail_msg("qforge serve ended at start:\n%s", text);
		}
		char *p = NULL;
		long port = 0;
		if (!s->port && access(s->port_file, F_OK) == 0 && (p = sv_read(s->port_file))) {
			p[strcspn(p, "\r\n")] = '\0';
			if (!qf_parse_int(p, 1, 65535, &port))
				port = 0;
		}
		if (port) {
			s->port = (int)port;
			snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
		}
		free(p);
		if (s->port && ht_alive(s))
			return;
		if (sv_now() > end) {
			char *text = sv_read(s->log);
			fail_msg("qforge serve did not answer within 60 s:\n%s", text);
		}
		sv_sleep(0.05);
	}
}

static inline void ht_serve(ht_server *s, const char *tmp, int workers, const char *const *extra)
{
	ht_serve_env(s, tmp, workers, extra, NULL);
}

/* A fresh store for a server named name (SQLite in its temporary directory,
 * or a fresh PostgreSQL database when pg) and that directory into tmp. */
static inline void ht_store(ht_server *s, const char *name, bool pg, char tmp[QF_MAX_PATH])
{
	memset(s, 0, sizeof(*s));
	qft_tmpdir(tmp, name);
	if (pg)
		sv_store_pg(&s->store, NULL, name);
	else
		sv_store_sqlite(&s->store, tmp);
}

/* SIGTERM, then wait (SIGKILL and fail after timeout_s); the exit code. */
static inline int ht_stop(ht_server *s, double timeout_s)
{
	sv_kill(&s->proc, SIGTERM);
	sv_wait_or_fail(&s->proc, timeout_s, "qforge serve after SIGTERM");
	return sv_exit_code(&s->proc);
}

/* ---- accounts ---------------------------------------------------------------------- */

#define HT_PASSWORD "correct horse battery staple"

/* Register email (HT_PASSWORD); its token into token (QF_MAX_PATH), its
 * user id into uid (may be NULL). */
static inline void ht_register(const ht_server *s, const char *email, char *token, char *uid)
{
	char body[512];
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, HT_PASSWORD);
	ht_resp r;
	ht_expect(&r, s, "POST", "/api/v1/auth/register", NULL, body, 201);
	const char *t = json_string_value(json_object_get(r.json, "token"));
	if (!t)
		fail_msg("register answered no token: %s", r.body);
	qf_strlcpy(token, t, QF_MAX_PATH);
	if (uid)
		qf_strlcpy(uid, json_string_value(json_object_get(json_object_get(r.json, "user"), "id")),
		           QF_UUID_STR);
	ht_resp_release(&r);
}

static inline void ht_login(const ht_server *s, const char *email, char *token)
{
	char body[512];
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, HT_PASSWORD);
	ht_resp r;
	ht_expect(&r, s, "POST", "/api/v1/auth/login", NULL, body, 200);
	qf_strlcpy(token, json_string_value(json_object_get(r.json, "token")), QF_MAX_PATH);
	ht_resp_release(&r);
}

/* The "id" of a created object (201). */
static inline void ht_create(const ht_server *s, const char *path, const char *token,
                             const char *body, char id[QF_UUID_STR])
{
	ht_resp r;
	ht_expect(&r, s, "POST", path, token, body, 201);
	const char *v = json_string_value(json_object_get(r.json, "id"));
	if (!v)
		fail_msg("POST %s answered no id: %s", path, r.body);
	qf_strlcpy(id, v, QF_UUID_STR);
	ht_resp_release(&r);
}

/* A small molecule as the JSON body of POST /api/v1/molecules. */
static inline char *ht_molecule_body(const char *name, const char *org_id, unsigned seed)
{
	/* water, the oxygen nudged by seed so that every molecule is distinct */
	char data[256];
	snprintf(data, sizeof(data),
	         "3\\n%s\\nO 0.0 0.0 %.4f\\nH 0.0 0.7572 -0.4692\\nH 0.0 -0.7572 -0.4692\\n", name,
	         0.1173 + 0.0001 * (seed % 500));
	char *body = NULL;
	if (asprintf(&body, "{\"name\":\"%s\",\"format\":\"xyz\",\"data\":\"%s\"%s%s%s}", name, data,
	             org_id ? ",\"org_id\":\"" : "", org_id ? org_id : "", org_id ? "\"" : "") < 0)
		fail_msg("out of memory");
	return body;
}

/* Wait until calculation id is in a final state (completed, failed,
 * cancelled); its document. */
static inline json_t *ht_wait_calc(const ht_server *s, const char *token, const char *id, double timeout_s)
{
	char path[128];
	snprintf(path, sizeof(path), "/api/v1/calculations/%s", id);
	double end = sv_now() + timeout_s;
	for (;;) {
		ht_resp r;
		ht_expect(&r, s, "GET", path, token, NULL, 200);
		const char *st = json_string_value(json_object_get(r.json, "status"));
		if (st && (!strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "cancelled"))) {
			json_t *doc = json_incref(r.json);
			ht_resp_release(&r);
			return doc;
		}
		if (sv_now() > end) {
			char *text = sv_read(s->log);
			fail_msg("calculation %s still %s after %.0f s: %s\nserver log:\n%s", id, st ? st : "?",
			         timeout_s, r.body, text);
		}
		ht_resp_release(&r);
		sv_sleep(0.2);
	}
}

#endif
