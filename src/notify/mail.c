/*
 * E-mail over SMTP with libcurl: the operator's server (--smtp-url, TLS
 * mode, sender), one text/plain UTF-8 message per notification. The
 * recipient is the account's address (users.email), checked again here so
 * that nothing in it can add a header or a recipient.
 */
#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "notify_int.h"
#include "qf/buf.h"
#include "qf/notify.h"
#include "qf/str.h"
#include "qf/uuid.h"

int qf_smtp_tls_parse(const char *s, qf_smtp_tls *out)
{
	static const char *const names[] = {"none", "starttls", "tls"};
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i])) {
			*out = (qf_smtp_tls)i;
			return 0;
		}
	return QF_EINVAL;
}

bool qf_notify_email_valid(const char *a)
{
	size_t n = a ? strlen(a) : 0;
	if (n < 3 || n > 320)
		return false;
	int at = 0;
	for (const char *c = a; *c; c++) {
		unsigned char u = (unsigned char)*c;
		if (u <= 0x20 || u == 0x7f || strchr("<>()[]\\,;:\"", u))
			return false;
		at += u == '@';
	}
	const char *s = strchr(a, '@');
	return at == 1 && s != a && s[1];
}

int qf_notify_smtp_check(const qf_notify_smtp *o, qf_err *err)
{
	if (!o->url)
		return 0;
	bool smtp = !strncmp(o->url, "smtp://", 7), smtps = !strncmp(o->url, "smtps://", 8);
	if ((!smtp && !smtps) || strlen(o->url) < 9 || strpbrk(o->url, " \t\r\n"))
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.smtp",
		                  "--smtp-url must be smtp://HOST[:PORT] (or smtps://), not '%s'", o->url);
	if (smtps && o->tls != QF_SMTP_TLS)
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.smtp",
		                  "an smtps:// server needs --smtp-tls tls");
	if (!o->from || !qf_notify_email_valid(o->from))
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.smtp",
		                  "--smtp-from must be the sender's e-mail address (qforge@example.org)");
	if (o->password && !o->user)
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.smtp",
		                  "an SMTP password needs its user name (--smtp-user)");
	if (o->user && (!*o->user || strlen(o->user) > QF_SMTP_MAX_USER || strpbrk(o->user, "\r\n")))
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.smtp",
		                  "--smtp-user must be one line of 1 to %d characters", QF_SMTP_MAX_USER);
	if (o->user && o->tls == QF_SMTP_TLS_NONE)
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.smtp",
		                  "SMTP credentials are never sent in clear: use --smtp-tls starttls or "
		                  "tls with --smtp-user");
	if (o->ca_file && strlen(o->ca_file) >= QF_MAX_PATH)
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.smtp", "--smtp-ca-file: path too long");
	if (o->ca_file && access(o->ca_file, R_OK))
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.smtp", "cannot read --smtp-ca-file %s: %s",
		                  o->ca_file, strerror(errno));
	return 0;
}

/* A header value: controls out (no header can be added through it); RFC
 * 2047 encoded when it is not ASCII. */
static int header_text(qf_buf *b, const char *s)
{
	char clean[512];
	size_t n = 0;
	bool ascii = true;
	for (const char *c = s; *c && n < sizeof(clean) - 1; c++) {
		unsigned char u = (unsigned char)*c;
		clean[n++] = u < 0x20 || u == 0x7f ? ' ' : (char)u;
		ascii &= u < 0x80;
	}
	clean[n] = '\0';
	if (ascii)
		return qf_buf_puts(b, clean);
	char b64[sodium_base64_ENCODED_LEN(sizeof(clean), sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)clean, n,
	                  sodium_base64_VARIANT_ORIGINAL);
	return qf_buf_printf(b, "=?UTF-8?B?%s?=", b64);
}

static int message(qf_buf *b, const qf_notify_smtp *o, const char *to, const char *subject,
                   const char *body)
{
	char date[64], id[QF_UUID_STR];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	qf_uuid_v7(id);
	const char *dom = strchr(o->from, '@') + 1;
	int rc = qf_buf_printf(b,
	                       "Date: %s\r\nFrom: Quantum Forge <%s>\r\nTo: <%s>\r\nMessage-ID: "
	                       "<%s@%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; "
	                       "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nSubject: ",
	                       date, o->from, to, id, dom);
	if (!rc)
		rc = header_text(b, subject);
	if (!rc)
		rc = qf_buf_puts(b, "\r\n\r\n");
	/* lines end in CRLF; curl dot-stuffs lines that start with '.' */
	for (const char *c = body; !rc && *c; c++)
		rc = *c == '\n' ? qf_buf_puts(b, "\r\n") : *c == '\r' ? 0 : qf_buf_append(b, c, 1);
	if (!rc)
		rc = qf_buf_puts(b, "\r\n");
	return rc;
}

typedef struct reader {
	const char *p;
	size_t left;
} reader;

static size_t read_msg(char *buf, size_t size, size_t n, void *arg)
{
	reader *r = arg;
	size_t k = size * n < r->left ? size * n : r->left;
	memcpy(buf, r->p, k);
	r->p += k;
	r->left -= k;
	return k;
}

int qf_notify_email_send(const qf_notify_smtp *o, const char *to, const char *subject,
                         const char *body, const volatile int *abort, qf_err *err)
{
	if (!o->url)
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.unconfigured",
		                  "this server sends no e-mail (its operator set no --smtp-url)");
	if (o->user && o->tls == QF_SMTP_TLS_NONE)
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.unconfigured",
		                  "SMTP credentials are never sent without TLS");
	if (!qf_notify_email_valid(to))
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.address",
		                  "the account's e-mail address cannot be used to send mail");
	qf_buf msg;
	qf_buf_init(&msg, QF_NOTIFY_MAX_MESSAGE);
	if (message(&msg, o, to, subject, body)) {
		qf_buf_release(&msg);
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.too_large",
		                  "the message is larger than %d bytes", QF_NOTIFY_MAX_MESSAGE);
	}
	CURL *c = curl_easy_init();
	if (!c) {
		qf_buf_release(&msg);
		return qf_err_set(err, QF_CAT_SYSTEM, "notify.failed", "cannot start an SMTP client");
	}
	char from[340], rcpt[340];
	snprintf(from, sizeof(from), "<%s>", o->from);
	snprintf(rcpt, sizeof(rcpt), "<%s>", to);
	struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
	size_t seen = 0;
	reader rd = {qf_buf_str(&msg), strlen(qf_buf_str(&msg))};
	qf__notify_curl_common(c, abort, &seen);
	/* implicit TLS is the smtps scheme */
	char url[1024];
	if (o->tls == QF_SMTP_TLS && !strncmp(o->url, "smtp://", 7))
		snprintf(url, sizeof(url), "smtps://%s", o->url + 7);
	else
		qf_strlcpy(url, o->url, sizeof(url));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_USE_SSL,
	                 o->tls == QF_SMTP_TLS_NONE ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL);
	/* curl's defaults, said: the certificate chains to a trusted CA and
	 * names the host */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	if (o->user) {
		/* checked: never without TLS (qf_notify_smtp_check) */
		curl_easy_setopt(c, CURLOPT_USERNAME, o->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, o->password ? o->password : "");
	}
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_msg);
	curl_easy_setopt(c, CURLOPT_READDATA, &rd);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rd.left);
	CURLcode cc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(rcpts);
	qf_buf_release(&msg);
	if (cc == CURLE_OK)
		return 0;
	/* TLS that did not happen: nothing past EHLO was sent; may pass (a
	 * server being reconfigured, or someone in between stripping STARTTLS) */
	if (cc == CURLE_USE_SSL_FAILED)
		return qf_err_set(err, QF_CAT_SYSTEM, "notify.failed",
		                  "the mail server offers no STARTTLS, which --smtp-tls starttls requires: "
		                  "nothing was sent");
	if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
	    cc == CURLE_SSL_CONNECT_ERROR)
		return qf_err_set(err, QF_CAT_SYSTEM, "notify.failed",
		                  "no TLS with the mail server (%s): nothing was sent",
		                  curl_easy_strerror(cc));
	if (cc == CURLE_LOGIN_DENIED)
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.rejected",
		                  "the mail server refused the SMTP credentials (SMTP %ld)", code);
	/* 5xx: the server will not take it (no such mailbox...); the rest passes */
	if (code >= 500)
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.rejected",
		                  "the mail server refused the message (SMTP %ld)", code);
	if (code)
		return qf_err_set(err, QF_CAT_SYSTEM, "notify.failed",
		                  "the mail server could not take the message now (SMTP %ld)", code);
	return qf_err_set(err, QF_CAT_SYSTEM, "notify.failed", "could not deliver the e-mail: %s",
	                  curl_easy_strerror(cc));
}
