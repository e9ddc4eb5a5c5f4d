/*
 * One-time passwords (RFC 6238) with liboath, and backup codes (see
 * include/qf/totp.h).
 */
#include "qf/totp.h"

#include <liboath/oath.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/auth.h"
#include "qf/str.h"

#define SECRET_BYTES 20
#define BACKUP_CHARS 16

static pthread_once_t oath_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void oath_start(void)
{
	init_rc = oath_init();
}

static int ready(qf_err *err)
{
	pthread_once(&oath_once, oath_start);
	if (init_rc != OATH_OK)
		return qf_err_set(err, QF_CAT_SYSTEM, "auth.totp", "liboath could not start: %s",
		                  oath_strerror(init_rc));
	return 0;
}

int qf_totp_secret_new(char out[QF_TOTP_SECRET_B32], qf_err *err)
{
	int rc = ready(err);
	if (rc)
		return rc;
	unsigned char raw[SECRET_BYTES];
	randombytes_buf(raw, sizeof(raw));
	char *b32 = NULL;
	size_t len = 0;
	int orc = oath_base32_encode((const char *)raw, sizeof(raw), &b32, &len);
	sodium_memzero(raw, sizeof(raw));
	if (orc != OATH_OK || len + 1 != QF_TOTP_SECRET_B32) {
		free(b32);
		return qf_err_set(err, QF_CAT_SYSTEM, "auth.totp", "could not encode a TOTP secret: %s",
		                  oath_strerror(orc));
	}
	memcpy(out, b32, len + 1);
	sodium_memzero(b32, len);
	free(b32);
	return 0;
}

/* Percent-encoding of a URI label: RFC 3986 unreserved characters and '@'
 * (which authenticator apps show as typed) stay, the rest is %XX. */
static int put_label(char *out, size_t size, const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		            (*p >= '0' && *p <= '9') || strchr("-._~@", *p);
		int w = keep ? snprintf(out + n, size - n, "%c", *p)
		             : snprintf(out + n, size - n, "%%%02X", *p);
		if (w < 0 || (size_t)w >= size - n)
			return -1;
		n += (size_t)w;
	}
	return 0;
}

char *qf_totp_uri(const char *email, const char *secret_b32)
{
	/* an e-mail address is at most 320 bytes: 3 per byte encoded */
	char label[3 * 320 + 1];
	if (!email || strlen(email) > 320 || put_label(label, sizeof(label), email))
		return NULL;
	char *uri = NULL;
	if (asprintf(&uri, "otpauth://totp/QuantumForge:%s?secret=%s&issuer=QuantumForge", label,
	             secret_b32) < 0)
		return NULL;
	return uri;
}

int qf_totp_code(const void *key, size_t key_len, double t, unsigned digits,
                 char out[QF_TOTP_CODE_STR], qf_err *err)
{
	int rc = ready(err);
	if (rc)
		return rc;
	if (digits < 6 || digits > QF_TOTP_MAX_DIGITS)
		return qf_err_set(err, QF_CAT_VALIDATION, "auth.totp", "a TOTP code has 6 to %d digits",
		                  QF_TOTP_MAX_DIGITS);
	int orc = oath_totp_generate(key, key_len, (time_t)floor(t), QF_TOTP_STEP_S,
	                             OATH_TOTP_DEFAULT_START_TIME, digits, out);
	if (orc != OATH_OK)
		return qf_err_set(err, QF_CAT_SYSTEM, "auth.totp", "could not make a TOTP code: %s",
		                  oath_strerror(orc));
	return 0;
}

/* The raw key of a base32 secret (heap, *len bytes); NULL when it is not
 * one. */
static char *decode(const char *secret_b32, size_t *len)
{
	char *raw = NULL;
	*len = 0;
	if (!secret_b32 || oath_base32_decode(secret_b32, strlen(secret_b32), &raw, len) != OATH_OK) {
		free(raw);
		return NULL;
	}
	return raw;
}

int qf_totp_code_b32(const char *secret_b32, double t, unsigned digits,
                     char out[QF_TOTP_CODE_STR], qf_err *err)
{
	int rc = ready(err);
	if (rc)
		return rc;
	size_t len;
	char *raw = decode(secret_b32, &len);
	if (!raw)
		return qf_err_set(err, QF_CAT_SYSTEM, "auth.totp", "a TOTP secret is not base32");
	rc = qf_totp_code(raw, len, t, digits, out, err);
	sodium_memzero(raw, len);
	free(raw);
	return rc;
}

/* liboath compares candidate codes with this (0: a match): constant-time,
 * which liboath's own strcmp is not. */
static int same_code(void *handle, const char *test_otp)
{
	const char *given = handle;
	return sodium_memcmp(given, test_otp, QF_TOTP_DIGITS) == 0 ? 0 : 1;
}

bool qf_totp_verify(const char *secret_b32, const char *code, double now, int64_t *step)
{
	*step = -1;
	if (ready(NULL) || !code || strlen(code) != QF_TOTP_DIGITS)
		return false;
	for (const char *p = code; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	size_t len;
	char *raw = decode(secret_b32, &len);
	if (!raw)
		return false;
	int pos = 0;
	uint64_t counter = 0;
	int orc = oath_totp_validate3_callback(raw, len, (time_t)floor(now), QF_TOTP_STEP_S,
	                                       OATH_TOTP_DEFAULT_START_TIME, QF_TOTP_DIGITS,
	                                       QF_TOTP_WINDOW, &pos, &counter, same_code, (void *)code);
	sodium_memzero(raw, len);
	free(raw);
	if (orc < 0)
		return false;
	*step = (int64_t)counter;
	return true;
}

void qf_backup_code_new(char out[QF_BACKUP_CODE_STR])
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	size_t n = 0;
	for (int i = 0; i < BACKUP_CHARS; i++) {
		if (i && i % 4 == 0)
			out[n++] = '-';
		out[n++] = alphabet[randombytes_uniform(32)];
	}
	out[n] = '\0';
}

bool qf_backup_code_hash(const char *code, char out[QF_SHA256_HEX])
{
	char norm[BACKUP_CHARS + 1];
	size_t n = 0;
	for (const char *p = code; p && *p; p++) {
		char c = *p;
		if (c == '-' || c == ' ')
			continue;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) || n >= BACKUP_CHARS)
			return false;
		norm[n++] = c;
	}
	if (n != BACKUP_CHARS)
		return false;
	norm[n] = '\0';
	char tagged[BACKUP_CHARS + 16];
	snprintf(tagged, sizeof(tagged), "backup:%s", norm);
	qf_token_hash(tagged, out);
	sodium_memzero(norm, sizeof(norm));
	sodium_memzero(tagged, sizeof(tagged));
	return true;
}
