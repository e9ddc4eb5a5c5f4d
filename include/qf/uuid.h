/*
 * Identifiers: UUID version 7 (RFC 9562) — time-ordered, so job directories
 * and rows sort by creation, with 74 random bits (libsodium).
 */
#ifndef QF_UUID_H
#define QF_UUID_H

#include <stdbool.h>

#define QF_UUID_STR 37 /* 36 chars + NUL */

void qf_uuid_v7(char out[QF_UUID_STR]);
bool qf_uuid_valid(const char *s);

#endif
