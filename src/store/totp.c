/*
 * Two-factor login's state (include/qf/store.h, "two-factor login"): the
 * TOTP columns of user_credentials and the table user_backup_codes. Every
 * change is one conditional UPDATE whose WHERE clause says when it may
 * happen (not yet enabled, a later step, a code not yet used), so that two
 * requests at once are decided by the database: one changes the row, the
 * other finds nothing to change.
 */
#include <string.h>

#include "store_int.h"

/* Prepare and run q in tx, then release it; *changes (may be NULL) gets
 * the rows it changed. */
static int run(qf__tx *tx, qf__query *q, int64_t *changes, qf_err *err)
{
	qf__stmt *st = NULL;
	int rc = q->rc ? qf__oom(err) : qf__query_prepare(q, tx->db, &st, err);
	if (!rc)
		rc = qf__stmt_done(st, err);
	if (!rc && changes)
		*changes = qf__stmt_changes(st);
	qf__stmt_finalize(st);
	qf__query_release(q);
	return rc;
}

/* Commit tx, or roll it back when rc says it failed. */
static int finish(qf__tx *tx, int rc, qf_err *err)
{
	if (rc) {
		qf__tx_rollback(tx);
		return rc;
	}
	return qf__tx_commit(tx, err);
}

/* A writing transaction of the system's (every change here is one). */
static int begin(qf_store *s, qf__tx *tx, qf_err *err)
{
	qf_actor sys = qf_actor_system();
	return qf__tx_begin(s, &sys, true, tx, err);
}

/* Run q alone in a transaction of the system's; *done: it changed one row. */
static int run_alone(qf_store *s, qf__query *q, bool *done, qf_err *err)
{
	*done = false;
	qf__tx tx;
	int rc = begin(s, &tx, err);
	if (rc) {
		qf__query_release(q);
		return rc;
	}
	int64_t n = 0;
	rc = run(&tx, q, &n, err);
	*done = !rc && n == 1;
	return finish(&tx, rc, err);
}

/* " WHERE user_id = ? AND totp_enabled = ?" */
static void where_user(qf__query *q, const char *user_id, bool enabled)
{
	qf__query_sql(q, " WHERE user_id = ");
	qf__query_text(q, user_id);
	qf__query_sql(q, " AND totp_enabled = ");
	qf__query_bool(q, enabled);
}

/* " AND (totp_last_step IS NULL OR totp_last_step < step)" */
static void later_step(qf__query *q, int64_t step)
{
	qf__query_sql(q, " AND (totp_last_step IS NULL OR totp_last_step < ");
	qf__query_int(q, step);
	qf__query_sql(q, ")");
}

/* Delete the user's backup codes in tx. */
static int drop_codes(qf__tx *tx, qf__dialect d, const char *user_id, qf_err *err)
{
	qf__query q;
	qf__query_init(&q, d);
	qf__query_sql(&q, "DELETE FROM user_backup_codes WHERE user_id = ");
	qf__query_text(&q, user_id);
	return run(tx, &q, NULL, err);
}

int qf_store_totp_enroll(qf_store *s, const char *user_id, const char *sealed_secret, bool *done,
                         qf_err *err)
{
	qf__query q;
	qf__query_init(&q, s->dialect);
	qf__query_sql(&q, "UPDATE user_credentials SET totp_secret = ");
	qf__query_text(&q, sealed_secret);
	qf__query_sql(&q, ", totp_last_step = NULL, totp_confirmed_at = NULL, updated_at = ");
	qf__query_time(&q, qf_clock_now());
	where_user(&q, user_id, false);
	return run_alone(s, &q, done, err);
}

int qf_store_totp_activate(qf_store *s, const char *user_id, int64_t step,
                           const char *const *code_hashes, int ncodes, bool *done, qf_err *err)
{
	*done = false;
	qf__tx tx;
	int rc = begin(s, &tx, err);
	if (rc)
		return rc;
	double now = qf_clock_now();
	qf__query q;
	qf__query_init(&q, s->dialect);
	qf__query_sql(&q, "UPDATE user_credentials SET totp_enabled = ");
	qf__query_bool(&q, true);
	qf__query_sql(&q, ", totp_last_step = ");
	qf__query_int(&q, step);
	qf__query_sql(&q, ", totp_confirmed_at = ");
	qf__query_time(&q, now);
	qf__query_sql(&q, ", updated_at = ");
	qf__query_time(&q, now);
	where_user(&q, user_id, false);
	qf__query_sql(&q, " AND totp_secret IS NOT NULL");
	later_step(&q, step);
	int64_t n = 0;
	rc = run(&tx, &q, &n, err);
	if (!rc && n == 1) {
		rc = drop_codes(&tx, s->dialect, user_id, err);
		for (int i = 0; !rc && i < ncodes; i++) {
			qf__query_init(&q, s->dialect);
			qf__query_sql(&q, "INSERT INTO user_backup_codes (user_id, code_hash, created_at) VALUES (");
			qf__query_text(&q, user_id);
			qf__query_sql(&q, ", ");
			qf__query_text(&q, code_hashes[i]);
			qf__query_sql(&q, ", ");
			qf__query_time(&q, now);
			qf__query_sql(&q, ")");
			rc = run(&tx, &q, NULL, err);
		}
		*done = !rc;
	}
	return finish(&tx, rc, err);
}

int qf_store_totp_use_step(qf_store *s, const char *user_id, int64_t step, bool *done, qf_err *err)
{
	qf__query q;
	qf__query_init(&q, s->dialect);
	qf__query_sql(&q, "UPDATE user_credentials SET totp_last_step = ");
	qf__query_int(&q, step);
	where_user(&q, user_id, true);
	later_step(&q, step);
	return run_alone(s, &q, done, err);
}

int qf_store_totp_use_backup(qf_store *s, const char *user_id, const char *code_hash, bool *done,
                             qf_err *err)
{
	qf__query q;
	qf__query_init(&q, s->dialect);
	qf__query_sql(&q, "UPDATE user_backup_codes SET used_at = ");
	qf__query_time(&q, qf_clock_now());
	qf__query_sql(&q, " WHERE user_id = ");
	qf__query_text(&q, user_id);
	qf__query_sql(&q, " AND code_hash = ");
	qf__query_text(&q, code_hash);
	qf__query_sql(&q, " AND used_at IS NULL");
	return run_alone(s, &q, done, err);
}

int qf_store_totp_disable(qf_store *s, const char *user_id, qf_err *err)
{
	qf__tx tx;
	int rc = begin(s, &tx, err);
	if (rc)
		return rc;
	qf__query q;
	qf__query_init(&q, s->dialect);
	qf__query_sql(&q, "UPDATE user_credentials SET totp_enabled = ");
	qf__query_bool(&q, false);
	qf__query_sql(&q, ", totp_secret = NULL, totp_last_step = NULL, totp_confirmed_at = NULL, "
	                  "updated_at = ");
	qf__query_time(&q, qf_clock_now());
	qf__query_sql(&q, " WHERE user_id = ");
	qf__query_text(&q, user_id);
	rc = run(&tx, &q, NULL, err);
	if (!rc)
		rc = drop_codes(&tx, s->dialect, user_id, err);
	return finish(&tx, rc, err);
}
