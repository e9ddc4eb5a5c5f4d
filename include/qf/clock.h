/*
 * Time. Wall clock (UTC, for records) and monotonic (for durations). The wall
 * clock can be pinned for tests (qf_clock_set_fake), so retention and expiry
 * rules are tested without sleeping.
 */
#ifndef QF_CLOCK_H
#define QF_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Seconds since the epoch, UTC, with sub-second part. */
double qf_clock_now(void);
/* Monotonic seconds. */
double qf_clock_mono(void);
/* Pin the wall clock (t > 0) or release it (t == 0). Also honoured from the
 * environment variable QF_FAKE_NOW (seconds since the epoch) for programs. */
void qf_clock_set_fake(double t);
/* Format t as RFC 3339 UTC with milliseconds: 2026-11-28T18:24:33.123Z. */
#define QF_TIME_STR 32
void qf_clock_format(double t, char out[QF_TIME_STR]);
/* Parse the format above (also without fraction / 'Z' / with "+00:00"). */
int qf_clock_parse(const char *s, double *t);

#endif
