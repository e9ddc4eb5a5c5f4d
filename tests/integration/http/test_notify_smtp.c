/* qf-test: labels=integration,http,notify timeout=300 */
/*
 * Notification e-mail over TLS with SMTP AUTH, end to end: the real
 * `qforge serve` (no workers; test notifications) and an SMTP sink this test
 * starts on 127.0.0.1 with a CA and a certificate it makes at run time
 * (smtp_sink.h).
 *
 *   starttls    --smtp-tls starttls, --smtp-user, --smtp-password-file and
 *               --smtp-ca-file with the test's CA: the message arrives; the
 *               sink saw STARTTLS before AUTH, the right user and password
 *               (PLAIN, then LOGIN), and nothing of them in clear
 *   stripped    the same server against a sink that offers no STARTTLS (but
 *               AUTH, in clear): every try fails before MAIL FROM, the
 *               notification is retried --notify-attempts times then failed
 *               (last_error says why, audit log notification_failed), and no
 *               credential ever crossed the clear connection
 *   refused     a wrong password: failed at once, not retried (SMTP 535)
 *   implicit    --smtp-tls tls (smtps): TLS from the first byte, AUTH, sent
 *   untrusted   a CA file of another CA, or none (the system's CAs): the
 *               certificate is refused, no AUTH and no message
 */
#include "notify_test.h"
#include "smtp_sink.h"

#define USER "relay@example.org"
#define PASSWORD "pa55 w0rd:relay-only"

/* The password as PLAIN and LOGIN would carry it, which the clear bytes
 * may never hold. */
static void check_clear(ss_sink *x, const char *what)
{
	char plain[128], b64[256];
	int n = snprintf(plain, sizeof(plain), "%c%s%c%s", '\0', USER, '\0', PASSWORD);
	pthread_mutex_lock(&x->mu);
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)plain, (size_t)n,
	                  sodium_base64_VARIANT_ORIGINAL);
	bool leak = strstr(x->clear, b64) || strstr(x->clear, PASSWORD) || strcasestr(x->clear, "AUTH");
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)PASSWORD, strlen(PASSWORD),
	                  sodium_base64_VARIANT_ORIGINAL);
	leak = leak || strstr(x->clear, b64);
	char clear[1024];
	qf_strlcpy(clear, x->clear, sizeof(clear));
	pthread_mutex_unlock(&x->mu);
	if (leak)
		fail_msg("%s: credentials crossed the clear connection:\n%s", what, clear);
}

static void check_audit(const ht_server *s, const char *token, const char *id)
{
	ht_resp r;
	ht_expect(&r, s, "GET", "/api/v1/audit?action=notification_failed", token, NULL, 200);
	json_t *items = json_object_get(r.json, "items");
	bool found = false;
	for (size_t i = 0; i < json_array_size(items); i++)
		found |= !strcmp(nt_str(json_array_get(items, i), "entity_id"), id);
	if (!found)
		fail_msg("no notification_failed audit entry for %s: %s", id, r.body);
	ht_resp_release(&r);
}

/* One test notification through the sink as it is now set: its document. */
static json_t *one(const ht_server *s, const char *token, char *prev)
{
	nt_send_test(s, token, 1);
	json_t *n = nt_wait_settled(s, token, "test", prev[0] ? prev : NULL, 60, PASSWORD);
	qf_strlcpy(prev, nt_str(n, "id"), QF_UUID_STR);
	print_message("-> %s after %lld tries: %s\n", nt_str(n, "status"),
	              (long long)json_integer_value(json_object_get(n, "attempts")),
	              nt_str(n, "last_error"));
	return n;
}

static void settled_as(const json_t *n, const char *status, int attempts, const char *says)
{
	const char *st = nt_str(n, "status"), *why = nt_str(n, "last_error");
	int tries = (int)json_integer_value(json_object_get(n, "attempts"));
	if (strcmp(st, status) || tries != attempts || (says && !strstr(why, says)))
		fail_msg("expected %s after %d tries saying '%s'; got %s after %d: '%s'", status, attempts,
		         says ? says : "", st, tries, why);
}

/* The message arrived, authenticated as USER with PASSWORD; the commands
 * began with `opening`. */
static void check_delivered(ss_sink *x, const char *opening, const char *what)
{
	pthread_mutex_lock(&x->mu);
	char cmds[1024];
	qf_strlcpy(cmds, x->commands, sizeof(cmds));
	print_message("%s: %s\n", what, cmds);
	if (x->messages != 1 || x->auth_ok != 1 || x->auth_bad || strcmp(x->got_user, USER) ||
	    strcmp(x->got_password, PASSWORD))
		fail_msg("%s: %d messages, %d/%d logins, user '%s' password '%s'", what, x->messages,
		         x->auth_ok, x->auth_bad, x->got_user, x->got_password);
	if (strncmp(cmds, opening, strlen(opening)))
		fail_msg("%s: the commands were '%s', not '%s...'", what, cmds, opening);
	if (!x->data || !strstr(x->data, "To: <ada@example.org>") ||
	    !strstr(x->rcpt, "<ada@example.org>"))
		fail_msg("%s: not the message expected:\n%s", what, x->data ? x->data : "(none)");
	pthread_mutex_unlock(&x->mu);
}

/* qforge serve sending e-mail through the sink with TLS mode tls, the
 * credentials and the CA file ca (NULL: none given, the system's CAs). */
static void serve(ht_server *s, const char *tmp, const ss_sink *x, const char *tls,
                  const char *ca, const char *pwfile)
{
	char url[64];
	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", x->port);
	const char *extra[24] = {"--smtp-url", url, "--smtp-from", "qforge@example.org", "--smtp-tls", tls,
	                         "--smtp-user", USER, "--smtp-password-file", pwfile,
	                         "--notify-backoff", "0.2", "--notify-attempts", "2", NULL};
	if (ca) {
		extra[14] = "--smtp-ca-file";
		extra[15] = ca;
		extra[16] = NULL;
	}
	ht_serve(s, tmp, 0, extra);
}

static void test_smtp_tls(void **state)
{
	(void)state;
	sv_setup();
	ht_server s;
	char tmp[QF_MAX_PATH], ca[QF_MAX_PATH], other[QF_MAX_PATH], cert[QF_MAX_PATH], key[QF_MAX_PATH];
	char pwfile[QF_MAX_PATH];
	ht_store(&s, "http-notify-smtp", false, tmp);
	ss_make_pki(tmp, ca, other, cert, key);
	qft_join(pwfile, tmp, "smtp-password");
	qft_write(pwfile, PASSWORD "\n");
	ss_sink sink;
	ss_start(&sink, cert, key);

	/* ---- STARTTLS, credentials, the test's CA ---- */
	serve(&s, tmp, &sink, "starttls", ca, pwfile);
	char token[QF_MAX_PATH], prev[QF_UUID_STR] = "";
	ht_register(&s, "ada@example.org", token, NULL);
	nt_put_prefs(&s, token, "{\"enable_email_notifications\":true,\"enable_slack_notifications\":false}");
	const char *mechs[] = {"PLAIN", "LOGIN"};
	for (int i = 0; i < 2; i++) {
		ss_set(&sink, ss_tls_starttls, mechs[i], USER, PASSWORD);
		json_t *n = one(&s, token, prev);
		settled_as(n, "sent", 1, NULL);
		json_decref(n);
		check_delivered(&sink, "EHLO STARTTLS EHLO AUTH MAIL RCPT DATA", mechs[i]);
		check_clear(&sink, mechs[i]);
		pthread_mutex_lock(&sink.mu);
		/* the clear part was the greeting's answer and STARTTLS, no more */
		assert_non_null(strstr(sink.clear, "STARTTLS"));
		assert_null(strcasestr(sink.clear, "MAIL FROM"));
		pthread_mutex_unlock(&sink.mu);
	}

	/* ---- a server that offers no STARTTLS (AUTH in clear): never sent ---- */
	ss_set(&sink, ss_tls_none, "PLAIN", USER, PASSWORD);
	json_t *n = one(&s, token, prev);
	settled_as(n, "failed", 2, "offers no STARTTLS");
	assert_non_null(strstr(nt_str(n, "last_error"), "gave up after 2 tries"));
	check_audit(&s, token, prev);
	json_decref(n);
	assert_int_equal(ss_count(&sink, &sink.connections), 2);
	assert_int_equal(ss_count(&sink, &sink.auth_ok) + ss_count(&sink, &sink.auth_bad), 0);
	assert_int_equal(ss_count(&sink, &sink.messages), 0);
	check_clear(&sink, "no STARTTLS");
	pthread_mutex_lock(&sink.mu);
	print_message("no STARTTLS: %s\n", sink.commands);
	assert_null(strstr(sink.commands, "MAIL"));
	pthread_mutex_unlock(&sink.mu);

	/* ---- a wrong password: final at the first 535 ---- */
	ss_set(&sink, ss_tls_starttls, "PLAIN", USER, "another password");
	n = one(&s, token, prev);
	settled_as(n, "failed", 1, "refused the SMTP credentials");
	json_decref(n);
	assert_int_equal(ss_count(&sink, &sink.auth_bad), 1);
	assert_int_equal(ss_count(&sink, &sink.messages), 0);
	check_clear(&sink, "wrong password");
	assert_int_equal(ht_stop(&s, 60), 0);

	/* ---- implicit TLS (smtps) ---- */
	serve(&s, tmp, &sink, "tls", ca, pwfile);
	ss_set(&sink, ss_tls_implicit, "LOGIN", USER, PASSWORD);
	n = one(&s, token, prev);
	settled_as(n, "sent", 1, NULL);
	json_decref(n);
	check_delivered(&sink, "EHLO AUTH MAIL RCPT DATA", "implicit TLS");
	assert_int_equal((int)sink.clear_len, 0);
	assert_int_equal(ht_stop(&s, 60), 0);

	/* ---- certificates that do not verify: another CA, the system's ---- */
	const char *cas[] = {other, NULL};
	for (int i = 0; i < 2; i++) {
		serve(&s, tmp, &sink, "starttls", cas[i], pwfile);
		ss_set(&sink, ss_tls_starttls, "PLAIN", USER, PASSWORD);
		n = one(&s, token, prev);
		settled_as(n, "failed", 2, "no TLS with the mail server");
		json_decref(n);
		assert_int_equal(ss_count(&sink, &sink.connections), 2);
		assert_int_equal(ss_count(&sink, &sink.tls_failures), 2);
		assert_int_equal(ss_count(&sink, &sink.auth_ok) + ss_count(&sink, &sink.auth_bad), 0);
		assert_int_equal(ss_count(&sink, &sink.messages), 0);
		check_clear(&sink, cas[i] ? "untrusted CA" : "system CAs");
		assert_int_equal(ht_stop(&s, 60), 0);
	}

	ss_stop(&sink);
	sv_store_drop(&s.store);
}

/* qforge serve will not start with credentials and no TLS. */
static void test_smtp_clear_credentials_refused(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH], log[QF_MAX_PATH], pwfile[QF_MAX_PATH];
	qft_tmpdir(tmp, "http-notify-smtp-cli");
	qft_join(log, tmp, "serve.log");
	qft_join(pwfile, tmp, "pw");
	qft_write(pwfile, PASSWORD "\n");
	const char *argv[] = {qft_qforge(), "serve", "--port", "0", "--workers", "0", "--store",
	                      "sqlite::memory:", "--smtp-url", "smtp://127.0.0.1:25", "--smtp-from",
	                      "qforge@example.org", "--smtp-tls", "none", "--smtp-user", USER,
	                      "--smtp-password-file", pwfile, NULL};
	sv_proc p;
	sv_spawn(&p, argv, NULL, log, NULL, NULL);
	sv_wait_or_fail(&p, 30, "qforge serve --smtp-tls none --smtp-user");
	char *text = sv_read(log);
	if (sv_exit_code(&p) == 0 || !strstr(text, "never sent in clear"))
		fail_msg("qforge serve exited %d:\n%s", sv_exit_code(&p), text);
	assert_null(strstr(text, PASSWORD));
	free(text);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_smtp_tls, sv_teardown),
		cmocka_unit_test_teardown(test_smtp_clear_credentials_refused, sv_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
