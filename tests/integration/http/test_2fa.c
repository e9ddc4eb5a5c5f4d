/* qf-test: labels=integration,http,2fa,totp,postgres timeout=600 */
/*
 * Two-factor login over HTTP against the real `qforge serve`, on SQLite and
 * on PostgreSQL. The server's wall clock is pinned (QF_FAKE_NOW) in the
 * middle of a 30 s step T, and the test makes the codes of T and the steps
 * around it from the enrolment's secret with liboath (qf_totp_code_b32):
 *
 *   enrol      the secret (base32, shown once) and the otpauth:// URI; the
 *              store keeps it sealed ("sb1:", never the secret itself); a
 *              login still needs no code until confirmed
 *   confirm    codes of T-2 and T+2 refused, T-1 accepted (adjacent step);
 *              ten distinct backup codes shown once, stored as hashes
 *   login      without a code: 401 auth.2fa_required and no token; the step
 *              used to confirm is not accepted again (replay); T accepted,
 *              then refused (replay); T+2 refused; T+1 accepted
 *   race       two logins at once with the same code (two threads): exactly
 *              one gets a session; the same for a backup code
 *   backup     a backup code logs in once only, whatever its case and dashes
 *   throttle   five wrong codes, then 429 with Retry-After (even for the
 *              right code)
 *   disable    refused with a wrong password or no code; done with the
 *              password and a code (or a backup code); then the login needs
 *              no code and the secret and backup codes are gone
 *   audit      rows of every event: 2fa_enroll, 2fa_confirm, 2fa_success,
 *              2fa_failure, 2fa_backup_code_used, 2fa_disable
 */
#include "http_test.h"

#include <pthread.h>

#include "qf/totp.h"

/* The pinned time: the middle of a step. */
#define T0 1800000015.0

static void start(ht_server *s, const char *name, bool pg)
{
	char tmp[QF_MAX_PATH];
	ht_store(s, name, pg, tmp);
	static char fake[64];
	snprintf(fake, sizeof(fake), "QF_FAKE_NOW=%.0f", T0);
	const char *env[] = {fake, NULL};
	char key[QF_MAX_PATH];
	qft_join(key, tmp, "secret.key");
	const char *extra[] = {"--secret-key", key, NULL};
	ht_serve_env(s, tmp, 0, extra, env);
}

/* The code of step T0 + d * 30 for a secret. */
static void code_at(const char *secret, int d, char out[QF_TOTP_CODE_STR])
{
	qf_err e;
	qf_err_init(&e);
	if (qf_totp_code_b32(secret, T0 + 30.0 * d, 6, out, &e))
		fail_msg("could not make a code: %s", e.message);
}

static void call(ht_resp *r, const ht_server *s, const char *method, const char *path,
                 const char *token, const char *body, long status)
{
	ht_call(r, s, method, path, token, body);
	char what[512];
	snprintf(what, sizeof(what), "%s %s %s", method, path, body ? body : "");
	ht_check_no_secrets(r, what);
	if (r->status >= 400)
		ht_check_error_shape(r, what);
	if (r->status != status)
		fail_msg("%s: status %ld, expected %ld: %s", what, r->status, status, r->body);
}

/* A login with email, HT_PASSWORD and an extra member ("" for none): its
 * status; the answer's error code into code (may be NULL). */
static long login(const ht_server *s, const char *email, const char *extra, long want,
                  const char *want_code)
{
	char body[512];
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"%s%s}", email, HT_PASSWORD,
	         *extra ? "," : "", extra);
	ht_resp r;
	call(&r, s, "POST", "/api/v1/auth/login", NULL, body, want);
	if (want == 200 && !json_is_string(json_object_get(r.json, "token")))
		fail_msg("login answered no token: %s", r.body);
	if (want != 200) {
		if (json_object_get(r.json, "token"))
			fail_msg("a refused login answered a token: %s", r.body);
		if (want_code && strcmp(ht_error_code(&r), want_code))
			fail_msg("login %s: error %s, expected %s", body, ht_error_code(&r), want_code);
	}
	ht_resp_release(&r);
	return want;
}

static void login_code(const ht_server *s, const char *email, const char *code, long want,
                       const char *want_code)
{
	char extra[64];
	snprintf(extra, sizeof(extra), "\"totp\":\"%s\"", code);
	login(s, email, extra, want, want_code);
}

/* Enrol and confirm (with the code of step T-1); the secret and the backup
 * codes (a JSON array, the caller's). */
static json_t *enable(const ht_server *s, const char *token, const char *email,
                      char secret[QF_TOTP_SECRET_B32])
{
	ht_resp r;
	call(&r, s, "POST", "/api/v1/auth/2fa/enroll", token, NULL, 200);
	const char *sec = json_string_value(json_object_get(r.json, "secret"));
	const char *uri = json_string_value(json_object_get(r.json, "otpauth_uri"));
	assert_non_null(sec);
	assert_non_null(uri);
	assert_int_equal(strlen(sec), 32);
	qf_strlcpy(secret, sec, QF_TOTP_SECRET_B32);
	char want[512];
	snprintf(want, sizeof(want), "otpauth://totp/QuantumForge:%s?secret=%s&issuer=QuantumForge",
	         email, secret);
	assert_string_equal(uri, want);
	ht_resp_release(&r);

	char c[QF_TOTP_CODE_STR], body[128];
	code_at(secret, -1, c);
	snprintf(body, sizeof(body), "{\"code\":\"%s\"}", c);
	call(&r, s, "POST", "/api/v1/auth/2fa/confirm", token, body, 200);
	json_t *codes = json_incref(json_object_get(r.json, "backup_codes"));
	assert_true(json_is_true(json_object_get(r.json, "enabled")));
	ht_resp_release(&r);
	assert_int_equal(json_array_size(codes), QF_BACKUP_CODES);
	return codes;
}

/* ---- two logins at once ---------------------------------------------------------------- */

typedef struct racer {
	const ht_server *s;
	const char *body;
	pthread_barrier_t *start;
	long status;
} racer;

static void *race_one(void *arg)
{
	racer *x = arg;
	pthread_barrier_wait(x->start);
	ht_resp r;
	ht_call(&r, x->s, "POST", "/api/v1/auth/login", NULL, x->body);
	x->status = r.status;
	ht_resp_release(&r);
	return NULL;
}

/* Two logins with body at once: exactly one succeeds, the other is 401. */
static void race(const ht_server *s, const char *body)
{
	pthread_barrier_t b;
	pthread_barrier_init(&b, NULL, 2);
	racer x[2] = {{s, body, &b, 0}, {s, body, &b, 0}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race_one, &x[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&b);
	int ok = (x[0].status == 200) + (x[1].status == 200);
	int refused = (x[0].status == 401) + (x[1].status == 401);
	if (ok != 1 || refused != 1)
		fail_msg("two logins at once with %s: statuses %ld and %ld, wanted one 200 and one 401", body,
		         x[0].status, x[1].status);
}

static void walk(const char *name, bool pg)
{
	sv_setup();
	ht_server s;
	start(&s, name, pg);
	char ta[QF_MAX_PATH], tb[QF_MAX_PATH], tc[QF_MAX_PATH];
	char ua[QF_UUID_STR], ub[QF_UUID_STR], uc[QF_UUID_STR];
	const char *ea = "ada@example.org", *eb = "bob@example.org", *ec = "cy@example.org";
	ht_register(&s, ea, ta, ua);
	ht_register(&s, eb, tb, ub);
	ht_register(&s, ec, tc, uc);
	ht_resp r;

	/* ---- enrol and confirm (A) ---- */
	call(&r, &s, "GET", "/api/v1/auth/me", ta, NULL, 200);
	assert_true(json_is_false(json_object_get(r.json, "two_factor")));
	ht_resp_release(&r);
	call(&r, &s, "POST", "/api/v1/auth/2fa/confirm", ta, "{\"code\":\"123456\"}", 409);
	assert_string_equal(ht_error_code(&r), "auth.2fa_not_enrolled");
	ht_resp_release(&r);
	call(&r, &s, "POST", "/api/v1/auth/2fa/enroll", ta, NULL, 200);
	char secret[QF_TOTP_SECRET_B32];
	qf_strlcpy(secret, json_string_value(json_object_get(r.json, "secret")), sizeof(secret));
	ht_resp_release(&r);
	/* kept sealed, never in clear */
	json_t *rows = sv_rows(&s.store, "SELECT totp_secret FROM user_credentials WHERE user_id = '%s'", ua);
	const char *stored = json_string_value(sv_cell(rows, 0, 0));
	if (!stored || strncmp(stored, "sb1:", 4) || strstr(stored, secret))
		fail_msg("the TOTP secret is not stored sealed: %s", stored ? stored : "(null)");
	json_decref(rows);
	/* not on until confirmed */
	login(&s, ea, "", 200, NULL);
	char c[QF_TOTP_CODE_STR], body[256];
	for (int d = -2; d <= 2; d += 4) {
		code_at(secret, d, c);
		snprintf(body, sizeof(body), "{\"code\":\"%s\"}", c);
		call(&r, &s, "POST", "/api/v1/auth/2fa/confirm", ta, body, 401);
		assert_string_equal(ht_error_code(&r), "auth.2fa_invalid");
		ht_resp_release(&r);
	}
	code_at(secret, -1, c);
	snprintf(body, sizeof(body), "{\"code\":\"%s\"}", c);
	call(&r, &s, "POST", "/api/v1/auth/2fa/confirm", ta, body, 200);
	json_t *backup_a = json_incref(json_object_get(r.json, "backup_codes"));
	ht_resp_release(&r);
	assert_int_equal(json_array_size(backup_a), QF_BACKUP_CODES);
	for (size_t i = 0; i < QF_BACKUP_CODES; i++) {
		const char *bi = json_string_value(json_array_get(backup_a, i));
		assert_non_null(bi);
		assert_int_equal(strlen(bi), 19);
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(bi, json_string_value(json_array_get(backup_a, k)));
		/* stored as hashes only */
		assert_int_equal(sv_int(&s.store, "SELECT count(*) FROM user_backup_codes WHERE code_hash = '%s'", bi), 0);
	}
	assert_int_equal(sv_int(&s.store, "SELECT count(*) FROM user_backup_codes WHERE user_id = '%s'", ua),
	                 QF_BACKUP_CODES);
	call(&r, &s, "POST", "/api/v1/auth/2fa/enroll", ta, NULL, 409);
	ht_resp_release(&r);
	call(&r, &s, "GET", "/api/v1/auth/me", ta, NULL, 200);
	assert_true(json_is_true(json_object_get(r.json, "two_factor")));
	ht_resp_release(&r);

	/* ---- login (A) ---- */
	login(&s, ea, "", 401, "auth.2fa_required");
	code_at(secret, -1, c); /* the step that confirmed */
	login_code(&s, ea, c, 401, "auth.2fa_invalid");
	code_at(secret, 0, c);
	login_code(&s, ea, c, 200, NULL);
	login_code(&s, ea, c, 401, "auth.2fa_invalid"); /* replay */
	code_at(secret, 2, c);
	login_code(&s, ea, c, 401, "auth.2fa_invalid");
	code_at(secret, 1, c);
	login_code(&s, ea, c, 200, NULL);
	login_code(&s, ea, c, 401, "auth.2fa_invalid");
	login(&s, ea, "\"totp\":\"12345\"", 401, "auth.2fa_invalid");

	/* ---- two at once (B): a code, then a backup code ---- */
	char secret_b[QF_TOTP_SECRET_B32];
	json_t *backup_b = enable(&s, tb, eb, secret_b);
	code_at(secret_b, 0, c);
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"totp\":\"%s\"}", eb,
	         HT_PASSWORD, c);
	race(&s, body);
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"backup_code\":\"%s\"}", eb,
	         HT_PASSWORD, json_string_value(json_array_get(backup_b, 0)));
	race(&s, body);

	/* ---- backup codes (B): once only, however typed ---- */
	char extra[128], typed[32];
	snprintf(extra, sizeof(extra), "\"backup_code\":\"%s\"", json_string_value(json_array_get(backup_b, 0)));
	login(&s, eb, extra, 401, "auth.2fa_invalid");
	const char *b1 = json_string_value(json_array_get(backup_b, 1));
	size_t n = 0;
	for (const char *p = b1; *p; p++)
		if (*p != '-')
			typed[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	typed[n] = '\0';
	snprintf(extra, sizeof(extra), "\"backup_code\":\"%s\"", typed);
	login(&s, eb, extra, 200, NULL);
	snprintf(extra, sizeof(extra), "\"backup_code\":\"%s\"", b1);
	login(&s, eb, extra, 401, "auth.2fa_invalid");
	assert_int_equal(sv_int(&s.store,
	                        "SELECT count(*) FROM user_backup_codes WHERE user_id = '%s' AND used_at IS NOT NULL",
	                        ub),
	                 2);

	/* ---- throttle (C) ---- */
	char secret_c[QF_TOTP_SECRET_B32];
	json_t *backup_c = enable(&s, tc, ec, secret_c);
	char wrong[QF_TOTP_CODE_STR] = "000000", near[3][QF_TOTP_CODE_STR];
	for (int d = -1; d <= 1; d++)
		code_at(secret_c, d, near[d + 1]);
	for (int k = 0; !strcmp(wrong, near[0]) || !strcmp(wrong, near[1]) || !strcmp(wrong, near[2]); k++)
		snprintf(wrong, sizeof(wrong), "%06d", 111111 * (k + 1) % 1000000);
	for (int i = 0; i < QF_TOTP_MAX_FAILURES; i++)
		login_code(&s, ec, wrong, 401, "auth.2fa_invalid");
	login_code(&s, ec, wrong, 429, "auth.throttled");
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"totp\":\"%s\"}", ec,
	         HT_PASSWORD, near[2]);
	call(&r, &s, "POST", "/api/v1/auth/login", NULL, body, 429);
	char ra[32];
	long secs = 0;
	if (!ht_header(&r, "Retry-After", ra, sizeof(ra)) || !qf_parse_int(ra, 1, 300, &secs))
		fail_msg("a throttled login without a Retry-After of 1 to 300 s: %s", r.headers);
	ht_resp_release(&r);

	/* ---- disable ---- */
	code_at(secret_b, 2, c);
	snprintf(body, sizeof(body), "{\"password\":\"wrong password here\",\"code\":\"%s\"}", c);
	call(&r, &s, "POST", "/api/v1/auth/2fa/disable", tb, body, 401);
	ht_resp_release(&r);
	snprintf(body, sizeof(body), "{\"password\":\"%s\"}", HT_PASSWORD);
	call(&r, &s, "POST", "/api/v1/auth/2fa/disable", tb, body, 400);
	ht_resp_release(&r);
	/* B's last step is T (the race): T+1 is a current code */
	code_at(secret_b, 1, c);
	snprintf(body, sizeof(body), "{\"password\":\"%s\",\"code\":\"%s\"}", HT_PASSWORD, c);
	call(&r, &s, "POST", "/api/v1/auth/2fa/disable", tb, body, 200);
	assert_true(json_is_false(json_object_get(r.json, "enabled")));
	ht_resp_release(&r);
	login(&s, eb, "", 200, NULL);
	assert_int_equal(sv_int(&s.store, "SELECT count(*) FROM user_backup_codes WHERE user_id = '%s'", ub), 0);
	assert_int_equal(sv_int(&s.store,
	                        "SELECT count(*) FROM user_credentials WHERE user_id = '%s' AND totp_secret IS NULL",
	                        ub),
	                 1);
	call(&r, &s, "POST", "/api/v1/auth/2fa/disable", tb, body, 409);
	ht_resp_release(&r);
	/* A: every step of the window is used; a backup code does it */
	snprintf(body, sizeof(body), "{\"password\":\"%s\",\"backup_code\":\"%s\"}", HT_PASSWORD,
	         json_string_value(json_array_get(backup_a, 3)));
	call(&r, &s, "POST", "/api/v1/auth/2fa/disable", ta, body, 200);
	ht_resp_release(&r);
	login(&s, ea, "", 200, NULL);

	/* ---- audit ---- */
	static const struct {
		const char *action;
		int min;
	} events[] = {
		{"2fa_enroll", 3},  {"2fa_confirm", 3},          {"2fa_success", 5},
		{"2fa_failure", 12}, {"2fa_backup_code_used", 3}, {"2fa_disable", 2},
		{"2fa_required", 1},
	};
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		long long got = sv_int(&s.store, "SELECT count(*) FROM user_audit_log WHERE action = '%s'",
		                       events[i].action);
		if (got < events[i].min)
			fail_msg("%lld audit rows of %s, expected at least %d", got, events[i].action,
			         events[i].min);
	}
	/* the throttled attempts name the user and say why */
	assert_true(sv_int(&s.store,
	                   "SELECT count(*) FROM user_audit_log WHERE action = '2fa_failure' AND user_id = "
	                   "'%s' AND reason = 'throttled'",
	                   uc) >= 2);
	json_decref(backup_a);
	json_decref(backup_b);
	json_decref(backup_c);
	assert_int_equal(ht_stop(&s, 60), 0);
	sv_store_drop(&s.store);
	sv_teardown(NULL);
}

static void test_2fa_sqlite(void **state)
{
	(void)state;
	walk("2fa_sqlite", false);
}

static void test_2fa_postgres(void **state)
{
	(void)state;
	walk("2fa_pg", true);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_2fa_sqlite, sv_teardown),
		cmocka_unit_test_teardown(test_2fa_postgres, sv_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
