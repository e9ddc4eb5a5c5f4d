/* Accounts: register, log in (with the second factor when it is on), log
 * out, who am I, change the password. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "../http_int.h"
#include "qf/clock.h"
#include "qf/str.h"

/* An e-mail address as stored: trimmed, ASCII letters lowercased; a shape
 * check only (local@domain, no blanks). */
static int email_of(qf__req *r, char out[321])
{
	const char *e;
	int rc = qf__body_string(r, "email", true, 320, &e);
	if (rc)
		return rc;
	e = qf_lskip(e);
	qf_strlcpy(out, e, 321);
	qf_rstrip(out);
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	const char *at = strchr(out, '@');
	bool ok = at && at != out && at[1] && !strchr(at + 1, '@') && strlen(out) >= 3;
	for (const char *p = out; ok && *p; p++)
		ok = (unsigned char)*p > 0x20 && *p != 0x7f;
	if (!ok)
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.invalid",
		                "'email' must be an e-mail address (name@example.org)");
	return 0;
}

static json_t *user_doc(const json_t *u, const char *role)
{
	json_t *d = json_pack("{s:O,s:O,s:O,s:O,s:s}", "id", json_object_get(u, "id"), "email",
	                      json_object_get(u, "email"), "display_name",
	                      json_object_get(u, "display_name") ? json_object_get(u, "display_name")
	                                                         : json_null(),
	                      "is_admin", json_object_get(u, "is_admin"), "role", role);
	return d;
}

static int hash_password(qf__req *r, const char *pw, char out[QF_PWHASH_STR])
{
	qf__pw_enter(r->srv);
	int rc = qf_password_hash(pw, out, &r->err);
	qf__pw_leave(r->srv);
	return rc;
}

bool qf__password_ok(qf__req *r, const char *hash, const char *pw)
{
	qf__pw_enter(r->srv);
	bool ok;
	if (hash) {
		ok = qf_password_verify(hash, pw);
	} else {
		qf_password_verify_dummy(pw);
		ok = false;
	}
	qf__pw_leave(r->srv);
	return ok;
}

/* The invitation of a code: its row when valid and unused. */
static int find_invite(qf__req *r, const char *code, const char *email, json_t **out)
{
	*out = NULL;
	char hash[QF_SHA256_HEX];
	qf_token_hash(code, hash);
	qf_actor sys = qf_actor_system();
	json_t *where = json_pack("{s:s}", "code_hash", hash), *rows = NULL;
	qf_store_filter f = {.where = where, .limit = 1};
	int rc = qf_store_list(r->srv->store, &sys, "invites", &f, &rows, &r->err);
	json_decref(where);
	if (rc)
		return rc;
	json_t *inv = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	double exp = 0;
	const char *es = json_string_value(json_object_get(inv, "expires_at"));
	if (es)
		qf_clock_parse(es, &exp);
	const char *for_email = json_string_value(json_object_get(inv, "email"));
	if (!inv || !json_is_null(json_object_get(inv, "used_at")) || exp <= qf_clock_now() ||
	    (for_email && *for_email && strcmp(for_email, email))) {
		json_decref(inv);
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.invalid_invite",
		                "the invitation code is not valid (unknown, used, expired, or for another "
		                "address)");
	}
	*out = inv;
	return 0;
}

int h_register(qf__req *r)
{
	static const char *const allowed[] = {"email", "password", "display_name", "invite_code", NULL};
	char email[321];
	const char *pw, *name, *code;
	int rc;
	if ((rc = qf__body_only(r, allowed)) || (rc = email_of(r, email)) ||
	    (rc = qf__body_string(r, "password", true, QF_MAX_PASSWORD + 1, &pw)) ||
	    (rc = qf__body_string(r, "display_name", false, 200, &name)) ||
	    (rc = qf__body_string(r, "invite_code", false, 128, &code)))
		return rc;
	if ((rc = qf_password_check(pw, &r->err)))
		return rc;
	qf_server *s = r->srv;
	json_t *invite = NULL;
	const char *role = "researcher";
	bool first_only = s->o.registration == QF_REG_CLOSED ||
	                  (s->o.registration == QF_REG_INVITE && !code);
	if (code) {
		if ((rc = find_invite(r, code, email, &invite))) {
			qf__audit(r, "register", "users", NULL, json_pack("{s:s}", "email", email), "denied",
			          r->err.message);
			return rc;
		}
		role = json_string_value(json_object_get(invite, "role"));
		first_only = false;
	}
	char hash[QF_PWHASH_STR];
	if ((rc = hash_password(r, pw, hash))) {
		json_decref(invite);
		return rc;
	}
	json_t *u = NULL;
	rc = qf_store_user_register(s->store, email, name, hash, role ? role : "researcher", first_only,
	                            &u, &r->err);
	sodium_memzero(hash, sizeof(hash));
	if (rc) {
		json_decref(invite);
		if (!strcmp(r->err.code, "auth.registration_closed") && s->o.registration == QF_REG_INVITE)
			qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.registration_closed",
			         "registration needs an invitation: give its 'invite_code'");
		qf__audit(r, "register", "users", NULL, json_pack("{s:s}", "email", email), "denied",
		          r->err.message);
		return rc;
	}
	const char *uid = json_string_value(json_object_get(u, "id"));
	qf_actor sys = qf_actor_system();
	if (invite) {
		char ts[QF_TIME_STR];
		qf_clock_format(qf_clock_now(), ts);
		json_t *ch = json_pack("{s:s,s:s}", "used_at", ts, "used_by", uid);
		qf_store_update(s->store, &sys, "invites", json_string_value(json_object_get(invite, "id")),
		                ch, &r->err);
		json_decref(ch);
		const char *org = json_string_value(json_object_get(invite, "org_id"));
		if (org) {
			json_t *m = json_pack("{s:s,s:s,s:s}", "user_id", uid, "org_id", org, "role",
			                      !strcmp(json_string_value(json_object_get(u, "role")), "viewer")
			                          ? "viewer"
			                          : "researcher");
			qf_store_insert(s->store, &sys, "memberships", m, NULL, &r->err);
			json_decref(m);
		}
		qf_err_init(&r->err);
	}
	json_t *doc = json_pack("{s:o}", "user", user_doc(u, json_string_value(json_object_get(u, "role"))));
	if ((rc = qf__auth_start_session(r, uid, doc))) {
		json_decref(doc);
		json_decref(u);
		json_decref(invite);
		return rc;
	}
	r->actor = qf_actor_anonymous();
	qf__audit_user(r, uid, "register", "users", uid,
	               json_pack("{s:s,s:O,s:O}", "email", email, "role", json_object_get(u, "role"),
	                         "first_account", json_object_get(u, "first")),
	               "success", NULL);
	qf__writer_flush(s->writer);
	json_decref(u);
	json_decref(invite);
	return qf__reply_json(r, 201, doc);
}

int h_login(qf__req *r)
{
	static const char *const allowed[] = {"email", "password", "totp", "backup_code", NULL};
	char email[321];
	const char *pw, *totp, *backup;
	int rc;
	if ((rc = qf__body_only(r, allowed)) || (rc = email_of(r, email)) ||
	    (rc = qf__body_string(r, "password", true, QF_MAX_PASSWORD + 1, &pw)) ||
	    (rc = qf__body_string(r, "totp", false, 16, &totp)) ||
	    (rc = qf__body_string(r, "backup_code", false, 64, &backup)))
		return rc;
	qf_server *s = r->srv;
	char ekey[400], ikey[80];
	snprintf(ekey, sizeof(ekey), "e:%s", email);
	snprintf(ikey, sizeof(ikey), "i:%s", r->ip);
	double now = qf_clock_mono();
	pthread_mutex_lock(&s->limits_mu);
	double wait = fmax(qf__throttle_wait(s->throttle, ekey, now), qf__throttle_wait(s->throttle, ikey, now));
	pthread_mutex_unlock(&s->limits_mu);
	if (wait > 0) {
		char ra[32];
		snprintf(ra, sizeof(ra), "%d", (int)ceil(wait));
		qf__reply_header(r, "Retry-After", ra);
		qf__audit(r, "login_failed", "users", NULL, json_pack("{s:s}", "email", email), "denied",
		          "throttled");
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.throttled",
		                "too many failed logins: try again in %s s", ra);
	}
	qf_actor sys = qf_actor_system();
	json_t *where = json_pack("{s:s}", "email", email), *rows = NULL, *cred = NULL;
	qf_store_filter f = {.where = where, .limit = 1};
	rc = qf_store_list(s->store, &sys, "users", &f, &rows, &r->err);
	json_decref(where);
	if (rc)
		return rc;
	json_t *u = json_array_get(rows, 0);
	const char *uid = json_string_value(json_object_get(u, "id"));
	if (uid && qf_store_get(s->store, &sys, "user_credentials", uid, &cred, &r->err) == QF_ENOENT)
		qf_err_init(&r->err);
	const char *hash = json_string_value(json_object_get(cred, "password_hash"));
	bool ok = qf__password_ok(r, hash, pw);
	if (!ok) {
		pthread_mutex_lock(&s->limits_mu);
		qf__throttle_fail(s->throttle, ekey, qf_clock_mono());
		qf__throttle_fail(s->throttle, ikey, qf_clock_mono());
		pthread_mutex_unlock(&s->limits_mu);
		qf__audit_user(r, uid, "login_failed", "users", uid, json_pack("{s:s}", "email", email),
		               "denied", uid ? "wrong password" : "unknown e-mail address");
		json_decref(cred);
		json_decref(rows);
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.bad_credentials",
		                "wrong e-mail address or password");
	}
	if (json_is_true(json_object_get(u, "disabled"))) {
		qf__audit_user(r, uid, "login_failed", "users", uid, NULL, "denied", "account disabled");
		json_decref(cred);
		json_decref(rows);
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.disabled",
		                "this account is disabled: ask an administrator");
	}
	/* the second factor, when it is on: no session without it */
	if (json_is_true(json_object_get(cred, "totp_enabled")) &&
	    (rc = qf__2fa_login(r, uid, cred, totp, backup))) {
		json_decref(cred);
		json_decref(rows);
		return rc;
	}
	pthread_mutex_lock(&s->limits_mu);
	qf__throttle_clear(s->throttle, ekey);
	pthread_mutex_unlock(&s->limits_mu);
	/* stronger parameters than the stored hash was made with: replace it */
	if (qf_password_needs_rehash(hash)) {
		char fresh[QF_PWHASH_STR];
		qf_err e2;
		qf_err_init(&e2);
		if (!hash_password(r, pw, fresh)) {
			json_t *ch = json_pack("{s:s}", "password_hash", fresh);
			qf_store_update(s->store, &sys, "user_credentials", uid, ch, &e2);
			json_decref(ch);
		}
		sodium_memzero(fresh, sizeof(fresh));
	}
	json_decref(cred);
	char ts[QF_TIME_STR];
	qf_clock_format(qf_clock_now(), ts);
	json_t *ch = json_pack("{s:s}", "last_login_at", ts);
	qf_err e3;
	qf_err_init(&e3);
	qf_store_update(s->store, &sys, "users", uid, ch, &e3);
	json_decref(ch);
	const char *role = json_string_value(json_object_get(u, "role"));
	json_t *doc = json_pack("{s:o}", "user", user_doc(u, role ? role : "researcher"));
	if ((rc = qf__auth_start_session(r, uid, doc))) {
		json_decref(doc);
		json_decref(rows);
		return rc;
	}
	qf__audit_user(r, uid, "login", "users", uid, NULL, "success", NULL);
	qf__writer_flush(s->writer);
	json_decref(rows);
	return qf__reply_json(r, 200, doc);
}

int h_logout(qf__req *r)
{
	qf_server *s = r->srv;
	if (r->session_id[0]) {
		qf_actor sys = qf_actor_system();
		int rc = qf_store_delete(s->store, &sys, "auth_sessions", r->session_id, &r->err);
		if (rc && rc != QF_ENOENT)
			return rc;
		qf_err_init(&r->err);
	}
	qf__auth_forget(s, r->token_hash);
	qf__auth_clear_cookies(r);
	qf__audit(r, "logout", "auth_sessions", r->session_id[0] ? r->session_id : NULL, NULL,
	          "success", r->key_id[0] ? "an API key stays valid until revoked" : NULL);
	qf__writer_flush(s->writer);
	return qf__reply_json(r, 200, json_pack("{s:s}", "status", "logged out"));
}

int h_me(qf__req *r)
{
	json_t *u = NULL;
	int rc = qf__get_row(r, "users", r->actor.user_id, &u);
	if (rc)
		return rc;
	json_t *where = json_pack("{s:s}", "user_id", r->actor.user_id), *orgs = NULL;
	qf_store_filter f = {.where = where, .limit = 100};
	rc = qf_store_list(r->srv->store, &r->actor, "memberships", &f, &orgs, &r->err);
	json_decref(where);
	if (rc) {
		json_decref(u);
		return rc;
	}
	json_t *doc = user_doc(u, r->role);
	json_object_set_new(doc, "memberships", orgs);
	json_object_set_new(doc, "auth", json_string(r->auth == QF__AUTH_API_KEY ? "api_key"
	                                             : r->auth == QF__AUTH_COOKIE ? "cookie"
	                                                                          : "bearer"));
	json_object_set(doc, "created_at", json_object_get(u, "created_at"));
	json_object_set(doc, "last_login_at", json_object_get(u, "last_login_at"));
	json_decref(u);
	/* whether logging in needs a second factor (the credentials are the
	 * system's to read) */
	qf_actor sys = qf_actor_system();
	json_t *cred = NULL;
	qf_err e;
	qf_err_init(&e);
	qf_store_get(r->srv->store, &sys, "user_credentials", r->actor.user_id, &cred, &e);
	json_object_set_new(doc, "two_factor", json_boolean(json_is_true(json_object_get(cred, "totp_enabled"))));
	json_decref(cred);
	return qf__reply_json(r, 200, doc);
}

int h_password(qf__req *r)
{
	static const char *const allowed[] = {"current_password", "new_password", NULL};
	const char *cur, *pw;
	int rc;
	if ((rc = qf__body_only(r, allowed)) ||
	    (rc = qf__body_string(r, "current_password", true, QF_MAX_PASSWORD + 1, &cur)) ||
	    (rc = qf__body_string(r, "new_password", true, QF_MAX_PASSWORD + 1, &pw)))
		return rc;
	if ((rc = qf_password_check(pw, &r->err)))
		return rc;
	qf_server *s = r->srv;
	qf_actor sys = qf_actor_system();
	json_t *cred = NULL;
	if (qf_store_get(s->store, &sys, "user_credentials", r->actor.user_id, &cred, &r->err) == QF_ENOENT)
		qf_err_init(&r->err);
	bool ok = qf__password_ok(r, json_string_value(json_object_get(cred, "password_hash")), cur);
	json_decref(cred);
	if (!ok) {
		qf__audit(r, "password_change", "users", r->actor.user_id, NULL, "denied",
		          "wrong current password");
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.bad_credentials",
		                "the current password is wrong");
	}
	char hash[QF_PWHASH_STR];
	if ((rc = hash_password(r, pw, hash)))
		return rc;
	json_t *ch = json_pack("{s:s}", "password_hash", hash);
	rc = qf_store_update(s->store, &sys, "user_credentials", r->actor.user_id, ch, &r->err);
	json_decref(ch);
	sodium_memzero(hash, sizeof(hash));
	if (rc)
		return rc;
	/* every other session of the account ends */
	json_t *where = json_pack("{s:s}", "user_id", r->actor.user_id), *rows = NULL;
	qf_store_filter f = {.where = where, .limit = QF_STORE_MAX_LIMIT};
	if (!qf_store_list(s->store, &sys, "auth_sessions", &f, &rows, &r->err)) {
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row) {
			const char *id = json_string_value(json_object_get(row, "id"));
			if (id && strcmp(id, r->session_id))
				qf_store_delete(s->store, &sys, "auth_sessions", id, &r->err);
		}
	}
	json_decref(rows);
	json_decref(where);
	qf_err_init(&r->err);
	qf__auth_forget_user(s, r->actor.user_id);
	qf__audit(r, "password_change", "users", r->actor.user_id, NULL, "success", NULL);
	qf__writer_flush(s->writer);
	return qf__reply_json(r, 200, json_pack("{s:s}", "status", "password changed"));
}
