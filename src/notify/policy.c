/*
 * Where a webhook may point (include/qf/notify.h): the allow-list, the
 * address classes no webhook may reach, and the check of one address
 * before any connection is made.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/notify.h"
#include "qf/str.h"

#define SLACK_HOST "hooks.slack.com"

void qf_notify_policy_init(qf_notify_policy *p)
{
	memset(p, 0, sizeof(*p));
	qf_strlcpy(p->allow[0].host, SLACK_HOST, sizeof(p->allow[0].host));
	p->allow[0].port = 443;
	p->nallow = 1;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* A name without its one trailing dot ("hooks.slack.com." is the same host). */
static void strip_dot(char *s)
{
	size_t n = strlen(s);
	if (n > 1 && s[n - 1] == '.')
		s[n - 1] = '\0';
}

/* A destination the policy refuses: final, never retried. */
#define refused(err, ...) qf_err_set(err, QF_CAT_VALIDATION, "notify.refused", __VA_ARGS__)

int qf_notify_policy_allow(qf_notify_policy *p, const char *hostport, qf_err *err)
{
	if (p->nallow >= QF_NOTIFY_MAX_ALLOW)
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.allow",
		                  "at most %d notification destinations may be allowed",
		                  QF_NOTIFY_MAX_ALLOW);
	char host[256];
	const char *port = NULL;
	if (hostport[0] == '[') {
		const char *end = strchr(hostport, ']');
		if (!end || (end[1] && end[1] != ':') || (size_t)(end - hostport - 1) >= sizeof(host))
			goto bad;
		memcpy(host, hostport + 1, (size_t)(end - hostport - 1));
		host[end - hostport - 1] = '\0';
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			goto bad;
		port = end[1] ? end + 2 : NULL;
	} else {
		const char *colon = strchr(hostport, ':');
		size_t n = colon ? (size_t)(colon - hostport) : strlen(hostport);
		if (!n || n >= sizeof(host) || (colon && strchr(colon + 1, ':')))
			goto bad;
		memcpy(host, hostport, n);
		host[n] = '\0';
		for (const char *c = host; *c; c++)
			if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '_')
				goto bad;
		port = colon ? colon + 1 : NULL;
	}
	long l = 443;
	if (port && !qf_parse_int(port, 1, 65535, &l))
		goto bad;
	lower(host);
	strip_dot(host);
	qf_strlcpy(p->allow[p->nallow].host, host, sizeof(p->allow[p->nallow].host));
	p->allow[p->nallow].port = (int)l;
	p->nallow++;
	return 0;
bad:
	return qf_err_set(err, QF_CAT_VALIDATION, "notify.allow",
	                  "'%s' is not host[:port] (hooks.example.org:8443, [2001:db8::1]:443)",
	                  hostport);
}

int qf_notify_policy_allow_test(qf_notify_policy *p, int port, qf_err *err)
{
	if (port < 1 || port > 65535 || p->ntest + 2 > (int)(sizeof(p->test) / sizeof(p->test[0])))
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.allow",
		                  "a test allowance needs a port from 1 to 65535 (at most two)");
	qf_strlcpy(p->test[p->ntest].host, "127.0.0.1", sizeof(p->test[0].host));
	p->test[p->ntest++].port = port;
	qf_strlcpy(p->test[p->ntest].host, "::1", sizeof(p->test[0].host));
	p->test[p->ntest++].port = port;
	return 0;
}

/* ---- address classes ------------------------------------------------------------------ */

static const char *v4_class(uint32_t a)
{
	static const struct {
		uint32_t net;
		int bits;
		const char *why;
	} nets[] = {
		{0x00000000u, 8, "unspecified (0.0.0.0/8)"},
		{0x0a000000u, 8, "private (10.0.0.0/8)"},
		{0x64400000u, 10, "shared address space (CGNAT 100.64.0.0/10)"},
		{0x7f000000u, 8, "loopback (127.0.0.0/8)"},
		{0xa9fe0000u, 16, "link-local (169.254.0.0/16)"},
		{0xac100000u, 12, "private (172.16.0.0/12)"},
		{0xc0000000u, 24, "reserved (192.0.0.0/24)"},
		{0xc0000200u, 24, "documentation (192.0.2.0/24)"},
		{0xc0586300u, 24, "reserved (192.88.99.0/24)"},
		{0xc0a80000u, 16, "private (192.168.0.0/16)"},
		{0xc6120000u, 15, "benchmarking (198.18.0.0/15)"},
		{0xc6336400u, 24, "documentation (198.51.100.0/24)"},
		{0xcb007100u, 24, "documentation (203.0.113.0/24)"},
		{0xe0000000u, 4, "multicast (224.0.0.0/4)"},
		{0xf0000000u, 4, "reserved or broadcast (240.0.0.0/4)"},
	};
	for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
		uint32_t mask = 0xffffffffu << (32 - nets[i].bits);
		if ((a & mask) == nets[i].net)
			return nets[i].why;
	}
	return NULL;
}

static bool prefix(const unsigned char *b, const unsigned char *p, int bits)
{
	int bytes = bits / 8, rest = bits % 8;
	if (memcmp(b, p, (size_t)bytes))
		return false;
	return !rest || ((b[bytes] ^ p[bytes]) & (0xff << (8 - rest))) == 0;
}

static const char *v6_class(const unsigned char *b)
{
	static const unsigned char zero[16] = {0};
	static const unsigned char one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const struct {
		unsigned char p[16];
		int bits;
		const char *why;
	} nets[] = {
		{{0x00, 0x64, 0xff, 0x9b}, 32, "NAT64 (64:ff9b::/32)"},
		{{0x01, 0x00}, 64, "discard (100::/64)"},
		{{0x20, 0x01, 0x00, 0x00}, 32, "Teredo (2001::/32)"},
		{{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation (2001:db8::/32)"},
		{{0x20, 0x02}, 16, "6to4 (2002::/16)"},
		{{0xfc}, 7, "unique local (fc00::/7)"},
		{{0xfe, 0x80}, 10, "link-local (fe80::/10)"},
		{{0xfe, 0xc0}, 10, "site-local (fec0::/10)"},
		{{0xff}, 8, "multicast (ff00::/8)"},
	};
	if (!memcmp(b, zero, 16))
		return "unspecified (::)";
	if (!memcmp(b, one, 16))
		return "loopback (::1)";
	if (!memcmp(b, mapped, 12))
		return "IPv4-mapped (::ffff:0:0/96)";
	if (!memcmp(b, zero, 12))
		return "IPv4-compatible (::/96)";
	for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		if (prefix(b, nets[i].p, nets[i].bits))
			return nets[i].why;
	return NULL;
}

bool qf_notify_addr_forbidden(const struct sockaddr *sa, const char **why)
{
	const char *w = "of an unknown family";
	if (sa->sa_family == AF_INET)
		w = v4_class(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
	else if (sa->sa_family == AF_INET6)
		w = v6_class(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
	if (why)
		*why = w;
	return w != NULL;
}

/* ---- one URL ---------------------------------------------------------------------------- */

/* host as an address in any form the resolver or a URL parser accepts:
 * [v6], dotted quads and the old forms inet_aton takes (2130706433,
 * 0x7f.0.0.1, 0177.0.0.1, 127.1). */
static bool literal(const char *host, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	char h[256];
	qf_strlcpy(h, host, sizeof(h));
	if (h[0] == '[') {
		size_t n = strlen(h);
		if (n < 3 || h[n - 1] != ']')
			return false;
		h[n - 1] = '\0';
		memmove(h, h + 1, n - 1);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		*len = sizeof(*s6);
		return true;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	if (inet_aton(h, &s4->sin_addr)) {
		s4->sin_family = AF_INET;
		*len = sizeof(*s4);
		return true;
	}
	return false;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, a, sizeof(a));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, a, sizeof(a));
	qf_strlcpy(out, a, size);
}

static void set_port(struct sockaddr_storage *ss, int port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

/* The URL's parts as curl will use them. */
static int split(const char *url, qf_notify_target *t, qf_err *err)
{
	if (strlen(url) > QF_NOTIFY_MAX_URL)
		return refused(err, "the webhook address is longer than %d characters", QF_NOTIFY_MAX_URL);
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return refused(err, "the webhook address holds blanks or control characters");
	CURLU *u = curl_url();
	if (!u)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	int rc = 0;
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL, *zone = NULL;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		rc = refused(err, "the webhook address is not a URL (https://hooks.slack.com/services/...)");
		goto out;
	}
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
	curl_url_get(u, CURLUPART_ZONEID, &zone, 0);
	if (user || pass) {
		rc = refused(err, "the webhook address may not carry a user name or password");
		goto out;
	}
	if (zone) {
		rc = refused(err, "the webhook address may not name an IPv6 zone");
		goto out;
	}
	long l = 0;
	if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    !qf_parse_int(port, 1, 65535, &l)) {
		rc = refused(err, "the webhook address has no valid port");
		goto out;
	}
	qf_strlcpy(t->scheme, scheme, sizeof(t->scheme));
	lower(t->scheme);
	if (strlen(host) >= sizeof(t->host)) {
		rc = refused(err, "the webhook host name is too long");
		goto out;
	}
	qf_strlcpy(t->host, host, sizeof(t->host));
	lower(t->host);
	strip_dot(t->host);
	t->port = (int)l;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_free(pass);
	curl_free(zone);
	curl_url_cleanup(u);
	return rc;
}

/* The host as the allow-list writes it: an IPv6 address without brackets. */
static void bare(const char *host, char *out, size_t size)
{
	size_t n = strlen(host);
	if (host[0] == '[' && n >= 2 && host[n - 1] == ']')
		snprintf(out, size, "%.*s", (int)(n - 2), host + 1);
	else
		qf_strlcpy(out, host, size);
}

static bool listed(const qf_notify_host *list, int n, const char *host, int port)
{
	for (int i = 0; i < n; i++)
		if (list[i].port == port && !strcmp(list[i].host, host))
			return true;
	return false;
}

int qf_notify_check_url(const qf_notify_policy *p, const char *url, qf_notify_target *t,
                        qf_err *err)
{
	memset(t, 0, sizeof(*t));
	qf_notify_policy def;
	if (!p) {
		qf_notify_policy_init(&def);
		p = &def;
	}
	int rc = split(url, t, err);
	if (rc)
		return rc;
	char host[256], port[16];
	bare(t->host, host, sizeof(host));
	snprintf(port, sizeof(port), "%d", t->port);
	t->literal = literal(t->host, &t->addr, &t->addr_len);
	if (t->literal) {
		set_port(&t->addr, t->port);
		addr_text((struct sockaddr *)&t->addr, t->addr_text, sizeof(t->addr_text));
	}
	/* a test listener: plain http to exactly a loopback port allowed */
	if (t->literal && !strcmp(t->scheme, "http") &&
	    listed(p->test, p->ntest, t->addr_text, t->port)) {
		t->test = true;
		return 0;
	}
	if (strcmp(t->scheme, "https"))
		return refused(err, "webhook addresses must use https, not '%s'", t->scheme);
	if (t->literal) {
		const char *why = NULL;
		if (qf_notify_addr_forbidden((struct sockaddr *)&t->addr, &why))
			return refused(err, "the webhook address %s is %s: refused", t->addr_text, why);
	}
	if (!listed(p->allow, p->nallow, t->literal ? t->addr_text : host, t->port)) {
		char hp[300];
		snprintf(hp, sizeof(hp), "%s:%d", t->host, t->port);
		return refused(err,
		               "webhooks may go to https://" SLACK_HOST " (port 443) only, not to %s: an "
		               "operator may allow more (qforge serve --notify-allow HOST[:PORT])",
		               hp);
	}
	if (t->literal)
		return 0;
	/* A name: every address it has must be allowed; the first is used. */
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int g = getaddrinfo(host, port, &hints, &res);
	if (g)
		return qf_err_set(err, g == EAI_NONAME ? QF_CAT_VALIDATION : QF_CAT_SYSTEM,
		                  "notify.resolve", "cannot resolve the webhook host %s: %s", host,
		                  gai_strerror(g));
	int n = 0;
	for (struct addrinfo *ai = res; ai && !rc; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		const char *why = NULL;
		char a[64];
		addr_text(ai->ai_addr, a, sizeof(a));
		if (qf_notify_addr_forbidden(ai->ai_addr, &why)) {
			rc = qf_err_set(err, QF_CAT_VALIDATION, "notify.refused",
			                "the webhook host %s resolves to %s, which is %s: refused", host, a, why);
		} else if (++n == 1) {
			memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
			t->addr_len = (socklen_t)ai->ai_addrlen;
			qf_strlcpy(t->addr_text, a, sizeof(t->addr_text));
		} else if (n > QF_NOTIFY_MAX_ADDRS) {
			break;
		}
	}
	freeaddrinfo(res);
	if (rc)
		return rc;
	if (!n)
		return qf_err_set(err, QF_CAT_SYSTEM, "notify.resolve",
		                  "the webhook host %s has no IPv4 or IPv6 address", host);
	set_port(&t->addr, t->port);
	bool v6 = t->addr.ss_family == AF_INET6;
	snprintf(t->resolve, sizeof(t->resolve), "%s:%d:%s%s%s", host, t->port, v6 ? "[" : "",
	         t->addr_text, v6 ? "]" : "");
	return 0;
}
