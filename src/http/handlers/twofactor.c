/*
 * Two-factor login (include/qf/totp.h): enrol (a new secret, shown once,
 * kept sealed), confirm with a code (turns it on and shows ten backup codes
 * once), disable with the password and a code, and the second step of a
 * login (qf__2fa_login).
 *
 * A code is accepted for the current 30 s step or an adjacent one, and only
 * for a step later than the last one accepted: the store's conditional
 * UPDATE decides, so two requests with one code cannot both pass. Wrong
 * codes are throttled per user (QF_TOTP_MAX_FAILURES in
 * QF_TOTP_FAILURE_WINDOW_S, then 429). Every event is audited:
 * 2fa_enroll, 2fa_confirm, 2fa_disable, 2fa_success, 2fa_failure,
 * 2fa_backup_code_used (and 2fa_required, a login that gave no code).
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../http_int.h"
#include "qf/clock.h"
#include "qf/str.h"
#include "qf/totp.h"

/* What a code is checked for. */
typedef enum check_kind {
	CHECK_LOGIN,   /* a login: the step is used */
	CHECK_CONFIRM, /* turning it on: the caller activates with the step */
	CHECK_DISABLE, /* turning it off: the step is used */
} check_kind;

static const char *const kind_names[] = {"login", "confirm", "disable"};

static void throttle_key(const char *uid, char out[80])
{
	snprintf(out, 80, "2fa:%s", uid);
}

/* A failed attempt: counted, audited, and the answer's error. */
static int failed(qf__req *r, const char *uid, check_kind kind, const char *why)
{
	char key[80];
	throttle_key(uid, key);
	pthread_mutex_lock(&r->srv->limits_mu);
	qf__throttle_window_fail(r->srv->totp_throttle, key, QF_TOTP_FAILURE_WINDOW_S, qf_clock_mono());
	pthread_mutex_unlock(&r->srv->limits_mu);
	qf__audit_user(r, uid, "2fa_failure", "users", uid, json_pack("{s:s}", "during", kind_names[kind]),
	               "denied", why);
	qf__writer_flush(r->srv->writer);
	return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.2fa_invalid",
	                "the two-factor code is wrong, expired or already used");
}

/* A code passed: the user's failures are forgiven. */
static int passed(qf__req *r, const char *uid)
{
	char key[80];
	throttle_key(uid, key);
	pthread_mutex_lock(&r->srv->limits_mu);
	qf__throttle_clear(r->srv->totp_throttle, key);
	pthread_mutex_unlock(&r->srv->limits_mu);
	return 0;
}

/* 429 with Retry-After when the user's failures are over the limit. */
static int throttled(qf__req *r, const char *uid, check_kind kind)
{
	char key[80];
	throttle_key(uid, key);
	pthread_mutex_lock(&r->srv->limits_mu);
	double wait = qf__throttle_window_wait(r->srv->totp_throttle, key, QF_TOTP_MAX_FAILURES,
	                                       QF_TOTP_FAILURE_WINDOW_S, qf_clock_mono());
	pthread_mutex_unlock(&r->srv->limits_mu);
	if (wait <= 0)
		return 0;
	char ra[32];
	snprintf(ra, sizeof(ra), "%d", (int)ceil(wait));
	qf__reply_header(r, "Retry-After", ra);
	qf__audit_user(r, uid, "2fa_failure", "users", uid, json_pack("{s:s}", "during", kind_names[kind]),
	               "denied", "throttled");
	qf__writer_flush(r->srv->writer);
	return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.throttled",
	                "too many wrong two-factor codes: try again in %s s", ra);
}

/* The secret of a credentials row, opened (heap, base32). */
static int open_secret(qf__req *r, const json_t *cred, char **out)
{
	*out = NULL;
	const char *sealed = json_string_value(json_object_get(cred, "totp_secret"));
	if (!r->srv->have_secret_key)
		return qf__fail(r, QF_EINVAL, QF_CAT_SYSTEM, "http.unavailable",
		                "this server has no secret key to keep two-factor secrets with");
	*out = qf_secret_open(r->srv->secret_key, sealed, &r->err);
	return *out ? 0 : r->err.rc ? r->err.rc : QF_ESYS;
}

/* Check a code (or, unless confirming, a backup code) of user uid. 0 when
 * it passes: *step gets the code's step (-1 for a backup code), already
 * used unless kind is CHECK_CONFIRM. */
static int check(qf__req *r, const char *uid, const json_t *cred, const char *code,
                 const char *backup, check_kind kind, int64_t *step)
{
	*step = -1;
	int rc = throttled(r, uid, kind);
	if (rc)
		return rc;
	qf_store *st = r->srv->store;
	bool done = false;
	if (code) {
		char *secret = NULL;
		if ((rc = open_secret(r, cred, &secret)))
			return rc;
		bool ok = qf_totp_verify(secret, code, qf_clock_now(), step);
		sodium_memzero(secret, strlen(secret));
		free(secret);
		if (!ok)
			return failed(r, uid, kind, "wrong code");
		if (kind == CHECK_CONFIRM)
			return passed(r, uid);
		if ((rc = qf_store_totp_use_step(st, uid, *step, &done, &r->err)))
			return rc;
		if (!done)
			return failed(r, uid, kind, "code already used");
		return passed(r, uid);
	}
	char hash[QF_SHA256_HEX];
	if (!backup || kind == CHECK_CONFIRM || !qf_backup_code_hash(backup, hash))
		return failed(r, uid, kind, backup ? "malformed backup code" : "no code");
	if ((rc = qf_store_totp_use_backup(st, uid, hash, &done, &r->err)))
		return rc;
	if (!done)
		return failed(r, uid, kind, "unknown or used backup code");
	qf__audit_user(r, uid, "2fa_backup_code_used", "users", uid,
	               json_pack("{s:s}", "during", kind_names[kind]), "success", NULL);
	return passed(r, uid);
}

/* The caller's credentials row (the system reads it). */
static int credentials(qf__req *r, json_t **cred)
{
	qf_actor sys = qf_actor_system();
	int rc = qf_store_get(r->srv->store, &sys, "user_credentials", r->actor.user_id, cred, &r->err);
	if (rc == QF_ENOENT)
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.2fa_not_enrolled",
		                "this account has no password, so no second factor either");
	return rc;
}

int qf__2fa_login(qf__req *r, const char *uid, const json_t *cred, const char *totp,
                  const char *backup)
{
	if (!totp && !backup) {
		qf__audit_user(r, uid, "2fa_required", "users", uid, NULL, "denied",
		               "password right, no two-factor code given");
		qf__writer_flush(r->srv->writer);
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.2fa_required",
		                "this account uses two-factor login: give 'totp' (the code of the "
		                "authenticator app) or 'backup_code' with the password");
	}
	int64_t step;
	int rc = check(r, uid, cred, totp, totp ? NULL : backup, CHECK_LOGIN, &step);
	if (rc)
		return rc;
	qf__audit_user(r, uid, "2fa_success", "users", uid,
	               json_pack("{s:s}", "with", totp ? "totp" : "backup_code"), "success", NULL);
	return 0;
}

int h_2fa_enroll(qf__req *r)
{
	json_t *cred = NULL, *user = NULL;
	int rc = credentials(r, &cred);
	if (rc)
		return rc;
	bool on = json_is_true(json_object_get(cred, "totp_enabled"));
	json_decref(cred);
	if (on)
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.2fa_enabled",
		                "two-factor login is on already: disable it first to enrol again");
	if (!r->srv->have_secret_key)
		return qf__fail(r, QF_EINVAL, QF_CAT_SYSTEM, "http.unavailable",
		                "this server has no secret key to keep two-factor secrets with");
	if ((rc = qf__get_row(r, "users", r->actor.user_id, &user)))
		return rc;
	char secret[QF_TOTP_SECRET_B32];
	char *sealed = NULL, *uri = NULL;
	if ((rc = qf_totp_secret_new(secret, &r->err)))
		goto out;
	sealed = qf_secret_seal(r->srv->secret_key, secret);
	uri = qf_totp_uri(json_string_value(json_object_get(user, "email")), secret);
	if (!sealed || !uri) {
		rc = qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		goto out;
	}
	bool done = false;
	if ((rc = qf_store_totp_enroll(r->srv->store, r->actor.user_id, sealed, &done, &r->err)))
		goto out;
	if (!done) {
		rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.2fa_enabled",
		              "two-factor login is on already: disable it first to enrol again");
		goto out;
	}
	qf__audit(r, "2fa_enroll", "users", r->actor.user_id, NULL, "success", NULL);
	/* the only time the secret is shown: the store keeps it sealed */
	rc = qf__reply_json(r, 200,
	                    json_pack("{s:s,s:s,s:s,s:i,s:i}", "secret", secret, "otpauth_uri", uri,
	                              "status", "pending", "digits", QF_TOTP_DIGITS, "period",
	                              QF_TOTP_STEP_S));
out:
	sodium_memzero(secret, sizeof(secret));
	free(sealed);
	if (uri) {
		sodium_memzero(uri, strlen(uri));
		free(uri);
	}
	json_decref(user);
	return rc;
}

int h_2fa_confirm(qf__req *r)
{
	static const char *const allowed[] = {"code", NULL};
	const char *code;
	json_t *cred = NULL;
	int rc;
	if ((rc = qf__body_only(r, allowed)) ||
	    (rc = qf__body_string(r, "code", true, 16, &code)) || (rc = credentials(r, &cred)))
		return rc;
	const char *uid = r->actor.user_id;
	if (json_is_true(json_object_get(cred, "totp_enabled")))
		rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.2fa_enabled",
		              "two-factor login is on already");
	else if (!json_string_value(json_object_get(cred, "totp_secret")))
		rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.2fa_not_enrolled",
		              "enrol first (POST /api/v1/auth/2fa/enroll), then confirm with a code");
	int64_t step = -1;
	if (!rc)
		rc = check(r, uid, cred, code, NULL, CHECK_CONFIRM, &step);
	json_decref(cred);
	if (rc)
		return rc;
	char codes[QF_BACKUP_CODES][QF_BACKUP_CODE_STR], hashes[QF_BACKUP_CODES][QF_SHA256_HEX];
	const char *hp[QF_BACKUP_CODES];
	for (int i = 0; i < QF_BACKUP_CODES; i++) {
		qf_backup_code_new(codes[i]);
		qf_backup_code_hash(codes[i], hashes[i]);
		hp[i] = hashes[i];
	}
	bool done = false;
	rc = qf_store_totp_activate(r->srv->store, uid, step, hp, QF_BACKUP_CODES, &done, &r->err);
	json_t *list = json_array();
	for (int i = 0; !rc && done && list && i < QF_BACKUP_CODES; i++)
		json_array_append_new(list, json_string(codes[i]));
	sodium_memzero(codes, sizeof(codes));
	if (rc || !done) {
		json_decref(list);
		/* confirmed meanwhile by another request, or this step was used */
		return rc ? rc : failed(r, uid, CHECK_CONFIRM, "code already used");
	}
	qf__audit(r, "2fa_confirm", "users", uid, NULL, "success", NULL);
	qf__writer_flush(r->srv->writer);
	/* the only time the backup codes are shown: the store keeps hashes */
	return qf__reply_json(r, 200, json_pack("{s:b,s:o}", "enabled", true, "backup_codes", list));
}

int h_2fa_disable(qf__req *r)
{
	static const char *const allowed[] = {"password", "code", "backup_code", NULL};
	const char *pw, *code, *backup;
	json_t *cred = NULL;
	int rc;
	if ((rc = qf__body_only(r, allowed)) ||
	    (rc = qf__body_string(r, "password", true, QF_MAX_PASSWORD + 1, &pw)) ||
	    (rc = qf__body_string(r, "code", false, 16, &code)) ||
	    (rc = qf__body_string(r, "backup_code", false, 64, &backup)) ||
	    (rc = credentials(r, &cred)))
		return rc;
	const char *uid = r->actor.user_id;
	int64_t step;
	if (!json_is_true(json_object_get(cred, "totp_enabled")))
		rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.2fa_not_enabled",
		              "two-factor login is not on");
	else if (!code && !backup)
		rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		              "give 'code' (the authenticator app's) or 'backup_code' with the password");
	else if (!(rc = throttled(r, uid, CHECK_DISABLE)) &&
	         !qf__password_ok(r, json_string_value(json_object_get(cred, "password_hash")), pw)) {
		failed(r, uid, CHECK_DISABLE, "wrong password");
		rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.bad_credentials",
		              "the password is wrong");
	}
	if (!rc)
		rc = check(r, uid, cred, code, code ? NULL : backup, CHECK_DISABLE, &step);
	json_decref(cred);
	if (rc || (rc = qf_store_totp_disable(r->srv->store, uid, &r->err)))
		return rc;
	qf__audit(r, "2fa_disable", "users", uid, json_pack("{s:s}", "with", code ? "totp" : "backup_code"),
	          "success", NULL);
	qf__writer_flush(r->srv->writer);
	return qf__reply_json(r, 200, json_pack("{s:b}", "enabled", false));
}
