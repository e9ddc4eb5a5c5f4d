/* Session tokens, API keys and CSRF tokens (see include/qf/auth.h). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "qf/auth.h"
#include "qf/str.h"

#define SECRET_BYTES 32
/* base64url of 32 bytes without padding */
#define SECRET_CHARS 43

static void secret(char *out, size_t size)
{
	unsigned char raw[SECRET_BYTES];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, size, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

void qf_token_session(char out[QF_TOKEN_STR])
{
	char s[SECRET_CHARS + 1];
	secret(s, sizeof(s));
	snprintf(out, QF_TOKEN_STR, "%s%s", QF_SESSION_PREFIX, s);
	sodium_memzero(s, sizeof(s));
}

void qf_token_api_key(char out[QF_TOKEN_STR], char prefix[QF_KEY_PREFIX_LEN + 1])
{
	/* The prefix: 8 characters of [a-z0-9], shown to tell keys apart. */
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	for (int i = 0; i < QF_KEY_PREFIX_LEN; i++)
		prefix[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
	prefix[QF_KEY_PREFIX_LEN] = '\0';
	char s[SECRET_CHARS + 1];
	secret(s, sizeof(s));
	snprintf(out, QF_TOKEN_STR, "%s%s_%s", QF_API_KEY_PREFIX, prefix, s);
	sodium_memzero(s, sizeof(s));
}

void qf_token_hash(const char *token, char out[QF_SHA256_HEX])
{
	qf_sha256_hex(token, strlen(token), out);
}

static bool b64url(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

bool qf_token_is_session(const char *t)
{
	size_t p = strlen(QF_SESSION_PREFIX);
	return t && strlen(t) == p + SECRET_CHARS && !strncmp(t, QF_SESSION_PREFIX, p) &&
	       b64url(t + p, SECRET_CHARS);
}

bool qf_token_is_api_key(const char *t, char prefix[QF_KEY_PREFIX_LEN + 1])
{
	size_t p = strlen(QF_API_KEY_PREFIX);
	if (!t || strlen(t) != p + QF_KEY_PREFIX_LEN + 1 + SECRET_CHARS ||
	    strncmp(t, QF_API_KEY_PREFIX, p) || t[p + QF_KEY_PREFIX_LEN] != '_')
		return false;
	for (int i = 0; i < QF_KEY_PREFIX_LEN; i++) {
		char c = t[p + i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return false;
	}
	if (!b64url(t + p + QF_KEY_PREFIX_LEN + 1, SECRET_CHARS))
		return false;
	if (prefix) {
		memcpy(prefix, t + p, QF_KEY_PREFIX_LEN);
		prefix[QF_KEY_PREFIX_LEN] = '\0';
	}
	return true;
}

bool qf_token_hash_equal(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	size_t n = strlen(a);
	if (n != strlen(b))
		return false;
	return sodium_memcmp(a, b, n) == 0;
}

void qf_token_csrf(const char *session_token, char out[QF_SHA256_HEX])
{
	char buf[QF_TOKEN_STR + 8];
	snprintf(buf, sizeof(buf), "csrf:%s", session_token);
	qf_sha256_hex(buf, strlen(buf), out);
	sodium_memzero(buf, sizeof(buf));
}

void qf_token_mask(const char *token, char out[16])
{
	snprintf(out, 16, "%.8s...", token ? token : "");
}
