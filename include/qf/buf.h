/*
 * One growable byte buffer with a cap. Every buffer that untrusted input can
 * grow is created with a cap from limits.h; appending past it fails with
 * QF_EINVAL and leaves the buffer as it was. Always NUL-terminated.
 * Ownership of the bytes moves out only through qf_buf_detach().
 */
#ifndef QF_BUF_H
#define QF_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct qf_buf {
	char *data; /* NUL-terminated; NULL until the first append */
	size_t len;
	size_t alloc;
	size_t cap; /* most bytes len may reach */
} qf_buf;

void qf_buf_init(qf_buf *b, size_t cap);
void qf_buf_release(qf_buf *b);
void qf_buf_clear(qf_buf *b);
int qf_buf_append(qf_buf *b, const void *data, size_t len);
/* Room for extra more bytes without growing again (an answer whose size is
 * known roughly: fewer copies on the way); QF_EINVAL past the cap. */
int qf_buf_reserve(qf_buf *b, size_t extra);
int qf_buf_puts(qf_buf *b, const char *s);
int qf_buf_printf(qf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int qf_buf_vprintf(qf_buf *b, const char *fmt, va_list ap);
/* Give the bytes to the caller (free() them); the buffer is empty afterwards. */
char *qf_buf_detach(qf_buf *b, size_t *len);
/* The contents, or "" when empty. */
const char *qf_buf_str(const qf_buf *b);

#endif
