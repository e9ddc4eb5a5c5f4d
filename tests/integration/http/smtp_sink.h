/*
 * A local SMTP sink for the notification tests, on 127.0.0.1, that a test
 * starts itself and reconfigures between sends:
 *
 *   TLS         none, STARTTLS offered (tls_starttls), or implicit TLS from
 *               the first byte (tls_implicit), with a certificate the test
 *               made at run time (ss_make_pki: a CA of its own and a server
 *               certificate for localhost and 127.0.0.1 it signed; a second
 *               CA, untrusted, for the refusal cases)
 *   AUTH        PLAIN or LOGIN (with or without an initial response),
 *               advertised before TLS too, as a careless server would: the
 *               client alone must keep credentials off the clear
 *               connection; MAIL FROM needs AUTH when a mechanism is set
 *   records     connections, TLS handshakes that failed, the commands in
 *               order ("EHLO STARTTLS EHLO AUTH MAIL RCPT DATA QUIT"), every
 *               byte received before TLS, the credentials given and whether
 *               they were right, the last message's recipient and text
 *
 * Each connection is served by the sink's one thread (qft_listen); reads
 * time out after 5 s, so nothing waits for ever.
 */
#ifndef SMTP_SINK_H
#define SMTP_SINK_H

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "qf/buf.h"

/* ---- certificates -------------------------------------------------------------------- */

static inline void ss_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(cert, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A certificate for key named cn, signed by issuer_key (issuer NULL:
 * self-signed, a CA). */
static inline X509 *ss_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                            long serial)
{
	X509 *c = X509_new();
	assert_non_null(c);
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400);
	X509_set_pubkey(c, key);
	X509_NAME *name = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
	if (!issuer) {
		ss_ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
		ss_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
		ss_ext(c, c, NID_subject_key_identifier, "hash");
	} else {
		ss_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE");
		ss_ext(c, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
		ss_ext(c, issuer, NID_ext_key_usage, "serverAuth");
		ss_ext(c, issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
		ss_ext(c, issuer, NID_authority_key_identifier, "keyid");
	}
	assert_true(X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return c;
}

static inline void ss_write_cert(const char *path, X509 *c)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, c), 1);
	fclose(f);
}

/* Files under dir: ca.pem (the CA the server certificate chains to),
 * other-ca.pem (a CA that signed nothing here), server.pem and
 * server-key.pem (for localhost and 127.0.0.1). Paths into the out
 * arguments (QF_MAX_PATH each). */
static inline void ss_make_pki(const char *dir, char *ca, char *other_ca, char *cert, char *key)
{
	EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *other_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *srv_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_true(ca_key && other_key && srv_key);
	X509 *ca_cert = ss_cert(ca_key, "Quantum Forge test CA", NULL, NULL, 1);
	X509 *other_cert = ss_cert(other_key, "Quantum Forge untrusted CA", NULL, NULL, 2);
	X509 *srv_cert = ss_cert(srv_key, "localhost", ca_cert, ca_key, 3);
	qft_join(ca, dir, "ca.pem");
	qft_join(other_ca, dir, "other-ca.pem");
	qft_join(cert, dir, "server.pem");
	qft_join(key, dir, "server-key.pem");
	ss_write_cert(ca, ca_cert);
	ss_write_cert(other_ca, other_cert);
	ss_write_cert(cert, srv_cert);
	FILE *f = fopen(key, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, srv_key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	X509_free(ca_cert);
	X509_free(other_cert);
	X509_free(srv_cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(srv_key);
}

/* ---- the sink ------------------------------------------------------------------------- */

typedef enum ss_tls { ss_tls_none, ss_tls_starttls, ss_tls_implicit } ss_tls;

#define SS_BUF 65536

typedef struct ss_sink {
	qft_listener l;
	int port;
	SSL_CTX *ctx;
	pthread_mutex_t mu;
	/* what it offers (set under mu between sends) */
	ss_tls tls;
	char mech[8];       /* "PLAIN", "LOGIN", or "": no AUTH */
	char user[64], password[64];
	/* what it saw */
	int connections;
	int tls_failures;   /* handshakes that did not complete */
	int auth_ok, auth_bad;
	int messages;
	char got_user[128], got_password[128];
	char commands[1024]; /* every connection's verbs, space-separated, '|' between connections */
	char *clear;         /* every byte received before TLS (capped) */
	size_t clear_len;
	char rcpt[320];
	char *data;
} ss_sink;

typedef struct ss_conn {
	ss_sink *x;
	int fd;
	SSL *ssl;
	char buf[SS_BUF];
	size_t have;
} ss_conn;

static inline void ss_send(ss_conn *c, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		int w = c->ssl ? SSL_write(c->ssl, s, (int)n) : (int)send(c->fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static inline void ss_note(ss_sink *x, const char *verb)
{
	pthread_mutex_lock(&x->mu);
	size_t n = strlen(x->commands);
	snprintf(x->commands + n, sizeof(x->commands) - n, "%s%s", n ? " " : "", verb);
	pthread_mutex_unlock(&x->mu);
}

/* One line (CRLF stripped) into line; false at the end or on a timeout. */
static inline bool ss_line(ss_conn *c, char *line, size_t size)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->have);
		if (nl) {
			size_t n = (size_t)(nl - c->buf);
			size_t k = n && c->buf[n - 1] == '\r' ? n - 1 : n;
			if (k >= size)
				k = size - 1;
			memcpy(line, c->buf, k);
			line[k] = '\0';
			memmove(c->buf, nl + 1, c->have - n - 1);
			c->have -= n + 1;
			return true;
		}
		if (c->have >= SS_BUF)
			return false;
		int r = c->ssl ? SSL_read(c->ssl, c->buf + c->have, (int)(SS_BUF - c->have))
		               : (int)recv(c->fd, c->buf + c->have, SS_BUF - c->have, 0);
		if (r <= 0)
			return false;
		if (!c->ssl) {
			ss_sink *x = c->x;
			pthread_mutex_lock(&x->mu);
			if (x->clear_len + (size_t)r < SS_BUF) {
				memcpy(x->clear + x->clear_len, c->buf + c->have, (size_t)r);
				x->clear_len += (size_t)r;
				x->clear[x->clear_len] = '\0';
			}
			pthread_mutex_unlock(&x->mu);
		}
		c->have += (size_t)r;
	}
}

static inline bool ss_handshake(ss_conn *c)
{
	assert_non_null(c->x->ctx);
	c->ssl = SSL_new(c->x->ctx);
	SSL_set_fd(c->ssl, c->fd);
	/* nothing read in clear carries over into the TLS session */
	c->have = 0;
	if (SSL_accept(c->ssl) == 1)
		return true;
	pthread_mutex_lock(&c->x->mu);
	c->x->tls_failures++;
	pthread_mutex_unlock(&c->x->mu);
	ERR_clear_error();
	SSL_free(c->ssl);
	c->ssl = NULL;
	return false;
}

/* base64 text into out (NUL-terminated, NULs kept); its length or -1. */
static inline long ss_unb64(const char *in, char *out, size_t size)
{
	size_t n = 0;
	if (sodium_base642bin((unsigned char *)out, size - 1, in, strlen(in), NULL, &n, NULL,
	                      sodium_base64_VARIANT_ORIGINAL))
		return -1;
	out[n] = '\0';
	return (long)n;
}

static inline void ss_auth(ss_conn *c, const char *args, bool *authed)
{
	ss_sink *x = c->x;
	char mech[16] = "", resp[1024] = "", user[256] = "", pass[256] = "", dec[512];
	sscanf(args, "%15s %1023s", mech, resp);
	pthread_mutex_lock(&x->mu);
	char want[8], want_user[64], want_pass[64];
	qf_strlcpy(want, x->mech, sizeof(want));
	qf_strlcpy(want_user, x->user, sizeof(want_user));
	qf_strlcpy(want_pass, x->password, sizeof(want_pass));
	pthread_mutex_unlock(&x->mu);
	if (!want[0] || strcasecmp(mech, want)) {
		ss_send(c, "504 mechanism not offered\r\n");
		return;
	}
	if (!strcasecmp(mech, "PLAIN")) {
		if (!resp[0] || !strcmp(resp, "=")) {
			ss_send(c, "334 \r\n");
			if (!ss_line(c, resp, sizeof(resp)))
				return;
		}
		/* authzid NUL user NUL password */
		long n = ss_unb64(resp, dec, sizeof(dec));
		const char *u = n > 0 ? memchr(dec, '\0', (size_t)n) : NULL;
		if (u) {
			u++;
			qf_strlcpy(user, u, sizeof(user));
			const char *p = u + strlen(u) + 1;
			if (p <= dec + n)
				qf_strlcpy(pass, p, sizeof(pass));
		}
	} else {
		if (!resp[0]) {
			ss_send(c, "334 VXNlcm5hbWU6\r\n");
			if (!ss_line(c, resp, sizeof(resp)))
				return;
		}
		if (ss_unb64(resp, dec, sizeof(dec)) >= 0)
			qf_strlcpy(user, dec, sizeof(user));
		ss_send(c, "334 UGFzc3dvcmQ6\r\n");
		if (!ss_line(c, resp, sizeof(resp)))
			return;
		if (ss_unb64(resp, dec, sizeof(dec)) >= 0)
			qf_strlcpy(pass, dec, sizeof(pass));
	}
	bool ok = !strcmp(user, want_user) && !strcmp(pass, want_pass);
	pthread_mutex_lock(&x->mu);
	qf_strlcpy(x->got_user, user, sizeof(x->got_user));
	qf_strlcpy(x->got_password, pass, sizeof(x->got_password));
	if (ok)
		x->auth_ok++;
	else
		x->auth_bad++;
	pthread_mutex_unlock(&x->mu);
	*authed = ok;
	ss_send(c, ok ? "235 2.7.0 authenticated\r\n" : "535 5.7.8 bad credentials\r\n");
}

static inline void ss_serve(ss_conn *c)
{
	ss_sink *x = c->x;
	pthread_mutex_lock(&x->mu);
	ss_tls tls = x->tls;
	char mech[8];
	qf_strlcpy(mech, x->mech, sizeof(mech));
	pthread_mutex_unlock(&x->mu);
	bool need_auth = mech[0] != '\0';
	if (tls == ss_tls_implicit && !ss_handshake(c))
		return;
	ss_send(c, "220 sink.test ESMTP\r\n");
	bool authed = false;
	char line[4096];
	while (ss_line(c, line, sizeof(line))) {
		char verb[16] = "";
		sscanf(line, "%15s", verb);
		for (char *v = verb; *v; v++)
			*v = (char)toupper((unsigned char)*v);
		if (!strcmp(verb, "MAIL") || !strcmp(verb, "RCPT"))
			verb[4] = '\0';
		ss_note(x, verb);
		if (!strcmp(verb, "EHLO") || !strcmp(verb, "HELO")) {
			char ehlo[256];
			snprintf(ehlo, sizeof(ehlo), "250-sink.test\r\n%s%s%s%s250 8BITMIME\r\n",
			         tls == ss_tls_starttls && !c->ssl ? "250-STARTTLS\r\n" : "",
			         need_auth ? "250-AUTH " : "", mech, need_auth ? "\r\n" : "");
			ss_send(c, ehlo);
		} else if (!strcmp(verb, "STARTTLS")) {
			if (tls != ss_tls_starttls || c->ssl) {
				ss_send(c, "502 not here\r\n");
				continue;
			}
			ss_send(c, "220 2.0.0 go ahead\r\n");
			if (!ss_handshake(c))
				return;
		} else if (!strcmp(verb, "AUTH")) {
			ss_auth(c, line + 4, &authed);
		} else if (!strcmp(verb, "MAIL")) {
			ss_send(c, need_auth && !authed ? "530 5.7.0 authentication required\r\n" : "250 ok\r\n");
		} else if (!strcmp(verb, "RCPT")) {
			pthread_mutex_lock(&x->mu);
			qf_strlcpy(x->rcpt, line + 8, sizeof(x->rcpt));
			pthread_mutex_unlock(&x->mu);
			ss_send(c, "250 ok\r\n");
		} else if (!strcmp(verb, "DATA")) {
			ss_send(c, "354 end with .\r\n");
			qf_buf data;
			qf_buf_init(&data, 1 << 20);
			while (ss_line(c, line, sizeof(line)) && strcmp(line, "."))
				qf_buf_printf(&data, "%s\n", line);
			pthread_mutex_lock(&x->mu);
			free(x->data);
			x->data = qf_buf_detach(&data, NULL);
			x->messages++;
			pthread_mutex_unlock(&x->mu);
			qf_buf_release(&data);
			ss_send(c, "250 queued\r\n");
		} else if (!strcmp(verb, "RSET") || !strcmp(verb, "NOOP")) {
			ss_send(c, "250 ok\r\n");
		} else if (!strcmp(verb, "QUIT")) {
			ss_send(c, "221 bye\r\n");
			return;
		} else {
			ss_send(c, "502 not here\r\n");
		}
	}
}

static inline void ss_accept(void *arg, int fd)
{
	ss_sink *x = arg;
	pthread_mutex_lock(&x->mu);
	x->connections++;
	size_t n = strlen(x->commands);
	if (n)
		snprintf(x->commands + n, sizeof(x->commands) - n, " |");
	pthread_mutex_unlock(&x->mu);
	ss_conn *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->x = x;
	c->fd = fd;
	ss_serve(c);
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	free(c);
}

/* A sink on 127.0.0.1 presenting cert/key (PEM files) when it speaks TLS
 * (NULL: plain SMTP only). It starts plain, without AUTH (ss_set). */
static inline void ss_start(ss_sink *x, const char *cert, const char *key)
{
	memset(x, 0, sizeof(*x));
	pthread_mutex_init(&x->mu, NULL);
	x->clear = calloc(1, SS_BUF);
	assert_non_null(x->clear);
	if (cert) {
		x->ctx = SSL_CTX_new(TLS_server_method());
		assert_non_null(x->ctx);
		assert_int_equal(SSL_CTX_use_certificate_file(x->ctx, cert, SSL_FILETYPE_PEM), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(x->ctx, key, SSL_FILETYPE_PEM), 1);
	}
	qft_listen(&x->l, false, ss_accept, x);
	x->port = x->l.port;
}

/* Offer tls and mech ("" for none) and accept user/password from now on;
 * forget what was seen. */
static inline void ss_set(ss_sink *x, ss_tls tls, const char *mech, const char *user,
                          const char *password)
{
	pthread_mutex_lock(&x->mu);
	x->tls = tls;
	qf_strlcpy(x->mech, mech, sizeof(x->mech));
	qf_strlcpy(x->user, user, sizeof(x->user));
	qf_strlcpy(x->password, password, sizeof(x->password));
	x->connections = x->tls_failures = x->auth_ok = x->auth_bad = x->messages = 0;
	x->got_user[0] = x->got_password[0] = x->commands[0] = x->rcpt[0] = '\0';
	x->clear_len = 0;
	x->clear[0] = '\0';
	free(x->data);
	x->data = NULL;
	pthread_mutex_unlock(&x->mu);
}

static inline int ss_count(ss_sink *x, const int *field)
{
	pthread_mutex_lock(&x->mu);
	int n = *field;
	pthread_mutex_unlock(&x->mu);
	return n;
}

/* Wait until *field of x reaches n; false after timeout_s. */
static inline bool ss_wait(ss_sink *x, const int *field, int n, double timeout_s)
{
	double end = sv_now() + timeout_s;
	while (ss_count(x, field) < n) {
		if (sv_now() > end)
			return false;
		sv_sleep(0.05);
	}
	return true;
}

static inline void ss_stop(ss_sink *x)
{
	qft_listen_stop(&x->l);
	SSL_CTX_free(x->ctx);
	free(x->clear);
	free(x->data);
	pthread_mutex_destroy(&x->mu);
}

#endif
