/*
 * The SQL builder, and values between JSON and the database (see
 * store_int.h). Every value a caller gives travels as a bound parameter;
 * only catalogue names and the store's own text become SQL.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qf/json.h"
#include "qf/log.h"
#include "qf/str.h"
#include "qf/uuid.h"
#include "store_int.h"

/* SQL text of one statement. The longest is record_jobs' multi-row
 * insert; generic statements are a few KB. */
#define QF__MAX_SQL (4L * 1024 * 1024)

void qf__query_init(qf__query *q, qf__dialect d)
{
	/* not the parameters (160 of them, 14 KB): add() clears each it uses */
	q->dialect = d;
	q->n = 0;
	q->rc = 0;
	qf_buf_init(&q->sql, QF__MAX_SQL);
}

void qf__query_release(qf__query *q)
{
	for (int i = 0; i < q->n; i++)
		free(q->p[i].owned);
	q->n = 0;
	qf_buf_release(&q->sql);
}

/* Whether fmt converts nothing but "%s" (and "%%"): the store's SQL
 * fragments nearly all, which are then copied without vsnprintf (a
 * statement is built of a few dozen of them, every request). */
static bool only_strings(const char *fmt)
{
	for (const char *p = strchr(fmt, '%'); p; p = strchr(p + 2, '%'))
		if (p[1] != 's' && p[1] != '%')
			return false;
	return true;
}

void qf__query_sql(qf__query *q, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = 0;
	if (only_strings(fmt)) {
		const char *run = fmt, *p;
		while (!rc && (p = strchr(run, '%'))) {
			if (p > run)
				rc = qf_buf_append(&q->sql, run, (size_t)(p - run));
			if (rc)
				break;
			if (p[1] == '%') {
				rc = qf_buf_append(&q->sql, "%", 1);
			} else {
				const char *a = va_arg(ap, const char *);
				rc = qf_buf_puts(&q->sql, a ? a : "(null)");
			}
			run = p + 2;
		}
		if (!rc && *run)
			rc = qf_buf_puts(&q->sql, run);
	} else {
		rc = qf_buf_vprintf(&q->sql, fmt, ap);
	}
	va_end(ap);
	if (rc && !q->rc)
		q->rc = rc;
}

void qf__query_ident(qf__query *q, const char *name)
{
	int rc = qf_buf_append(&q->sql, "\"", 1);
	if (!rc)
		rc = qf_buf_puts(&q->sql, name);
	if (!rc)
		rc = qf_buf_append(&q->sql, "\"", 1);
	if (rc && !q->rc)
		q->rc = rc;
}

static qf__param *add(qf__query *q, qf__pkind kind)
{
	if (q->n >= QF__MAX_PARAMS) {
		if (!q->rc)
			q->rc = QF_EINVAL;
		return NULL;
	}
	qf__query_sql(q, "?");
	qf__param *p = &q->p[q->n++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	return p;
}

void qf__query_text(qf__query *q, const char *s)
{
	if (!s) {
		qf__query_null(q);
		return;
	}
	qf__param *p = add(q, QF__P_TEXT);
	if (p) {
		p->s = s;
		p->len = strlen(s);
	}
}

void qf__query_text_take(qf__query *q, char *s)
{
	if (!s) {
		if (!q->rc)
			q->rc = QF_ENOMEM;
		qf__query_null(q);
		return;
	}
	qf__param *p = add(q, QF__P_TEXT);
	if (!p) {
		free(s);
		return;
	}
	p->owned = s;
	p->s = s;
	p->len = strlen(s);
}

void qf__query_int(qf__query *q, int64_t v)
{
	qf__param *p = add(q, QF__P_INT);
	if (p)
		p->i = v;
}

void qf__query_real(qf__query *q, double v)
{
	qf__param *p = add(q, QF__P_REAL);
	if (p)
		p->d = v;
}

void qf__query_bool(qf__query *q, bool v)
{
	qf__param *p = add(q, QF__P_BOOL);
	if (p)
		p->b = v;
}

void qf__query_null(qf__query *q)
{
	add(q, QF__P_NULL);
}

void qf__query_time(qf__query *q, double t)
{
	qf__param *p = add(q, QF__P_TEXT);
	if (p) {
		qf__time_format(t, p->tmp);
		p->s = p->tmp;
		p->len = strlen(p->tmp);
	}
}

void qf__query_value(qf__query *q, const qf__column *c, const json_t *v)
{
	if (!v || json_is_null(v)) {
		qf__query_null(q);
		return;
	}
	qf__param *p;
	switch (c->type) {
	case QF__TEXT:
	case QF__UUID:
		if ((p = add(q, QF__P_TEXT))) {
			p->s = json_string_value(v);
			p->len = json_string_length(v);
		}
		break;
	case QF__INT:
		qf__query_int(q, json_integer_value(v));
		break;
	case QF__REAL:
		qf__query_real(q, json_number_value(v));
		break;
	case QF__BOOL:
		qf__query_bool(q, json_is_true(v));
		break;
	case QF__TIME:
		if ((p = add(q, QF__P_TEXT))) {
			if (qf__time_normalize(json_string_value(v), p->tmp) && !q->rc)
				q->rc = QF_EINVAL;
			p->s = p->tmp;
			p->len = strlen(p->tmp);
		}
		break;
	case QF__JSON:
		if ((p = add(q, QF__P_TEXT))) {
			p->owned = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
			if (!p->owned) {
				if (!q->rc)
					q->rc = QF_ENOMEM;
			} else {
				p->s = p->owned;
				p->len = strlen(p->owned);
			}
		}
		if (q->dialect == QF__PG)
			qf__query_sql(q, "::jsonb");
		break;
	}
}

static void columns_of(qf__query *q, const qf__table *t)
{
	for (int i = 0; i < t->ncols; i++) {
		if (i)
			qf__query_sql(q, ", ");
		qf__query_ident(q, t->cols[i].name);
	}
}

/* Every catalogue table's column list, made once: every SELECT of a row
 * starts with one. */
#define MAX_CATALOG 64
static char *column_lists[MAX_CATALOG];
static size_t column_lens[MAX_CATALOG];
static pthread_once_t column_once = PTHREAD_ONCE_INIT;

static void column_lists_init(void)
{
	for (int i = 0; i < qf__catalog_count() && i < MAX_CATALOG; i++) {
		qf__query q;
		qf__query_init(&q, QF__SQLITE);
		columns_of(&q, qf__catalog_at(i));
		if (!q.rc)
			column_lists[i] = qf_buf_detach(&q.sql, &column_lens[i]);
		qf__query_release(&q);
	}
}

void qf__query_columns(qf__query *q, const qf__table *t)
{
	pthread_once(&column_once, column_lists_init);
	for (int i = 0; i < qf__catalog_count() && i < MAX_CATALOG; i++) {
		if (qf__catalog_at(i) == t && column_lists[i]) {
			int rc = qf_buf_append(&q->sql, column_lists[i], column_lens[i]);
			if (rc && !q->rc)
				q->rc = rc;
			return;
		}
	}
	columns_of(q, t);
}

int qf__param_bind(const qf__param *p, qf__stmt *st, int i)
{
	switch (p->kind) {
	case QF__P_NULL: return qf__stmt_bind_null(st, i);
	case QF__P_TEXT: return qf__stmt_bind_text(st, i, p->s ? p->s : "", p->s ? p->len : 0);
	case QF__P_INT: return qf__stmt_bind_int64(st, i, p->i);
	case QF__P_REAL: return qf__stmt_bind_double(st, i, p->d);
	case QF__P_BOOL: return qf__stmt_bind_bool(st, i, p->b);
	}
	return QF_EINVAL;
}

int qf__query_rebind(const qf__query *q, qf__stmt *st, int from, qf_err *err)
{
	for (int i = from; i <= q->n; i++) {
		int rc = qf__param_bind(&q->p[i - 1], st, i);
		if (rc)
			return qf_err_setrc(err, rc == QF_ENOMEM ? QF_ENOMEM : QF_ESYS, QF_CAT_SYSTEM,
			                    "store.error", "could not bind a value to a database statement");
	}
	return 0;
}

int qf__stmt_done(qf__stmt *st, qf_err *err)
{
	int rc = qf__stmt_step(st, err);
	while (rc > 0)
		rc = qf__stmt_step(st, err);
	return rc;
}

int qf__oom(qf_err *err)
{
	return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
}

int qf__query_prepare(qf__query *q, qf__db *db, qf__stmt **out, qf_err *err)
{
	*out = NULL;
	if (q->rc == QF_ENOMEM)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	if (q->rc)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.too_large",
		                  "the request is too large for one database statement: ask for fewer "
		                  "columns or rows");
	qf__stmt *st;
	int rc = qf__db_prepare(db, qf_buf_str(&q->sql), &st, err);
	if (rc)
		return rc;
	if (st->nparams != q->n) {
		qf__stmt_finalize(st);
		return qf_err_set(err, QF_CAT_SYSTEM, "store.error",
		                  "internal: statement has %d placeholders for %d values", st->nparams, q->n);
	}
	for (int i = 0; i < q->n; i++) {
		if ((rc = qf__param_bind(&q->p[i], st, i + 1))) {
			qf__stmt_finalize(st);
			return qf_err_setrc(err, rc == QF_ENOMEM ? QF_ENOMEM : QF_ESYS, QF_CAT_SYSTEM,
			                    "store.error", "could not bind a value to a database statement");
		}
	}
	*out = st;
	return 0;
}

int qf__query_run(qf__query *q, qf__db *db, qf__stmt **out, qf_err *err)
{
	int rc = qf__query_prepare(q, db, out, err);
	if (rc)
		return rc;
	rc = qf__stmt_step(*out, err);
	if (rc < 0) {
		qf__stmt_finalize(*out);
		*out = NULL;
	}
	return rc;
}

/* ---- times ------------------------------------------------------------------ */

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int qf__time_normalize(const char *in, char out[QF_TIME_STR])
{
	/* the fields exactly where RFC 3339 puts them, read without sscanf (every
	 * time column of every row read goes through here) */
	if (!in)
		return QF_EINVAL;
	for (int i = 0; i < 19; i++) {
		if (!in[i])
			return QF_EINVAL;
		if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && (in[i] < '0' || in[i] > '9'))
			return QF_EINVAL;
	}
	if (in[4] != '-' || in[7] != '-' || in[13] != ':' || in[16] != ':')
		return QF_EINVAL;
#define DIGITS2(i) ((in[i] - '0') * 10 + (in[(i) + 1] - '0'))
	int y = DIGITS2(0) * 100 + DIGITS2(2), mo = DIGITS2(5), d = DIGITS2(8), h = DIGITS2(11),
	    mi = DIGITS2(14), s = DIGITS2(17), n = 19;
#undef DIGITS2
	char sep = in[10];
	if (sep != 'T' && sep != 't' && sep != ' ')
		return QF_EINVAL;
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59)
		return QF_EINVAL;
	if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return QF_EINVAL;
	const char *p = in + n;
	char ms[4] = "000";
	if (*p == '.') {
		p++;
		int k = 0;
		if (*p < '0' || *p > '9')
			return QF_EINVAL;
		while (*p >= '0' && *p <= '9') {
			if (k < 3)
				ms[k] = *p;
			k++;
			p++;
		}
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (!strcmp(p, "+00:00") || !strcmp(p, "+00") || !strcmp(p, "-00:00"))
		p += strlen(p);
	else
		return QF_EINVAL;
	if (*p)
		return QF_EINVAL;
	/* the digits as they are (checked above), "T", milliseconds, "Z" */
	memcpy(out, in, 19);
	out[10] = 'T';
	out[19] = '.';
	memcpy(out + 20, ms, 3);
	out[23] = 'Z';
	out[24] = '\0';
	return 0;
}

void qf__time_format(double t, char out[QF_TIME_STR])
{
	/* qf_clock_format truncates; half a millisecond makes it round. */
	qf_clock_format(t + 0.0005, out);
}

double qf__stmt_col_time(qf__stmt *st, int i)
{
	const char *s = qf__stmt_col_text(st, i, NULL);
	char norm[QF_TIME_STR];
	double t = 0;
	if (!s || qf__time_normalize(s, norm) || qf_clock_parse(norm, &t))
		return 0;
	return t;
}

/* ---- text -------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t k;
	unsigned min;
	unsigned cp;
	if (c < 0x80)
		return c ? 1 : 0;
	if ((c & 0xe0) == 0xc0) {
		k = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		k = 3, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		k = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (k > n)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

bool qf__text_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		size_t k = utf8_len(u + i, len - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

void qf__text_sanitize(char *s, size_t len)
{
	unsigned char *u = (unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		size_t k = utf8_len(u + i, len - i);
		if (!k) {
			u[i] = '?';
			k = 1;
		}
		i += k;
	}
}

/* ---- values ----------------------------------------------------------------- */

static const char *type_name(qf__ctype t)
{
	switch (t) {
	case QF__TEXT: return "a string";
	case QF__INT: return "an integer";
	case QF__REAL: return "a number";
	case QF__BOOL: return "true or false";
	case QF__JSON: return "a JSON value";
	case QF__TIME: return "an RFC 3339 UTC time string (2026-11-28T18:24:33.123Z)";
	case QF__UUID: return "a lowercase UUID string";
	}
	return "?";
}

static int bad_value(const qf__table *t, const qf__column *c, qf_err *err)
{
	return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
	                  "column '%s' of table '%s' needs %s", c->name, t->name, type_name(c->type));
}

static size_t text_cap(const qf__column *c)
{
	if (c->flags & QF__C_LOG)
		return QF_STORE_MAX_LOG_BYTES;
	return c->max_len ? c->max_len : QF_STORE_MAX_TEXT;
}

int qf__value_check(const qf__table *t, const qf__column *c, const json_t *v, qf_err *err)
{
	if (!v || json_is_null(v)) {
		if (c->flags & (QF__C_REQUIRED | QF__C_NOTNULL))
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "column '%s' of table '%s' may not be null", c->name, t->name);
		return 0;
	}
	switch (c->type) {
	case QF__TEXT: {
		if (!json_is_string(v))
			return bad_value(t, c, err);
		size_t n = json_string_length(v);
		if (strlen(json_string_value(v)) != n)
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "column '%s' of table '%s' may not contain NUL characters", c->name,
			                  t->name);
		if (n > text_cap(c))
			return qf_err_set(err, QF_CAT_VALIDATION, "store.too_large",
			                  "column '%s' of table '%s' takes at most %zu bytes, got %zu", c->name,
			                  t->name, text_cap(c), n);
		return 0;
	}
	case QF__UUID:
		if (!json_is_string(v) || !qf_uuid_valid(json_string_value(v)))
			return bad_value(t, c, err);
		return 0;
	case QF__INT: {
		if (!json_is_integer(v))
			return bad_value(t, c, err);
		json_int_t x = json_integer_value(v);
		if (!(c->flags & QF__C_BIG) && (x < INT32_MIN || x > INT32_MAX))
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "column '%s' of table '%s' takes a 32-bit integer, got %" JSON_INTEGER_FORMAT,
			                  c->name, t->name, x);
		return 0;
	}
	case QF__REAL:
		if (!json_is_number(v) || !isfinite(json_number_value(v)))
			return bad_value(t, c, err);
		return 0;
	case QF__BOOL:
		if (!json_is_boolean(v))
			return bad_value(t, c, err);
		return 0;
	case QF__TIME: {
		char tmp[QF_TIME_STR];
		if (!json_is_string(v) || qf__time_normalize(json_string_value(v), tmp))
			return bad_value(t, c, err);
		return 0;
	}
	case QF__JSON: {
		/* Measure the encoding without keeping it. */
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
		if (!s)
			return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		size_t n = strlen(s);
		/* PostgreSQL's jsonb refuses \u0000 in strings. */
		bool nul = strstr(s, "\\u0000") != NULL;
		free(s);
		if (n > (size_t)QF_STORE_MAX_JSON)
			return qf_err_set(err, QF_CAT_VALIDATION, "store.too_large",
			                  "column '%s' of table '%s' takes at most %ld bytes of JSON, got %zu",
			                  c->name, t->name, (long)QF_STORE_MAX_JSON, n);
		if (nul)
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "column '%s' of table '%s': JSON strings may not contain NUL characters",
			                  c->name, t->name);
		return 0;
	}
	}
	return bad_value(t, c, err);
}

json_t *qf__col_json(qf__stmt *st, int i, const qf__column *c)
{
	if (qf__stmt_col_null(st, i))
		return json_null();
	switch (c->type) {
	case QF__TEXT:
	case QF__UUID: {
		size_t n = 0;
		const char *s = qf__stmt_col_text(st, i, &n);
		json_t *v = s ? json_stringn(s, n) : NULL;
		return v ? v : json_null();
	}
	case QF__INT:
		return json_integer(qf__stmt_col_int64(st, i));
	case QF__REAL: {
		double d = qf__stmt_col_double(st, i);
		return isfinite(d) ? json_real(d) : json_null();
	}
	case QF__BOOL:
		return json_boolean(qf__stmt_col_bool(st, i));
	case QF__TIME: {
		char out[QF_TIME_STR];
		const char *s = qf__stmt_col_text(st, i, NULL);
		if (!s || qf__time_normalize(s, out)) {
			qf_log_warn("store", "column %s holds a time that is not RFC 3339: %s", c->name,
			            s ? s : "(null)");
			return s ? json_string(s) : json_null();
		}
		return json_string(out);
	}
	case QF__JSON: {
		size_t n = 0;
		const char *s = qf__stmt_col_text(st, i, &n);
		json_error_t e;
		json_t *v = s ? json_loadb(s, n, JSON_DECODE_ANY, &e) : NULL;
		if (!v) {
			qf_log_warn("store", "column %s holds text that is not JSON", c->name);
			return json_null();
		}
		return v;
	}
	}
	return json_null();
}

json_t *qf__row_json(qf__stmt *st, const qf__table *t, bool secrets, bool raw)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	for (int i = 0; i < t->ncols; i++) {
		const qf__column *c = &t->cols[i];
		if ((c->flags & QF__C_SECRET) && !secrets)
			continue;
		json_t *v = NULL;
		if (raw && c->type == QF__JSON && !qf__stmt_col_null(st, i)) {
			/* valid JSON by the schema (jsonb; CHECK json_valid) */
			size_t n = 0;
			const char *s = qf__stmt_col_text(st, i, &n);
			v = s ? qf_json_raw(s, n) : NULL;
		}
		json_object_set_new(o, c->name, v ? v : qf__col_json(st, i, c));
	}
	return o;
}

/* Column i as qf_json_write prints what qf__col_json makes of it (JSON
 * columns as stored when raw), straight into b. The common types are
 * written from the statement; the rest (a time that is not canonical, text
 * that jansson would refuse) go through qf__col_json so that they come out
 * exactly as in a tree. */
static int col_write(qf_buf *b, qf__stmt *st, int i, const qf__column *c, bool raw)
{
	if (qf__stmt_col_null(st, i))
		return qf_buf_append(b, "null", 4);
	switch (c->type) {
	case QF__TEXT:
	case QF__UUID: {
		size_t n = 0;
		const char *s = qf__stmt_col_text(st, i, &n);
		if (s && qf__text_valid(s, n))
			return qf_json_write_string(b, s, n);
		break;
	}
	case QF__INT:
		return qf_json_write_int(b, (long long)qf__stmt_col_int64(st, i));
	case QF__REAL: {
		double d = qf__stmt_col_double(st, i);
		return isfinite(d) ? qf_json_write_real(b, d) : qf_buf_append(b, "null", 4);
	}
	case QF__BOOL:
		return qf_buf_append(b, qf__stmt_col_bool(st, i) ? "true" : "false",
		                     qf__stmt_col_bool(st, i) ? 4 : 5);
	case QF__TIME: {
		char out[QF_TIME_STR];
		const char *s = qf__stmt_col_text(st, i, NULL);
		if (s && !qf__time_normalize(s, out))
			return qf_json_write_string(b, out, strlen(out));
		break;
	}
	case QF__JSON:
		if (raw) {
			/* valid JSON by the schema (jsonb; CHECK json_valid) */
			size_t n = 0;
			const char *s = qf__stmt_col_text(st, i, &n);
			if (s)
				return qf_buf_append(b, s, n);
		}
		break;
	}
	json_t *v = qf__col_json(st, i, c);
	if (!v)
		return QF_ENOMEM;
	int rc = qf_json_write(b, v);
	json_decref(v);
	return rc;
}

static bool omitted(const char *const *omit, const char *name)
{
	for (size_t k = 0; omit && omit[k]; k++)
		if (!strcmp(omit[k], name))
			return true;
	return false;
}

int qf__row_plan(const qf__table *t, bool secrets, const char *const *omit, unsigned char *plan,
                 int max)
{
	if (t->ncols > max)
		return QF_EINVAL;
	for (int i = 0; i < t->ncols; i++) {
		const qf__column *c = &t->cols[i];
		plan[i] = 0;
		if (((c->flags & QF__C_SECRET) && !secrets) || omitted(omit, c->name))
			plan[i] |= QF__ROW_SKIP;
		if (strlen(c->name) + 4 + 32 > 96 || strpbrk(c->name, "\"\\"))
			plan[i] |= QF__ROW_ESCAPE;
	}
	return 0;
}

int qf__row_write(qf_buf *b, qf__stmt *st, const qf__table *t, const unsigned char *plan,
                  int parsed)
{
	int rc = qf_buf_append(b, "{", 1);
	bool first = true;
	for (int i = 0; !rc && i < t->ncols; i++) {
		const qf__column *c = &t->cols[i];
		if (plan[i] & QF__ROW_SKIP)
			continue;
		if (plan[i] & QF__ROW_ESCAPE) {
			if ((!first && (rc = qf_buf_append(b, ",", 1))) ||
			    (rc = qf_json_write_string(b, c->name, strlen(c->name))) ||
			    (rc = qf_buf_append(b, ":", 1)) || (rc = col_write(b, st, i, c, i != parsed)))
				break;
			first = false;
			continue;
		}
		/* ',"name":' in one piece (a plain name needs no escaping), with
		 * the value when it is a real: a row is mostly those */
		char piece[96];
		size_t nl = strlen(c->name), n = 0;
		if (!first)
			piece[n++] = ',';
		piece[n++] = '"';
		memcpy(piece + n, c->name, nl);
		n += nl;
		piece[n++] = '"';
		piece[n++] = ':';
		first = false;
		if (c->type == QF__REAL && !qf__stmt_col_null(st, i)) {
			double d = qf__stmt_col_double(st, i);
			if (isfinite(d)) {
				n += qf_json_real(d, piece + n);
				rc = qf_buf_append(b, piece, n);
				continue;
			}
		}
		if ((rc = qf_buf_append(b, piece, n)))
			break;
		rc = col_write(b, st, i, c, i != parsed);
	}
	return rc ? rc : qf_buf_append(b, "}", 1);
}
