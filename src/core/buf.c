/* Capped growable buffer: see include/qf/buf.h. */
#include "qf/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/err.h"

void qf_buf_init(qf_buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void qf_buf_release(qf_buf *b)
{
	free(b->data);
	qf_buf_init(b, b->cap);
}

void qf_buf_clear(qf_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Make room for extra more bytes plus the NUL. */
static int grow(qf_buf *b, size_t extra)
{
	if (extra > b->cap || b->len > b->cap - extra)
		return QF_EINVAL;
	size_t need = b->len + extra + 1;
	if (need <= b->alloc)
		return 0;
	size_t n = b->alloc ? b->alloc : 64;
	while (n < need)
		n = n > SIZE_MAX / 2 ? need : n * 2;
	if (n > b->cap + 1)
		n = b->cap + 1;
	char *p = realloc(b->data, n);
	if (!p)
		return QF_ENOMEM;
	b->data = p;
	b->alloc = n;
	return 0;
}

int qf_buf_reserve(qf_buf *b, size_t extra)
{
	return grow(b, extra);
}

int qf_buf_append(qf_buf *b, const void *data, size_t len)
{
	/* room already (the NUL included) and within the cap: no grow() */
	int rc = len < b->alloc - b->len && b->len + len <= b->cap ? 0 : grow(b, len);
	if (rc)
		return rc;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int qf_buf_puts(qf_buf *b, const char *s)
{
	return qf_buf_append(b, s, strlen(s));
}

int qf_buf_vprintf(qf_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return QF_EINVAL;
	int rc = grow(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int qf_buf_printf(qf_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = qf_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *qf_buf_detach(qf_buf *b, size_t *len)
{
	char *p = b->data;
	if (!p) {
		p = calloc(1, 1);
	}
	if (len)
		*len = b->len;
	qf_buf_init(b, b->cap);
	return p;
}

const char *qf_buf_str(const qf_buf *b)
{
	return b->data ? b->data : "";
}
