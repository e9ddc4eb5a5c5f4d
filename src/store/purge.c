/*
 * Retention (qf_store_purge), as of an injected `now` so that tests pin it:
 *
 *   user_sessions        last_activity older than 7 days
 *   performance_metrics  "timestamp" older than 90 days
 *   api_usage_logs       created_at older than 90 days
 *   user_audit_log       created_at older than 365 days (PostgreSQL: through
 *                        qf_purge_audit(), since the application role may
 *                        not delete audit entries)
 *   auth_sessions        expired (expires_at before now)
 *
 * Calculations and everything about them are kept forever (science).
 * One transaction for all tables.
 */
#include <string.h>

#include "store_int.h"

#define DAY 86400.0

typedef struct retention {
	const char *table;
	const char *column;
	double age; /* seconds */
} retention;

static const retention rules[] = {
	{"user_sessions", "last_activity", 7 * DAY},
	{"performance_metrics", "timestamp", 90 * DAY},
	{"api_usage_logs", "created_at", 90 * DAY},
	{"user_audit_log", "created_at", 365 * DAY},
	{"auth_sessions", "expires_at", 0},
};

static int purge_one(qf__db *db, const retention *r, double now, int64_t *n, qf_err *err)
{
	char before[QF_TIME_STR];
	qf__time_format(now - r->age, before);
	bool pg = qf__db_dialect(db) == QF__PG;
	char sql[256];
	bool audit = !strcmp(r->table, "user_audit_log");
	if (pg && audit)
		snprintf(sql, sizeof(sql), "SELECT qf_purge_audit(?)");
	else
		snprintf(sql, sizeof(sql), "DELETE FROM \"%s\" WHERE \"%s\" < ?", r->table, r->column);
	qf__stmt *st;
	int rc = qf__db_prepare(db, sql, &st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, before);
	rc = qf__stmt_step(st, err);
	if (rc == 1) {
		*n = qf__stmt_col_int64(st, 0);
		while ((rc = qf__stmt_step(st, err)) > 0)
			;
	} else if (rc == 0) {
		*n = qf__stmt_changes(st);
	}
	qf__stmt_finalize(st);
	if (rc)
		qf_err_prefix(err, "purging %s", r->table);
	return rc;
}

int qf_store_purge(qf_store *s, const qf_actor *a, double now, json_t **counts, qf_err *err)
{
	if (counts)
		*counts = NULL;
	if (a->kind != QF_ACTOR_SYSTEM)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.forbidden",
		                  "purging old rows is done by the platform itself (the system actor)");
	if (!(now > 0))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "purge needs the current time in seconds since 1970");
	json_t *c = json_object();
	if (!c)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	qf__tx tx;
	int rc = qf__tx_begin(s, a, true, &tx, err);
	if (rc) {
		json_decref(c);
		return rc;
	}
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		int64_t n = 0;
		if ((rc = purge_one(tx.db, &rules[i], now, &n, err)))
			break;
		json_object_set_new(c, rules[i].table, json_integer(n));
	}
	if (rc) {
		qf__tx_rollback(&tx);
		json_decref(c);
		return rc;
	}
	if ((rc = qf__tx_commit(&tx, err))) {
		json_decref(c);
		return rc;
	}
	if (counts)
		*counts = c;
	else
		json_decref(c);
	return 0;
}
