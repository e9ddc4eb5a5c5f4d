/*
 * The notification outbox (sql/{sqlite,postgres}/010_notifications.sql): rows written in
 * the transaction that records an event, following the user's preferences
 * at that moment, and drained by the sender of qforge serve
 * (src/notify/sender.c) through claim and settle below.
 *
 *   calculation_completed   a calculation outside a batch completed
 *                           (notification_on_completion)
 *   calculation_failed      ... failed for good (notification_on_error)
 *   batch_completed         a batch's last job finished
 *                           (notification_on_batch_completion); the jobs of
 *                           a batch do not notify one by one
 *   test                    asked for from the settings page
 *
 * One row per channel the user enabled: email (to users.email) and slack
 * (when a webhook is set). Writing a row is all a worker does: sending is
 * the server's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/log.h"
#include "qf/str.h"
#include "qf/uuid.h"
#include "store_int.h"

/* The preference that turns an event's notifications on (NULL: always). */
static const char *event_pref(const char *event)
{
	static const struct {
		const char *event, *pref;
	} map[] = {
		{"calculation_completed", "notification_on_completion"},
		{"calculation_failed", "notification_on_error"},
		{"batch_completed", "notification_on_batch_completion"},
		{"test", NULL},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i].event, event))
			return map[i].pref;
	return "";
}

/* Each channel and what must hold in user_preferences p for it. */
static const struct {
	const char *channel, *cond;
} channels[] = {
	{"email", "p.enable_email_notifications"},
	{"slack", "p.enable_slack_notifications AND p.slack_webhook_url IS NOT NULL AND "
	          "p.slack_webhook_url <> ''"},
};

int qf__outbox_enqueue(qf__db *db, const char *user_id, const char *event, const char *subject_id,
                       const json_t *payload, double now, int *queued, qf_err *err)
{
	if (queued)
		*queued = 0;
	const char *pref = event_pref(event);
	if (pref && !*pref)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid", "no notification event '%s'",
		                  event);
	char *text = json_dumps(payload, JSON_COMPACT);
	if (!text)
		return qf__oom(err);
	bool pg = qf__db_dialect(db) == QF__PG;
	int rc = 0;
	for (size_t c = 0; !rc && c < sizeof(channels) / sizeof(channels[0]); c++) {
		char id[QF_UUID_STR];
		qf_uuid_v7(id);
		qf__query q;
		qf__query_init(&q, qf__db_dialect(db));
		qf__query_sql(&q, "INSERT INTO notification_outbox (id, user_id, channel, event, subject_id, "
		                  "payload, status, attempts, next_attempt_at, created_at, updated_at) "
		                  "SELECT ");
		qf__query_text(&q, id);
		qf__query_sql(&q, "%s, p.user_id, '%s', ", pg ? "::uuid" : "", channels[c].channel);
		qf__query_text(&q, event);
		qf__query_sql(&q, ", ");
		if (subject_id) {
			qf__query_text(&q, subject_id);
			qf__query_sql(&q, "%s", pg ? "::uuid" : "");
		} else {
			qf__query_sql(&q, "NULL");
		}
		qf__query_sql(&q, ", ");
		qf__query_text(&q, text);
		qf__query_sql(&q, "%s, 'pending', 0, ", pg ? "::jsonb" : "");
		for (int k = 0; k < 3; k++) {
			qf__query_time(&q, now);
			qf__query_sql(&q, "%s%s", pg ? "::timestamptz" : "", k < 2 ? ", " : "");
		}
		qf__query_sql(&q, " FROM user_preferences p WHERE p.user_id = ");
		qf__query_text(&q, user_id);
		qf__query_sql(&q, " AND %s", channels[c].cond);
		if (pref)
			qf__query_sql(&q, " AND p.%s", pref);
		qf__stmt *st = NULL;
		rc = qf__query_run(&q, db, &st, err);
		if (rc >= 0) {
			if (queued)
				*queued += (int)qf__stmt_changes(st);
			rc = 0;
		}
		qf__stmt_finalize(st);
		qf__query_release(&q);
	}
	free(text);
	return rc;
}

static void set_text(json_t *o, const char *key, qf__stmt *st, int i)
{
	const char *v = qf__stmt_col_null(st, i) ? NULL : qf__stmt_col_text(st, i, NULL);
	json_object_set_new(o, key, v ? json_string(v) : json_null());
}

static void set_real(json_t *o, const char *key, qf__stmt *st, int i)
{
	json_object_set_new(o, key, qf__stmt_col_null(st, i) ? json_null()
	                                                    : json_real(qf__stmt_col_double(st, i)));
}

/* The row of sql (one '?': id): 1 with *st on it (the caller finalizes),
 * 0 when there is none, or the error (*st then closed). */
static int one_row(qf__db *db, const char *sql, const char *id, qf__stmt **st, qf_err *err)
{
	int rc = qf__db_prepare(db, sql, st, err);
	if (rc)
		return rc;
	qf__stmt_bind_str(*st, 1, id);
	rc = qf__stmt_step(*st, err);
	if (rc != 1) {
		qf__stmt_finalize(*st);
		*st = NULL;
	}
	return rc;
}

int qf__outbox_calculation(qf__db *db, const char *calc_id, double now, qf_err *err)
{
	qf__stmt *st;
	int rc = one_row(db,
	                 "SELECT c.owner_id, c.batch_id, c.status, c.method, c.task, c.total_energy, "
	                 "c.homo_lumo_gap, c.error_category, c.error_code, c.error_message, m.name FROM "
	                 "calculations c JOIN molecules m ON m.id = c.molecule_id WHERE c.id = ?",
	                 calc_id, &st, err);
	if (rc != 1)
		return rc;
	const char *status = qf__stmt_col_text(st, 2, NULL);
	bool done = status && !strcmp(status, "completed"), failed = status && !strcmp(status, "failed");
	if (!qf__stmt_col_null(st, 1) || (!done && !failed)) {
		rc = qf__stmt_done(st, err);
		qf__stmt_finalize(st);
		return rc;
	}
	char owner[QF_UUID_STR];
	qf_strlcpy(owner, qf__stmt_col_text(st, 0, NULL), sizeof(owner));
	json_t *p = json_object();
	if (!p) {
		qf__stmt_finalize(st);
		return qf__oom(err);
	}
	json_object_set_new(p, "calculation_id", json_string(calc_id));
	set_text(p, "name", st, 10);
	set_text(p, "status", st, 2);
	set_text(p, "method", st, 3);
	set_text(p, "task", st, 4);
	set_real(p, "total_energy", st, 5);
	set_real(p, "homo_lumo_gap", st, 6);
	if (failed) {
		set_text(p, "error_category", st, 7);
		set_text(p, "error_code", st, 8);
		set_text(p, "error_message", st, 9);
	}
	rc = qf__stmt_done(st, err);
	qf__stmt_finalize(st);
	if (!rc)
		rc = qf__outbox_enqueue(db, owner, done ? "calculation_completed" : "calculation_failed",
		                        calc_id, p, now, NULL, err);
	json_decref(p);
	return rc;
}

int qf__outbox_batch(qf__db *db, const char *batch_id, double now, qf_err *err)
{
	qf__stmt *st;
	int rc = one_row(
		db,
		"SELECT b.owner_id, b.name, b.status, b.total, "
		"(SELECT count(*) FROM calculations c WHERE c.batch_id = b.id AND c.status = 'completed'), "
		"(SELECT count(*) FROM calculations c WHERE c.batch_id = b.id AND c.status = 'failed'), "
		"(SELECT count(*) FROM calculations c WHERE c.batch_id = b.id AND c.status = 'cancelled') "
		"FROM batches b WHERE b.id = ?",
		batch_id, &st, err);
	if (rc != 1)
		return rc;
	const char *status = qf__stmt_col_text(st, 2, NULL);
	/* a batch its owner cancelled is no news to its owner */
	if (!status || strcmp(status, "completed")) {
		rc = qf__stmt_done(st, err);
		qf__stmt_finalize(st);
		return rc;
	}
	char owner[QF_UUID_STR];
	qf_strlcpy(owner, qf__stmt_col_text(st, 0, NULL), sizeof(owner));
	json_t *p = json_pack("{s:s,s:I,s:I,s:I,s:I}", "batch_id", batch_id, "total",
	                      (json_int_t)qf__stmt_col_int64(st, 3), "completed",
	                      (json_int_t)qf__stmt_col_int64(st, 4), "failed",
	                      (json_int_t)qf__stmt_col_int64(st, 5), "cancelled",
	                      (json_int_t)qf__stmt_col_int64(st, 6));
	if (p)
		set_text(p, "name", st, 1);
	rc = qf__stmt_done(st, err);
	qf__stmt_finalize(st);
	if (!p)
		return qf__oom(err);
	if (!rc)
		rc = qf__outbox_enqueue(db, owner, "batch_completed", batch_id, p, now, NULL, err);
	json_decref(p);
	return rc;
}

int qf_store_notify_test(qf_store *s, const qf_actor *a, int *queued, qf_err *err)
{
	*queued = 0;
	if (a->kind != QF_ACTOR_USER)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.forbidden",
		                  "sign in to send a test notification");
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	int rc = qf__tx_begin(s, &sys, true, &tx, err);
	if (rc)
		return rc;
	json_t *p = json_pack("{s:s}", "message", "a test notification from Quantum Forge");
	rc = p ? qf__outbox_enqueue(tx.db, a->user_id, "test", NULL, p, qf_clock_now(), queued, err)
	       : qf__oom(err);
	json_decref(p);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}

/* ---- the sender's side ---------------------------------------------------------------- */

void qf_outbox_item_release(qf_outbox_item *it)
{
	json_decref(it->payload);
	free(it->email);
	free(it->sealed_webhook);
	memset(it, 0, sizeof(*it));
}

static char *dup_text(qf__stmt *st, int i)
{
	const char *v = qf__stmt_col_null(st, i) ? NULL : qf__stmt_col_text(st, i, NULL);
	return v ? strdup(v) : NULL;
}

int qf_store_outbox_claim(qf_store *s, double now, double lease_s, int max, qf_outbox_item *out,
                          int *n, qf_err *err)
{
	*n = 0;
	if (max <= 0)
		return 0;
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	int rc = qf__tx_begin(s, &sys, true, &tx, err);
	if (rc)
		return rc;
	bool pg = qf__db_dialect(tx.db) == QF__PG;
	qf__query q;
	qf__query_init(&q, qf__db_dialect(tx.db));
	qf__query_sql(&q, "SELECT o.id, o.user_id, o.channel, o.event, o.subject_id, o.attempts, "
	                  "o.payload, u.email, p.slack_webhook_url FROM notification_outbox o JOIN users "
	                  "u ON u.id = o.user_id LEFT JOIN user_preferences p ON p.user_id = o.user_id "
	                  "WHERE o.status IN ('pending', 'sending') AND o.next_attempt_at <= ");
	qf__query_time(&q, now);
	qf__query_sql(&q, "%s ORDER BY o.next_attempt_at LIMIT %d%s", pg ? "::timestamptz" : "", max,
	              pg ? " FOR UPDATE OF o SKIP LOCKED" : "");
	qf__stmt *st = NULL, *up = NULL;
	rc = qf__query_run(&q, tx.db, &st, err);
	while (rc == 1 && *n < max) {
		qf_outbox_item *it = &out[*n];
		memset(it, 0, sizeof(*it));
		const char *v;
		qf_strlcpy(it->id, (v = qf__stmt_col_text(st, 0, NULL)) ? v : "", sizeof(it->id));
		qf_strlcpy(it->user_id, (v = qf__stmt_col_text(st, 1, NULL)) ? v : "", sizeof(it->user_id));
		qf_strlcpy(it->channel, (v = qf__stmt_col_text(st, 2, NULL)) ? v : "", sizeof(it->channel));
		qf_strlcpy(it->event, (v = qf__stmt_col_text(st, 3, NULL)) ? v : "", sizeof(it->event));
		qf_strlcpy(it->subject_id, (v = qf__stmt_col_text(st, 4, NULL)) ? v : "",
		           sizeof(it->subject_id));
		it->attempts = (int)qf__stmt_col_int64(st, 5) + 1;
		size_t len = 0;
		v = qf__stmt_col_text(st, 6, &len);
		it->payload = v ? json_loadb(v, len, 0, NULL) : NULL;
		if (!it->payload)
			it->payload = json_object();
		it->email = dup_text(st, 7);
		it->sealed_webhook = dup_text(st, 8);
		(*n)++;
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	if (rc < 0)
		goto out;
	rc = 0;
	/* Each claimed row is the claimer's until the lease ends. */
	if (*n && (rc = qf__db_prepare(tx.db,
	                               "UPDATE notification_outbox SET status = 'sending', attempts = "
	                               "attempts + 1, next_attempt_at = ?, updated_at = ? WHERE id = ?",
	                               &up, err)))
		goto out;
	char until[QF_TIME_STR], ts[QF_TIME_STR];
	qf__time_format(now + lease_s, until);
	qf__time_format(now, ts);
	for (int i = 0; i < *n && !rc; i++) {
		qf__stmt_reset(up);
		qf__stmt_bind_str(up, 1, until);
		qf__stmt_bind_str(up, 2, ts);
		qf__stmt_bind_str(up, 3, out[i].id);
		rc = qf__stmt_done(up, err);
	}
out:
	qf__stmt_finalize(up);
	if (!rc)
		rc = qf__tx_commit(&tx, err);
	else
		qf__tx_rollback(&tx);
	if (rc) {
		for (int i = 0; i < *n; i++)
			qf_outbox_item_release(&out[i]);
		*n = 0;
	}
	return rc;
}

int qf_store_outbox_settle(qf_store *s, const qf_outbox_item *it, qf_outbox_outcome o,
                           double next_at, const char *error, qf_err *err)
{
	static const char *const states[] = {"sent", "pending", "failed"};
	double now = qf_clock_now();
	char ts[QF_TIME_STR], next[QF_TIME_STR];
	qf__time_format(now, ts);
	qf__time_format(o == QF_OUTBOX_RETRY ? next_at : now, next);
	char why[QF_NOTIFY_MAX_ERROR];
	qf_strlcpy(why, error ? error : "", sizeof(why));
	qf__text_sanitize(why, strlen(why));
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	int rc = qf__tx_begin(s, &sys, true, &tx, err);
	if (rc)
		return rc;
	qf__stmt *st = NULL;
	/* guarded by the claim (status, attempts): a row reclaimed after its
	 * lease ran out is the new claimer's */
	if ((rc = qf__db_prepare(tx.db,
	                         "UPDATE notification_outbox SET status = ?, next_attempt_at = ?, "
	                         "last_error = ?, updated_at = ?, sent_at = ? WHERE id = ? AND status = "
	                         "'sending' AND attempts = ?",
	                         &st, err)))
		goto out;
	qf__stmt_bind_str(st, 1, states[o]);
	qf__stmt_bind_str(st, 2, next);
	qf__stmt_bind_str(st, 3, o == QF_OUTBOX_SENT ? NULL : why);
	qf__stmt_bind_str(st, 4, ts);
	qf__stmt_bind_str(st, 5, o == QF_OUTBOX_SENT ? ts : NULL);
	qf__stmt_bind_str(st, 6, it->id);
	qf__stmt_bind_int64(st, 7, it->attempts);
	if ((rc = qf__stmt_done(st, err)))
		goto out;
	if (qf__stmt_changes(st) != 1) {
		rc = qf_err_setrc(err, QF_ECONFLICT, QF_CAT_SYSTEM, "notify.stale",
		                  "notification %s was claimed again meanwhile", it->id);
		goto out;
	}
	qf__stmt_finalize(st);
	st = NULL;
	if (o == QF_OUTBOX_FAILED) {
		/* the final failure, where the user's audit log shows it */
		json_t *ch = json_pack("{s:s,s:s,s:i,s:s?}", "channel", it->channel, "event", it->event,
		                       "attempts", it->attempts, "subject_id",
		                       it->subject_id[0] ? it->subject_id : NULL);
		char *chs = ch ? json_dumps(ch, JSON_COMPACT) : NULL;
		json_decref(ch);
		if (!chs) {
			rc = qf__oom(err);
			goto out;
		}
		rc = qf__db_prepare(tx.db,
		                    "INSERT INTO user_audit_log (user_id, action, entity_type, entity_id, "
		                    "changes, status, reason, created_at) VALUES (?, 'notification_failed', "
		                    "'notification_outbox', ?, ?, 'denied', ?, ?)",
		                    &st, err);
		if (!rc) {
			qf__stmt_bind_str(st, 1, it->user_id);
			qf__stmt_bind_str(st, 2, it->id);
			qf__stmt_bind_str(st, 3, chs);
			qf__stmt_bind_str(st, 4, why);
			qf__stmt_bind_str(st, 5, ts);
			rc = qf__stmt_done(st, err);
		}
		free(chs);
	}
out:
	qf__stmt_finalize(st);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}
