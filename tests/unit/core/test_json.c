/* qf-test: labels=unit timeout=120 */
/* qf_json_write: every real reads back bit for bit and stays a real, the
 * text parses to the same tree as json_dumps's, strings are escaped like
 * jansson's, raw nodes are copied verbatim and cannot be forged by parsed
 * JSON, and the buffer's cap is kept. */
#include "qftest.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qf/buf.h"
#include "qf/err.h"
#include "qf/json.h"

static char *write_text(const json_t *v)
{
	qf_buf b;
	qf_buf_init(&b, 1 << 20);
	assert_int_equal(qf_json_write(&b, v), 0);
	size_t n = 0;
	char *s = qf_buf_detach(&b, &n);
	assert_non_null(s);
	return s;
}

static void check_real(double d)
{
	char out[32];
	size_t n = qf_json_real(d, out);
	assert_int_equal(n, strlen(out));
	char *end = NULL;
	double back = strtod(out, &end);
	assert_true(*end == '\0');
	if (memcmp(&back, &d, sizeof(d))) {
		print_error("%.17g printed as %s reads back as %.17g\n", d, out, back);
		fail();
	}
	/* still a real for a JSON reader */
	assert_true(strchr(out, '.') || strchr(out, 'e'));
}

static void test_reals_round_trip(void **state)
{
	(void)state;
	static const double fixed[] = {0.0, -0.0, 1.0, -1.0, 0.1, 0.42, -0.42, 300.0, 3600.0,
	                               1e-7, 1e-8, 1e15, 1e16, 1e300, -1e-300, 5e-324, 1.7976931348623157e308,
	                               -41.918546103226106, 0.24566674120716442, 123456789.125,
	                               9007199254740991.0, 9007199254740993.0, 0.30000000000000004};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		check_real(fixed[i]);
	/* random bit patterns and random short decimals */
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double d;
		memcpy(&d, &x, sizeof(d));
		if (isfinite(d))
			check_real(d);
		check_real((double)(int64_t)(x % 2000001) / 1e4 - 100.0);
		check_real((double)(int64_t)(x % 100000007) * 1e-9);
	}
	char out[32];
	qf_json_real(0.1, out);
	assert_string_equal(out, "0.1");
	qf_json_real(-0.42, out);
	assert_string_equal(out, "-0.42");
	qf_json_real(300.0, out);
	assert_string_equal(out, "300.0");
	qf_json_real(-0.0, out);
	assert_string_equal(out, "-0.0");
}

static void test_same_tree_as_jansson(void **state)
{
	(void)state;
	const char *text = "{\"a\":[1,-2,9223372036854775807,-9223372036854775808,2.5,true,false,null],"
	                   "\"s\":\"q\\\"b\\\\n\\n\\t\\u0001\\u001f\\u007f/é€😀\",\"o\":{\"\":{}},"
	                   "\"e\":[],\"r\":[0.1,1e-9,-41.918546103226106]}";
	json_error_t je;
	json_t *v = json_loads(text, 0, &je);
	assert_non_null(v);
	char *mine = write_text(v);
	char *theirs = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_t *a = json_loads(mine, 0, &je), *b = json_loads(theirs, 0, &je);
	assert_non_null(a);
	assert_true(json_equal(a, b));
	/* strings and key order exactly as jansson's */
	assert_non_null(strstr(mine, "\"s\":\"q\\\"b\\\\n\\n\\t\\u0001\\u001F\x7f/é€😀\""));
	assert_non_null(strstr(theirs, "\"s\":\"q\\\"b\\\\n\\n\\t\\u0001\\u001F\x7f/é€😀\""));
	assert_true(strstr(mine, "\"a\"") < strstr(mine, "\"s\"") && strstr(mine, "\"s\"") < strstr(mine, "\"o\""));
	free(mine);
	free(theirs);
	json_decref(a);
	json_decref(b);
	json_decref(v);
	json_t *nan = json_real(1.0);
	json_real_set(nan, NAN); /* refused by jansson: stays 1.0 */
	json_decref(nan);
}

static void test_raw(void **state)
{
	(void)state;
	const char *stored = "{\"results\": [1, 2.50, {\"x\": null}]}";
	json_t *doc = json_object();
	json_object_set_new(doc, "id", json_string("c1"));
	json_object_set_new(doc, "results", qf_json_raw(stored, strlen(stored) - 3));
	char *mine = write_text(doc);
	assert_string_equal(mine, "{\"id\":\"c1\",\"results\":{\"results\": [1, 2.50, {\"x\": null}");
	free(mine);
	json_decref(doc);
	const char *t = NULL;
	size_t n = 0;
	json_t *raw = qf_json_raw("[1]", 3);
	assert_true(qf_json_is_raw(raw, &t, &n));
	assert_int_equal(n, 3);
	json_decref(raw);
	/* a client cannot send a raw node: jansson refuses the key */
	json_error_t je;
	json_t *forged = json_loads("{\"\\u0000qf-raw-json\":\"]]]\"}", JSON_ALLOW_NUL, &je);
	assert_true(!forged || !qf_json_is_raw(forged, NULL, NULL));
	json_decref(forged);
	json_t *plain = json_pack("{s:s}", "qf-raw-json", "]]]");
	assert_false(qf_json_is_raw(plain, NULL, NULL));
	char *p = write_text(plain);
	assert_string_equal(p, "{\"qf-raw-json\":\"]]]\"}");
	free(p);
	json_decref(plain);
}

static void test_cap(void **state)
{
	(void)state;
	json_t *v = json_pack("{s:s}", "k", "a rather long string value");
	qf_buf b;
	qf_buf_init(&b, 10);
	assert_int_equal(qf_json_write(&b, v), QF_EINVAL);
	qf_buf_release(&b);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reals_round_trip),
		cmocka_unit_test(test_same_tree_as_jansson),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
