/* SHA-256 (libsodium) as lowercase hex. */
#ifndef QF_HASH_H
#define QF_HASH_H

#include <stddef.h>

#define QF_SHA256_HEX 65 /* 64 hex digits + NUL */

void qf_sha256_hex(const void *data, size_t len, char out[QF_SHA256_HEX]);

#endif
