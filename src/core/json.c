/* Writing JSON answers fast: see include/qf/json.h. */
#include "qf/json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "qf/err.h"
#include "qf/limits.h"

/* The key of a raw node: a NUL byte, which jansson's parser refuses in a
 * key ("NUL byte in object key not supported"), so no parsed document can
 * pass for raw text. */
static const char raw_key[] = "\0qf-raw-json";
#define RAW_KEY_LEN (sizeof(raw_key) - 1)

json_t *qf_json_raw(const char *text, size_t len)
{
	json_t *o = json_object(), *s = json_stringn_nocheck(text, len);
	if (!o || !s || json_object_setn_new_nocheck(o, raw_key, RAW_KEY_LEN, s)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

bool qf_json_is_raw(const json_t *v, const char **text, size_t *len)
{
	if (!json_is_object(v) || json_object_size(v) != 1)
		return false;
	json_t *s = json_object_getn(v, raw_key, RAW_KEY_LEN);
	if (!json_is_string(s))
		return false;
	if (text)
		*text = json_string_value(s);
	if (len)
		*len = json_string_length(s);
	return true;
}

/* ---- numbers ------------------------------------------------------------ */

static size_t put_u64(uint64_t v, char *out)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static size_t put_i64(int64_t v, char *out)
{
	if (v >= 0)
		return put_u64((uint64_t)v, out);
	out[0] = '-';
	return 1 + put_u64(-(uint64_t)v, out + 1);
}

/*
 * d as m / 10^k with the smallest k: m = round(|d| 10^k) is tried for k =
 * 0, 1, ... while m stays below 2^53. Then m and 10^k (k <= 22) are exact
 * doubles and m / 10^k is correctly rounded, which is what strtod makes of
 * the decimal text: when it equals |d|, the text reads back as d (Clinger's
 * fast path, backwards). Other reals (17 significant digits, huge or tiny)
 * go through "%.17g" like jansson's.
 */
size_t qf_json_real(double d, char *out)
{
	static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
	                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	double a = fabs(d);
	size_t n = 0;
	if (signbit(d))
		out[n++] = '-';
	if (a == 0) {
		memcpy(out + n, "0.0", 4);
		return n + 3;
	}
	if (a >= 1e-7 && a < 1e15) {
		for (int k = 0; k <= 22; k++) {
			double x = a * pow10[k];
			if (x >= 9007199254740992.0)
				break;
			double m = nearbyint(x);
			if (m / pow10[k] != a)
				continue;
			uint64_t im = (uint64_t)m;
			while (k > 0 && im % 10 == 0) {
				im /= 10;
				k--;
			}
			char digits[24];
			size_t nd = put_u64(im, digits);
			if (k == 0) {
				memcpy(out + n, digits, nd);
				n += nd;
				memcpy(out + n, ".0", 3);
				return n + 2;
			}
			if (nd <= (size_t)k) {
				out[n++] = '0';
				out[n++] = '.';
				for (size_t z = nd; z < (size_t)k; z++)
					out[n++] = '0';
				memcpy(out + n, digits, nd);
				n += nd;
			} else {
				size_t whole = nd - (size_t)k;
				memcpy(out + n, digits, whole);
				n += whole;
				out[n++] = '.';
				memcpy(out + n, digits + whole, (size_t)k);
				n += (size_t)k;
			}
			out[n] = '\0';
			return n;
		}
	}
	int w = snprintf(out + n, 32 - n, "%.17g", a);
	if (w <= 0 || (size_t)w >= 32 - n - 3) {
		memcpy(out, "0.0", 4);
		return 3;
	}
	n += (size_t)w;
	/* a real stays a real: "1e+300" and "12.5" as they are, "300" as "300.0" */
	if (!memchr(out, '.', n) && !memchr(out, 'e', n)) {
		memcpy(out + n, ".0", 3);
		n += 2;
	}
	return n;
}

/* ---- strings -------------------------------------------------------------- */

/* What jansson escapes (without JSON_ESCAPE_SLASH or JSON_ENSURE_ASCII):
 * '"', '\\' and the control characters. */
static int put_string(qf_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF"; /* jansson's case */
	int rc = qf_buf_append(b, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; !rc && i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (i > run && (rc = qf_buf_append(b, s + run, i - run)))
			break;
		run = i + 1;
		char esc[6] = {'\\', 0, 0, 0, 0, 0};
		size_t n = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
			break;
		}
		rc = qf_buf_append(b, esc, n);
	}
	if (!rc && len > run)
		rc = qf_buf_append(b, s + run, len - run);
	return rc ? rc : qf_buf_append(b, "\"", 1);
}

int qf_json_write_string(qf_buf *b, const char *s, size_t len)
{
	return put_string(b, s, len);
}

int qf_json_write_int(qf_buf *b, long long v)
{
	char num[32];
	return qf_buf_append(b, num, put_i64((int64_t)v, num));
}

int qf_json_write_real(qf_buf *b, double d)
{
	char num[32];
	if (!isfinite(d))
		return QF_EINVAL;
	return qf_buf_append(b, num, qf_json_real(d, num));
}

/* ---- the tree -------------------------------------------------------------- */

static int put(qf_buf *b, const json_t *v, int depth)
{
	char num[32];
	const char *raw;
	size_t rawlen;
	int rc = 0;
	if (depth > QF_JSON_MAX_WRITE_DEPTH)
		return QF_EINVAL;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		if (qf_json_is_raw(v, &raw, &rawlen))
			return qf_buf_append(b, raw, rawlen);
		const char *key;
		size_t klen;
		json_t *m;
		bool first = true;
		rc = qf_buf_append(b, "{", 1);
		json_object_keylen_foreach((json_t *)v, key, klen, m) {
			if (rc || (!first && (rc = qf_buf_append(b, ",", 1))) ||
			    (rc = put_string(b, key, klen)) || (rc = qf_buf_append(b, ":", 1)) ||
			    (rc = put(b, m, depth + 1)))
				break;
			first = false;
		}
		return rc ? rc : qf_buf_append(b, "}", 1);
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(v);
		rc = qf_buf_append(b, "[", 1);
		for (size_t i = 0; !rc && i < n; i++)
			if (!(i && (rc = qf_buf_append(b, ",", 1))))
				rc = put(b, json_array_get(v, i), depth + 1);
		return rc ? rc : qf_buf_append(b, "]", 1);
	}
	case JSON_STRING:
		return put_string(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return qf_buf_append(b, num, put_i64((int64_t)json_integer_value(v), num));
	case JSON_REAL: {
		double d = json_real_value(v);
		if (!isfinite(d))
			return QF_EINVAL;
		return qf_buf_append(b, num, qf_json_real(d, num));
	}
	case JSON_TRUE:
		return qf_buf_append(b, "true", 4);
	case JSON_FALSE:
		return qf_buf_append(b, "false", 5);
	case JSON_NULL:
		return qf_buf_append(b, "null", 4);
	}
	return QF_EINVAL;
}

int qf_json_write(qf_buf *b, const json_t *v)
{
	return v ? put(b, v, 0) : QF_EINVAL;
}
