/* Database errors as qf_err: one mapping for both drivers (see db.h). */
#include <string.h>

#include "db.h"
#include "qf/log.h"
#include "qf/str.h"

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int qf__db_error(qf_err *err, const char *state, const char *what, const char *dbmsg)
{
	char msg[QF_ERR_TAIL_BYTES];
	qf_strlcpy(msg, dbmsg ? dbmsg : "", sizeof(msg));
	qf_rstrip(msg);
	int rc;
	if (!strcmp(state, "23505")) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "store.duplicate",
		                "%s: a row with the same unique value already exists", what);
	} else if (starts(state, "23")) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "store.constraint",
		                "%s: the row breaks a rule of the data model (a referenced row is missing, "
		                "a required value is absent or a value is out of its range)", what);
	} else if (!strcmp(state, "42501")) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "store.forbidden", "%s: not permitted", what);
	} else if (starts(state, "22")) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                "%s: a value does not have the form its column needs", what);
	} else if (starts(state, "54")) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "store.too_large", "%s: a value is too large", what);
	} else if (!strcmp(state, "40001") || !strcmp(state, "40P01")) {
		rc = qf_err_setrc(err, QF_ECONFLICT, QF_CAT_SYSTEM, "store.conflict",
		                  "%s: conflicted with a concurrent change; retry", what);
	} else if (!strcmp(state, "55P03")) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "store.busy",
		                "%s: the database stayed locked by another process: %s", what, msg);
	} else if (starts(state, "08") || starts(state, "57P")) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "store.unavailable",
		                "%s: the database is unavailable: %s", what, msg);
	} else if (!strcmp(state, "53200")) {
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "%s: out of memory", what);
	} else {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "store.error", "%s failed: %s", what, msg);
	}
	/* The database's own words may name values of rows the caller cannot
	 * see (a duplicate key): they are operator detail, and go to the log. */
	qf_err_detail(err, msg, strlen(msg));
	qf_log_debug("store", "%s: [%s] %s", what, state, msg);
	return rc;
}
