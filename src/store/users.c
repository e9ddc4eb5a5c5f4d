/*
 * Accounts: registering a user with its credentials in one transaction,
 * where the first account of an empty store becomes its administrator
 * (the built-in local user, which cannot sign in, does not count). Two
 * registrations at once on an empty store serialise (SQLite: BEGIN
 * IMMEDIATE; PostgreSQL: an advisory lock), so there is one first account.
 */
#include <string.h>

#include "qf/uuid.h"
#include "store_int.h"

/* pg_advisory_xact_lock key of registration (any constant of our own). */
#define REGISTER_LOCK 7186001

int qf_store_user_register(qf_store *s, const char *email, const char *display_name,
                           const char *password_hash, const char *role, bool first_only,
                           json_t **out, qf_err *err)
{
	*out = NULL;
	if (!email || !*email || strlen(email) > 320 || !qf__text_valid(email, strlen(email)))
		return qf_err_set(err, QF_CAT_VALIDATION, "auth.invalid", "an e-mail address is needed");
	if (!role || (strcmp(role, "researcher") && strcmp(role, "viewer") && strcmp(role, "admin")))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "a role is admin, researcher or viewer");
	if (display_name && (strlen(display_name) > 200 ||
	                     !qf__text_valid(display_name, strlen(display_name))))
		return qf_err_set(err, QF_CAT_VALIDATION, "auth.invalid",
		                  "a display name is at most 200 bytes of text");
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	int rc = qf__tx_begin(s, &sys, true, &tx, err);
	if (rc)
		return rc;
	bool pg = s->dialect == QF__PG;
	qf__stmt *st = NULL;
	if (pg) {
		char sql[96];
		snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%d)", REGISTER_LOCK);
		if ((rc = qf__db_exec(tx.db, sql, err)))
			goto out;
	}
	if ((rc = qf__db_prepare(tx.db,
	                         "SELECT count(*), coalesce(sum(CASE WHEN lower(email) = lower(?) THEN 1 "
	                         "ELSE 0 END), 0) FROM users WHERE id <> ?",
	                         &st, err)))
		goto out;
	qf__stmt_bind_str(st, 1, email);
	qf__stmt_bind_str(st, 2, QF_LOCAL_USER_ID);
	if ((rc = qf__stmt_step(st, err)) < 0)
		goto out;
	int64_t users = qf__stmt_col_int64(st, 0), taken = qf__stmt_col_int64(st, 1);
	qf__stmt_finalize(st);
	st = NULL;
	if (taken) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "auth.email_taken",
		                "an account with this e-mail address exists: log in, or use another");
		goto out;
	}
	bool first = users == 0;
	if (!first && first_only) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "auth.registration_closed",
		                "registration is closed: ask an administrator for an account");
		goto out;
	}
	if (first)
		role = "admin";
	char id[QF_UUID_STR], ts[QF_TIME_STR];
	qf_uuid_v7(id);
	qf__time_format(qf_clock_now(), ts);
	bool admin = !strcmp(role, "admin");
	if ((rc = qf__db_prepare(tx.db,
	                         pg ? "INSERT INTO users (id, email, display_name, is_admin, disabled, role, "
	                              "created_at) VALUES (?, ?, ?, ?, false, ?, ?)"
	                            : "INSERT INTO users (id, email, display_name, is_admin, disabled, role, "
	                              "created_at) VALUES (?, ?, ?, ?, 0, ?, ?)",
	                         &st, err)))
		goto out;
	qf__stmt_bind_str(st, 1, id);
	qf__stmt_bind_str(st, 2, email);
	qf__stmt_bind_str(st, 3, display_name);
	qf__stmt_bind_bool(st, 4, admin);
	qf__stmt_bind_str(st, 5, role);
	qf__stmt_bind_str(st, 6, ts);
	if ((rc = qf__stmt_done(st, err)))
		goto out;
	qf__stmt_finalize(st);
	st = NULL;
	if (password_hash) {
		if ((rc = qf__db_prepare(tx.db,
		                         "INSERT INTO user_credentials (user_id, password_hash, updated_at) "
		                         "VALUES (?, ?, ?)",
		                         &st, err)))
			goto out;
		qf__stmt_bind_str(st, 1, id);
		qf__stmt_bind_str(st, 2, password_hash);
		qf__stmt_bind_str(st, 3, ts);
		if ((rc = qf__stmt_done(st, err)))
			goto out;
	}
	*out = json_pack("{s:s,s:s,s:s?,s:b,s:s,s:s,s:b}", "id", id, "email", email, "display_name",
	                 display_name, "is_admin", admin, "role", role, "created_at", ts, "first", first);
	if (!*out)
		rc = qf__oom(err);
out:
	qf__stmt_finalize(st);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	if ((rc = qf__tx_commit(&tx, err))) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}
