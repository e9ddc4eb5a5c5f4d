/* Passwords: argon2id through libsodium (see include/qf/auth.h). */
#include <sodium.h>
#include <string.h>

#include "qf/auth.h"
#include "qf/limits.h"

_Static_assert(QF_PWHASH_STR >= crypto_pwhash_STRBYTES, "QF_PWHASH_STR too small");
_Static_assert(QF_ARGON2_OPSLIMIT >= crypto_pwhash_OPSLIMIT_INTERACTIVE, "argon2 below interactive");
_Static_assert(QF_ARGON2_MEMLIMIT >= crypto_pwhash_MEMLIMIT_INTERACTIVE, "argon2 below interactive");

/* Whether s is UTF-8 without NUL bytes (overlongs and surrogates refused). */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		if (!k || i + k > n || (k == 2 && c < 0xc2))
			return false;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		if (k == 3 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0)))
			return false;
		if (k == 4 && ((c == 0xf0 && s[i + 1] < 0x90) || c > 0xf4 || (c == 0xf4 && s[i + 1] >= 0x90)))
			return false;
		i += k;
	}
	return true;
}

int qf_password_check(const char *pw, qf_err *err)
{
	size_t n = pw ? strlen(pw) : 0;
	if (n < QF_MIN_PASSWORD || n > QF_MAX_PASSWORD)
		return qf_err_set(err, QF_CAT_VALIDATION, "auth.weak_password",
		                  "a password needs %d to %d characters", QF_MIN_PASSWORD, QF_MAX_PASSWORD);
	if (!utf8_ok((const unsigned char *)pw, n))
		return qf_err_set(err, QF_CAT_VALIDATION, "auth.weak_password",
		                  "a password must be UTF-8 text");
	bool blank = true;
	for (size_t i = 0; i < n && blank; i++)
		blank = pw[i] == ' ' || pw[i] == '\t';
	if (blank)
		return qf_err_set(err, QF_CAT_VALIDATION, "auth.weak_password",
		                  "a password cannot be only spaces");
	return 0;
}

int qf_password_hash(const char *pw, char out[QF_PWHASH_STR], qf_err *err)
{
	if (crypto_pwhash_str_alg(out, pw, strlen(pw), QF_ARGON2_OPSLIMIT, (size_t)QF_ARGON2_MEMLIMIT,
	                          crypto_pwhash_ALG_ARGON2ID13) != 0)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory hashing a password");
	return 0;
}

bool qf_password_verify(const char *hash, const char *pw)
{
	if (!hash || !pw || strnlen(hash, QF_PWHASH_STR) >= QF_PWHASH_STR)
		return false;
	return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

bool qf_password_needs_rehash(const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, QF_ARGON2_OPSLIMIT, (size_t)QF_ARGON2_MEMLIMIT) != 0;
}

void qf_password_verify_dummy(const char *pw)
{
	unsigned char out[32], salt[crypto_pwhash_SALTBYTES] = {0};
	if (crypto_pwhash(out, sizeof(out), pw ? pw : "", pw ? strlen(pw) : 0, salt, QF_ARGON2_OPSLIMIT,
	                  (size_t)QF_ARGON2_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return; /* out of memory: the caller refuses the login anyway */
	sodium_memzero(out, sizeof(out));
}
