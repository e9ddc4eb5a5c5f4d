/* Probes, metrics, the OpenAPI document and the web app's files. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../http_int.h"
#include "qf/str.h"

extern const char qf__openapi_json[];
extern const unsigned long qf__openapi_json_len;

int h_livez(qf__req *r)
{
	return qf__reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

int h_readyz(qf__req *r)
{
	int version = 0;
	qf_err err;
	qf_err_init(&err);
	if (qf_store_schema_version(r->srv->store, &version, &err))
		return qf__fail(r, QF_ESYS, QF_CAT_SYSTEM, "http.unavailable",
		                "the store does not answer: %s", err.message);
	return qf__reply_json(r, 200, json_pack("{s:s,s:s,s:i}", "status", "ready", "store",
	                                        qf_store_backend(r->srv->store), "schema_version", version));
}

int h_metrics(qf__req *r)
{
	qf_buf out;
	qf_buf_init(&out, 16L * 1024 * 1024);
	qf_err err;
	qf_err_init(&err);
	int rc = qf__metrics_render(r->srv, &out, &err);
	if (rc) {
		qf_buf_release(&out);
		return qf__fail(r, rc, QF_CAT_SYSTEM, "http.unavailable",
		                "the metrics could not be read from the store: %s", err.message);
	}
	rc = qf__reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
	qf_buf_release(&out);
	return rc;
}

int h_openapi(qf__req *r)
{
	return qf__reply_bytes(r, 200, "application/json", qf__openapi_json, qf__openapi_json_len);
}

/* ---- the web app ----------------------------------------------------------------------- */

static const struct {
	const char *ext, *type;
} types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".json", "application/json"},
	{".map", "application/json"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".jpg", "image/jpeg"},
	{".webp", "image/webp"},
	{".woff2", "font/woff2"},
	{".woff", "font/woff"},
	{".txt", "text/plain; charset=utf-8"},
	{".wasm", "application/wasm"},
};

static const char *type_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

/* A regular file of the web root (no symlink out of it, no dot segment). */
static bool web_file(const char *root, const char *rel, char *out, size_t size, struct stat *st)
{
	if (strstr(rel, "..") || strstr(rel, "//") || rel[0] == '.' || strchr(rel, '\\'))
		return false;
	char path[PATH_MAX + 8];
	if (snprintf(path, sizeof(path), "%s/%s", root, rel) >= (int)sizeof(path))
		return false;
	char real[PATH_MAX], real_root[PATH_MAX];
	if (!realpath(path, real) || !realpath(root, real_root))
		return false;
	size_t n = strlen(real_root);
	if (strncmp(real, real_root, n) || (real[n] != '/' && real[n] != '\0'))
		return false;
	if (stat(real, st) || !S_ISREG(st->st_mode))
		return false;
	return qf_strlcpy(out, real, size) < size;
}

static bool accepts_gzip(const qf__req *r)
{
	const char *ae = qf__req_header(r, "Accept-Encoding");
	return ae && strstr(ae, "gzip");
}

int h_static(qf__req *r)
{
	const char *rel = qf__req_param(r, "path");
	if (!rel || !*rel || !strcmp(rel, "/"))
		rel = "index.html";
	while (*rel == '/')
		rel++;
	char path[PATH_MAX];
	struct stat st;
	bool found = web_file(r->srv->web_root, rel, path, sizeof(path), &st);
	bool index = false;
	if (!found) {
		/* a view of the app (no extension): the app itself answers it */
		const char *last = strrchr(rel, '/');
		if (strchr(last ? last : rel, '.'))
			return qf__fail(r, QF_ENOENT, QF_CAT_VALIDATION, "http.not_found", "no such file: %.200s",
			                rel);
		found = web_file(r->srv->web_root, "index.html", path, sizeof(path), &st);
		index = true;
		if (!found)
			return qf__fail(r, QF_ENOENT, QF_CAT_VALIDATION, "http.not_found",
			                "the web app is not built (make builds it into web/dist)");
	}
	index = index || !strcmp(rel, "index.html");
	r->status = 200;
	r->content_type = type_of(path);
	char gz[PATH_MAX + 4];
	struct stat gst;
	if (accepts_gzip(r) && snprintf(gz, sizeof(gz), "%s.gz", path) < (int)sizeof(gz) &&
	    stat(gz, &gst) == 0 && S_ISREG(gst.st_mode)) {
		qf__reply_header(r, "Content-Encoding", "gzip");
		qf_strlcpy(path, gz, sizeof(path));
		st = gst;
	}
	qf__reply_header(r, "Vary", "Accept-Encoding");
	/* Vite names its bundles by their content hash: they never change */
	qf__reply_header(r, "Cache-Control", !strncmp(rel, "assets/", 7) && !index
	                                         ? "public, max-age=31536000, immutable"
	                                         : "no-cache");
	if (index)
		qf__reply_header(r, "Content-Security-Policy",
		                 "default-src 'self'; img-src 'self' data: blob:; style-src 'self' "
		                 "'unsafe-inline'; script-src 'self' 'unsafe-eval'; connect-src 'self'; "
		                 "worker-src 'self' blob:; frame-ancestors 'none'");
	r->file_path = strdup(path);
	r->file_size = (size_t)st.st_size;
	if (!r->file_path)
		return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	return 0;
}
