/* qf-test: labels=integration,notify timeout=120 */
/*
 * DNS rebinding (src/notify/slack.c): the address the SSRF policy checked
 * is the address connected to. The webhook's transfer is given targets the
 * policy would never make, as if the name had resolved to an allowed
 * address when it was checked and to a loopback one when curl connects:
 *
 *   control     a test allowance to listener A: A gets the POST (so the
 *               refusals below are not a harness that cannot connect)
 *   rebinding   checked as 1.0.0.1, curl's resolver then says 127.0.0.1
 *               (its DNS cache, CURLOPT_RESOLVE): no connection
 *   system DNS  checked as 1.0.0.1, then the system resolver's answer for
 *               localhost (no pinned entry at all): no connection
 *   other port  a test allowance for A, curl sent to listener B on the
 *               same address: no connection to B (the pin is address and
 *               port, not only the address class)
 *   bypassed    the check fooled into 127.0.0.1 itself (no test allowance):
 *               the connect-time class check refuses it
 *   policy      an operator allow-list naming localhost: refused when
 *               checked, "resolves to ... loopback"
 *
 * Listeners on 127.0.0.1 count every connection they accept; those that
 * must see none see none.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../../src/notify/notify_int.h"
#include "qf/notify.h"
#include "qf/str.h"
#include "qftest.h"

typedef struct listener {
	qft_listener l;
	int port;
	atomic_int connections;
} listener;

/* Count, read the request's head, answer 200. */
static void serve(void *arg, int c)
{
	listener *x = arg;
	atomic_fetch_add(&x->connections, 1);
	char buf[4096];
	size_t have = 0;
	while (have < sizeof(buf) - 1) {
		ssize_t r = recv(c, buf + have, sizeof(buf) - 1 - have, 0);
		if (r <= 0)
			break;
		have += (size_t)r;
		buf[have] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
	ssize_t w = send(c, ok, sizeof(ok) - 1, MSG_NOSIGNAL);
	(void)w;
}

static void listener_start(listener *x)
{
	memset(x, 0, sizeof(*x));
	qft_listen(&x->l, false, serve, x);
	x->port = x->l.port;
}

/* A target as qf_notify_check_url fills it: host and port from the URL,
 * the checked address `addr`:port, the pinned resolve entry (may be ""). */
static void target(qf_notify_target *t, const char *scheme, const char *host, int port,
                   const char *addr, bool test, const char *resolve)
{
	memset(t, 0, sizeof(*t));
	qf_strlcpy(t->scheme, scheme, sizeof(t->scheme));
	qf_strlcpy(t->host, host, sizeof(t->host));
	t->port = port;
	t->test = test;
	struct sockaddr_in *a = (struct sockaddr_in *)&t->addr;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, addr, &a->sin_addr), 1);
	t->addr_len = sizeof(*a);
	qf_strlcpy(t->addr_text, addr, sizeof(t->addr_text));
	qf_strlcpy(t->resolve, resolve, sizeof(t->resolve));
}

static int post(const qf_notify_target *t, const char *url, qf_err *e)
{
	qf_err_init(e);
	int rc = qf__notify_slack_send(t, url, "{\"text\":\"rebinding\"}", NULL, e);
	print_message("%-36s -> %d %s\n", url, rc, rc ? e->message : "");
	return rc;
}

static void test_pinned(void **state)
{
	(void)state;
	listener a, b;
	listener_start(&a);
	listener_start(&b);
	qf_notify_target t;
	qf_err e;
	char url[128], resolve[128];

	/* control: the harness can reach A */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", a.port);
	target(&t, "http", "127.0.0.1", a.port, "127.0.0.1", true, "");
	assert_int_equal(post(&t, url, &e), 0);
	assert_int_equal(atomic_load(&a.connections), 1);

	/* rebinding: checked 1.0.0.1, curl's DNS answers 127.0.0.1 */
	snprintf(url, sizeof(url), "https://rebind.test:%d/hook", a.port);
	snprintf(resolve, sizeof(resolve), "rebind.test:%d:127.0.0.1", a.port);
	target(&t, "https", "rebind.test", a.port, "1.0.0.1", false, resolve);
	assert_int_not_equal(post(&t, url, &e), 0);
	assert_int_equal(e.category, QF_CAT_SYSTEM);

	/* the same through the system's resolver: localhost at connect time */
	snprintf(url, sizeof(url), "https://localhost:%d/hook", a.port);
	target(&t, "https", "localhost", a.port, "1.0.0.1", false, "");
	assert_int_not_equal(post(&t, url, &e), 0);

	/* a test allowance for A does not reach B on the same address */
	snprintf(url, sizeof(url), "http://rebind.test:%d/hook", b.port);
	snprintf(resolve, sizeof(resolve), "rebind.test:%d:127.0.0.1", b.port);
	target(&t, "http", "rebind.test", a.port, "127.0.0.1", true, resolve);
	assert_int_not_equal(post(&t, url, &e), 0);

	/* the check itself fooled into loopback: refused at connect time */
	snprintf(url, sizeof(url), "https://rebind.test:%d/hook", a.port);
	snprintf(resolve, sizeof(resolve), "rebind.test:%d:127.0.0.1", a.port);
	target(&t, "https", "rebind.test", a.port, "127.0.0.1", false, resolve);
	assert_int_not_equal(post(&t, url, &e), 0);

	/* the whole path: an allowed name that resolves to loopback */
	qf_notify_policy p;
	qf_notify_policy_init(&p);
	char hp[64];
	snprintf(hp, sizeof(hp), "localhost:%d", a.port);
	assert_int_equal(qf_notify_policy_allow(&p, hp, &e), 0);
	snprintf(url, sizeof(url), "https://localhost:%d/hook", a.port);
	qf_err_init(&e);
	assert_int_not_equal(qf_notify_slack_post(&p, url, "{}", NULL, &e), 0);
	assert_non_null(strstr(e.message, "resolves to"));

	/* A saw the control's connection only; B none */
	sleep(1);
	assert_int_equal(atomic_load(&a.connections), 1);
	assert_int_equal(atomic_load(&b.connections), 0);
	qft_listen_stop(&a.l);
	qft_listen_stop(&b.l);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pinned),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
