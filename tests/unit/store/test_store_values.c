/* qf-test: labels=unit,store timeout=120 */
/*
 * The store's pure parts, without a database: RFC 3339 times in and out,
 * '?' placeholders rewritten for PostgreSQL, text made safe for a text
 * column, value checks per column type, roles, store URLs, and the table
 * catalogue's own invariants (names safe to put into SQL, keys, owner,
 * organisation and time columns of the right types, references to tables
 * that exist).
 */
#include "qftest.h"

#include <stdlib.h>
#include <string.h>

#include "qf/store.h"
#include "qf/str.h"

#include "../../../src/store/store_int.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- times ------------------------------------------------------------------ */

static void test_time_normalize(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} good[] = {
		{"2026-11-28T18:24:33.123Z", "2026-11-28T18:24:33.123Z"},
		{"2026-11-28T18:24:33Z", "2026-11-28T18:24:33.000Z"},
		{"2026-11-28 18:24:33.5+00", "2026-11-28T18:24:33.500Z"},
		{"2026-11-28 18:24:33.123456+00", "2026-11-28T18:24:33.123Z"},
		{"2026-11-28t18:24:33.1z", "2026-11-28T18:24:33.100Z"},
		{"2026-11-28T18:24:33+00:00", "2026-11-28T18:24:33.000Z"},
		{"2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000Z"},
		{"2000-02-29T23:59:59.999Z", "2000-02-29T23:59:59.999Z"},
		{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"},
	};
	for (size_t i = 0; i < COUNT(good); i++) {
		char out[QF_TIME_STR];
		if (qf__time_normalize(good[i].in, out))
			fail_msg("'%s' was refused", good[i].in);
		assert_string_equal(out, good[i].out);
	}
	static const char *const bad[] = {
		"",
		"2026-11-28",
		"2026-11-28T18:24",
		"2026-13-01T00:00:00Z",
		"2026-00-10T00:00:00Z",
		"2026-02-29T00:00:00Z", /* not a leap year */
		"1900-02-29T00:00:00Z", /* nor this */
		"2026-04-31T00:00:00Z",
		"2026-11-28T24:00:00Z",
		"2026-11-28T18:60:00Z",
		"2026-11-28T18:24:60Z",
		"2026-11-28T18:24:33+02:00", /* UTC only */
		"2026-11-28T18:24:33.Z",
		"2026-11-28T18:24:33.123",  /* no zone */
		"2026-11-28T18:24:33.123Zjunk",
		"2026-11-28X18:24:33Z",
		" 2026-11-28T18:24:33Z",
		"2026-1-28T18:24:33Z",
		"+026-11-28T18:24:33Z",
		"2026-11-28T18:24:-3Z",
		"0000-01-01T00:00:00Z",
	};
	for (size_t i = 0; i < COUNT(bad); i++) {
		char out[QF_TIME_STR];
		if (!qf__time_normalize(bad[i], out))
			fail_msg("'%s' was accepted as %s", bad[i], out);
	}
	char out[QF_TIME_STR];
	assert_int_not_equal(qf__time_normalize(NULL, out), 0);
}

static void test_time_format_rounds(void **state)
{
	(void)state;
	char out[QF_TIME_STR];
	/* 1790000000.25 exactly; .123 is not exact in binary and must not
	 * become .122. */
	qf__time_format(1790000000.25, out);
	assert_string_equal(out, "2026-09-21T14:13:20.250Z");
	qf__time_format(1790000000.123, out);
	assert_string_equal(out, "2026-09-21T14:13:20.123Z");
	qf__time_format(1790000000.9996, out);
	assert_string_equal(out, "2026-09-21T14:13:21.000Z");
	/* Through parse and back. */
	double t;
	assert_int_equal(qf_clock_parse("2026-09-21T14:13:20.007Z", &t), 0);
	qf__time_format(t, out);
	assert_string_equal(out, "2026-09-21T14:13:20.007Z");
}

/* ---- placeholders ---------------------------------------------------------------- */

static void test_pg_rewrite(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
		int n;
	} cases[] = {
		{"SELECT 1", "SELECT 1", 0},
		{"SELECT ? , ?", "SELECT $1 , $2", 2},
		{"WHERE a = ? AND b IN (SELECT x FROM y WHERE z = ?)", "WHERE a = $1 AND b IN (SELECT x FROM y WHERE z = $2)", 2},
		{"SELECT '?', \"a?b\", ?", "SELECT '?', \"a?b\", $1", 1},
		{"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1", 1},
		{"?::jsonb", "$1::jsonb", 1},
		{"", "", 0},
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		char *out = NULL;
		int n = -1;
		assert_int_equal(qf__pg_rewrite(cases[i].in, &out, &n), 0);
		assert_string_equal(out, cases[i].out);
		assert_int_equal(n, cases[i].n);
		free(out);
	}
	/* Ten and more. */
	char *out = NULL;
	int n = 0;
	assert_int_equal(qf__pg_rewrite("?,?,?,?,?,?,?,?,?,?,?", &out, &n), 0);
	assert_string_equal(out, "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11");
	assert_int_equal(n, 11);
	free(out);
}

/* ---- text -------------------------------------------------------------------- */

static void test_text_sanitize(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{"plain ascii", 11, "plain ascii"},
		{"a\0b", 3, "a?b"},
		{"caf\xc3\xa9", 5, "caf\xc3\xa9"},             /* é */
		{"\xe2\x82\xac", 3, "\xe2\x82\xac"},           /* € */
		{"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80"},   /* emoji */
		{"x\x80y", 3, "x?y"},                          /* lone continuation */
		{"\xc3", 1, "?"},                              /* truncated */
		{"\xe2\x82", 2, "??"},                         /* truncated */
		{"\xc0\xaf", 2, "??"},                         /* overlong '/' */
		{"\xed\xa0\x80", 3, "???"},                    /* surrogate */
		{"\xf4\x90\x80\x80", 4, "????"},               /* beyond U+10FFFF */
		{"\xff\xfe", 2, "??"},
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		char buf[16];
		memcpy(buf, cases[i].in, cases[i].len);
		qf__text_sanitize(buf, cases[i].len);
		if (memcmp(buf, cases[i].out, cases[i].len))
			fail_msg("case %zu was not sanitised as expected", i);
	}
}

/* ---- values per column type ------------------------------------------------------ */

static const qf__column *col(const char *table, const char *name, const qf__table **t)
{
	*t = qf__catalog_find(table);
	assert_non_null(*t);
	int i = qf__table_col(*t, name);
	if (i < 0)
		fail_msg("no column %s.%s", table, name);
	return &(*t)->cols[i];
}

static void test_value_check(void **state)
{
	(void)state;
	static const struct {
		const char *table, *column, *json;
		int rc;
		const char *code;
	} cases[] = {
		{"batches", "name", "\"water\"", 0, ""},
		{"batches", "name", "5", QF_EINVAL, "store.invalid"},
		{"batches", "name", "null", QF_EINVAL, "store.invalid"}, /* required */
		{"batches", "source", "null", 0, ""},
		{"batches", "total", "7", 0, ""},
		{"batches", "total", "7.5", QF_EINVAL, "store.invalid"},
		{"batches", "total", "\"7\"", QF_EINVAL, "store.invalid"},
		{"batches", "total", "2147483647", 0, ""},
		{"batches", "total", "2147483648", QF_EINVAL, "store.invalid"},
		{"batches", "total", "-2147483649", QF_EINVAL, "store.invalid"},
		{"batches", "total", "null", QF_EINVAL, "store.invalid"}, /* not null */
		{"api_usage_logs", "id", "9007199254740993", 0, ""},    /* 64-bit */
		{"calculations", "total_energy", "-5.07", 0, ""},
		{"calculations", "total_energy", "3", 0, ""},
		{"calculations", "total_energy", "\"-5\"", QF_EINVAL, "store.invalid"},
		{"calculations", "is_converged", "true", 0, ""},
		{"calculations", "is_converged", "1", QF_EINVAL, "store.invalid"},
		{"calculations", "results", "{\"a\": [1, 2]}", 0, ""},
		{"calculations", "results", "[]", 0, ""},
		{"calculations", "results", "\"text\"", 0, ""},
		{"calculations", "created_at", "\"2026-01-01T00:00:00Z\"", 0, ""},
		{"calculations", "created_at", "\"yesterday\"", QF_EINVAL, "store.invalid"},
		{"calculations", "created_at", "1790000000", QF_EINVAL, "store.invalid"},
		{"calculations", "molecule_id", "\"01a22384-a328-762a-8f1b-76fae8999195\"", 0, ""},
		{"calculations", "molecule_id", "\"01A22384-A328-762A-8F1B-76FAE8999195\"", QF_EINVAL, "store.invalid"},
		{"calculations", "molecule_id", "\"01a22384a328762a8f1b76fae8999195\"", QF_EINVAL, "store.invalid"},
		{"memberships", "role", "\"0123456789012345678901234567890123\"", QF_EINVAL, "store.too_large"},
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		const qf__table *t;
		const qf__column *c = col(cases[i].table, cases[i].column, &t);
		json_error_t je;
		json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, &je);
		assert_non_null(v);
		qf_err e;
		qf_err_init(&e);
		int rc = qf__value_check(t, c, v, &e);
		if (rc != cases[i].rc || strcmp(e.code, cases[i].code))
			fail_msg("%s.%s = %s: got %d %s, wanted %d %s", cases[i].table, cases[i].column,
			         cases[i].json, rc, e.code, cases[i].rc, cases[i].code);
		json_decref(v);
	}
	/* Texts: NUL inside, and the default cap; logs have their own. */
	const qf__table *t;
	const qf__column *c = col("calculations", "error_message", &t);
	qf_err e;
	qf_err_init(&e);
	json_t *v = json_stringn("a\0b", 3);
	assert_int_equal(qf__value_check(t, c, v, &e), QF_EINVAL);
	json_decref(v);
	char *big = malloc(QF_STORE_MAX_TEXT + 2);
	assert_non_null(big);
	memset(big, 'x', QF_STORE_MAX_TEXT + 1);
	big[QF_STORE_MAX_TEXT + 1] = '\0';
	v = json_string(big);
	assert_int_equal(qf__value_check(t, c, v, &e), QF_EINVAL);
	assert_string_equal(e.code, "store.too_large");
	c = col("calculation_execution_metrics", "stdout_log", &t);
	assert_int_equal(qf__value_check(t, c, v, &e), 0);
	json_decref(v);
	big[QF_STORE_MAX_TEXT] = '\0';
	v = json_string(big);
	c = col("calculations", "error_message", &t);
	assert_int_equal(qf__value_check(t, c, v, &e), 0);
	json_decref(v);
	free(big);
	/* JSON strings with NUL (PostgreSQL's jsonb refuses them). */
	c = col("calculations", "results", &t);
	v = json_pack("{s:o}", "k", json_stringn("a\0b", 3));
	assert_int_equal(qf__value_check(t, c, v, &e), QF_EINVAL);
	json_decref(v);
}

/* ---- roles, actors, URLs ---------------------------------------------------------- */

static void test_roles_and_actors(void **state)
{
	(void)state;
	for (qf_role r = QF_ROLE_NONE; r <= QF_ROLE_ADMIN; r++) {
		qf_role back = QF_ROLE_NONE;
		assert_int_equal(qf_role_parse(qf_role_name(r), &back), 0);
		assert_int_equal(back, r);
	}
	qf_role x;
	assert_int_equal(qf_role_parse("owner", &x), QF_EINVAL);
	assert_int_equal(qf_role_parse("Admin", &x), QF_EINVAL);
	assert_int_equal(qf_role_parse(NULL, &x), QF_EINVAL);
	qf_actor a = qf_actor_system();
	assert_int_equal(a.kind, QF_ACTOR_SYSTEM);
	a = qf_actor_anonymous();
	assert_int_equal(a.kind, QF_ACTOR_ANONYMOUS);
	assert_false(a.is_admin);
	a = qf_actor_local();
	assert_int_equal(a.kind, QF_ACTOR_USER);
	assert_string_equal(a.user_id, QF_LOCAL_USER_ID);
	assert_false(a.is_admin);
}

static void test_urls(void **state)
{
	(void)state;
	unsetenv("QF_STORE");
	assert_string_equal(qf_store_default_url(), "sqlite:var/qforge.db");
	setenv("QF_STORE", "postgresql://u@h/db", 1);
	assert_string_equal(qf_store_default_url(), "postgresql://u@h/db");
	unsetenv("QF_STORE");
	static const struct {
		const char *url;
		qf_store_opts o;
		const char *code;
	} bad[] = {
		{"mysql://u@h/db", {0}, "store.url"},
		{"sqlite:", {0}, "store.url"},
		{"sqlite", {0}, "store.url"},
		{"file:var/x.db", {0}, "store.url"},
		{"sqlite::memory:", {.pool_size = QF_MAX_PG_POOL + 1}, "store.pool_size"},
		{"sqlite::memory:", {.pool_size = -1}, "store.pool_size"},
		{"sqlite::memory:", {.busy_timeout_ms = -5}, "store.busy_timeout"},
	};
	for (size_t i = 0; i < COUNT(bad); i++) {
		qf_store *s = (qf_store *)&s; /* must be reset to NULL */
		qf_err e;
		qf_err_init(&e);
		int rc = qf_store_open(&s, bad[i].url, &bad[i].o, &e);
		if (rc != QF_EINVAL || strcmp(e.code, bad[i].code))
			fail_msg("%s: got %d %s, wanted %s", bad[i].url, rc, e.code, bad[i].code);
		assert_null(s);
	}
}

/* ---- the catalogue ---------------------------------------------------------------- */

static bool identifier(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static void test_catalog_invariants(void **state)
{
	(void)state;
	assert_true(qf__catalog_count() > 0);
	assert_null(qf__catalog_find("schema_migrations"));
	assert_null(qf__catalog_find(NULL));
	assert_null(qf__catalog_at(-1));
	assert_null(qf__catalog_at(qf__catalog_count()));
	for (int i = 0; i < qf__catalog_count(); i++) {
		const qf__table *t = qf__catalog_at(i);
		assert_ptr_equal(qf__catalog_find(t->name), t);
		/* Names go into SQL as quoted identifiers: lowercase letters, digits, _. */
		if (!identifier(t->name))
			fail_msg("table name '%s' is not a plain identifier", t->name);
		assert_true(t->npk >= 1 && t->npk <= 2);
		for (int c = 0; c < t->ncols; c++) {
			const qf__column *col = &t->cols[c];
			if (!identifier(col->name))
				fail_msg("column %s.%s is not a plain identifier", t->name, col->name);
			assert_int_equal(qf__table_col(t, col->name), c); /* no duplicates */
			unsigned f = col->flags;
			if ((f & QF__C_AUTO_ID) && (col->type != QF__UUID || !(f & QF__C_PK)))
				fail_msg("%s.%s: generated ids are uuid primary keys", t->name, col->name);
			if ((f & (QF__C_AUTO_NOW | QF__C_TOUCH)) && col->type != QF__TIME)
				fail_msg("%s.%s: default times are time columns", t->name, col->name);
			if ((f & QF__C_GENERATED) && (f & (QF__C_REQUIRED | QF__C_OWNER)))
				fail_msg("%s.%s: a generated column is never given", t->name, col->name);
			if ((f & QF__C_BIG) && col->type != QF__INT)
				fail_msg("%s.%s: 64-bit applies to integers", t->name, col->name);
			if (col->max_len && col->type != QF__TEXT)
				fail_msg("%s.%s: a length cap applies to text", t->name, col->name);
			if (col->ref && (!qf__catalog_find(col->ref) || col->type != QF__UUID))
				fail_msg("%s.%s references '%s', not a uuid of a table", t->name, col->name,
				         col->ref);
		}
		for (int k = 0; k < t->npk; k++)
			assert_true(t->cols[t->pk[k]].flags & QF__C_PK);
		if (t->owner >= 0)
			assert_int_equal(t->cols[t->owner].type, QF__UUID);
		if (t->org >= 0)
			assert_int_equal(t->cols[t->org].type, QF__UUID);
		if (t->time >= 0)
			assert_int_equal(t->cols[t->time].type, QF__TIME);
		/* Owned rows need an owner; the rule of each special table its
		 * columns. */
		switch (t->rule) {
		case QF__RULE_OWNED:
		case QF__RULE_KEYS:
			assert_true(t->owner >= 0);
			break;
		case QF__RULE_OUTBOX:
			/* the owner reads; nothing to share with an organisation */
			assert_true(t->owner >= 0);
			assert_int_equal(t->org, -1);
			break;
		case QF__RULE_MEMBERSHIPS:
		case QF__RULE_AUDIT:
			assert_true(qf__table_col(t, "user_id") >= 0 && qf__table_col(t, "org_id") >= 0);
			break;
		case QF__RULE_ORGS:
			assert_true(qf__table_col(t, "owner_id") >= 0);
			break;
		case QF__RULE_USERS:
			assert_int_equal(t->owner, -1);
			break;
		case QF__RULE_SYSTEM:
			/* the system's alone: no owner to default, nothing to share */
			assert_int_equal(t->owner, -1);
			assert_int_equal(t->org, -1);
			break;
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_normalize),
		cmocka_unit_test(test_time_format_rounds),
		cmocka_unit_test(test_pg_rewrite),
		cmocka_unit_test(test_text_sanitize),
		cmocka_unit_test(test_value_check),
		cmocka_unit_test(test_roles_and_actors),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_catalog_invariants),
	};
	return cmocka_run_group_tests_name("store values", tests, NULL, NULL);
}
