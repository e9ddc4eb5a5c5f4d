/*
 * Credentials: passwords, session tokens and API keys, and the secret box
 * that keeps stored secrets (webhook URLs) encrypted.
 *
 *   passwords   argon2id (libsodium crypto_pwhash_str), at least its
 *               interactive limits (QF_ARGON2_OPSLIMIT / _MEMLIMIT); a hash
 *               made with weaker parameters is replaced at the next login
 *   sessions    "qfs_" + 256 random bits (base64url); stored as SHA-256
 *   API keys    "qf_" + 8-character prefix + "_" + 256 random bits; the
 *               prefix is stored in clear (to find the key and to show it),
 *               the whole key as SHA-256
 *
 * Random tokens carry 256 bits, so a fast hash is enough to store them (a
 * password needs a slow one because people choose them). Comparisons of
 * hashes are constant-time.
 */
#ifndef QF_AUTH_H
#define QF_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "qf/err.h"
#include "qf/hash.h"

/* ---- passwords ------------------------------------------------------------ */

/* crypto_pwhash_STRBYTES */
#define QF_PWHASH_STR 128

/* Check a new password: QF_MIN_PASSWORD to QF_MAX_PASSWORD bytes of UTF-8
 * without NUL, not only blanks. Code auth.weak_password. */
int qf_password_check(const char *pw, qf_err *err);
/* argon2id hash of pw in the crypto_pwhash_str format. */
int qf_password_hash(const char *pw, char out[QF_PWHASH_STR], qf_err *err);
/* Whether pw matches hash (false for a malformed hash). */
bool qf_password_verify(const char *hash, const char *pw);
/* Whether hash was made with weaker parameters than today's. */
bool qf_password_needs_rehash(const char *hash);
/* A verification of a password nobody has: as slow as a real one, so that
 * an unknown e-mail address takes as long to refuse as a wrong password. */
void qf_password_verify_dummy(const char *pw);

/* ---- tokens ----------------------------------------------------------------- */

#define QF_SESSION_PREFIX "qfs_"
#define QF_API_KEY_PREFIX "qf_"
/* "qfs_" + 43 base64url characters + NUL */
#define QF_TOKEN_STR 64
/* the 8 characters after "qf_" of an API key */
#define QF_KEY_PREFIX_LEN 8

/* A new session token. */
void qf_token_session(char out[QF_TOKEN_STR]);
/* A new API key and its prefix ("qf_" + prefix + "_" + secret). */
void qf_token_api_key(char out[QF_TOKEN_STR], char prefix[QF_KEY_PREFIX_LEN + 1]);
/* The stored form of a token: SHA-256 as hex. */
void qf_token_hash(const char *token, char out[QF_SHA256_HEX]);
/* Whether a presented token has the shape of a session token / API key
 * (prefix, length, alphabet); an API key's prefix is copied out. */
bool qf_token_is_session(const char *token);
bool qf_token_is_api_key(const char *token, char prefix[QF_KEY_PREFIX_LEN + 1]);
/* Constant-time equality of two hex hashes. */
bool qf_token_hash_equal(const char *a, const char *b);
/* The CSRF token of a session (sent as a readable cookie and echoed in the
 * X-CSRF-Token header): derived from the session token, which only the
 * client holds, so nothing more is stored. */
void qf_token_csrf(const char *session_token, char out[QF_SHA256_HEX]);
/* A token shown in logs: its first 8 characters and "...". */
void qf_token_mask(const char *token, char out[16]);

/* ---- the secret box -------------------------------------------------------------- */

/* crypto_secretbox_KEYBYTES */
#define QF_SECRET_KEY_BYTES 32

/* Load the server's secret key from path (32 raw bytes, or 64 hex digits),
 * creating it (mode 0600, random) when create and the file is missing. The
 * key never goes into the database. */
int qf_secret_key_load(const char *path, bool create, unsigned char key[QF_SECRET_KEY_BYTES],
                       qf_err *err);
/* Encrypt a text: "sb1:" + base64(nonce || box). Heap; NULL when out of
 * memory. */
char *qf_secret_seal(const unsigned char key[QF_SECRET_KEY_BYTES], const char *plain);
/* Decrypt what qf_secret_seal made; NULL (code auth.secret) when it is not
 * one, or was made with another key. */
char *qf_secret_open(const unsigned char key[QF_SECRET_KEY_BYTES], const char *sealed,
                     qf_err *err);
/* A secret as shown back: scheme and host, then "…" and its last 4
 * characters ("https://hooks.slack.com/…a1b2"). */
void qf_secret_mask(const char *plain, char *out, size_t size);

#endif
