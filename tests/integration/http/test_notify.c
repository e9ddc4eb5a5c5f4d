/* qf-test: labels=integration,http,xtb,postgres,notify timeout=600 */
/*
 * Notifications end to end, on SQLite and on PostgreSQL, against the real
 * `qforge serve` with a real worker and the real xtb, and receivers this
 * test starts itself: HTTP listeners on 127.0.0.1 and [::1] and the
 * SMTP sink of smtp_sink.h (plain, no AUTH), each recording what reaches it.
 *
 *   delivery    a calculation completed by the worker sends exactly one
 *               Slack POST (to the test receiver the server was allowed with
 *               --notify-test-port) and exactly one e-mail (recipient, a
 *               subject naming the molecule, the energy in the body); both
 *               rows are listed as sent
 *   retries     a receiver answering 500: tried --notify-attempts times with
 *               growing waits (--notify-backoff doubling), then failed for
 *               good: last_error says why (never the receiver's body) and
 *               the owner's audit log has notification_failed
 *   redirect    an allowed receiver redirecting to a forbidden one: not
 *               followed, failed at once with a clear error
 *   SSRF        webhook addresses stored as if by an earlier, wider policy:
 *               http, other hosts and ports, loopback in every spelling
 *               (2130706433, 0x7f.0.0.1, 0177.0.0.1, 127.1, 0.0.0.0,
 *               [::ffff:127.0.0.1], [::1], [::]), and names the operator
 *               allowed that resolve to loopback (localhost): each failed at
 *               once with an error naming the rule, and the forbidden
 *               listeners record no connection at all
 */
#include "notify_test.h"
#include "smtp_sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "qf/auth.h"
#include "qf/buf.h"

#define RX_SECRET_BODY "RECEIVER-ANSWER-NEVER-SHOWN"
#define RX_MAX_AT 32

/* ---- receivers ---------------------------------------------------------------------- */

typedef struct rx {
	qft_listener l;
	int port;
	pthread_mutex_t mu;
	/* HTTP: the answer (200, 500, 302 to location) */
	int status;
	char location[256];
	/* what arrived */
	int connections;
	int requests;
	double at[RX_MAX_AT];
	char path[256];
	char *body;
	char headers[4096];
} rx;

static void rx_send(int c, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = send(c, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* One line (CRLF stripped) from c into line; false at the end. */
static bool rx_line(int c, char *buf, size_t *have, char *line, size_t size)
{
	for (;;) {
		char *nl = memchr(buf, '\n', *have);
		if (nl) {
			size_t n = (size_t)(nl - buf);
			size_t k = n && buf[n - 1] == '\r' ? n - 1 : n;
			if (k >= size)
				k = size - 1;
			memcpy(line, buf, k);
			line[k] = '\0';
			memmove(buf, nl + 1, *have - n - 1);
			*have -= n + 1;
			return true;
		}
		if (*have >= 65536)
			return false;
		ssize_t r = recv(c, buf + *have, 65536 - *have, 0);
		if (r <= 0)
			return false;
		*have += (size_t)r;
	}
}

static void rx_http(rx *x, int c)
{
	char *buf = malloc(65536 + 1), line[4096];
	size_t have = 0;
	char path[256] = "", hdrs[4096] = "";
	long clen = 0;
	bool first = true, cont = false;
	while (rx_line(c, buf, &have, line, sizeof(line)) && line[0]) {
		if (first) {
			char *sp = strchr(line, ' ');
			if (sp)
				snprintf(path, sizeof(path), "%.*s", (int)strcspn(sp + 1, " "), sp + 1);
			first = false;
		} else {
			size_t n = strlen(hdrs), k = strlen(line);
			if (n + k + 2 < sizeof(hdrs)) {
				memcpy(hdrs + n, line, k);
				hdrs[n + k] = '\n';
				hdrs[n + k + 1] = '\0';
			}
			if (!strncasecmp(line, "Content-Length:", 15) && !qf_parse_int(line + 16, 0, 1 << 20, &clen))
				clen = 0;
			if (!strncasecmp(line, "Expect: 100-continue", 20))
				cont = true;
		}
	}
	if (cont)
		rx_send(c, "HTTP/1.1 100 Continue\r\n\r\n");
	while ((long)have < clen) {
		ssize_t r = recv(c, buf + have, 65536 - have, 0);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	buf[have < 65536 ? have : 65536] = '\0';
	pthread_mutex_lock(&x->mu);
	if (x->requests < RX_MAX_AT)
		x->at[x->requests] = sv_now();
	x->requests++;
	qf_strlcpy(x->path, path, sizeof(x->path));
	qf_strlcpy(x->headers, hdrs, sizeof(x->headers));
	free(x->body);
	x->body = strdup(buf);
	int status = x->status;
	char loc[300] = "";
	if (status >= 300 && status < 400)
		snprintf(loc, sizeof(loc), "Location: %s\r\n", x->location);
	pthread_mutex_unlock(&x->mu);
	char answer[1024];
	snprintf(answer, sizeof(answer),
	         "HTTP/1.1 %d Answer\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%sConnection: "
	         "close\r\n\r\n%s",
	         status, strlen(RX_SECRET_BODY), loc, RX_SECRET_BODY);
	rx_send(c, answer);
	free(buf);
}

static void rx_serve(void *arg, int c)
{
	rx *x = arg;
	pthread_mutex_lock(&x->mu);
	x->connections++;
	pthread_mutex_unlock(&x->mu);
	rx_http(x, c);
}

/* A receiver on 127.0.0.1 or [::1] (false when this machine has no IPv6
 * loopback). */
static bool rx_start(rx *x, bool v6, int status)
{
	memset(x, 0, sizeof(*x));
	x->status = status;
	pthread_mutex_init(&x->mu, NULL);
	if (!qft_listen(&x->l, v6, rx_serve, x))
		return false;
	x->port = x->l.port;
	return true;
}

static void rx_stop(rx *x)
{
	qft_listen_stop(&x->l);
	free(x->body);
	x->body = NULL;
}

static int rx_count(rx *x, const int *field)
{
	pthread_mutex_lock(&x->mu);
	int n = *field;
	pthread_mutex_unlock(&x->mu);
	return n;
}

/* Wait until *field of x reaches n. */
static void rx_wait(rx *x, const int *field, int n, double timeout_s, const ht_server *s,
                    const char *what)
{
	double end = sv_now() + timeout_s;
	while (rx_count(x, field) < n) {
		if (sv_now() > end) {
			char *log = sv_read(s->log);
			fail_msg("%s: %d of %d after %.0f s\nserver log:\n%s", what, rx_count(x, field), n,
			         timeout_s, log);
		}
		sv_sleep(0.05);
	}
}

/* ---- helpers ------------------------------------------------------------------------------ */

/* Store url as the user's webhook directly (sealed with the server's key),
 * as an earlier, wider policy might have let it in. */
static void store_webhook(const ht_server *s, const char *keyfile, const char *uid, const char *url)
{
	unsigned char key[QF_SECRET_KEY_BYTES];
	qf_err e;
	qf_err_init(&e);
	if (qf_secret_key_load(keyfile, false, key, &e))
		fail_msg("%s", e.message);
	char *sealed = qf_secret_seal(key, url);
	assert_non_null(sealed);
	json_t *rows = sv_rows(&s->store,
	                       "UPDATE user_preferences SET slack_webhook_url = '%s' WHERE user_id = '%s' "
	                       "RETURNING user_id",
	                       sealed, uid);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
	free(sealed);
}

/* ---- the walk ------------------------------------------------------------------------------ */

typedef struct ssrf_case {
	const char *fmt; /* one %d: the port */
	char which;      /* '4' the forbidden listener on 127.0.0.1, '6' on [::1], 'A' the allowed one */
	const char *want;
} ssrf_case;

static const ssrf_case ssrf[] = {
	{"http://127.0.0.1:%d/h", '4', "must use https"},
	{"https://127.0.0.1:%d/h", '4', "loopback"},
	{"https://2130706433:%d/h", '4', "loopback"},
	{"https://0x7f.0.0.1:%d/h", '4', "loopback"},
	{"https://0177.0.0.1:%d/h", '4', "loopback"},
	{"https://127.1:%d/h", '4', "loopback"},
	{"https://0.0.0.0:%d/h", '4', "unspecified"},
	{"https://[::ffff:127.0.0.1]:%d/h", '4', "IPv4-mapped"},
	{"https://localhost:%d/h", '4', "resolves to"},
	{"https://evil.example:%d/h", '4', "hooks.slack.com (port 443) only"},
	{"https://hooks.slack.com:%d/h", '4', "hooks.slack.com (port 443) only"},
	{"https://user:pw@127.0.0.1:%d/h", '4', "user name"},
	{"http://localhost:%d/h", 'A', "must use https"},
	{"https://127.0.0.1:%d/h", 'A', "loopback"},
	{"https://[::1]:%d/h", '6', "loopback"},
	{"http://[::1]:%d/h", '6', "must use https"},
	{"https://[::]:%d/h", '6', "unspecified"},
	{"https://localhost:%d/h", '6', "resolves to"},
};

static void walk(bool pg)
{
	sv_setup();
	ht_server s;
	memset(&s, 0, sizeof(s));
	char tmp[QF_MAX_PATH], keyfile[QF_MAX_PATH];
	qft_tmpdir(tmp, pg ? "http-notify-pg" : "http-notify-sqlite");
	qft_join(keyfile, tmp, "secret.key");
	if (pg)
		sv_store_pg(&s.store, NULL, "http_notify");
	else
		sv_store_sqlite(&s.store, tmp);

	rx ok, bad, f4, f6;
	ss_sink sink;
	rx_start(&ok, false, 200);
	rx_start(&bad, false, 500);
	rx_start(&f4, false, 200);
	bool have_v6 = rx_start(&f6, true, 200);
	ss_start(&sink, NULL, NULL);

	char p_ok[16], p_bad[16], smtp[64], allow4[64], allow6[64];
	snprintf(p_ok, sizeof(p_ok), "%d", ok.port);
	snprintf(p_bad, sizeof(p_bad), "%d", bad.port);
	snprintf(smtp, sizeof(smtp), "smtp://127.0.0.1:%d", sink.port);
	/* names the operator allowed: only the address check stands between
	 * them and the forbidden listeners */
	snprintf(allow4, sizeof(allow4), "localhost:%d", f4.port);
	snprintf(allow6, sizeof(allow6), "localhost:%d", have_v6 ? f6.port : f4.port);
	const char *extra[] = {"--secret-key", keyfile, "--notify-test-port", p_ok,
	                       "--notify-test-port", p_bad, "--notify-allow", allow4,
	                       "--notify-allow", allow6, "--smtp-url", smtp,
	                       "--smtp-from", "qforge@example.org", "--smtp-tls", "none",
	                       "--notify-backoff", "0.2", "--notify-attempts", "3", NULL};
	ht_serve(&s, tmp, 1, extra);

	char token[QF_MAX_PATH], uid[QF_UUID_STR], body[1024];
	ht_register(&s, "ada@example.org", token, uid);

	/* ---- delivery: a real calculation, one POST and one e-mail ---- */
	snprintf(body, sizeof(body),
	         "{\"enable_email_notifications\":true,\"enable_slack_notifications\":true,"
	         "\"notification_on_completion\":true,\"slack_webhook_url\":\"http://127.0.0.1:%d/hook\"}",
	         ok.port);
	nt_put_prefs(&s, token, body);
	char mol[QF_UUID_STR], calc[QF_UUID_STR];
	char *mbody = ht_molecule_body("notify-water", NULL, 7);
	ht_create(&s, "/api/v1/molecules", token, mbody, mol);
	free(mbody);
	snprintf(body, sizeof(body),
	         "{\"molecule_id\":\"%s\",\"spec\":{\"method\":\"gfn2\",\"task\":\"sp\"}}", mol);
	ht_create(&s, "/api/v1/calculations", token, body, calc);
	json_t *doc = ht_wait_calc(&s, token, calc, 300);
	assert_string_equal(nt_str(doc, "status"), "completed");
	json_decref(doc);
	rx_wait(&ok, &ok.requests, 1, 60, &s, "the Slack POST of the completed calculation");
	if (!ss_wait(&sink, &sink.messages, 1, 60))
		fail_msg("no e-mail of the completed calculation after 60 s\nserver log:\n%s",
		         sv_read(s.log));
	/* exactly one of each, also a while later */
	sv_sleep(2.0);
	assert_int_equal(rx_count(&ok, &ok.requests), 1);
	assert_int_equal(ss_count(&sink, &sink.messages), 1);
	pthread_mutex_lock(&ok.mu);
	assert_string_equal(ok.path, "/hook");
	assert_non_null(strcasestr(ok.headers, "Content-Type: application/json"));
	json_t *post = json_loads(ok.body, 0, NULL);
	assert_non_null(post);
	const char *text = nt_str(post, "text");
	if (!strstr(text, "calculation notify-water completed") || !strstr(text, calc) ||
	    !strstr(text, "Total energy"))
		fail_msg("the Slack message does not say what completed: %s", ok.body);
	json_decref(post);
	pthread_mutex_unlock(&ok.mu);
	pthread_mutex_lock(&sink.mu);
	assert_non_null(strstr(sink.rcpt, "<ada@example.org>"));
	if (!strstr(sink.data, "To: <ada@example.org>") ||
	    !strstr(sink.data, "Subject: [Quantum Forge] calculation notify-water completed") ||
	    !strstr(sink.data, "From: Quantum Forge <qforge@example.org>") ||
	    !strstr(sink.data, "Total energy:") || !strstr(sink.data, calc))
		fail_msg("the e-mail is not the one expected:\n%s", sink.data);
	pthread_mutex_unlock(&sink.mu);
	ht_resp r;
	ht_expect(&r, &s, "GET", "/api/v1/notifications?event=calculation_completed", token, NULL, 200);
	json_t *items = json_object_get(r.json, "items");
	assert_int_equal(json_array_size(items), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *it = json_array_get(items, i);
		assert_string_equal(nt_str(it, "status"), "sent");
		assert_string_equal(nt_str(it, "subject_id"), calc);
		assert_int_equal(json_integer_value(json_object_get(it, "attempts")), 1);
	}
	ht_resp_release(&r);

	/* ---- retries: a receiver answering 500 ---- */
	snprintf(body, sizeof(body),
	         "{\"enable_email_notifications\":false,\"slack_webhook_url\":\"http://127.0.0.1:%d/hook\"}",
	         bad.port);
	nt_put_prefs(&s, token, body);
	nt_send_test(&s, token, 1);
	json_t *n = nt_wait_settled(&s, token, "test", NULL, 60, RX_SECRET_BODY);
	assert_string_equal(nt_str(n, "status"), "failed");
	assert_int_equal(json_integer_value(json_object_get(n, "attempts")), 3);
	const char *why = nt_str(n, "last_error");
	if (!strstr(why, "HTTP 500") || !strstr(why, "gave up after 3 tries") || strstr(why, RX_SECRET_BODY))
		fail_msg("last_error of the failing receiver: '%s'", why);
	assert_int_equal(rx_count(&bad, &bad.requests), 3);
	pthread_mutex_lock(&bad.mu);
	double gap1 = bad.at[1] - bad.at[0], gap2 = bad.at[2] - bad.at[1];
	pthread_mutex_unlock(&bad.mu);
	print_message("retries after %.3f s and %.3f s\n", gap1, gap2);
	assert_true(gap1 >= 0.19 && gap2 >= 0.39 && gap2 > gap1);
	char first_test[QF_UUID_STR];
	qf_strlcpy(first_test, nt_str(n, "id"), sizeof(first_test));
	ht_expect(&r, &s, "GET", "/api/v1/audit?action=notification_failed", token, NULL, 200);
	items = json_object_get(r.json, "items");
	assert_int_equal(json_array_size(items), 1);
	json_t *a = json_array_get(items, 0);
	assert_string_equal(nt_str(a, "entity_id"), first_test);
	assert_string_equal(nt_str(a, "status"), "denied");
	assert_non_null(strstr(nt_str(a, "reason"), "HTTP 500"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(a, "changes"), "attempts")), 3);
	ht_resp_release(&r);
	json_decref(n);

	/* ---- a redirect from an allowed receiver to a forbidden one ---- */
	pthread_mutex_lock(&bad.mu);
	bad.status = 302;
	snprintf(bad.location, sizeof(bad.location), "http://127.0.0.1:%d/stolen", f4.port);
	pthread_mutex_unlock(&bad.mu);
	nt_send_test(&s, token, 1);
	n = nt_wait_settled(&s, token, "test", first_test, 60, RX_SECRET_BODY);
	assert_string_equal(nt_str(n, "status"), "failed");
	assert_int_equal(json_integer_value(json_object_get(n, "attempts")), 1);
	assert_non_null(strstr(nt_str(n, "last_error"), "redirect (HTTP 302), which is never followed"));
	assert_int_equal(rx_count(&bad, &bad.requests), 4);
	char prev[QF_UUID_STR];
	qf_strlcpy(prev, nt_str(n, "id"), sizeof(prev));
	json_decref(n);

	/* ---- SSRF: every forbidden form, no connection ---- */
	int ok_before = rx_count(&ok, &ok.requests);
	for (size_t i = 0; i < sizeof(ssrf) / sizeof(ssrf[0]); i++) {
		if (ssrf[i].which == '6' && !have_v6)
			continue;
		int port = ssrf[i].which == '4' ? f4.port : ssrf[i].which == '6' ? f6.port : ok.port;
		char url[256];
		snprintf(url, sizeof(url), ssrf[i].fmt, port);
		store_webhook(&s, keyfile, uid, url);
		nt_send_test(&s, token, 1);
		n = nt_wait_settled(&s, token, "test", prev, 30, RX_SECRET_BODY);
		const char *err = nt_str(n, "last_error");
		print_message("%-40s -> %s: %s\n", url, nt_str(n, "status"), err);
		if (strcmp(nt_str(n, "status"), "failed") || !strstr(err, ssrf[i].want))
			fail_msg("%s: %s '%s', expected failed saying '%s'", url, nt_str(n, "status"), err,
			         ssrf[i].want);
		assert_int_equal(json_integer_value(json_object_get(n, "attempts")), 1);
		qf_strlcpy(prev, nt_str(n, "id"), sizeof(prev));
		json_decref(n);
	}
	/* the listeners no webhook may reach saw nothing, ever */
	assert_int_equal(rx_count(&f4, &f4.connections), 0);
	if (have_v6)
		assert_int_equal(rx_count(&f6, &f6.connections), 0);
	assert_int_equal(rx_count(&ok, &ok.requests), ok_before);

	assert_int_equal(ht_stop(&s, 60), 0);
	rx_stop(&ok);
	rx_stop(&bad);
	rx_stop(&f4);
	rx_stop(&f6);
	ss_stop(&sink);
	sv_store_drop(&s.store);
}

static void test_notify_sqlite(void **state)
{
	(void)state;
	walk(false);
}

static void test_notify_postgres(void **state)
{
	(void)state;
	walk(true);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_notify_sqlite, sv_teardown),
		cmocka_unit_test_teardown(test_notify_postgres, sv_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
