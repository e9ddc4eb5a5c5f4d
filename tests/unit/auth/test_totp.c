/* qf-test: labels=unit,totp,2fa timeout=60 */
/*
 * One-time passwords and backup codes (src/auth/totp.c):
 *
 *   vectors   RFC 6238 Appendix B, SHA-1 rows: the ASCII secret
 *             "12345678901234567890" at the six times of the table gives
 *             the table's 8-digit codes
 *   window    a code of the step before or after is accepted and reports
 *             that step; two steps away, a wrong code, a malformed code or
 *             a malformed secret are refused
 *   secrets   new secrets are 32 base32 characters, differ, and round-trip
 *             through qf_totp_code_b32
 *   URI       the otpauth:// URI names issuer, account and secret, with the
 *             account percent-encoded
 *   backup    codes have the shown shape, differ, hash the same however
 *             typed (case, dashes, blanks), and garbage hashes to nothing
 */
#include "qftest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/totp.h"

static void test_rfc6238_vectors(void **state)
{
	(void)state;
	static const struct {
		double t;
		const char *code;
	} rows[] = {
		{59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000.0, "65353130"},
	};
	const char *key = "12345678901234567890";
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[QF_TOTP_CODE_STR];
		qf_err e;
		qf_err_init(&e);
		if (qf_totp_code(key, strlen(key), rows[i].t, 8, out, &e))
			fail_msg("t=%.0f: %s", rows[i].t, e.message);
		if (strcmp(out, rows[i].code))
			fail_msg("t=%.0f: code %s, RFC 6238 says %s", rows[i].t, out, rows[i].code);
	}
	/* the same key as base32 (RFC 4648 of the ASCII digits) */
	char out[QF_TOTP_CODE_STR];
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_totp_code_b32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 59, 8, out, &e), 0);
	assert_string_equal(out, "94287082");
	assert_int_not_equal(qf_totp_code(key, strlen(key), 59, 5, out, &e), 0);
}

static void test_window(void **state)
{
	(void)state;
	char secret[QF_TOTP_SECRET_B32];
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_totp_secret_new(secret, &e), 0);
	/* the middle of a step, so that t +- 30 s stays in the next step */
	double now = 1700000000.0 - 1700000000 % 30 + 15;
	int64_t base = (int64_t)(now / 30);
	for (int d = -3; d <= 3; d++) {
		char code[QF_TOTP_CODE_STR];
		assert_int_equal(qf_totp_code_b32(secret, now + 30.0 * d, 6, code, &e), 0);
		int64_t step = -7;
		bool ok = qf_totp_verify(secret, code, now, &step);
		if (d >= -1 && d <= 1) {
			if (!ok)
				fail_msg("a code of step %+d was refused", d);
			assert_int_equal(step, base + d);
		} else if (ok) {
			/* a collision of 6 digits is possible, one in a million: say so */
			fail_msg("a code of step %+d was accepted (%s)", d, code);
		}
	}
	char code[QF_TOTP_CODE_STR];
	assert_int_equal(qf_totp_code_b32(secret, now, 6, code, &e), 0);
	int64_t step;
	char wrong[QF_TOTP_CODE_STR];
	snprintf(wrong, sizeof(wrong), "%06ld", (strtol(code, NULL, 10) + 1) % 1000000);
	assert_false(qf_totp_verify(secret, wrong, now, &step));
	assert_false(qf_totp_verify(secret, "12345", now, &step));
	assert_false(qf_totp_verify(secret, "1234567", now, &step));
	assert_false(qf_totp_verify(secret, "12a456", now, &step));
	assert_false(qf_totp_verify(secret, NULL, now, &step));
	assert_false(qf_totp_verify("not base32!", code, now, &step));
	assert_false(qf_totp_verify(NULL, code, now, &step));
}

static void test_secrets_and_uri(void **state)
{
	(void)state;
	char a[QF_TOTP_SECRET_B32], b[QF_TOTP_SECRET_B32];
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_totp_secret_new(a, &e), 0);
	assert_int_equal(qf_totp_secret_new(b, &e), 0);
	assert_int_equal(strlen(a), 32);
	assert_string_not_equal(a, b);
	for (const char *p = a; *p; p++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", *p));
	char *uri = qf_totp_uri("ada+2fa@example.org", a);
	assert_non_null(uri);
	char want[256];
	snprintf(want, sizeof(want),
	         "otpauth://totp/QuantumForge:ada%%2B2fa@example.org?secret=%s&issuer=QuantumForge", a);
	assert_string_equal(uri, want);
	free(uri);
	uri = qf_totp_uri("a b:c@example.org", a);
	assert_non_null(strstr(uri, "QuantumForge:a%20b%3Ac@example.org?"));
	free(uri);
}

static void test_backup_codes(void **state)
{
	(void)state;
	char a[QF_BACKUP_CODE_STR], b[QF_BACKUP_CODE_STR];
	qf_backup_code_new(a);
	qf_backup_code_new(b);
	assert_int_equal(strlen(a), 19);
	assert_string_not_equal(a, b);
	for (int i = 0; i < 19; i++)
		assert_true(i % 5 == 4 ? a[i] == '-' : strchr("abcdefghijklmnopqrstuvwxyz234567", a[i]) != NULL);
	char h1[QF_SHA256_HEX], h2[QF_SHA256_HEX], h3[QF_SHA256_HEX];
	assert_true(qf_backup_code_hash(a, h1));
	/* upper case, no dashes, blanks */
	char typed[64];
	size_t n = 0;
	for (const char *p = a; *p; p++)
		if (*p != '-') {
			typed[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
			if (n % 5 == 4)
				typed[n++] = ' ';
		}
	typed[n] = '\0';
	assert_true(qf_backup_code_hash(typed, h2));
	assert_string_equal(h1, h2);
	assert_true(qf_backup_code_hash(b, h3));
	assert_string_not_equal(h1, h3);
	assert_false(qf_backup_code_hash("abcd-efgh-ijkl", h3));
	assert_false(qf_backup_code_hash("abcd-efgh-ijkl-mnop-q", h3));
	assert_false(qf_backup_code_hash("abcd-efgh-ijkl-mno1", h3));
	assert_false(qf_backup_code_hash("", h3));
	assert_false(qf_backup_code_hash(NULL, h3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6238_vectors),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_secrets_and_uri),
		cmocka_unit_test(test_backup_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
