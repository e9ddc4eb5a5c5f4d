/*
 * Two-factor login: time-based one-time passwords (RFC 6238) through
 * liboath, and one-time backup codes.
 *
 *   secret        160 random bits (RFC 4226's recommended length), shown
 *                 to the user once as base32 and in an otpauth:// URI;
 *                 kept sealed (qf_secret_seal), never in clear
 *   codes         6 digits, HMAC-SHA1, 30 s steps from the epoch (what every
 *                 authenticator app does with an otpauth://totp URI); a
 *                 code of the step before or after the current one is
 *                 accepted (clocks drift, people type slowly), further ones
 *                 are not. A verified code yields its step counter: the
 *                 caller records it so that no step is accepted twice
 *   backup codes  16 characters of base32 (80 random bits) shown as
 *                 "abcd-efgh-ijkl-mnop"; stored as the SHA-256 of their
 *                 normal form (lowercase, without '-' and blanks): random
 *                 codes of 80 bits need no slow hash, like session tokens
 */
#ifndef QF_TOTP_H
#define QF_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qf/err.h"
#include "qf/hash.h"

#define QF_TOTP_STEP_S 30
#define QF_TOTP_DIGITS 6
/* Steps either side of the current one that are accepted. */
#define QF_TOTP_WINDOW 1
/* 20 bytes of secret as base32: 32 characters + NUL. */
#define QF_TOTP_SECRET_B32 33
/* The largest number of digits qf_totp_code makes (RFC 6238's vectors: 8). */
#define QF_TOTP_MAX_DIGITS 8
#define QF_TOTP_CODE_STR (QF_TOTP_MAX_DIGITS + 1)
/* "abcd-efgh-ijkl-mnop" + NUL */
#define QF_BACKUP_CODE_STR 20
/* Backup codes made at confirmation. */
#define QF_BACKUP_CODES 10

/* A new random secret, base32 (RFC 4648, no padding). */
int qf_totp_secret_new(char out[QF_TOTP_SECRET_B32], qf_err *err);
/* The otpauth:// URI an authenticator app reads (from a QR code):
 * otpauth://totp/QuantumForge:<email>?secret=<b32>&issuer=QuantumForge,
 * the label percent-encoded. Heap; NULL when out of memory. */
char *qf_totp_uri(const char *email, const char *secret_b32);
/* The code of time t for a raw key (RFC 6238 with HMAC-SHA1), digits
 * 6 to 8 (the RFC's test vectors are 8-digit). */
int qf_totp_code(const void *key, size_t key_len, double t, unsigned digits,
                 char out[QF_TOTP_CODE_STR], qf_err *err);
/* The same from a base32 secret. */
int qf_totp_code_b32(const char *secret_b32, double t, unsigned digits,
                     char out[QF_TOTP_CODE_STR], qf_err *err);
/* Whether code is the 6-digit code of secret_b32 for the step of now or
 * an adjacent one (QF_TOTP_WINDOW); *step gets the step counter it
 * matched (floor(t / 30)). The comparison is constant-time. */
bool qf_totp_verify(const char *secret_b32, const char *code, double now, int64_t *step);

/* A new backup code as shown ("abcd-efgh-ijkl-mnop"). */
void qf_backup_code_new(char out[QF_BACKUP_CODE_STR]);
/* The stored form of a backup code as typed (any case, with or without
 * '-' and blanks); false when it cannot be one. */
bool qf_backup_code_hash(const char *code, char out[QF_SHA256_HEX]);

#endif
