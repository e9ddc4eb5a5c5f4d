/*
 * Writing JSON answers fast: a compact writer of jansson trees into a
 * qf_buf, and "raw" nodes that carry JSON text already known to be valid
 * (a store's JSON column) into an answer without parsing and printing it
 * again.
 *
 * The writer prints what json_dumps(JSON_COMPACT | JSON_REAL_PRECISION(17))
 * prints, in the same key order, except for reals: a real is printed with
 * the fewest decimals (up to 17 significant digits) that read back as the
 * same double, so 0.1 is "0.1" where jansson says "0.10000000000000001".
 * Every real still reads back bit for bit, and stays a real ("300.0").
 */
#ifndef QF_JSON_H
#define QF_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "qf/buf.h"

/* A node that qf_json_write prints as the JSON text given (len bytes, not
 * NUL-terminated), verbatim. The text must be valid JSON (a store's JSON
 * column: PostgreSQL's jsonb or SQLite's CHECK json_valid). Elsewhere the
 * node is an object of one member whose key holds a NUL byte, a key that no
 * JSON parsed by jansson can hold; json_dumps prints it as such, so raw
 * nodes belong only in documents written by qf_json_write. NULL when out of
 * memory. */
json_t *qf_json_raw(const char *text, size_t len);

/* Whether v is a node made by qf_json_raw; *text and *len (may be NULL)
 * get its text. */
bool qf_json_is_raw(const json_t *v, const char **text, size_t *len);

/* Append v as compact JSON to b. 0, QF_EINVAL (b's cap reached, a real
 * that is not finite, a tree nested deeper than QF_JSON_MAX_WRITE_DEPTH)
 * or QF_ENOMEM; on failure b holds a partial text. */
int qf_json_write(qf_buf *b, const json_t *v);

/* One value as qf_json_write prints it, appended to b (0, or as
 * qf_json_write fails): a string of len bytes (escaped as jansson escapes,
 * not checked for UTF-8: the caller's text is valid), an integer, a real
 * (QF_EINVAL when not finite). For answers written straight from a store's
 * rows, without a tree. */
int qf_json_write_string(qf_buf *b, const char *s, size_t len);
int qf_json_write_int(qf_buf *b, long long v);
int qf_json_write_real(qf_buf *b, double d);

/* The shortest text of d (finite) that reads back as d, as qf_json_write
 * prints it; out needs 32 bytes. Its length. */
size_t qf_json_real(double d, char *out);

#endif
