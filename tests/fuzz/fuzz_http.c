/*
 * Fuzz target: the HTTP request path after the socket (libmicrohttpd parses
 * the bytes of the wire; its own fuzzing covers that): routing, headers,
 * cookies and CSRF, query strings, JSON and multipart bodies, the handlers,
 * on a server without a socket or workers (qf_server_new_local) over SQLite
 * in a scratch directory.
 *
 * Input: a request line "METHOD TARGET", header lines "Name: value", an
 * empty line, the body. The header value "Bearer @" becomes a real session
 * token (an account registered at start), so the fuzzer reaches what only
 * signed-in users reach. Every answer must be JSON with the one error shape
 * when its status is 400 or more (or a download), and a 5xx other than 503
 * is a bug: it aborts.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qf/fs.h"
#include "qf/http.h"
#include "qf/log.h"

static qf_server *srv;
static char dir[64];
static char bearer[512];

static void cleanup(void)
{
	qf_server_free(srv);
	qf_fs_rm_rf(dir);
}

static void start(void)
{
	snprintf(dir, sizeof(dir), "/tmp/qforge-fuzz-http.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	char url[128];
	snprintf(url, sizeof(url), "sqlite:%s/q.db", dir);
	qf_err err;
	qf_err_init(&err);
	qf_log_set_level(QF_LOG_ERROR);
	if (qf_server_new_local(&srv, url, &err)) {
		fprintf(stderr, "fuzz_http: %s\n", err.message);
		abort();
	}
	atexit(cleanup);
	static const char reg[] = "{\"email\":\"fuzz@example.org\",\"password\":\"correct horse battery\"}";
	const char *h[] = {"Content-Type", "application/json"};
	int status = 0;
	char *out = NULL;
	size_t len = 0;
	qf_server_handle(srv, "POST", "/api/v1/auth/register", h, 1, reg, sizeof(reg) - 1, &status, &out,
	                 &len);
	json_t *doc = out ? json_loadb(out, len, 0, NULL) : NULL;
	const char *tok = json_string_value(json_object_get(doc, "token"));
	if (status != 201 || !tok) {
		fprintf(stderr, "fuzz_http: register answered %d: %.*s\n", status, (int)len, out ? out : "");
		abort();
	}
	snprintf(bearer, sizeof(bearer), "Bearer %s", tok);
	json_decref(doc);
	free(out);
}

#define MAX_HEADERS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!srv)
		start();
	if (size > 64 * 1024)
		return 0;
	char *in = malloc(size + 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	/* the request line */
	char *p = in, *end = in + size;
	char *nl = memchr(p, '\n', (size_t)(end - p));
	char *line_end = nl ? nl : end;
	*line_end = '\0';
	char *sp = strchr(p, ' ');
	if (!sp || sp == p || (size_t)(sp - p) > 10 || strlen(sp + 1) == 0 || strlen(p) != (size_t)(line_end - p)) {
		free(in);
		return 0;
	}
	*sp = '\0';
	const char *method = p, *target = sp + 1;
	/* streams and the web app's files: not this target's business */
	if (strncmp(target, "/api/", 5) && strncmp(target, "/rest/", 6) && strcmp(target, "/livez") &&
	    strcmp(target, "/readyz") && strcmp(target, "/metrics")) {
		free(in);
		return 0;
	}
	if (strstr(target, "/events")) {
		free(in);
		return 0;
	}
	/* headers */
	const char *hv[2 * MAX_HEADERS];
	size_t nh = 0;
	p = nl ? nl + 1 : end;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		line_end = nl ? nl : end;
		if (line_end > p && line_end[-1] == '\r')
			line_end[-1] = '\0';
		*line_end = '\0';
		char *next = nl ? nl + 1 : end;
		if (!*p) {
			p = next;
			break;
		}
		char *colon = strchr(p, ':');
		if (colon && nh < MAX_HEADERS) {
			*colon = '\0';
			char *v = colon + 1;
			while (*v == ' ')
				v++;
			hv[2 * nh] = p;
			hv[2 * nh + 1] = !strcmp(v, "Bearer @") ? bearer : v;
			nh++;
		}
		p = next;
	}
	const char *body = p < end ? p : NULL;
	size_t body_len = p < end ? (size_t)(end - p) : 0;
	int status = 0;
	char *out = NULL;
	size_t out_len = 0;
	if (qf_server_handle(srv, method, target, hv, nh, body, body_len, &status, &out, &out_len) == 0) {
		if (status >= 500 && status != 503) {
			fprintf(stderr, "fuzz_http: %s %s answered %d: %.*s\n", method, target, status,
			        (int)out_len, out ? out : "");
			abort();
		}
		if (status >= 400) {
			json_t *doc = out ? json_loadb(out, out_len, 0, NULL) : NULL;
			json_t *e = json_object_get(doc, "error");
			if (!json_is_string(json_object_get(e, "code")) || !json_is_string(json_object_get(e, "message"))) {
				fprintf(stderr, "fuzz_http: %s %s answered %d without the error shape: %.*s\n",
				        method, target, status, (int)out_len, out ? out : "");
				abort();
			}
			json_decref(doc);
		}
	}
	free(out);
	free(in);
	return 0;
}
