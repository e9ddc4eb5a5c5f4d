/*
 * Small string helpers: bounded copies and strict number parsing (the whole
 * token must be a finite number; no silent zero like atoi).
 */
#ifndef QF_STR_H
#define QF_STR_H

#include <stdbool.h>
#include <stddef.h>

/* Copy at most size-1 bytes and NUL-terminate; returns strlen(src). */
size_t qf_strlcpy(char *dst, const char *src, size_t size);
/* snprintf that never overflows; returns 0, or QF_EINVAL when truncated. */
int qf_snprintf(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parse the whole of s as a finite double / an int in [min, max]. */
bool qf_parse_double(const char *s, double *out);
bool qf_parse_int(const char *s, long min, long max, long *out);

/* Case-insensitive equality. */
bool qf_streq_ci(const char *a, const char *b);
/* Strip trailing whitespace (spaces, tabs, CR, LF) in place; returns s. */
char *qf_rstrip(char *s);
/* Pointer to the first non-blank character of s. */
const char *qf_lskip(const char *s);
bool qf_str_has_suffix_ci(const char *s, const char *suffix);
/* Split s (modified in place) at runs of blanks into at most max fields;
 * returns the number of fields found (which may exceed max: the rest is not
 * stored). */
int qf_split_ws(char *s, char **fields, int max);

#endif
