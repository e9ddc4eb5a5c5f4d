/* qf-test: labels=unit timeout=60 */
/* qf_buf: appends keep the cap and the NUL, qf_buf_reserve makes room once
 * (the appends within it do not move the bytes) and refuses past the cap. */
#include "qftest.h"

#include <string.h>

#include "qf/buf.h"
#include "qf/err.h"

static void test_append_and_cap(void **state)
{
	(void)state;
	qf_buf b;
	qf_buf_init(&b, 10);
	assert_int_equal(qf_buf_append(&b, "hello", 5), 0);
	assert_int_equal(qf_buf_append(&b, "world", 5), 0);
	assert_string_equal(qf_buf_str(&b), "helloworld");
	/* one byte past the cap: refused, the buffer as it was */
	assert_int_equal(qf_buf_append(&b, "!", 1), QF_EINVAL);
	assert_int_equal(b.len, 10);
	assert_string_equal(qf_buf_str(&b), "helloworld");
	qf_buf_clear(&b);
	assert_string_equal(qf_buf_str(&b), "");
	/* many small appends across the growth steps */
	qf_buf_release(&b);
	qf_buf_init(&b, 1 << 20);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(qf_buf_append(&b, i % 2 ? "ab" : "c", i % 2 ? 2 : 1), 0);
	assert_int_equal(b.len, 15000);
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(memcmp(b.data, "cabcab", 6), 0);
	qf_buf_release(&b);
}

static void test_reserve(void **state)
{
	(void)state;
	qf_buf b;
	qf_buf_init(&b, 64 * 1024);
	assert_int_equal(qf_buf_append(&b, "{", 1), 0);
	assert_int_equal(qf_buf_reserve(&b, 32 * 1024), 0);
	assert_true(b.alloc >= 1 + 32 * 1024 + 1);
	char *at = b.data;
	for (int i = 0; i < 32 * 1024 / 8; i++)
		assert_int_equal(qf_buf_append(&b, "01234567", 8), 0);
	assert_ptr_equal(b.data, at); /* no move within the reserved room */
	assert_int_equal(b.len, 1 + 32 * 1024);
	assert_int_equal(b.data[0], '{');
	assert_int_equal(b.data[b.len], '\0');
	/* past the cap: refused, nothing changed */
	assert_int_equal(qf_buf_reserve(&b, 64 * 1024), QF_EINVAL);
	assert_int_equal(b.len, 1 + 32 * 1024);
	qf_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_cap),
		cmocka_unit_test(test_reserve),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
