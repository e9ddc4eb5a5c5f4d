/* Errors: see include/qf/err.h. */
#include "qf/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qf/str.h"

void qf_err_init(qf_err *e)
{
	memset(e, 0, sizeof(*e));
}

bool qf_err_is_set(const qf_err *e)
{
	return e && e->rc != 0;
}

int qf_category_rc(qf_category c)
{
	switch (c) {
	case QF_CAT_NONE: return QF_OK;
	case QF_CAT_VALIDATION: return QF_EINVAL;
	case QF_CAT_TIMEOUT: return QF_ETIMEOUT;
	case QF_CAT_CONVERGENCE: return QF_ECONV;
	case QF_CAT_SYSTEM: return QF_ESYS;
	case QF_CAT_UNKNOWN: return QF_EUNKNOWN;
	}
	return QF_EUNKNOWN;
}

static int vset(qf_err *e, int rc, qf_category cat, const char *code,
                const char *fmt, va_list ap)
{
	if (!e)
		return rc;
	e->rc = rc;
	e->category = cat;
	qf_strlcpy(e->code, code ? code : "", sizeof(e->code));
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	e->user_action = (cat == QF_CAT_VALIDATION);
	e->detail[0] = '\0';
	return rc;
}

int qf_err_set(qf_err *e, qf_category cat, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vset(e, qf_category_rc(cat), cat, code, fmt, ap);
	va_end(ap);
	return rc;
}

int qf_err_setrc(qf_err *e, int rc, qf_category cat, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rc = vset(e, rc, cat, code, fmt, ap);
	va_end(ap);
	return rc;
}

void qf_err_prefix(qf_err *e, const char *fmt, ...)
{
	if (!e)
		return;
	char prefix[QF_MAX_ERR_MSG];
	char old[QF_MAX_ERR_MSG];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	qf_strlcpy(old, e->message, sizeof(old));
	/* Truncation keeps the start of the message, which is what matters. */
	(void)qf_snprintf(e->message, sizeof(e->message), "%s: %s", prefix, old);
}

void qf_err_detail(qf_err *e, const char *text, size_t len)
{
	if (!e)
		return;
	if (!text) {
		e->detail[0] = '\0';
		return;
	}
	if (len >= sizeof(e->detail)) {
		text += len - (sizeof(e->detail) - 1);
		len = sizeof(e->detail) - 1;
	}
	memcpy(e->detail, text, len);
	e->detail[len] = '\0';
}

static const char *const category_names[] = {
	[QF_CAT_NONE] = "none",
	[QF_CAT_VALIDATION] = "validation",
	[QF_CAT_TIMEOUT] = "timeout",
	[QF_CAT_CONVERGENCE] = "convergence",
	[QF_CAT_SYSTEM] = "system",
	[QF_CAT_UNKNOWN] = "unknown",
};

const char *qf_category_name(qf_category c)
{
	if ((unsigned)c < sizeof(category_names) / sizeof(category_names[0]))
		return category_names[c];
	return "unknown";
}

qf_category qf_category_parse(const char *s)
{
	for (unsigned i = 1; i < sizeof(category_names) / sizeof(category_names[0]); i++)
		if (s && strcmp(s, category_names[i]) == 0)
			return (qf_category)i;
	return QF_CAT_NONE;
}

int qf_err_exit_status(qf_category c)
{
	switch (c) {
	case QF_CAT_NONE: return 0;
	case QF_CAT_VALIDATION: return 10;
	case QF_CAT_TIMEOUT: return 11;
	case QF_CAT_CONVERGENCE: return 12;
	case QF_CAT_SYSTEM: return 13;
	case QF_CAT_UNKNOWN: return 14;
	}
	return 14;
}
