/* Organisations and their members, users (administrators), invitations.
 * Who may do what is the store's rule (src/store/scope.c, and row-level
 * security on PostgreSQL); these handlers shape requests and answers. */
#include <stdio.h>
#include <string.h>

#include "../http_int.h"
#include "qf/clock.h"
#include "qf/str.h"

static int role_of(qf__req *r, const char *key, bool required, const char **out)
{
	int rc = qf__body_string(r, key, required, 16, out);
	if (rc || !*out)
		return rc;
	qf_role role;
	if (qf_role_parse(*out, &role) || role == QF_ROLE_NONE)
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		                "'%s' must be admin, researcher or viewer", key);
	return 0;
}

/* ---- organisations ---------------------------------------------------------------- */

int h_orgs_create(qf__req *r)
{
	static const char *const allowed[] = {"name", NULL};
	const char *name;
	int rc;
	if ((rc = qf__body_only(r, allowed)) || (rc = qf__body_string(r, "name", true, 200, &name)))
		return rc;
	if (!*qf_lskip(name))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		                "'name' must not be blank");
	json_t *row = json_pack("{s:s}", "name", name), *org = NULL;
	rc = qf_store_insert(r->srv->store, &r->actor, "organisations", row, &org, &r->err);
	json_decref(row);
	if (rc)
		return rc;
	const char *oid = json_string_value(json_object_get(org, "id"));
	/* its maker is its first administrator */
	qf_actor sys = qf_actor_system();
	json_t *m = json_pack("{s:s,s:s,s:s}", "user_id", r->actor.user_id, "org_id", oid, "role", "admin");
	rc = qf_store_insert(r->srv->store, &sys, "memberships", m, NULL, &r->err);
	json_decref(m);
	if (rc) {
		qf_err e;
		qf_err_init(&e);
		qf_store_delete(r->srv->store, &sys, "organisations", oid, &e);
		json_decref(org);
		return rc;
	}
	qf__auth_forget_user(r->srv, r->actor.user_id);
	qf__audit(r, "organisation_create", "organisations", oid, json_pack("{s:s}", "name", name),
	          "success", NULL);
	return qf__reply_json(r, 201, org);
}

int h_orgs_list(qf__req *r)
{
	static const char *const filters[] = {"owner_id", NULL};
	return qf__list(r, "organisations", filters, "created_at");
}

int h_orgs_get(qf__req *r)
{
	const char *id;
	json_t *org = NULL;
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = qf__get_row(r, "organisations", id, &org)))
		return rc;
	json_t *where = json_pack("{s:s}", "org_id", id);
	qf_store_filter f = {.where = where};
	int64_t n = 0;
	if (!qf_store_count(r->srv->store, &r->actor, "memberships", &f, &n, &r->err))
		json_object_set_new(org, "members", json_integer(n));
	json_decref(where);
	qf_err_init(&r->err);
	return qf__reply_json(r, 200, org);
}

/* ---- members ----------------------------------------------------------------------- */

int h_members_list(qf__req *r)
{
	const char *id;
	json_t *org = NULL;
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = qf__get_row(r, "organisations", id, &org)))
		return rc;
	json_decref(org);
	static const char *const filters[] = {"user_id", NULL};
	json_t *fixed = json_pack("{s:s}", "org_id", id);
	rc = qf__list_where(r, "memberships", filters, "created_at", fixed);
	json_decref(fixed);
	return rc;
}

int h_members_put(qf__req *r)
{
	static const char *const allowed[] = {"role", NULL};
	const char *id, *uid, *role;
	json_t *org = NULL, *user = NULL;
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = qf__req_uuid(r, "user_id", &uid)) ||
	    (rc = qf__body_only(r, allowed)) || (rc = role_of(r, "role", true, &role)) ||
	    (rc = qf__get_row(r, "organisations", id, &org)))
		return rc;
	json_decref(org);
	/* the person added must exist (an organisation admin need not see
	 * every user to add one by id) */
	qf_actor sys = qf_actor_system();
	if ((rc = qf_store_get(r->srv->store, &sys, "users", uid, &user, &r->err))) {
		if (rc == QF_ENOENT)
			return qf__fail(r, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found", "no such user: %s", uid);
		return rc;
	}
	json_decref(user);
	char key[2 * QF_UUID_STR + 2];
	snprintf(key, sizeof(key), "%s/%s", uid, id);
	json_t *ch = json_pack("{s:s}", "role", role);
	int status = 200;
	rc = qf_store_update(r->srv->store, &r->actor, "memberships", key, ch, &r->err);
	if (rc == QF_ENOENT) {
		json_t *cur = NULL;
		qf_err e;
		qf_err_init(&e);
		bool exists = !qf_store_get(r->srv->store, &sys, "memberships", key, &cur, &e);
		json_decref(cur);
		if (!exists) {
			qf_err_init(&r->err);
			json_t *m = json_pack("{s:s,s:s,s:s}", "user_id", uid, "org_id", id, "role", role);
			rc = qf_store_insert(r->srv->store, &r->actor, "memberships", m, NULL, &r->err);
			json_decref(m);
			status = 201;
		}
	}
	json_decref(ch);
	if (rc) {
		qf__audit(r, "member_set", "memberships", key, json_pack("{s:s}", "role", role), "denied",
		          r->err.message);
		if (rc == QF_ENOENT || !strcmp(r->err.code, "store.forbidden"))
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.forbidden",
			                "only the organisation's administrators manage its members");
		return rc;
	}
	qf__auth_forget_user(r->srv, uid);
	qf__audit(r, "member_set", "memberships", key, json_pack("{s:s}", "role", role), "success", NULL);
	return qf__reply_json(r, status, json_pack("{s:s,s:s,s:s}", "user_id", uid, "org_id", id, "role", role));
}

int h_members_delete(qf__req *r)
{
	const char *id, *uid;
	json_t *org = NULL;
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = qf__req_uuid(r, "user_id", &uid)) ||
	    (rc = qf__get_row(r, "organisations", id, &org)))
		return rc;
	json_decref(org);
	char key[2 * QF_UUID_STR + 2];
	snprintf(key, sizeof(key), "%s/%s", uid, id);
	json_t *m = NULL;
	if ((rc = qf__get_row(r, "memberships", key, &m)))
		return rc;
	json_decref(m);
	if ((rc = qf_store_delete(r->srv->store, &r->actor, "memberships", key, &r->err))) {
		qf__audit(r, "member_remove", "memberships", key, NULL, "denied", r->err.message);
		if (rc == QF_ENOENT || !strcmp(r->err.code, "store.forbidden"))
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.forbidden",
			                "only the organisation's administrators manage its members");
		return rc;
	}
	qf__auth_forget_user(r->srv, uid);
	qf__audit(r, "member_remove", "memberships", key, NULL, "success", NULL);
	return qf__reply_json(r, 200, json_pack("{s:s,s:s,s:s}", "user_id", uid, "org_id", id, "status",
	                                        "removed"));
}

/* ---- users ---------------------------------------------------------------------------- */

int h_users_list(qf__req *r)
{
	static const char *const filters[] = {"email", "role", NULL};
	return qf__list(r, "users", filters, "created_at");
}

int h_users_get(qf__req *r)
{
	const char *id;
	json_t *u = NULL;
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = qf__get_row(r, "users", id, &u)))
		return rc;
	return qf__reply_json(r, 200, qf__public_row("users", u));
}

int h_users_patch(qf__req *r)
{
	static const char *const admin_keys[] = {"display_name", "role", "disabled", "storage_quota_mb",
	                                         "max_concurrent_jobs", NULL};
	static const char *const own_keys[] = {"display_name", NULL};
	const char *id, *name, *role;
	json_t *u = NULL;
	int rc;
	bool admin = r->actor.is_admin;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = qf__body_only(r, admin ? admin_keys : own_keys)) ||
	    (rc = qf__body_string(r, "display_name", false, 200, &name)) ||
	    (rc = role_of(r, "role", false, &role)))
		return rc;
	if (!admin && strcmp(id, r->actor.user_id))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "auth.forbidden",
		                "only administrators change other users");
	if ((rc = qf__get_row(r, "users", id, &u)))
		return rc;
	json_decref(u);
	json_t *disabled = json_object_get(r->json, "disabled");
	if (disabled && !json_is_boolean(disabled))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		                "'disabled' must be true or false");
	/* an administrator cannot lock itself out (the platform would be left
	 * without one) */
	if (!strcmp(id, r->actor.user_id) && ((role && strcmp(role, "admin") && admin) || json_is_true(disabled)))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.conflict",
		                "an administrator cannot take away its own role or disable itself: "
		                "another administrator must");
	json_t *ch = json_deep_copy(r->json);
	if (role)
		json_object_set_new(ch, "is_admin", json_boolean(!strcmp(role, "admin")));
	rc = json_object_size(ch) ? qf_store_update(r->srv->store, &r->actor, "users", id, ch, &r->err) : 0;
	if (rc) {
		qf__audit(r, "user_update", "users", id, ch, "denied", r->err.message);
		return rc;
	}
	if (role || disabled)
		qf__auth_forget_user(r->srv, id);
	qf__audit(r, "user_update", "users", id, ch, "success", NULL);
	if ((rc = qf__get_row(r, "users", id, &u)))
		return rc;
	return qf__reply_json(r, 200, qf__public_row("users", u));
}

/* ---- invitations -------------------------------------------------------------------------- */

int h_invites_create(qf__req *r)
{
	static const char *const allowed[] = {"email", "role", "org_id", "expires_in_days", NULL};
	const char *email, *role, *org;
	int rc;
	if ((rc = qf__body_only(r, allowed)) || (rc = qf__body_string(r, "email", false, 320, &email)) ||
	    (rc = role_of(r, "role", false, &role)) ||
	    (rc = qf__body_string(r, "org_id", false, QF_UUID_STR, &org)))
		return rc;
	json_t *days = json_object_get(r->json, "expires_in_days");
	json_int_t nd = 7;
	if (days && (!json_is_integer(days) || (nd = json_integer_value(days)) < 1 || nd > 90))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		                "'expires_in_days' must be a whole number of days from 1 to 90");
	if (org) {
		json_t *o = NULL;
		if ((rc = qf__get_row(r, "organisations", org, &o)))
			return rc;
		json_decref(o);
	}
	char code[QF_TOKEN_STR], hash[QF_SHA256_HEX], exp[QF_TIME_STR];
	qf_token_session(code);
	memcpy(code, "qfi_", 4); /* an invitation, not a session token */
	qf_token_hash(code, hash);
	qf_clock_format(qf_clock_now() + (double)nd * 86400.0, exp);
	json_t *row = json_pack("{s:s,s:s,s:s}", "code_hash", hash, "expires_at", exp, "role",
	                        role ? role : "researcher");
	if (email)
		json_object_set_new(row, "email", json_string(email));
	if (org)
		json_object_set_new(row, "org_id", json_string(org));
	json_t *out = NULL;
	rc = qf_store_insert(r->srv->store, &r->actor, "invites", row, &out, &r->err);
	json_decref(row);
	if (rc)
		return rc;
	qf__audit(r, "invite_create", "invites", json_string_value(json_object_get(out, "id")),
	          json_pack("{s:s?,s:s,s:s?}", "email", email, "role", role ? role : "researcher",
	                    "org_id", org),
	          "success", NULL);
	qf__public_row("invites", out);
	json_object_set_new(out, "code", json_string(code)); /* shown once */
	return qf__reply_json(r, 201, out);
}

int h_invites_list(qf__req *r)
{
	static const char *const filters[] = {"org_id", "created_by", NULL};
	return qf__list(r, "invites", filters, "created_at");
}
