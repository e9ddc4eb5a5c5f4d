/* Wall and monotonic clocks, with a pinnable wall clock for tests. */
#include "qf/clock.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qf/err.h"
#include "qf/str.h"

static _Atomic double fake_now;
static atomic_int fake_env_read;

double qf_clock_now(void)
{
	if (!atomic_exchange(&fake_env_read, 1)) {
		const char *s = getenv("QF_FAKE_NOW");
		double t;
		if (s && qf_parse_double(s, &t) && t > 0)
			fake_now = t;
	}
	double f = fake_now;
	if (f > 0)
		return f;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double qf_clock_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void qf_clock_set_fake(double t)
{
	atomic_store(&fake_env_read, 1);
	fake_now = t;
}

void qf_clock_format(double t, char out[QF_TIME_STR])
{
	time_t s = (time_t)floor(t);
	int ms = (int)((t - (double)s) * 1000.0);
	if (ms > 999)
		ms = 999;
	if (ms < 0)
		ms = 0;
	struct tm tm;
	gmtime_r(&s, &tm);
	/* Years past 9999 do not occur; the casts tell the compiler the widths. */
	snprintf(out, QF_TIME_STR, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
	         (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
	         (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
	         (unsigned)tm.tm_sec % 100u, (unsigned)ms % 1000u);
}

int qf_clock_parse(const char *s, double *t)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	int n = 0;
	if (!s || sscanf(s, "%4d-%2d-%2d%*[T ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return QF_EINVAL;
	const char *p = s + n;
	double frac = 0;
	if (*p == '.') {
		double scale = 0.1;
		p++;
		while (*p >= '0' && *p <= '9') {
			frac += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (strncmp(p, "+00:00", 6) == 0 || strncmp(p, "+00", 3) == 0)
		p += (p[3] == ':') ? 6 : 3;
	if (*p)
		return QF_EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t secs = timegm(&tm);
	if (secs == (time_t)-1)
		return QF_EINVAL;
	*t = (double)secs + frac;
	return 0;
}
