/*
 * Slack incoming webhooks: one POST of a JSON document to an address the
 * policy accepted (policy.c), on a connection pinned to the address that
 * was checked. Shared with mail.c: the transfer's common options.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "notify_int.h"
#include "qf/notify.h"
#include "qf/str.h"

/* ---- shared by both channels -------------------------------------------------------- */

static size_t drop_body(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	size_t *seen = arg;
	*seen += size * n;
	/* the answer is never shown: past the cap, stop reading it */
	return *seen > QF_NOTIFY_MAX_RESPONSE ? 0 : size * n;
}

static int progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	const volatile int *abort = arg;
	return abort && *abort ? 1 : 0;
}

void qf__notify_curl_common(void *curl, const volatile int *abort, size_t *seen)
{
	CURL *c = curl;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	/* never through a proxy from the environment: it would connect for us,
	 * to wherever the name then resolves */
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, QF_NOTIFY_CONNECT_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, QF_NOTIFY_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "qforge/" QF_VERSION);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)abort);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, seen);
}

/* ---- the pinned connection ------------------------------------------------------------ */

static bool same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_addr.s_addr == y->sin_addr.s_addr && x->sin_port == y->sin_port;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) &&
	       x->sin6_port == y->sin6_port;
}

/* Every socket curl opens: to the checked address only (whatever its DNS
 * cache, a redirect or a proxy setting would have made of it). */
static curl_socket_t open_pinned(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	const qf_notify_target *t = arg;
	if (purpose != CURLSOCKTYPE_IPCXN || !same_addr(&addr->addr, &t->addr))
		return CURL_SOCKET_BAD;
	if (!t->test && qf_notify_addr_forbidden(&addr->addr, NULL))
		return CURL_SOCKET_BAD;
	return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* ---- the POST ---------------------------------------------------------------------------- */

int qf_notify_slack_post(const qf_notify_policy *p, const char *url, const char *json,
                         const volatile int *abort, qf_err *err)
{
	qf_notify_target t;
	int rc = qf_notify_check_url(p, url, &t, err);
	if (rc)
		return rc;
	return qf__notify_slack_send(&t, url, json, abort, err);
}

int qf__notify_slack_send(const qf_notify_target *t, const char *url, const char *json,
                          const volatile int *abort, qf_err *err)
{
	CURL *c = curl_easy_init();
	if (!c)
		return qf_err_set(err, QF_CAT_SYSTEM, "notify.failed", "cannot start an HTTP client");
	size_t seen = 0;
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	struct curl_slist *res = t->resolve[0] ? curl_slist_append(NULL, t->resolve) : NULL;
	qf__notify_curl_common(c, abort, &seen);
	const char *proto = t->test ? "http" : "https";
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, proto);
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, proto);
	if (res)
		curl_easy_setopt(c, CURLOPT_RESOLVE, res);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_pinned);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, (void *)t);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	curl_slist_free_all(res);
	/* a body cut short past the cap still carried its status */
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && status))
		return qf_err_set(err, QF_CAT_SYSTEM, "notify.failed",
		                  "could not deliver to the webhook at %s: %s", t->host,
		                  curl_easy_strerror(cc));
	if (status >= 200 && status < 300)
		return 0;
	if (status >= 300 && status < 400)
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.redirect",
		                  "the webhook at %s answered with a redirect (HTTP %ld), which is never "
		                  "followed: set the webhook's own address",
		                  t->host, status);
	if (status >= 400 && status < 500 && status != 408 && status != 429)
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.rejected",
		                  "the webhook at %s refused the message (HTTP %ld): check its address",
		                  t->host, status);
	return qf_err_set(err, QF_CAT_SYSTEM, "notify.failed",
	                  "the webhook at %s answered HTTP %ld", t->host, status);
}
