/* Writing JSON answers fast: see include/qf/json.h. */
#include "qf/json.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
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
 * Reals: Grisu2 (F. Loitsch, "Printing floating-point numbers quickly and
 * accurately with integers", PLDI 2010), written here because no C library
 * of Debian's prints the shortest round-trip text (glibc's printf needs
 * "%.17g" and big-number arithmetic, a third of an answer's cost when it is
 * mostly per-atom reals). Grisu2 picks digits strictly inside the interval
 * of reals that round to d, so the text always reads back as d; it is the
 * shortest such text for all but a few doubles in a thousand, which get
 * one digit more (tests/unit/core/test_json.c checks both).
 */

typedef struct diyfp {
	uint64_t f;
	int e; /* value f * 2^e */
} diyfp;

static diyfp diy_mul(diyfp x, diyfp y)
{
	unsigned __int128 p = (unsigned __int128)x.f * y.f;
	uint64_t h = (uint64_t)(p >> 64), l = (uint64_t)p;
	h += l >> 63; /* rounded */
	return (diyfp){h, x.e + y.e + 64};
}

static diyfp diy_normalize(diyfp x)
{
	int z = __builtin_clzll(x.f);
	return (diyfp){x.f << z, x.e - z};
}

/* 10^k for k = POW_MIN, POW_MIN + 8, ... as f * 2^e with f's top bit set,
 * rounded to nearest; computed once with exact integer arithmetic. */
#define POW_MIN (-348)
#define POW_STEP 8
#define POW_N 87
#define BIG_LIMBS 48 /* 32-bit limbs: 2^1280 and 10^340 fit */
static diyfp pow10_cache[POW_N];
static pthread_once_t pow10_once = PTHREAD_ONCE_INIT;

/* The top 64 bits of the big number x (n limbs, x != 0), rounded, as f;
 * *shift gets the bits dropped below them (negative: bits added). */
static uint64_t big_top64(const uint32_t *x, int n, int *shift)
{
	while (n > 1 && !x[n - 1])
		n--;
	int bits = 32 * (n - 1) + (32 - __builtin_clz(x[n - 1]));
	uint64_t f = 0;
	bool below = false; /* the first bit under the 64 taken */
	for (int b = bits - 1, k = 0; b >= 0 && k < 65; b--, k++) {
		unsigned bit = (x[b / 32] >> (b % 32)) & 1;
		if (k < 64)
			f = f << 1 | bit;
		else
			below = bit;
	}
	int sh = bits - 64;
	if (bits < 64)
		f <<= 64 - bits;
	if (below && ++f == 0) {
		f = 1ull << 63;
		sh++;
	}
	*shift = sh;
	return f;
}

/* x *= m or x /= m (floor), x of BIG_LIMBS limbs, m < 2^32. */
static void big_mul(uint32_t *x, uint32_t m)
{
	uint64_t carry = 0;
	for (int l = 0; l < BIG_LIMBS; l++) {
		uint64_t v = (uint64_t)x[l] * m + carry;
		x[l] = (uint32_t)v;
		carry = v >> 32;
	}
}

static void big_div(uint32_t *x, uint32_t m)
{
	uint64_t rem = 0;
	for (int l = BIG_LIMBS - 1; l >= 0; l--) {
		uint64_t v = rem << 32 | x[l];
		x[l] = (uint32_t)(v / m);
		rem = v % m;
	}
}

static void pow10_init(void)
{
	/* the table's k are 4 mod 8: 10^4, then 10^8 more each step up; and
	 * floor(2^1280 / 10^4), then 10^8 less each step down (the floor of a
	 * floor is the floor of the whole quotient) */
	const int up = (4 - POW_MIN) / POW_STEP, sh0 = 1280;
	uint32_t x[BIG_LIMBS] = {0}, y[BIG_LIMBS] = {0};
	x[0] = 10000;
	y[sh0 / 32] = 1;
	big_div(y, 10000);
	for (int i = up; i < POW_N; i++) {
		int sh;
		uint64_t f = big_top64(x, BIG_LIMBS, &sh);
		pow10_cache[i] = (diyfp){f, sh};
		big_mul(x, 100000000);
	}
	for (int i = up - 1; i >= 0; i--) {
		int sh;
		uint64_t f = big_top64(y, BIG_LIMBS, &sh);
		pow10_cache[i] = (diyfp){f, sh - sh0};
		big_div(y, 100000000);
	}
}

/* Digits of the reals in (Wp - delta, Wp] closest to W (all three in
 * units of 2^Wp.e, -60 <= Wp.e <= -32), moved towards W as Grisu2 does:
 * buf gets them, *K the power of ten they are multiplied by (added to). */
static int digit_gen(diyfp W, diyfp Wp, uint64_t delta, char *buf, int *K)
{
	static const uint32_t pow10_32[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
	                                    100000000, 1000000000};
	const int sh = -Wp.e;
	const uint64_t one = 1ull << sh;
	uint64_t wp_w = Wp.f - W.f;
	uint32_t p1 = (uint32_t)(Wp.f >> sh);
	uint64_t p2 = Wp.f & (one - 1);
	/* decimal digits of p1 (> 0): from its bit length (1233 / 4096 ~ log10 2) */
	int kappa = ((32 - __builtin_clz(p1)) * 1233) >> 12;
	if (kappa < 10 && p1 >= pow10_32[kappa])
		kappa++;
	int len = 0;
	uint64_t rest, ten_kappa;
	for (;;) {
		if (kappa > 0) {
			uint32_t pw = pow10_32[kappa - 1];
			uint32_t d = p1 / pw;
			p1 %= pw;
			if (d || len)
				buf[len++] = (char)('0' + d);
			kappa--;
			rest = ((uint64_t)p1 << sh) + p2;
			if (rest <= delta) {
				ten_kappa = (uint64_t)pw << sh;
				break;
			}
		} else {
			p2 *= 10;
			delta *= 10;
			wp_w *= 10;
			uint32_t d = (uint32_t)(p2 >> sh);
			if (d || len)
				buf[len++] = (char)('0' + d);
			p2 &= one - 1;
			kappa--;
			if (p2 <= delta) {
				rest = p2;
				ten_kappa = one;
				break;
			}
		}
	}
	*K += kappa;
	/* the last digit down while that stays in range and nearer to W */
	while (rest < wp_w && delta - rest >= ten_kappa &&
	       (rest + ten_kappa < wp_w || wp_w - rest > rest + ten_kappa - wp_w)) {
		buf[len - 1]--;
		rest += ten_kappa;
	}
	return len;
}

/* The digits of a (finite, > 0) and their power of ten: a = digits * 10^K. */
static int grisu2(double a, char *buf, int *K)
{
	uint64_t bits;
	memcpy(&bits, &a, sizeof(bits));
	uint64_t frac = bits & ((1ull << 52) - 1);
	int bexp = (int)(bits >> 52) & 0x7ff;
	diyfp v = bexp ? (diyfp){frac | 1ull << 52, bexp - 1075} : (diyfp){frac, -1074};
	/* the boundaries halfway to the neighbours; the lower one is nearer
	 * when a is a power of two (but the smallest normal) */
	diyfp mp = diy_normalize((diyfp){(v.f << 1) + 1, v.e - 1});
	diyfp mm = (frac == 0 && bexp > 1) ? (diyfp){(v.f << 2) - 1, v.e - 2}
	                                   : (diyfp){(v.f << 1) - 1, v.e - 1};
	mm.f <<= mm.e - mp.e;
	mm.e = mp.e;
	v = diy_normalize(v);
	/* a cached 10^k bringing the product's exponent into [-60, -32] */
	pthread_once(&pow10_once, pow10_init);
	/* k ~ (-61 - e) log10 2 (78913 / 2^18), then the table's step up */
	int i = ((((-61 - mp.e) * 78913) >> 18) - POW_MIN + POW_STEP - 1) / POW_STEP;
	if (i < 0)
		i = 0;
	if (i >= POW_N)
		i = POW_N - 1;
	while (i < POW_N - 1 && pow10_cache[i].e + mp.e + 64 < -60)
		i++;
	while (i > 0 && pow10_cache[i - 1].e + mp.e + 64 >= -60)
		i--;
	diyfp c = pow10_cache[i];
	diyfp W = diy_mul(v, c), Wp = diy_mul(mp, c), Wm = diy_mul(mm, c);
	/* one unit in from each end: the products may be off by that much */
	Wp.f--;
	Wm.f++;
	*K = -(POW_MIN + POW_STEP * i);
	return digit_gen(W, Wp, Wp.f - Wm.f, buf, K);
}

size_t qf_json_real(double d, char *out)
{
	size_t n = 0;
	if (signbit(d))
		out[n++] = '-';
	double a = fabs(d);
	if (a == 0 || !isfinite(a)) {
		memcpy(out + n, "0.0", 4);
		return n + 3;
	}
	char digits[24];
	int K = 0;
	int nd = grisu2(a, digits, &K);
	int dp = nd + K; /* digits before the decimal point */
	if (dp >= -6 && dp <= 15) {
		/* plain, as from 1e-7 up to 1e15: "0.000123", "12.5", "300.0" */
		if (dp <= 0) {
			out[n++] = '0';
			out[n++] = '.';
			for (int z = 0; z < -dp; z++)
				out[n++] = '0';
			memcpy(out + n, digits, (size_t)nd);
			n += (size_t)nd;
		} else if (dp < nd) {
			memcpy(out + n, digits, (size_t)dp);
			n += (size_t)dp;
			out[n++] = '.';
			memcpy(out + n, digits + dp, (size_t)(nd - dp));
			n += (size_t)(nd - dp);
		} else {
			memcpy(out + n, digits, (size_t)nd);
			n += (size_t)nd;
			for (int z = nd; z < dp; z++)
				out[n++] = '0';
			out[n++] = '.';
			out[n++] = '0';
		}
	} else {
		/* as printf's %g: "5.077903150545317e-17", "1e+300" */
		out[n++] = digits[0];
		if (nd > 1) {
			out[n++] = '.';
			memcpy(out + n, digits + 1, (size_t)(nd - 1));
			n += (size_t)(nd - 1);
		}
		int x = dp - 1;
		out[n++] = 'e';
		out[n++] = x < 0 ? '-' : '+';
		if (x < 0)
			x = -x;
		if (x >= 100)
			out[n++] = (char)('0' + x / 100);
		out[n++] = (char)('0' + x / 10 % 10);
		out[n++] = (char)('0' + x % 10);
	}
	out[n] = '\0';
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
