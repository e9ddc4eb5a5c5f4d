/* Operator log on stderr. */
#include "qf/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/clock.h"

static atomic_int level = -1;

static qf_log_level level_from_env(void)
{
	const char *s = getenv("QF_LOG");
	if (!s)
		return QF_LOG_WARN;
	if (!strcmp(s, "error"))
		return QF_LOG_ERROR;
	if (!strcmp(s, "info"))
		return QF_LOG_INFO;
	if (!strcmp(s, "debug"))
		return QF_LOG_DEBUG;
	return QF_LOG_WARN;
}

void qf_log_set_level(qf_log_level l)
{
	level = (int)l;
}

qf_log_level qf_log_get_level(void)
{
	if (level < 0)
		level = (int)level_from_env();
	return (qf_log_level)level;
}

void qf_log(qf_log_level l, const char *module, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	if (l > qf_log_get_level())
		return;
	char ts[QF_TIME_STR];
	qf_clock_format(qf_clock_now(), ts);
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One write per line so lines from several processes do not interleave. */
	fprintf(stderr, "%s %s %s: %s\n", ts, names[l], module, msg);
}
