/*
 * The secret box: stored secrets (users' webhook URLs) are encrypted with
 * libsodium's crypto_secretbox (XSalsa20-Poly1305) under a key that lives in
 * a file of the server's (never in the database): a copy of the database
 * alone reveals nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qf/auth.h"
#include "qf/fs.h"
#include "qf/str.h"

#define SEALED_PREFIX "sb1:"

static int parse_key(const char *text, size_t len, unsigned char key[QF_SECRET_KEY_BYTES])
{
	if (len == QF_SECRET_KEY_BYTES) {
		memcpy(key, text, QF_SECRET_KEY_BYTES);
		return 0;
	}
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	size_t got = 0;
	if (len == 2 * QF_SECRET_KEY_BYTES &&
	    sodium_hex2bin(key, QF_SECRET_KEY_BYTES, text, len, NULL, &got, NULL) == 0 &&
	    got == QF_SECRET_KEY_BYTES)
		return 0;
	return -1;
}

int qf_secret_key_load(const char *path, bool create, unsigned char key[QF_SECRET_KEY_BYTES],
                       qf_err *err)
{
	char *text = NULL;
	size_t len = 0;
	if (create && !qf_fs_exists(path)) {
		unsigned char fresh[QF_SECRET_KEY_BYTES];
		randombytes_buf(fresh, sizeof(fresh));
		char hex[2 * QF_SECRET_KEY_BYTES + 2];
		sodium_bin2hex(hex, sizeof(hex), fresh, sizeof(fresh));
		hex[2 * QF_SECRET_KEY_BYTES] = '\n';
		hex[2 * QF_SECRET_KEY_BYTES + 1] = '\0';
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			return qf_err_set(err, QF_CAT_SYSTEM, "system.secret_key",
			                  "cannot create the secret key file %s: %s", path, strerror(errno));
		if (fd >= 0) {
			ssize_t w = write(fd, hex, strlen(hex));
			int ok = w == (ssize_t)strlen(hex) && fsync(fd) == 0;
			close(fd);
			sodium_memzero(hex, sizeof(hex));
			sodium_memzero(fresh, sizeof(fresh));
			if (!ok)
				return qf_err_set(err, QF_CAT_SYSTEM, "system.secret_key",
				                  "cannot write the secret key file %s", path);
		}
	}
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & 077))
		return qf_err_set(err, QF_CAT_SYSTEM, "system.secret_key",
		                  "the secret key file %s may be read by others (mode %03o): chmod 600 it",
		                  path, (unsigned)(st.st_mode & 0777));
	int rc = qf_fs_read(path, 256, &text, &len, err);
	if (rc)
		return rc;
	rc = parse_key(text, len, key);
	sodium_memzero(text, len);
	free(text);
	if (rc)
		return qf_err_set(err, QF_CAT_SYSTEM, "system.secret_key",
		                  "the secret key file %s must hold 32 bytes or 64 hex digits", path);
	return 0;
}

char *qf_secret_seal(const unsigned char key[QF_SECRET_KEY_BYTES], const char *plain)
{
	size_t n = strlen(plain);
	size_t raw_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
	unsigned char *raw = malloc(raw_len);
	if (!raw)
		return NULL;
	randombytes_buf(raw, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(raw + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, n, raw,
	                      key);
	size_t b64 = sodium_base64_ENCODED_LEN(raw_len, sodium_base64_VARIANT_ORIGINAL);
	char *out = malloc(strlen(SEALED_PREFIX) + b64);
	if (out) {
		memcpy(out, SEALED_PREFIX, strlen(SEALED_PREFIX));
		sodium_bin2base64(out + strlen(SEALED_PREFIX), b64, raw, raw_len,
		                  sodium_base64_VARIANT_ORIGINAL);
	}
	free(raw);
	return out;
}

char *qf_secret_open(const unsigned char key[QF_SECRET_KEY_BYTES], const char *sealed, qf_err *err)
{
	size_t p = strlen(SEALED_PREFIX);
	if (!sealed || strncmp(sealed, SEALED_PREFIX, p)) {
		qf_err_set(err, QF_CAT_SYSTEM, "auth.secret", "a stored secret is not sealed");
		return NULL;
	}
	size_t in = strlen(sealed + p);
	unsigned char *raw = malloc(in + 1);
	if (!raw) {
		qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		return NULL;
	}
	size_t raw_len = 0;
	char *out = NULL;
	if (sodium_base642bin(raw, in + 1, sealed + p, in, NULL, &raw_len, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) == 0 &&
	    raw_len >= crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
		size_t n = raw_len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
		out = malloc(n + 1);
		if (out && crypto_secretbox_open_easy((unsigned char *)out, raw + crypto_secretbox_NONCEBYTES,
		                                      raw_len - crypto_secretbox_NONCEBYTES, raw, key) == 0) {
			out[n] = '\0';
		} else {
			free(out);
			out = NULL;
		}
	}
	free(raw);
	if (!out)
		qf_err_set(err, QF_CAT_SYSTEM, "auth.secret",
		           "a stored secret cannot be opened with this server's key");
	return out;
}

void qf_secret_mask(const char *plain, char *out, size_t size)
{
	if (!plain || !*plain) {
		qf_strlcpy(out, "", size);
		return;
	}
	const char *host = strstr(plain, "://");
	size_t keep = 0;
	if (host) {
		const char *end = strchr(host + 3, '/');
		keep = end ? (size_t)(end - plain) + 1 : strlen(plain);
	}
	size_t n = strlen(plain);
	const char *tail = n > keep + 4 ? plain + n - 4 : "";
	snprintf(out, size, "%.*s\xe2\x80\xa6%s", (int)keep, plain, tail);
}
