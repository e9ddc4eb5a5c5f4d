/* One's own account: preferences, the saved UI state, API keys. */
#include <stdlib.h>
#include <string.h>

#include "../http_int.h"
#include "qf/clock.h"
#include "qf/str.h"

/* ---- preferences ------------------------------------------------------------------- */

/* What a client may set (user_preferences in 001_schema.sql); the
 * database's CHECK constraints keep the values in range. */
static const char *const pref_keys[] = {
	"display_units",  "display_precision", "default_optimization_level", "default_method",
	"default_solvation", "theme",          "language", "enable_email_notifications",
	"enable_slack_notifications", "slack_webhook_url", "notification_on_completion",
	"notification_on_error", "notification_on_batch_completion", NULL,
};

/* The caller's row, made with the defaults the first time it is asked for
 * (two first requests at once: one inserts, the other finds it). */
static int prefs_row(qf__req *r, json_t **out)
{
	qf_store *st = r->srv->store;
	int rc = qf_store_get(st, &r->actor, "user_preferences", r->actor.user_id, out, &r->err);
	if (rc != QF_ENOENT)
		return rc;
	qf_err_init(&r->err);
	json_t *row = json_pack("{s:s}", "user_id", r->actor.user_id);
	rc = qf_store_insert(st, &r->actor, "user_preferences", row, out, &r->err);
	json_decref(row);
	if (rc && !strcmp(r->err.code, "store.conflict")) {
		qf_err_init(&r->err);
		rc = qf_store_get(st, &r->actor, "user_preferences", r->actor.user_id, out, &r->err);
	}
	return rc;
}

/* The row as shown: the webhook address masked (it is kept sealed; only the
 * system actor reads the sealed column at all). */
static int prefs_doc(qf__req *r, json_t *row, json_t **out)
{
	qf_actor sys = qf_actor_system();
	json_t *full = NULL;
	int rc = qf_store_get(r->srv->store, &sys, "user_preferences", r->actor.user_id, &full, &r->err);
	if (rc)
		return rc;
	const char *sealed = json_string_value(json_object_get(full, "slack_webhook_url"));
	json_object_del(row, "slack_webhook_url");
	json_object_set_new(row, "slack_webhook_set", json_boolean(sealed && *sealed));
	json_object_set_new(row, "slack_webhook_url_masked", json_null());
	if (sealed && *sealed && r->srv->have_secret_key) {
		qf_err e;
		qf_err_init(&e);
		char *plain = qf_secret_open(r->srv->secret_key, sealed, &e);
		char masked[128];
		if (plain) {
			qf_secret_mask(plain, masked, sizeof(masked));
			free(plain);
		} else {
			qf_strlcpy(masked, "(sealed with another key: set it again)", sizeof(masked));
		}
		json_object_set_new(row, "slack_webhook_url_masked", json_string(masked));
	}
	json_decref(full);
	*out = row;
	return 0;
}

int h_prefs_get(qf__req *r)
{
	json_t *row = NULL, *doc;
	int rc = prefs_row(r, &row);
	if (!rc && (rc = prefs_doc(r, row, &doc)))
		json_decref(row);
	return rc ? rc : qf__reply_json(r, 200, doc);
}

/* A Slack incoming-webhook address: https (or a receiver a test allowed,
 * qforge serve --notify-test-port), a host, no blanks. Where it may point
 * is decided again when a notification is sent (an operator's allow-list
 * can change). */
static int check_webhook(qf__req *r, const char *url)
{
	qf_notify_target t;
	qf_err e;
	qf_err_init(&e);
	bool test = r->srv->policy.ntest > 0 && !strncmp(url, "http://", 7) &&
	            !qf_notify_check_url(&r->srv->policy, url, &t, &e) && t.test;
	const char *host = url + strlen(test ? "http://" : "https://");
	bool ok = (test || !strncmp(url, "https://", 8)) && *host && *host != '/' && strlen(url) <= 1024;
	for (const char *p = url; ok && *p; p++)
		ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f;
	if (!ok)
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		                "'slack_webhook_url' must be an https:// address of at most 1024 "
		                "characters (https://hooks.slack.com/services/...)");
	return 0;
}

/* Values the schema's CHECK constraints allow, said clearly before the
 * database says it vaguely. */
static int check_prefs(qf__req *r)
{
	static const struct {
		const char *key, *values; /* |-separated */
	} choices[] = {
		{"display_units", "|hartree|ev|kcal/mol|kj/mol|"},
		{"theme", "|light|dark|auto|"},
		{"default_optimization_level", "|crude|sloppy|loose|lax|normal|tight|vtight|extreme|"},
		{"default_method", "|gfn0|gfn1|gfn2|gfnff|"},
	};
	static const char *const flags[] = {"enable_email_notifications", "enable_slack_notifications",
	                                    "notification_on_completion", "notification_on_error",
	                                    "notification_on_batch_completion"};
	for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++) {
		json_t *v = json_object_get(r->json, choices[i].key);
		if (!v)
			continue;
		char probe[40];
		const char *sv = json_string_value(v);
		snprintf(probe, sizeof(probe), "|%.30s|", sv ? sv : "");
		if (!sv || strlen(sv) > 30 || !strstr(choices[i].values, probe))
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			                "'%s' must be one of %s (between the bars)", choices[i].key, choices[i].values);
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		json_t *v = json_object_get(r->json, flags[i]);
		if (v && !json_is_boolean(v))
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			                "'%s' must be true or false", flags[i]);
	}
	json_t *p = json_object_get(r->json, "display_precision");
	if (p && (!json_is_integer(p) || json_integer_value(p) < 0 || json_integer_value(p) > 15))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		                "'display_precision' must be a whole number from 0 to 15");
	const char *sv;
	int rc;
	if ((rc = qf__body_string(r, "default_solvation", false, 64, &sv)) ||
	    (rc = qf__body_string(r, "language", false, 16, &sv)))
		return rc;
	return 0;
}

/* PUT: the members given replace the stored ones (the others keep their
 * value); slack_webhook_url null or "" removes it. */
int h_prefs_put(qf__req *r)
{
	int rc;
	json_t *row = NULL;
	if ((rc = qf__body_only(r, pref_keys)) || (rc = check_prefs(r)) || (rc = prefs_row(r, &row)))
		return rc;
	json_decref(row);
	json_t *ch = json_deep_copy(r->json);
	json_t *hook = json_object_get(ch, "slack_webhook_url");
	char *sealed = NULL;
	if (hook && !json_is_null(hook)) {
		const char *url;
		if ((rc = qf__body_string(r, "slack_webhook_url", false, 1024, &url))) {
			json_decref(ch);
			return rc;
		}
		if (*url && (rc = check_webhook(r, url))) {
			json_decref(ch);
			return rc;
		}
		if (*url && !r->srv->have_secret_key) {
			json_decref(ch);
			return qf__fail(r, QF_EINVAL, QF_CAT_SYSTEM, "http.unavailable",
			                "this server has no secret key to keep a webhook address with");
		}
		if (*url && !(sealed = qf_secret_seal(r->srv->secret_key, url))) {
			json_decref(ch);
			return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		}
		json_object_set_new(ch, "slack_webhook_url", sealed ? json_string(sealed) : json_null());
		free(sealed);
	}
	/* the sealed column is the system's to write (the store refuses it to
	 * users); the row is the caller's own, checked above */
	qf_actor sys = qf_actor_system();
	bool has_hook = hook != NULL;
	const qf_actor *who = has_hook ? &sys : &r->actor;
	if (json_object_size(ch))
		rc = qf_store_update(r->srv->store, who, "user_preferences", r->actor.user_id, ch, &r->err);
	json_t *audit = json_deep_copy(r->json);
	if (has_hook)
		json_object_set_new(audit, "slack_webhook_url", json_string("(changed)"));
	json_decref(ch);
	if (rc) {
		json_decref(audit);
		return rc;
	}
	qf__audit(r, "preferences_update", "user_preferences", r->actor.user_id, audit, "success", NULL);
	return h_prefs_get(r);
}

/* ---- the saved UI state (user_sessions) ------------------------------------------------ */

static const char *const ui_keys[] = {
	"current_view", "active_molecule_id", "active_calculation_id", "editor_content",
	"sidebar_state", "theme_preference", "ui_preferences", NULL,
};

/* The caller's saved state: one row per user, whichever browser saved it
 * last (a closed browser, a new login, another machine all find it). */
static int ui_row(qf__req *r, json_t **out)
{
	*out = NULL;
	json_t *where = json_pack("{s:s}", "user_id", r->actor.user_id), *rows = NULL;
	qf_store_filter f = {.where = where, .order_by = "last_activity", .descending = true, .limit = 1};
	int rc = qf_store_list(r->srv->store, &r->actor, "user_sessions", &f, &rows, &r->err);
	json_decref(where);
	if (!rc)
		*out = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return rc;
}

int h_session_get(qf__req *r)
{
	json_t *row = NULL;
	int rc = ui_row(r, &row);
	if (rc)
		return rc;
	if (!row) {
		row = json_object();
		for (size_t i = 0; ui_keys[i]; i++)
			json_object_set_new(row, ui_keys[i], json_null());
		json_object_set_new(row, "last_activity", json_null());
	}
	return qf__reply_json(r, 200, qf__public_row("user_sessions", row));
}

int h_session_put(qf__req *r)
{
	int rc;
	json_t *row = NULL;
	if ((rc = qf__body_only(r, ui_keys)) || (rc = ui_row(r, &row)))
		return rc;
	const char *id = json_string_value(json_object_get(row, "id"));
	if (id) {
		rc = qf_store_update(r->srv->store, &r->actor, "user_sessions", id, r->json, &r->err);
	} else {
		/* session_token is a required unique key of the table; the state is
		 * not tied to one login, so it is a random name only */
		char uid[QF_UUID_STR], token[QF_SHA256_HEX];
		qf_uuid_v7(uid);
		qf_sha256_hex(uid, strlen(uid), token);
		json_t *ins = json_deep_copy(r->json);
		json_object_set_new(ins, "session_token", json_string(token));
		rc = qf_store_insert(r->srv->store, &r->actor, "user_sessions", ins, NULL, &r->err);
		json_decref(ins);
	}
	json_decref(row);
	return rc ? rc : h_session_get(r);
}

/* ---- API keys ----------------------------------------------------------------------------- */

int h_keys_create(qf__req *r)
{
	static const char *const allowed[] = {"name", "org_id", "expires_at", "scopes", NULL};
	const char *name, *org, *exp;
	int rc;
	if ((rc = qf__body_only(r, allowed)) || (rc = qf__body_string(r, "name", false, 200, &name)) ||
	    (rc = qf__body_string(r, "org_id", false, QF_UUID_STR, &org)) ||
	    (rc = qf__body_string(r, "expires_at", false, QF_TIME_STR, &exp)))
		return rc;
	json_t *scopes = json_object_get(r->json, "scopes");
	if (scopes && !json_is_null(scopes)) {
		bool ok = json_is_array(scopes) && json_array_size(scopes) > 0;
		size_t i;
		json_t *v;
		json_array_foreach(scopes, i, v) {
			const char *sv = json_string_value(v);
			ok = ok && sv && (!strcmp(sv, "read") || !strcmp(sv, "write"));
		}
		if (!ok)
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			                "'scopes' must be a non-empty array of \"read\" and \"write\"");
	}
	double t = 0;
	if (exp && (qf_clock_parse(exp, &t) || t <= qf_clock_now()))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		                "'expires_at' must be a time in the future (2027-01-31T00:00:00Z)");
	/* the key may act for the caller in an organisation it belongs to */
	if (org) {
		char key[2 * QF_UUID_STR + 2];
		snprintf(key, sizeof(key), "%s/%s", r->actor.user_id, org);
		json_t *m = NULL;
		if ((rc = qf__get_row(r, "memberships", key, &m)))
			return rc;
		json_decref(m);
	}
	char token[QF_TOKEN_STR], prefix[QF_KEY_PREFIX_LEN + 1], hash[QF_SHA256_HEX];
	qf_token_api_key(token, prefix);
	qf_token_hash(token, hash);
	json_t *row = json_pack("{s:s,s:s,s:s}", "user_id", r->actor.user_id, "prefix", prefix,
	                        "key_hash", hash);
	if (name)
		json_object_set_new(row, "name", json_string(name));
	if (org)
		json_object_set_new(row, "org_id", json_string(org));
	if (exp)
		json_object_set_new(row, "expires_at", json_string(exp));
	if (scopes && !json_is_null(scopes))
		json_object_set(row, "scopes", scopes);
	json_t *out = NULL;
	rc = qf_store_insert(r->srv->store, &r->actor, "api_keys", row, &out, &r->err);
	json_decref(row);
	if (rc)
		return rc;
	qf__audit(r, "api_key_create", "api_keys", json_string_value(json_object_get(out, "id")),
	          json_pack("{s:s,s:s?}", "prefix", prefix, "name", name), "success", NULL);
	qf__public_row("api_keys", out);
	/* the only time the key is shown: only its hash is kept */
	json_object_set_new(out, "key", json_string(token));
	return qf__reply_json(r, 201, out);
}

int h_keys_list(qf__req *r)
{
	static const char *const filters[] = {"org_id", NULL};
	json_t *mine = json_pack("{s:s}", "user_id", r->actor.user_id);
	int rc = qf__list_where(r, "api_keys", filters, "created_at", mine);
	json_decref(mine);
	return rc;
}

/* Revoking keeps the row (its uses stay attributable in the usage log) and
 * ends the key at once, cached or not. A member's key may be revoked by an
 * administrator of the key's organisation or of the platform. */
int h_keys_revoke(qf__req *r)
{
	const char *id;
	json_t *row = NULL;
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = qf__get_row(r, "api_keys", id, &row)))
		return rc;
	char owner[QF_UUID_STR];
	qf_strlcpy(owner, json_string_value(json_object_get(row, "user_id")), sizeof(owner));
	bool own = !strcmp(owner, r->actor.user_id);
	json_decref(row);
	char ts[QF_TIME_STR];
	qf_clock_format(qf_clock_now(), ts);
	json_t *ch = json_pack("{s:s}", "revoked_at", ts);
	rc = qf_store_update(r->srv->store, &r->actor, "api_keys", id, ch, &r->err);
	json_decref(ch);
	if (rc == QF_ENOENT && !own)
		/* org admins may delete (not rewrite) a member's key: the row goes */
		rc = qf_store_delete(r->srv->store, &r->actor, "api_keys", id, &r->err);
	if (rc) {
		qf__audit(r, "api_key_revoke", "api_keys", id, NULL, "denied", r->err.message);
		if (rc == QF_ENOENT)
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.forbidden",
			                "only the key's owner or an administrator may revoke it");
		return rc;
	}
	qf_actor sys = qf_actor_system();
	json_t *full = NULL;
	qf_err e;
	qf_err_init(&e);
	if (!qf_store_get(r->srv->store, &sys, "api_keys", id, &full, &e))
		qf__auth_forget(r->srv, json_string_value(json_object_get(full, "key_hash")));
	else
		/* deleted: forget every cached credential of its owner */
		qf__auth_forget_user(r->srv, owner);
	json_decref(full);
	qf__audit(r, "api_key_revoke", "api_keys", id, NULL, "success", NULL);
	return qf__reply_json(r, 200, json_pack("{s:s,s:s}", "id", id, "status", "revoked"));
}
