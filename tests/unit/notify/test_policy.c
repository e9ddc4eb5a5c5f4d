/* qf-test: labels=unit,notify timeout=60 */
/*
 * Where webhooks may go (src/notify/policy.c), without a network: every
 * forbidden form of an address is refused before any connection, with a
 * message naming why; the default allows only https://hooks.slack.com:443;
 * the operator's allow-list widens hosts and ports but never the address
 * classes; a test allowance is plain http to one loopback port only. Also
 * the backoff and what messages say.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "qf/notify.h"
#include "qftest.h"

typedef struct url_case {
	const char *url;
	const char *want; /* NULL: allowed; else a part of the refusal's message */
} url_case;

static void check_cases(const qf_notify_policy *p, const url_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		qf_notify_target t;
		qf_err e;
		qf_err_init(&e);
		int rc = qf_notify_check_url(p, c[i].url, &t, &e);
		if (!c[i].want) {
			if (rc)
				fail_msg("%s: refused (%s), expected allowed", c[i].url, e.message);
			continue;
		}
		if (!rc)
			fail_msg("%s: allowed (to %s), expected refused: %s", c[i].url, t.addr_text, c[i].want);
		if (e.category != QF_CAT_VALIDATION)
			fail_msg("%s: refused as %s, expected a final (validation) refusal", c[i].url,
			         qf_category_name(e.category));
		if (!strstr(e.message, c[i].want))
			fail_msg("%s: refused with '%s', expected it to say '%s'", c[i].url, e.message, c[i].want);
	}
}

static void test_forbidden_forms(void **state)
{
	(void)state;
	qf_notify_policy p;
	qf_notify_policy_init(&p);
	qf_err e;
	qf_err_init(&e);
	/* hosts the operator allowed: the address classes still apply */
	assert_int_equal(qf_notify_policy_allow(&p, "localhost:8443", &e), 0);
	assert_int_equal(qf_notify_policy_allow(&p, "93.184.215.14", &e), 0);
	assert_int_equal(qf_notify_policy_allow(&p, "[2606:4700::1111]:8443", &e), 0);
	static const url_case cases[] = {
		{"http://hooks.slack.com/services/T/B/x", "must use https"},
		{"ftp://hooks.slack.com/x", "must use https"},
		{"https://example.org/services/x", "hooks.slack.com (port 443) only"},
		{"https://hooks.slack.com:8443/services/x", "hooks.slack.com (port 443) only"},
		{"https://hooks.slack.com.evil.example/x", "only"},
		{"https://8.8.8.8/x", "only"},
		{"https://user:pw@hooks.slack.com/x", "user name or password"},
		{"https://127.0.0.1/x", "loopback"},
		{"https://127.0.0.1:8443/x", "loopback"},
		{"https://2130706433/x", "loopback"},
		{"https://0x7f.0.0.1/x", "loopback"},
		{"https://0x7f000001/x", "loopback"},
		{"https://0177.0.0.1/x", "loopback"},
		{"https://127.1/x", "loopback"},
		{"https://hooks.slack.com@127.0.0.1/x", "user name"},
		{"https://[::1]/x", "loopback"},
		{"https://[0:0:0:0:0:0:0:1]/x", "loopback"},
		{"https://[::ffff:127.0.0.1]/x", "IPv4-mapped"},
		{"https://[::ffff:7f00:1]/x", "IPv4-mapped"},
		{"https://[::127.0.0.1]/x", "IPv4-compatible"},
		{"https://[64:ff9b::7f00:1]/x", "NAT64"},
		{"https://[::]/x", "unspecified"},
		{"https://0.0.0.0/x", "unspecified"},
		{"https://0/x", "unspecified"},
		{"https://10.1.2.3/x", "private"},
		{"https://172.16.0.1/x", "private"},
		{"https://172.31.255.255/x", "private"},
		{"https://192.168.1.1/x", "private"},
		{"https://100.64.0.1/x", "CGNAT"},
		{"https://100.127.255.254/x", "CGNAT"},
		{"https://169.254.169.254/latest/meta-data/", "link-local"},
		{"https://[fe80::1]/x", "link-local"},
		{"https://[fe80::1%25eth0]/x", "zone"},
		{"https://[fc00::1]/x", "unique local"},
		{"https://[fd12:3456::1]/x", "unique local"},
		{"https://[fec0::1]/x", "site-local"},
		{"https://224.0.0.1/x", "multicast"},
		{"https://[ff02::1]/x", "multicast"},
		{"https://255.255.255.255/x", "broadcast"},
		{"https://192.0.2.1/x", "documentation"},
		{"https://[2001:db8::1]/x", "documentation"},
		{"https://[2002:7f00:1::1]/x", "6to4"},
		/* allowed by name, refused by what the name resolves to */
		{"https://localhost:8443/x", "resolves to"},
		{"https://LOCALHOST:8443/x", "resolves to"},
		/* allowed: public literals the operator listed */
		{"https://93.184.215.14/x", NULL},
		{"https://[2606:4700::1111]:8443/x", NULL},
		{"https://93.184.215.14:8443/x", "only"},
		{"not-a-url", "not a URL"},
		{"//hooks.slack.com/x", "not a URL"},
		{"https://hooks.slack.com/a b", "blanks"},
	};
	check_cases(&p, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_test_allowance(void **state)
{
	(void)state;
	qf_notify_policy p;
	qf_notify_policy_init(&p);
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_notify_policy_allow_test(&p, 9999, &e), 0);
	static const url_case cases[] = {
		{"http://127.0.0.1:9999/hook", NULL},
		{"http://[::1]:9999/hook", NULL},
		{"http://127.0.0.1:9998/hook", "must use https"},
		{"https://127.0.0.1:9999/hook", "loopback"},
		{"http://localhost:9999/hook", "must use https"},
		{"http://2130706433:9999/hook", NULL}, /* the same address, as the URL parser reads it */
		{"http://10.0.0.1:9999/hook", "must use https"},
	};
	check_cases(&p, cases, sizeof(cases) / sizeof(cases[0]));
	qf_notify_target t;
	assert_int_equal(qf_notify_check_url(&p, "http://127.0.0.1:9999/hook", &t, &e), 0);
	assert_true(t.test);
	assert_string_equal(t.addr_text, "127.0.0.1");
	assert_int_equal(t.port, 9999);
}

static void test_allow_entries(void **state)
{
	(void)state;
	qf_notify_policy p;
	qf_notify_policy_init(&p);
	qf_err e;
	static const char *const bad[] = {"", ":443", "host:0", "host:70000", "host:x", "a b",
	                                  "[::1", "[nonsense]:443", "h:1:2", "https://host"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		qf_err_init(&e);
		if (!qf_notify_policy_allow(&p, bad[i], &e))
			fail_msg("--notify-allow '%s' was taken", bad[i]);
		assert_string_equal(e.code, "notify.allow");
	}
	qf_err_init(&e);
	assert_int_equal(qf_notify_policy_allow(&p, "Hooks.Example.ORG.", &e), 0);
	assert_string_equal(p.allow[p.nallow - 1].host, "hooks.example.org");
	assert_int_equal(p.allow[p.nallow - 1].port, 443);
}

static void test_addr_classes(void **state)
{
	(void)state;
	static const struct {
		const char *a;
		bool bad;
	} v[] = {
		{"8.8.8.8", false},       {"1.1.1.1", false},        {"100.63.255.255", false},
		{"100.128.0.0", false},   {"172.15.255.255", false}, {"172.32.0.0", false},
		{"127.255.255.254", true}, {"2606:4700::1111", false}, {"2a00:1450::1", false},
		{"::1", true},            {"fe80::abcd", true},      {"fdff::1", true},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		if (strchr(v[i].a, ':')) {
			ss.ss_family = AF_INET6;
			assert_int_equal(inet_pton(AF_INET6, v[i].a, &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
		} else {
			ss.ss_family = AF_INET;
			assert_int_equal(inet_pton(AF_INET, v[i].a, &((struct sockaddr_in *)&ss)->sin_addr), 1);
		}
		const char *why = NULL;
		if (qf_notify_addr_forbidden((struct sockaddr *)&ss, &why) != v[i].bad)
			fail_msg("%s: forbidden is %s (%s), expected %s", v[i].a, v[i].bad ? "false" : "true",
			         why ? why : "-", v[i].bad ? "true" : "false");
	}
}

static void test_backoff(void **state)
{
	(void)state;
	assert_close(qf_notify_backoff(30, 1), 30, 1e-9);
	assert_close(qf_notify_backoff(30, 2), 60, 1e-9);
	assert_close(qf_notify_backoff(30, 4), 240, 1e-9);
	assert_close(qf_notify_backoff(0.2, 3), 0.8, 1e-9);
	assert_close(qf_notify_backoff(30, 100), QF_NOTIFY_BACKOFF_MAX_S, 1e-9);
}

static void test_messages(void **state)
{
	(void)state;
	qf_err e;
	qf_err_init(&e);
	char *subject = NULL, *body = NULL;
	json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:f,s:s,s:s,s:s}", "calculation_id", "0190-abc", "name",
	                      "caf\r\nBcc: x@evil", "method", "gfn2", "task", "sp", "total_energy",
	                      -42.5, "error_category", "convergence", "error_code", "xtb.scc",
	                      "error_message", "SCC did not converge");
	assert_int_equal(qf_notify_format("calculation_failed", p, &subject, &body, &e), 0);
	assert_null(strchr(subject, '\n'));
	assert_null(strchr(subject, '\r'));
	assert_non_null(strstr(subject, "calculation caf  Bcc: x@evil failed"));
	assert_non_null(strstr(body, "Error (convergence, xtb.scc): SCC did not converge"));
	assert_non_null(strstr(body, "-42.5"));
	free(subject);
	free(body);
	json_decref(p);
	p = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i}", "batch_id", "b1", "name", "drugs", "total", 3,
	              "completed", 2, "failed", 1, "cancelled", 0);
	assert_int_equal(qf_notify_format("batch_completed", p, &subject, &body, &e), 0);
	assert_string_equal(subject, "[Quantum Forge] batch drugs completed");
	assert_non_null(strstr(body, "3 jobs, 2 completed, 1 failed, 0 cancelled"));
	free(subject);
	free(body);
	json_decref(p);
	assert_int_not_equal(qf_notify_format("nonsense", NULL, &subject, &body, &e), 0);
	assert_null(subject);
}

static void test_email_addresses(void **state)
{
	(void)state;
	assert_true(qf_notify_email_valid("ada@example.org"));
	static const char *const bad[] = {"", "a", "ada", "@example.org", "ada@", "a@b@c",
	                                  "ada@example.org\r\nRCPT TO:<x@y>", "<ada@example.org>",
	                                  "ada @example.org", "ada@exa,mple.org"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (qf_notify_email_valid(bad[i]))
			fail_msg("'%s' was taken as an e-mail address", bad[i]);
}

/* The operator's SMTP options: credentials only with TLS, a password only
 * with its user, a CA file that can be read; and a send with credentials
 * but no TLS is refused before any connection. */
static void test_smtp_options(void **state)
{
	(void)state;
	static const struct {
		qf_notify_smtp o;
		const char *want; /* NULL: accepted */
	} cases[] = {
		{{"smtp://mail.example.org:587", "qf@example.org", QF_SMTP_STARTTLS, "u", "p", NULL}, NULL},
		{{"smtp://mail.example.org", "qf@example.org", QF_SMTP_TLS, "u", NULL, NULL}, NULL},
		{{"smtps://mail.example.org", "qf@example.org", QF_SMTP_TLS, NULL, NULL, "/"}, NULL},
		{{"smtp://mail.example.org", "qf@example.org", QF_SMTP_TLS_NONE, "u", "p", NULL},
		 "never sent in clear"},
		{{"smtp://mail.example.org", "qf@example.org", QF_SMTP_STARTTLS, NULL, "p", NULL},
		 "needs its user name"},
		{{"smtp://mail.example.org", "qf@example.org", QF_SMTP_STARTTLS, "", "p", NULL},
		 "one line"},
		{{"smtp://mail.example.org", "qf@example.org", QF_SMTP_STARTTLS, "u\r\nRSET", "p", NULL},
		 "one line"},
		{{"smtp://mail.example.org", "qf@example.org", QF_SMTP_STARTTLS, NULL, NULL,
		  "/nonexistent/ca.pem"},
		 "cannot read --smtp-ca-file"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		qf_err e;
		qf_err_init(&e);
		int rc = qf_notify_smtp_check(&cases[i].o, &e);
		if (!cases[i].want ? rc != 0 : rc == 0 || !strstr(e.message, cases[i].want))
			fail_msg("case %zu: rc %d '%s', expected %s", i, rc, e.message,
			         cases[i].want ? cases[i].want : "accepted");
	}
	/* past the check (a caller that skipped it): still no clear credentials */
	qf_notify_smtp o = {"smtp://127.0.0.1:9", "qf@example.org", QF_SMTP_TLS_NONE, "u", "p", NULL};
	qf_err e;
	qf_err_init(&e);
	assert_int_not_equal(qf_notify_email_send(&o, "ada@example.org", "s", "b", NULL, &e), 0);
	assert_non_null(strstr(e.message, "never sent without TLS"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forbidden_forms), cmocka_unit_test(test_test_allowance),
		cmocka_unit_test(test_allow_entries),   cmocka_unit_test(test_addr_classes),
		cmocka_unit_test(test_backoff),         cmocka_unit_test(test_messages),
		cmocka_unit_test(test_email_addresses), cmocka_unit_test(test_smtp_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
