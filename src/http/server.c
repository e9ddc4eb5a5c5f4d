/*
 * The HTTP server: libmicrohttpd glue, the request pipeline and the
 * server's lifecycle (include/qf/http.h).
 *
 * A request goes through, in this order (qf__precheck, then qf__dispatch):
 *   1. the route table (404, or 405 with Allow);
 *   2. who is asking (session cookie, bearer session token or API key: 401
 *      for credentials that are not valid);
 *   3. may they call the route (401 when not signed in, 403 for a viewer on a
 *      route that writes or a non-administrator on an administrator's route;
 *      each denial audited);
 *   4. CSRF (a cookie-authenticated request that changes something must echo
 *      the CSRF cookie in X-CSRF-Token, and come from our own origin);
 *   5. the caller's request rate (429 with Retry-After);
 *   6. the body: its declared length (413, before it is read), its type
 *      (415), its length as read, its JSON (400: syntax, duplicate keys,
 *      nesting deeper than QF_JSON_MAX_DEPTH);
 *   7. the handler.
 * Steps 1-6 that need only the headers run before the body is read, so an
 * oversized or unauthorised upload is refused without reading it.
 *
 * libmicrohttpd runs a thread pool over epoll; handlers run in its threads
 * and must not block for long (the store answers in milliseconds; password
 * hashing is bounded by QF_MAX_CONCURRENT_PWHASH). The API usage log is
 * written by a thread of its own (usage.c), never by the request.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "http_int.h"
#include "qf/uuid.h"
#include "qf/clock.h"
#include "qf/fs.h"
#include "qf/log.h"
#include "qf/str.h"

#define MODULE "serve"

void qf_server_opts_init(qf_server_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->bind = "127.0.0.1";
	o->port = 8080;
	o->workers = -1;
	o->jobs_root = "var/jobs";
	o->secret_key_file = "var/secret.key";
	o->registration = QF_REG_OPEN;
	o->slow_factor = 1.5;
}

/* ---- requests ------------------------------------------------------------------- */

void qf__req_init(qf__req *r, qf_server *s)
{
	memset(r, 0, sizeof(*r));
	r->srv = s;
	r->route_index = -1;
	r->actor = qf_actor_anonymous();
	r->t0 = qf_clock_mono();
	qf_buf_init(&r->body, QF_HTTP_MAX_BODY);
	qf_buf_init(&r->out, QF_HTTP_MAX_DOWNLOAD);
	qf_err_init(&r->err);
	r->status = 500;
}

void qf__req_release(qf__req *r)
{
	qf_buf_release(&r->body);
	qf_buf_release(&r->out);
	json_decref(r->json);
	r->json = NULL;
	for (int i = 0; i < r->nreply_headers; i++)
		free(r->reply_owned[i]);
	r->nreply_headers = 0;
	if (r->file_path && r->file_temporary)
		unlink(r->file_path);
	free(r->file_path);
	r->file_path = NULL;
}

/* ---- routing ---------------------------------------------------------------------- */

/* Whether path matches pattern; fills the parameters. */
static bool match(const char *pattern, const char *path, qf__req *r)
{
	int np = 0;
	const char *p = pattern, *u = path;
	while (*p && *u) {
		if (*p != '/' || *u != '/')
			return false;
		p++;
		u++;
		const char *pe = strchrnul(p, '/'), *ue = strchrnul(u, '/');
		size_t plen = (size_t)(pe - p), ulen = (size_t)(ue - u);
		if (plen > 3 && !strncmp(p, "{*", 2)) {
			/* the rest of the path, whatever it holds */
			if (r) {
				if (strlen(u) >= sizeof(r->params[0]) || np >= QF__MAX_PARAMS_PATH)
					return false;
				qf_strlcpy(r->params[np], u, sizeof(r->params[0]));
				r->nparams = np + 1;
			}
			return true;
		}
		if (plen > 2 && p[0] == '{' && p[plen - 1] == '}') {
			if (ulen == 0 || ulen >= sizeof(r->params[0]) || np >= QF__MAX_PARAMS_PATH)
				return false;
			if (r) {
				memcpy(r->params[np], u, ulen);
				r->params[np][ulen] = '\0';
				/* the name without braces, stored in the static pattern text */
				r->param_names[np] = NULL;
			}
			np++;
		} else if (plen != ulen || strncmp(p, u, plen)) {
			return false;
		}
		p = pe;
		u = ue;
	}
	if (*p || *u)
		return false;
	if (r)
		r->nparams = np;
	return true;
}

/* Parameter names of each route's pattern, found once. */
static char param_names[256][QF__MAX_PARAMS_PATH][32];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void find_param_names(void)
{
	for (size_t ri = 0; ri < qf__nroutes && ri < 256; ri++) {
		const char *p = qf__routes[ri].path;
		int k = 0;
		while ((p = strchr(p, '{')) && k < QF__MAX_PARAMS_PATH) {
			const char *e = strchr(p, '}');
			if (!e)
				break;
			const char *nm = p[1] == '*' ? p + 2 : p + 1;
			snprintf(param_names[ri][k], sizeof(param_names[ri][k]), "%.*s", (int)(e - nm), nm);
			k++;
			p = e;
		}
	}
}

static void name_params(qf__req *r, int ri)
{
	pthread_once(&names_once, find_param_names);
	for (int k = 0; k < QF__MAX_PARAMS_PATH; k++)
		r->param_names[k] = param_names[ri][k];
}

static void route(qf__req *r)
{
	bool path_known = false;
	char allow[128] = "";
	for (size_t i = 0; i < qf__nroutes; i++) {
		const qf__route *rt = &qf__routes[i];
		/* the web app never answers for the API's paths */
		if (!strncmp(rt->path, "/{*", 3) &&
		    (!strncmp(r->path, "/api/", 5) || !strcmp(r->path, "/api") || !strncmp(r->path, "/rest/", 6)))
			continue;
		if (!match(rt->path, r->path, NULL))
			continue;
		path_known = true;
		bool same = !strcmp(rt->method, r->method) ||
		            (!strcmp(r->method, "HEAD") && !strcmp(rt->method, "GET"));
		if (!same) {
			size_t n = strlen(allow);
			if (!strstr(allow, rt->method))
				snprintf(allow + n, sizeof(allow) - n, "%s%s", n ? ", " : "", rt->method);
			continue;
		}
		match(rt->path, r->path, r);
		r->route = rt;
		r->route_index = (int)i;
		name_params(r, (int)i);
		return;
	}
	if (path_known) {
		qf__reply_header(r, "Allow", allow);
		qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.method", "%s is not allowed on %s (allowed: %s)",
		         r->method, r->path, allow);
	} else {
		qf__fail(r, QF_ENOENT, QF_CAT_VALIDATION, "http.not_found", "no such resource: %.200s",
		         r->path);
	}
}

static bool unsafe_method(const char *m)
{
	return strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "OPTIONS");
}

/* The media type of the request body, without parameters, lowercase. */
static void media_type(const qf__req *r, char *out, size_t size)
{
	const char *ct = qf__req_header(r, "Content-Type");
	size_t n = 0;
	while (ct && ct[n] && ct[n] != ';' && ct[n] != ' ' && n + 1 < size) {
		out[n] = (char)(ct[n] >= 'A' && ct[n] <= 'Z' ? ct[n] + 32 : ct[n]);
		n++;
	}
	out[n] = '\0';
}

static size_t body_cap(const qf__req *r)
{
	return r->actor.kind == QF_ACTOR_USER ? QF_HTTP_MAX_BODY : QF_HTTP_MAX_BODY_ANON;
}

/* Steps 1-6 of the pipeline that need the headers only. 0: go on and read
 * the body; negative: answer r->err now. */
static int precheck(qf__req *r)
{
	qf_server *s = r->srv;
	if (r->header_bytes > QF_HTTP_MAX_HEADER_BYTES)
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.header_too_large",
		                "the request's headers are larger than %d bytes", QF_HTTP_MAX_HEADER_BYTES);
	route(r);
	if (!r->route)
		return r->err.rc ? r->err.rc : QF_EINVAL;
	const qf__route *rt = r->route;
	int rc = qf__auth_request(r);
	if (rc)
		return rc;
	if (rt->access != QF_HTTP_PUBLIC && r->actor.kind != QF_ACTOR_USER) {
		qf__audit(r, "access_denied", "route", rt->path, NULL, "denied", "not signed in");
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.required",
		                "sign in first: log in at /api/v1/auth/login or send an API key as "
		                "'Authorization: Bearer qf_...'");
	}
	if ((rt->access == QF_HTTP_WRITER && !qf__may_write(r)) ||
	    (rt->access == QF_HTTP_ADMIN && !r->actor.is_admin)) {
		qf__audit(r, "access_denied", "route", rt->path, NULL, "denied",
		          rt->access == QF_HTTP_ADMIN ? "administrators only" : "viewers read only");
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.forbidden",
		                rt->access == QF_HTTP_ADMIN
		                    ? "only an administrator may %s %s"
		                    : "your role (viewer) may read but not %s %s: ask an administrator "
		                      "for the researcher role",
		                r->method, rt->path);
	}
	/* the caller's rate: per user (or API key), else per client address */
	char key[96];
	int per_min;
	if (r->actor.kind == QF_ACTOR_USER) {
		snprintf(key, sizeof(key), "u:%s", r->key_id[0] ? r->key_id : r->actor.user_id);
		per_min = r->rate_limit > 0 ? r->rate_limit
		                            : (s->o.rate_user_per_min ? s->o.rate_user_per_min
		                                                      : QF_RATE_USER_PER_MIN);
	} else {
		snprintf(key, sizeof(key), "ip:%s", r->ip);
		per_min = s->o.rate_anon_per_min ? s->o.rate_anon_per_min : QF_RATE_ANON_PER_MIN;
	}
	double retry = 0;
	pthread_mutex_lock(&s->limits_mu);
	bool ok = qf__buckets_take(s->rate, key, per_min, qf_clock_mono(), &retry);
	pthread_mutex_unlock(&s->limits_mu);
	if (!ok) {
		char ra[32];
		snprintf(ra, sizeof(ra), "%d", (int)ceil(retry < 1 ? 1 : retry));
		qf__reply_header(r, "Retry-After", ra);
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.rate_limited",
		                "too many requests: at most %d a minute; try again in %s s", per_min, ra);
	}
	if (rt->body == QF__BODY_NONE)
		return 0;
	const char *cl = qf__req_header(r, "Content-Length");
	long declared = 0;
	size_t cap = body_cap(r);
	if (cl && (!qf_parse_int(cl, 0, LONG_MAX, &declared) || (size_t)declared > cap))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.too_large",
		                "the request body is larger than %zu bytes", cap);
	char mt[128];
	media_type(r, mt, sizeof(mt));
	bool json = !strcmp(mt, "application/json");
	bool upload_ok = json || !strcmp(mt, "multipart/form-data") || !strncmp(mt, "text/", 5) ||
	                 !strncmp(mt, "chemical/", 9) || !strcmp(mt, "application/octet-stream");
	if ((rt->body == QF__BODY_JSON && !json && (declared > 0 || !cl)) ||
	    (rt->body == QF__BODY_UPLOAD && !upload_ok))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.media_type",
		                rt->body == QF__BODY_JSON
		                    ? "send the body as application/json (got '%s')"
		                    : "send JSON, multipart/form-data or a text file (got '%s')",
		                mt[0] ? mt : "no Content-Type");
	return 0;
}

/* Deepest nesting of a JSON text (outside strings). */
static int json_depth(const char *s, size_t n)
{
	int depth = 0, max = 0;
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return max;
}

static int parse_json(qf__req *r)
{
	if (r->body.len == 0) {
		r->json = json_object();
		return r->json ? 0 : qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	}
	if (json_depth(r->body.data, r->body.len) > QF_JSON_MAX_DEPTH)
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_json",
		                "the JSON body nests deeper than %d levels", QF_JSON_MAX_DEPTH);
	json_error_t je;
	r->json = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &je);
	if (!r->json)
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_json",
		                "the body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
		                je.column);
	if (!json_is_object(r->json))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_json",
		                "the body must be a JSON object");
	return 0;
}

/* The store answers "not found" both for a row the actor cannot see and for
 * one it sees but may not change. To a caller who can see it, the second is
 * a 403 (a foreign row stays a 404, like a missing one). */
static void seen_not_changed(qf__req *r)
{
	static const struct {
		const char *prefix, *table;
	} owned[] = {
		{"/api/v1/molecules/{id}", "molecules"},
		{"/api/v1/calculations/{id}", "calculations"},
		{"/api/v1/batches/{id}", "batches"},
	};
	if (!strcmp(r->route->method, "GET") || strcmp(r->err.code, "store.not_found") ||
	    r->actor.kind != QF_ACTOR_USER)
		return;
	const char *id = qf__req_param(r, "id");
	for (size_t i = 0; id && qf_uuid_valid(id) && i < sizeof(owned) / sizeof(owned[0]); i++) {
		if (strncmp(r->route->path, owned[i].prefix, strlen(owned[i].prefix)))
			continue;
		json_t *row = NULL;
		qf_err e;
		qf_err_init(&e);
		if (qf_store_get(r->srv->store, &r->actor, owned[i].table, id, &row, &e))
			return;
		json_decref(row);
		qf__audit(r, "access_denied", owned[i].table, id, NULL, "denied", "may read, not change");
		qf_err_init(&r->err);
		qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.forbidden",
		         "only its owner, its organisation's administrators or a platform administrator "
		         "may change this %.*s",
		         (int)strlen(owned[i].table) - 1, owned[i].table);
		return;
	}
}

/* Step 4, CSRF: a browser session's request that changes something carries
 * the CSRF token, and if the browser says where it comes from, from here. */
static int check_csrf(qf__req *r)
{
	if (r->auth != QF__AUTH_COOKIE || !unsafe_method(r->method) ||
	    (r->route->flags & QF__R_NO_CSRF))
		return 0;
	char cookie[QF_SHA256_HEX + 8];
	const char *hdr = qf__req_header(r, "X-CSRF-Token");
	if (!hdr || !qf__req_cookie(r, "qf_csrf", cookie, sizeof(cookie)) ||
	    !qf_token_hash_equal(hdr, cookie)) {
		qf__audit(r, "access_denied", "route", r->route->path, NULL, "denied", "csrf token missing");
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.csrf",
		                "send the qf_csrf cookie's value in the X-CSRF-Token header");
	}
	const char *origin = qf__req_header(r, "Origin");
	const char *host = qf__req_header(r, "Host");
	if (origin && strcmp(origin, "null")) {
		const char *o = strstr(origin, "://");
		if (!host || !o || strcmp(o + 3, host)) {
			qf__audit(r, "access_denied", "route", r->route->path, NULL, "denied",
			          "cross-origin request");
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.csrf",
			                "cross-origin requests are refused");
		}
	}
	return 0;
}

void qf__dispatch(qf__req *r)
{
	int rc = 0;
	if (r->body_too_large) {
		rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.too_large",
		              "the request body is larger than %zu bytes", body_cap(r));
	} else if (!r->route) {
		rc = precheck(r);
	}
	if (!rc)
		rc = check_csrf(r);
	if (!rc && r->route->body == QF__BODY_JSON)
		rc = parse_json(r);
	if (!rc && r->route->body == QF__BODY_UPLOAD) {
		char mt[64];
		media_type(r, mt, sizeof(mt));
		if (!strcmp(mt, "application/json"))
			rc = parse_json(r);
	}
	if (!rc)
		rc = r->route->fn(r);
	if (rc)
		seen_not_changed(r);
	if (rc)
		qf__reply_error(r);
	/* audit a refusal of a signed-in user's request for another's object */
}

/* ---- logging ---------------------------------------------------------------------- */

/* Query arguments without secrets, for the usage log. */
static json_t *sanitized_args(const qf__req *r)
{
	json_t *o = json_object();
	for (int i = 0; o && i < r->nargs && i < 32; i++) {
		const char *k = r->args[i].k, *v = r->args[i].v ? r->args[i].v : "";
		bool secret = strcasestr(k, "token") || strcasestr(k, "key") || strcasestr(k, "password") ||
		              strcasestr(k, "secret");
		char buf[201];
		qf_strlcpy(buf, secret ? "***" : v, sizeof(buf));
		json_t *jv = strlen(k) <= 64 ? json_string(buf) : NULL; /* NULL: not UTF-8 */
		if (jv && json_object_set_new(o, k, jv))
			continue;
	}
	return o;
}

void qf__req_log(qf__req *r)
{
	if (r->logged)
		return;
	r->logged = true;
	qf_server *s = r->srv;
	double secs = qf_clock_mono() - r->t0;
	qf__metrics_request(s->metrics, r->route_index, r->status, secs);
	if (!s->writer || (r->route && (r->route->flags & QF__R_NO_LOG)))
		return;
	json_t *row = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i}", "endpoint",
	                        r->route ? r->route->path : "(no route)", "method", r->method,
	                        "status_code", r->status, "response_time_ms",
	                        (int)lround(secs * 1000.0), "request_size_bytes", (int)r->body.len,
	                        "response_size_bytes",
	                        (int)(r->file_path ? r->file_size : r->out.len));
	if (!row)
		return;
	if (r->actor.kind == QF_ACTOR_USER)
		json_object_set_new(row, "user_id", json_string(r->actor.user_id));
	if (r->status >= 400 && qf_err_is_set(&r->err))
		json_object_set_new(row, "error_message", json_string(r->err.code));
	json_t *q = sanitized_args(r);
	if (q && json_object_size(q))
		json_object_set_new(row, "query_parameters", q);
	else
		json_decref(q);
	qf__writer_put(s->writer, "api_usage_logs", row);
}

/* ---- libmicrohttpd glue ------------------------------------------------------------ */

typedef struct conn {
	qf__req r;
	struct MHD_Connection *c;
	bool prechecked;
	bool answered;
	bool discarding; /* too large: the rest of the body is read and dropped */
	atomic_int *active;
} conn;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
	(void)kind;
	qf__req *r = cls;
	r->header_bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
	if (r->nheaders < QF__MAX_HEADERS) {
		r->headers[r->nheaders].k = key;
		r->headers[r->nheaders].v = value ? value : "";
		r->nheaders++;
	} else {
		r->header_bytes = QF_HTTP_MAX_HEADER_BYTES + 1; /* too many: refused like too large */
	}
	return MHD_YES;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
	(void)kind;
	qf__req *r = cls;
	if (r->nargs < QF__MAX_ARGS) {
		r->args[r->nargs].k = key;
		r->args[r->nargs].v = value;
		r->nargs++;
	}
	return MHD_YES;
}

static void security_headers(struct MHD_Response *resp, bool api)
{
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	if (api)
		MHD_add_response_header(resp, "Cache-Control", "no-store");
}

static enum MHD_Result send_answer(conn *k)
{
	qf__req *r = &k->r;
	struct MHD_Response *resp = NULL;
	if (r->file_path) {
		int fd = open(r->file_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0 && r->file_temporary) {
			/* the open descriptor keeps the bytes until they are sent */
			unlink(r->file_path);
			r->file_temporary = false;
		}
		if (fd >= 0)
			resp = MHD_create_response_from_fd((uint64_t)r->file_size, fd);
		if (!resp && fd >= 0)
			close(fd);
		if (!resp) {
			qf__fail(r, QF_ESYS, QF_CAT_SYSTEM, "system.io", "the file cannot be read any more");
			qf__reply_error(r);
		}
	}
	if (!resp) {
		size_t len = 0;
		char *data = qf_buf_detach(&r->out, &len);
		resp = MHD_create_response_from_buffer(len, data ? data : (void *)"",
		                                       data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
		if (!resp) {
			free(data);
			return MHD_NO;
		}
	}
	if (r->content_type)
		MHD_add_response_header(resp, "Content-Type", r->content_type);
	for (int i = 0; i < r->nreply_headers; i++)
		MHD_add_response_header(resp, r->reply_headers[i][0], r->reply_headers[i][1]);
	security_headers(resp, !r->route || strncmp(r->route->path, "/{", 2));
	enum MHD_Result ok = MHD_queue_response(k->c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	k->answered = true;
	return ok;
}

/* SSE: the content reader of an event stream. */
static void resume_conn(void *arg)
{
	MHD_resume_connection(arg);
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	conn *k = cls;
	qf__sub *sub = k->r.stream;
	long n = qf__sub_read(sub, buf, max);
	if (n > 0)
		return n;
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* nothing yet: park the connection until the hub has something */
	MHD_suspend_connection(k->c);
	qf__sub_on_ready(sub, resume_conn, k->c);
	return 0;
}

static enum MHD_Result send_stream(conn *k)
{
	struct MHD_Response *resp =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_reader, k, NULL);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	security_headers(resp, false);
	enum MHD_Result ok = MHD_queue_response(k->c, 200, resp);
	MHD_destroy_response(resp);
	k->answered = true;
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	(void)version;
	qf_server *s = cls;
	conn *k = *con_cls;
	if (!k) {
		k = malloc(sizeof(*k));
		if (!k)
			return MHD_NO;
		memset(k, 0, sizeof(*k));
		*con_cls = k;
		k->c = c;
		qf__req *r = &k->r;
		qf__req_init(r, s);
		qf_strlcpy(r->method, method, sizeof(r->method));
		if (qf_strlcpy(r->path, url, sizeof(r->path)) >= sizeof(r->path))
			r->header_bytes = QF_HTTP_MAX_HEADER_BYTES + 1;
		MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, r);
		r->header_bytes += strlen(url) + strlen(method);
		MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, r);
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci && ci->client_addr) {
			const struct sockaddr *sa = ci->client_addr;
			if (sa->sa_family == AF_INET)
				inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->ip, sizeof(r->ip));
			else if (sa->sa_family == AF_INET6)
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->ip,
				          sizeof(r->ip));
		}
		int rc = precheck(r);
		k->prechecked = true;
		if (rc) {
			qf__reply_error(r);
			return send_answer(k);
		}
		r->body.cap = body_cap(r);
		return MHD_YES;
	}
	qf__req *r = &k->r;
	if (*upload_size) {
		if (!k->answered && !r->body_too_large) {
			if (qf_buf_append(&r->body, upload, *upload_size))
				r->body_too_large = true;
		}
		if (r->body_too_large) {
			/* read and drop up to as much again, then hang up */
			k->discarding = true;
			if (r->body.len + *upload_size > 2 * r->body.cap)
				return MHD_NO;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (k->answered)
		return MHD_YES;
	qf__dispatch(r);
	if (r->stream && r->status == 200)
		return send_stream(k);
	return send_answer(k);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	conn *k = *con_cls;
	if (!k)
		return;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && k->r.status < 400 && !k->r.stream)
		k->r.status = 499; /* the client went away (nginx's convention) */
	qf__req_log(&k->r);
	if (k->r.stream)
		qf__sub_free(k->r.stream);
	qf__req_release(&k->r);
	free(k);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	qf_rstrip(msg);
	qf_log_info("http", "%s", msg);
}

/* ---- the listening socket ------------------------------------------------------------- */

static int listen_on(const char *bind_addr, int port, int *fd_out, int *port_out, qf_err *err)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	char ps[16];
	snprintf(ps, sizeof(ps), "%d", port);
	int g = getaddrinfo(bind_addr, ps, &hints, &res);
	if (g)
		return qf_err_set(err, QF_CAT_VALIDATION, "serve.bind",
		                  "cannot listen on '%s': not a numeric IPv4 or IPv6 address (%s)", bind_addr,
		                  gai_strerror(g));
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 1024)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return qf_err_set(err, QF_CAT_SYSTEM, "serve.bind", "cannot listen on %s port %d: %s",
		                  bind_addr, port, strerror(e));
	}
	freeaddrinfo(res);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                           : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	return 0;
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static void find_web_root(qf_server *s)
{
	if (s->o.web_root) {
		qf_strlcpy(s->web_root, s->o.web_root, sizeof(s->web_root));
		return;
	}
	char dir[PATH_MAX];
	if (qf_fs_self_dir(dir, sizeof(dir)) == 0) {
		char cand[PATH_MAX + 32];
		snprintf(cand, sizeof(cand), "%s/../web/dist", dir);
		char real[PATH_MAX];
		if (realpath(cand, real) && qf_fs_exists(real)) {
			qf_strlcpy(s->web_root, real, sizeof(s->web_root));
			return;
		}
	}
	snprintf(s->web_root, sizeof(s->web_root), "%s/web/dist", QF_SOURCE_DIR);
}

static int server_init(qf_server *s, const qf_server_opts *o, qf_err *err)
{
	s->o = *o;
	if (o->notify_policy)
		s->policy = *o->notify_policy;
	else
		qf_notify_policy_init(&s->policy);
	s->o.notify_policy = &s->policy;
	s->routes = qf__routes;
	s->nroutes = qf__nroutes;
	qf_strlcpy(s->store_url, o->store_url ? o->store_url : qf_store_default_url(),
	           sizeof(s->store_url));
	s->o.store_url = s->store_url;
	pthread_mutex_init(&s->auth_mu, NULL);
	pthread_mutex_init(&s->pw_mu, NULL);
	pthread_cond_init(&s->pw_cv, NULL);
	pthread_mutex_init(&s->limits_mu, NULL);
	pthread_mutex_init(&s->cache_mu, NULL);
	pthread_mutex_init(&s->tails_mu, NULL);
	s->rate = qf__buckets_new(QF_RATE_TRACKED);
	s->throttle = qf__throttle_new(QF_LOGIN_TRACKED);
	s->totp_throttle = qf__throttle_new(QF_TOTP_TRACKED);
	s->active_jobs = qf__tally_new(QF_QUOTA_TRACKED);
	s->storage_used = qf__tally_new(QF_QUOTA_TRACKED);
	s->metrics = qf__metrics_new(qf__nroutes);
	if (!s->rate || !s->throttle || !s->totp_throttle || !s->active_jobs || !s->storage_used || !s->metrics)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	find_web_root(s);
	qf_store_opts so;
	memset(&so, 0, sizeof(so));
	so.pool_size = 8;
	int rc = qf_store_open(&s->store, s->store_url, &so, err);
	if (rc)
		return rc;
	if (o->secret_key_file) {
		char dir[QF_MAX_PATH];
		qf_strlcpy(dir, o->secret_key_file, sizeof(dir));
		char *slash = strrchr(dir, '/');
		if (slash) {
			*slash = '\0';
			if ((rc = qf_fs_mkdir_p(dir, true, err)))
				return rc;
		}
		if ((rc = qf_secret_key_load(o->secret_key_file, true, s->secret_key, err)))
			return rc;
		s->have_secret_key = true;
	}
	if ((rc = qf__writer_new(&s->writer, s->store, err)))
		return rc;
	return qf__hub_new(&s->hub, s, err);
}

int qf_server_new(qf_server **out, const qf_server_opts *o, qf_err *err)
{
	*out = NULL;
	qf_server *s = calloc(1, sizeof(*s));
	if (!s)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	int rc = server_init(s, o, err);
	int fd = -1;
	if (!rc)
		rc = listen_on(o->bind ? o->bind : "127.0.0.1", o->port, &fd, &s->port, err);
	if (rc) {
		qf_server_free(s);
		return rc;
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = (unsigned)(o->threads > 0 ? o->threads : cores > 0 ? cores : 1);
	s->daemon = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
		NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)QF_HTTP_MAX_CONNECTIONS,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)QF_HTTP_MAX_PER_IP,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)QF_HTTP_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)QF_HTTP_CONNECTION_MEMORY,
		/* RFC 9112: refuse what a lenient parser would guess at (no Host, bad
		 * header lines, conflicting lengths) */
		MHD_OPTION_STRICT_FOR_CLIENT, 1,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
	if (!s->daemon) {
		close(fd);
		qf_server_free(s);
		return qf_err_set(err, QF_CAT_SYSTEM, "serve.start", "the HTTP server could not start");
	}
	if (o->port_file) {
		char text[16];
		snprintf(text, sizeof(text), "%d\n", s->port);
		if ((rc = qf_fs_write_atomic(o->port_file, text, strlen(text), err))) {
			qf_server_free(s);
			return rc;
		}
	}
	qf_notifier_opts no = {
		.store = s->store,
		.policy = &s->policy,
		.smtp = o->smtp,
		.secret_key = s->have_secret_key ? s->secret_key : NULL,
		.backoff_base_s = o->notify_backoff_s,
		.max_attempts = o->notify_max_attempts,
	};
	if ((rc = qf_notifier_new(&s->notifier, &no, err))) {
		qf_server_free(s);
		return rc;
	}
	if (o->retention_interval >= 0 &&
	    (rc = qf__retention_start(&s->retention, s->store,
	                              o->retention_interval > 0 ? o->retention_interval
	                                                        : QF_RETENTION_INTERVAL_S,
	                              err))) {
		qf_server_free(s);
		return rc;
	}
	int nworkers = o->workers < 0 ? (int)(cores > 0 ? cores : 1) : o->workers;
	if (nworkers > QF_SERVE_MAX_WORKERS)
		nworkers = QF_SERVE_MAX_WORKERS;
	if (nworkers > 0) {
		qf__supervisor_opts so = {
			.workers = nworkers,
			.qforge_path = o->qforge_path,
			.store_url = s->store_url,
			.jobs_root = o->jobs_root,
			.extra_args = o->worker_args,
		};
		if ((rc = qf__supervisor_start(&s->sup, &so, err))) {
			qf_server_free(s);
			return rc;
		}
	}
	*out = s;
	return 0;
}

int qf_server_new_local(qf_server **out, const char *store_url, qf_err *err)
{
	*out = NULL;
	qf_server *s = calloc(1, sizeof(*s));
	if (!s)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	qf_server_opts o;
	qf_server_opts_init(&o);
	o.store_url = store_url;
	o.secret_key_file = NULL;
	o.workers = 0;
	int rc = server_init(s, &o, err);
	if (rc) {
		qf_server_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int qf_server_port(const qf_server *s)
{
	return s->port;
}

/* Requests under way (between their first call and completion) are not
 * tracked by libmicrohttpd for us; after quiescing, the daemon is stopped
 * once its connections had the grace time to finish. */
#define SHUTDOWN_GRACE_S 10.0

int qf_server_run(qf_server *s, volatile sig_atomic_t *stop, qf_err *err)
{
	(void)err;
	while (!*stop) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	atomic_store(&s->stopping, 1);
	qf_log_info(MODULE, "stopping: no new connections; finishing requests");
	int fd = s->daemon ? MHD_quiesce_daemon(s->daemon) : -1;
	if (fd >= 0)
		close(fd);
	if (s->hub)
		qf__hub_close_all(s->hub);
	/* connections still open finish their requests */
	double until = qf_clock_mono() + SHUTDOWN_GRACE_S;
	while (s->daemon && qf_clock_mono() < until) {
		const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (!di || di->num_connections == 0)
			break;
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (s->daemon) {
		MHD_stop_daemon(s->daemon);
		s->daemon = NULL;
	}
	qf__retention_stop(s->retention);
	if (s->sup) {
		qf_log_info(MODULE, "draining the workers (a second signal stops their jobs)");
		qf__supervisor_stop(s->sup, stop);
	}
	if (s->writer)
		qf__writer_flush(s->writer);
	return 0;
}

void qf_server_free(qf_server *s)
{
	if (!s)
		return;
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	if (s->sup) {
		qf__supervisor_stop(s->sup, NULL);
		qf__supervisor_free(s->sup);
	}
	qf_notifier_free(s->notifier);
	qf__retention_free(s->retention);
	qf__hub_free(s->hub);
	qf__writer_free(s->writer);
	qf__metrics_free(s->metrics);
	qf__buckets_free(s->rate);
	qf__throttle_free(s->throttle);
	qf__throttle_free(s->totp_throttle);
	qf__tally_free(s->active_jobs);
	qf__tally_free(s->storage_used);
	free(s->auth_cache);
	json_decref(s->counts);
	qf__calc_tails_free(s);
	qf_store_close(s->store);
	sodium_memzero(s->secret_key, sizeof(s->secret_key));
	free(s);
}

void qf__wake_workers(qf_server *s)
{
	if (s->sup)
		qf__supervisor_wake(s->sup);
}

void qf__pw_enter(qf_server *s)
{
	pthread_mutex_lock(&s->pw_mu);
	while (s->pw_running >= QF_MAX_CONCURRENT_PWHASH)
		pthread_cond_wait(&s->pw_cv, &s->pw_mu);
	s->pw_running++;
	pthread_mutex_unlock(&s->pw_mu);
}

void qf__pw_leave(qf_server *s)
{
	pthread_mutex_lock(&s->pw_mu);
	s->pw_running--;
	pthread_cond_signal(&s->pw_cv);
	pthread_mutex_unlock(&s->pw_mu);
}

/* ---- in-process requests -------------------------------------------------------------- */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	                                      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decode %XX (and '+' as space in the query) in place. */
static void url_decode(char *s, bool query)
{
	char *w = s;
	for (char *p = s; *p; p++) {
		if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
			char c = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			*w++ = c ? c : '?';
			p += 2;
		} else if (*p == '+' && query) {
			*w++ = ' ';
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
}

int qf_server_handle(qf_server *s, const char *method, const char *url, const char *const *headers,
                     size_t nheaders, const char *body, size_t body_len, int *status, char **out,
                     size_t *out_len)
{
	qf__req r;
	qf__req_init(&r, s);
	qf_strlcpy(r.method, method, sizeof(r.method));
	qf_strlcpy(r.ip, "127.0.0.1", sizeof(r.ip));
	char *u = strdup(url);
	if (!u)
		return QF_ENOMEM;
	char *q = strchr(u, '?');
	if (q)
		*q++ = '\0';
	url_decode(u, false);
	if (qf_strlcpy(r.path, u, sizeof(r.path)) >= sizeof(r.path))
		r.header_bytes = QF_HTTP_MAX_HEADER_BYTES + 1;
	while (q && *q && r.nargs < QF__MAX_ARGS) {
		char *amp = strchr(q, '&');
		if (amp)
			*amp = '\0';
		char *eq = strchr(q, '=');
		if (eq)
			*eq = '\0';
		url_decode(q, true);
		if (eq)
			url_decode(eq + 1, true);
		r.args[r.nargs].k = q;
		r.args[r.nargs].v = eq ? eq + 1 : NULL;
		r.nargs++;
		q = amp ? amp + 1 : NULL;
	}
	for (size_t i = 0; i < nheaders; i++)
		collect_header(&r, MHD_HEADER_KIND, headers[2 * i], headers[2 * i + 1]);
	int rc = precheck(&r);
	if (!rc) {
		r.body.cap = body_cap(&r);
		if (body_len && qf_buf_append(&r.body, body, body_len))
			r.body_too_large = true;
		qf__dispatch(&r);
	} else {
		qf__reply_error(&r);
	}
	if (r.stream) {
		qf__sub_free(r.stream);
		r.stream = NULL;
	}
	*status = r.status;
	*out = qf_buf_detach(&r.out, out_len);
	qf__req_log(&r);
	qf__req_release(&r);
	free(u);
	return 0;
}

/* ---- introspection ---------------------------------------------------------------------- */

static qf_http_route_info route_info[256];

static void build_route_info(void)
{
	for (size_t i = 0; i < qf__nroutes && i < 256; i++) {
		route_info[i].method = qf__routes[i].method;
		route_info[i].path = qf__routes[i].path;
		route_info[i].access = qf__routes[i].access;
		route_info[i].summary = qf__routes[i].summary;
	}
}

const qf_http_route_info *qf_http_routes(size_t *n)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, build_route_info);
	*n = qf__nroutes < 256 ? qf__nroutes : 256;
	return route_info;
}
