/*
 * Notifications: Slack incoming webhooks and e-mail over SMTP (libcurl),
 * and the sender of qforge serve that drains the store's outbox
 * (include/qf/store.h, "notifications").
 *
 * Server-side request forgery: a webhook address comes from a user, so
 * where it may point is the operator's decision, checked at every send:
 *
 *   scheme   https only (never followed: redirects; never used: proxies)
 *   host     hooks.slack.com, or an entry of the operator's allow-list
 *   port     443, or the entry's port
 *   address  the host is resolved here and every address it has is checked:
 *            loopback, private (10/8, 172.16/12, 192.168/16), CGNAT
 *            (100.64/10), link-local, unspecified, multicast, reserved and
 *            documentation ranges, and in IPv6 ::1, ::, fc00::/7, fe80::/10,
 *            fec0::/10, ff00::/8, IPv4-mapped/-compatible, NAT64 and 6to4
 *            addresses are refused, whatever form the address is written in
 *            (2130706433, 0x7f.0.0.1, 0177.0.0.1, 127.1, [::ffff:127.0.0.1]);
 *            the connection is then pinned to the checked address
 *            (CURLOPT_RESOLVE, and the socket callback refuses any other),
 *            so a second DNS answer cannot move it
 *   answer   read up to QF_NOTIFY_MAX_RESPONSE bytes and dropped: users see
 *            the status only, in the platform's words
 *
 * A test may allow plain http to one loopback port (allow_test): nothing
 * else ever reaches a loopback address.
 */
#ifndef QF_NOTIFY_H
#define QF_NOTIFY_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "qf/auth.h"
#include "qf/err.h"
#include "qf/limits.h"
#include "qf/store.h"

/* ---- where webhooks may go ------------------------------------------------------- */

typedef struct qf_notify_host {
	char host[256]; /* lowercase name or literal address (IPv6 without brackets) */
	int port;
} qf_notify_host;

typedef struct qf_notify_policy {
	qf_notify_host allow[QF_NOTIFY_MAX_ALLOW]; /* https destinations */
	int nallow;
	qf_notify_host test[4]; /* http to loopback, for tests */
	int ntest;
} qf_notify_policy;

/* The default policy: https://hooks.slack.com:443 only. */
void qf_notify_policy_init(qf_notify_policy *p);
/* Allow https to host[:port] (port 443 when not given; [v6]:port for an
 * IPv6 address). The address checks still apply. */
int qf_notify_policy_allow(qf_notify_policy *p, const char *hostport, qf_err *err);
/* Tests only: allow http://127.0.0.1:port and http://[::1]:port (nothing
 * else on loopback, no other scheme). */
int qf_notify_policy_allow_test(qf_notify_policy *p, int port, qf_err *err);

/* A checked destination. */
typedef struct qf_notify_target {
	char scheme[8];
	char host[256];
	int port;
	bool literal;             /* the host is an address */
	bool test;                /* a test allowance */
	struct sockaddr_storage addr; /* the one address connected to */
	socklen_t addr_len;
	char addr_text[64];
	char resolve[352];        /* "host:port:address" for CURLOPT_RESOLVE */
} qf_notify_target;

/* Whether an address is one no webhook may reach; *why (may be NULL) gets
 * its class ("loopback", "private", ...). */
bool qf_notify_addr_forbidden(const struct sockaddr *sa, const char **why);
/* Check url against p, resolve its host and check every address; *t gets
 * where to connect. notify.refused (category validation: never retried)
 * with a message naming what was refused. */
int qf_notify_check_url(const qf_notify_policy *p, const char *url, qf_notify_target *t,
                        qf_err *err);

/* POST a JSON document to a Slack webhook under policy p: no redirects,
 * pinned address, the answer's body dropped. 2xx: 0. A refusal, a redirect
 * or a 4xx other than 429 is final (category validation); the rest
 * (connection, timeout, 5xx, 429) may be retried (category system). abort
 * (may be NULL) is polled: non-zero stops the transfer. */
int qf_notify_slack_post(const qf_notify_policy *p, const char *url, const char *json,
                         const volatile int *abort, qf_err *err);

/* ---- e-mail ------------------------------------------------------------------------- */

typedef enum qf_smtp_tls {
	QF_SMTP_TLS_NONE = 0, /* plain SMTP (a relay on localhost) */
	QF_SMTP_STARTTLS,     /* STARTTLS, required */
	QF_SMTP_TLS,          /* implicit TLS (smtps://, port 465) */
} qf_smtp_tls;

typedef struct qf_notify_smtp {
	const char *url;  /* smtp://host:port (NULL: this server sends no e-mail) */
	const char *from; /* the sender address */
	qf_smtp_tls tls;
	/* SMTP AUTH (NULL: none): the mechanism is the best one the server
	 * offers (curl: PLAIN, LOGIN, ...); only ever over TLS, so tls is not
	 * QF_SMTP_TLS_NONE when user is set */
	const char *user;
	const char *password;
	/* the CAs the server's certificate must chain to (PEM; NULL: the
	 * system's); the certificate and its host name are always verified */
	const char *ca_file;
} qf_notify_smtp;

/* Parse "none" | "starttls" | "tls". */
int qf_smtp_tls_parse(const char *s, qf_smtp_tls *out);
/* Check the operator's SMTP options (scheme smtp, a host, a sender; a user
 * and password only with TLS; a readable CA file). */
int qf_notify_smtp_check(const qf_notify_smtp *o, qf_err *err);
/* Send one text/plain UTF-8 message to `to`. Like Slack: final failures
 * are category validation, the rest may be retried. With TLS required
 * (starttls, tls) nothing but EHLO and STARTTLS is ever sent in clear: a
 * server that offers no STARTTLS, or a certificate that does not verify,
 * fails the send before the envelope or any credential. */
int qf_notify_email_send(const qf_notify_smtp *o, const char *to, const char *subject,
                         const char *body, const volatile int *abort, qf_err *err);
/* Whether an e-mail address may be used in an SMTP envelope and a header
 * (no blanks, controls, angle brackets; one '@'). */
bool qf_notify_email_valid(const char *addr);

/* ---- what a message says ------------------------------------------------------------- */

/* The subject and plain-text body of an outbox event (heap strings):
 * the subject names the calculation or batch; controls are removed from
 * what users named. */
int qf_notify_format(const char *event, const json_t *payload, char **subject, char **body,
                     qf_err *err);

/* ---- the sender (qforge serve) ----------------------------------------------------------- */

typedef struct qf_notifier qf_notifier;

typedef struct qf_notifier_opts {
	qf_store *store;
	const qf_notify_policy *policy; /* NULL: the default */
	qf_notify_smtp smtp;
	const unsigned char *secret_key; /* opens the sealed webhook addresses (NULL: none) */
	double backoff_base_s;  /* 0: QF_NOTIFY_BACKOFF_BASE_S */
	int max_attempts;       /* 0: QF_NOTIFY_MAX_ATTEMPTS */
} qf_notifier_opts;

/* Start the thread that claims due notifications, sends them one at a
 * time, and settles them: sent; pending again after base * 2^(tries-1) s
 * (at most QF_NOTIFY_BACKOFF_MAX_S) when the failure may pass; failed
 * (written to the audit log) when it cannot, or after max_attempts. The
 * options are copied (the policy too). */
int qf_notifier_new(qf_notifier **out, const qf_notifier_opts *o, qf_err *err);
/* Look for due notifications now (one was just queued). */
void qf_notifier_wake(qf_notifier *n);
/* Stop (a send under way is aborted and tried again later) and free. */
void qf_notifier_free(qf_notifier *n);

/* The wait before try attempts+1 after attempts failed ones. */
double qf_notify_backoff(double base, int attempts);

#endif
