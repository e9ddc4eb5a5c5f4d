/* Reading a request: headers, query arguments, path parameters, cookies,
 * paging (see http_int.h). */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"
#include "qf/clock.h"
#include "qf/str.h"

const char *qf__req_header(const qf__req *r, const char *name)
{
	for (int i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].k, name))
			return r->headers[i].v;
	return NULL;
}

const char *qf__req_arg(const qf__req *r, const char *name)
{
	for (int i = 0; i < r->nargs; i++)
		if (!strcmp(r->args[i].k, name))
			return r->args[i].v ? r->args[i].v : "";
	return NULL;
}

const char *qf__req_param(const qf__req *r, const char *name)
{
	for (int i = 0; i < r->nparams; i++)
		if (!strcmp(r->param_names[i], name))
			return r->params[i];
	return NULL;
}

bool qf__req_cookie(const qf__req *r, const char *name, char *out, size_t size)
{
	const char *h = qf__req_header(r, "Cookie");
	size_t n = strlen(name);
	while (h && *h) {
		while (*h == ' ' || *h == ';')
			h++;
		const char *end = strchr(h, ';');
		size_t len = end ? (size_t)(end - h) : strlen(h);
		if (len > n && !strncmp(h, name, n) && h[n] == '=') {
			size_t vlen = len - n - 1;
			if (vlen >= size)
				return false;
			memcpy(out, h + n + 1, vlen);
			out[vlen] = '\0';
			return true;
		}
		h = end;
	}
	return false;
}

static int bad_arg(qf__req *r, const char *name, const char *what)
{
	return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_argument",
	                "query argument '%s' must be %s", name, what);
}

int qf__req_arg_int(qf__req *r, const char *name, long min, long max, long def, long *out)
{
	const char *v = qf__req_arg(r, name);
	*out = def;
	if (!v)
		return 0;
	if (!qf_parse_int(v, min, max, out)) {
		char what[96];
		snprintf(what, sizeof(what), "an integer from %ld to %ld", min, max);
		return bad_arg(r, name, what);
	}
	return 0;
}

int qf__req_arg_time(qf__req *r, const char *name, double *out)
{
	const char *v = qf__req_arg(r, name);
	*out = 0;
	if (!v)
		return 0;
	double t;
	if (qf_clock_parse(v, &t) == 0 && t > 0) {
		*out = t;
		return 0;
	}
	if (qf_parse_double(v, &t) && t > 0 && t < 1e11) {
		*out = t;
		return 0;
	}
	return bad_arg(r, name, "an RFC 3339 UTC time (2026-12-01T00:00:00Z) or epoch seconds");
}

int qf__req_arg_bool(qf__req *r, const char *name, bool def, bool *out)
{
	const char *v = qf__req_arg(r, name);
	*out = def;
	if (!v)
		return 0;
	if (!strcmp(v, "true") || !strcmp(v, "1") || !*v)
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return bad_arg(r, name, "true or false");
	return 0;
}

int qf__req_uuid(qf__req *r, const char *name, const char **out)
{
	const char *v = qf__req_param(r, name);
	*out = v;
	if (!v || !qf_uuid_valid(v))
		return qf__fail(r, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found", "no such %s: '%.64s'",
		                name, v ? v : "");
	return 0;
}

/* ---- paging ------------------------------------------------------------------------ */

int qf__req_page(qf__req *r, int *limit, json_t **after_value, char *after_key, size_t key_size)
{
	long l;
	int rc = qf__req_arg_int(r, "limit", 1, QF_HTTP_MAX_PAGE, QF_HTTP_DEFAULT_PAGE, &l);
	if (rc)
		return rc;
	*limit = (int)l;
	*after_value = NULL;
	after_key[0] = '\0';
	const char *c = qf__req_arg(r, "cursor");
	if (!c || !*c)
		return 0;
	unsigned char raw[600];
	size_t n = 0;
	json_t *doc = NULL;
	if (strlen(c) < 800 &&
	    sodium_base642bin(raw, sizeof(raw) - 1, c, strlen(c), NULL, &n, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0)
		doc = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
	json_t *v = json_array_get(doc, 0), *k = json_array_get(doc, 1);
	if (!json_is_array(doc) || json_array_size(doc) != 2 || !json_is_string(k) ||
	    json_string_length(k) >= key_size || !(json_is_null(v) || json_is_string(v) || json_is_number(v))) {
		json_decref(doc);
		return bad_arg(r, "cursor", "a cursor from a previous page's next_cursor");
	}
	qf_strlcpy(after_key, json_string_value(k), key_size);
	*after_value = json_incref(v);
	json_decref(doc);
	return 0;
}

char *qf__page_cursor(const json_t *row, const char *col, const char *key)
{
	json_t *k = json_object_get(row, key);
	json_t *v = json_object_get(row, col);
	json_t *doc = json_pack("[OO]", v ? v : json_null(), k ? k : json_null());
	char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	json_decref(doc);
	if (!text)
		return NULL;
	size_t n = strlen(text);
	size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *out = malloc(cap);
	if (out)
		sodium_bin2base64(out, cap, (const unsigned char *)text, n,
		                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	free(text);
	return out;
}

/* ---- uploads --------------------------------------------------------------------------- */

/* The boundary parameter of a multipart Content-Type. */
static bool boundary_of(const char *ct, char *out, size_t size)
{
	const char *b = ct ? strcasestr(ct, "boundary=") : NULL;
	if (!b)
		return false;
	b += 9;
	bool quoted = *b == '"';
	if (quoted)
		b++;
	size_t n = 0;
	while (b[n] && n + 1 < size && (quoted ? b[n] != '"' : (b[n] != ';' && b[n] != ' ')))
		n++;
	if (n == 0 || n > 70)
		return false;
	memcpy(out, b, n);
	out[n] = '\0';
	return true;
}

/* A parameter of a Content-Disposition header line ("name", "filename"). */
static bool disposition_param(const char *h, size_t hlen, const char *param, char *out, size_t size)
{
	char key[32];
	snprintf(key, sizeof(key), "%s=\"", param);
	size_t klen = strlen(key);
	for (size_t i = 0; i + klen <= hlen; i++) {
		if ((i == 0 || h[i - 1] == ' ' || h[i - 1] == ';') && !strncasecmp(h + i, key, klen)) {
			const char *v = h + i + klen;
			const char *e = memchr(v, '"', hlen - i - klen);
			if (!e || (size_t)(e - v) >= size)
				return false;
			memcpy(out, v, (size_t)(e - v));
			out[e - v] = '\0';
			return true;
		}
	}
	return false;
}

int qf__req_upload(qf__req *r, const char **data, size_t *len, char *filename, size_t fsize,
                   json_t **fields)
{
	*data = NULL;
	*len = 0;
	filename[0] = '\0';
	*fields = json_object();
	if (!*fields)
		return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	if (r->json) {
		/* {"data": "...", "filename"?, other fields} */
		const char *d = NULL, *fn = NULL;
		int rc = qf__body_string(r, "data", true, QF_HTTP_MAX_BODY, &d);
		if (!rc)
			rc = qf__body_string(r, "filename", false, 255, &fn);
		if (rc)
			return rc;
		*data = d;
		*len = json_string_length(json_object_get(r->json, "data"));
		if (fn)
			qf_strlcpy(filename, fn, fsize);
		json_object_update(*fields, r->json);
		json_object_del(*fields, "data");
		json_object_del(*fields, "filename");
		return 0;
	}
	const char *ct = qf__req_header(r, "Content-Type");
	if (ct && !strncasecmp(ct, "multipart/form-data", 19)) {
		char b[80], delim[90];
		if (!boundary_of(ct, b, sizeof(b)))
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			                "multipart/form-data without a boundary");
		snprintf(delim, sizeof(delim), "--%s", b);
		size_t dl = strlen(delim);
		const char *p = r->body.data ? r->body.data : "", *end = p + r->body.len;
		const char *cur = memmem(p, (size_t)(end - p), delim, dl);
		int parts = 0;
		while (cur && parts < 32) {
			cur += dl;
			if (end - cur >= 2 && cur[0] == '-' && cur[1] == '-')
				break; /* the closing delimiter */
			if (end - cur >= 2 && cur[0] == '\r' && cur[1] == '\n')
				cur += 2;
			const char *hend = memmem(cur, (size_t)(end - cur), "\r\n\r\n", 4);
			if (!hend)
				break;
			const char *content = hend + 4;
			char cd[96];
			snprintf(cd, sizeof(cd), "\r\n%s", delim);
			const char *next = memmem(content, (size_t)(end - content), cd, strlen(cd));
			if (!next)
				break;
			char name[64] = "", fname[256] = "";
			disposition_param(cur, (size_t)(hend - cur), "name", name, sizeof(name));
			bool has_file =
				disposition_param(cur, (size_t)(hend - cur), "filename", fname, sizeof(fname));
			size_t clen = (size_t)(next - content);
			if (has_file || !strcmp(name, "file")) {
				if (*data)
					return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
					                "upload one file at a time");
				*data = content;
				*len = clen;
				qf_strlcpy(filename, fname, fsize);
			} else if (name[0] && clen <= 4096) {
				char *v = strndup(content, clen);
				json_t *jv = v ? json_string(v) : NULL; /* NULL: not UTF-8 */
				free(v);
				if (jv)
					json_object_set_new(*fields, name, jv);
			}
			cur = next + 2;
			parts++;
		}
		if (!*data)
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			                "the multipart body has no 'file' part");
		return 0;
	}
	/* the body is the file; the rest is in the query */
	*data = r->body.data ? r->body.data : "";
	*len = r->body.len;
	const char *fn = qf__req_arg(r, "filename");
	if (fn)
		qf_strlcpy(filename, fn, fsize);
	for (int i = 0; i < r->nargs; i++) {
		json_t *jv = r->args[i].v ? json_string(r->args[i].v) : NULL;
		if (jv)
			json_object_set_new(*fields, r->args[i].k, jv);
	}
	return 0;
}
