/* SHA-256 through libsodium. */
#include "qf/hash.h"

#include <sodium.h>

void qf_sha256_hex(const void *data, size_t len, char out[QF_SHA256_HEX])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, data, len);
	sodium_bin2hex(out, QF_SHA256_HEX, h, sizeof(h));
}
