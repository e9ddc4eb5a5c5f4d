/*
 * Isolation, in one place: which rows an actor may read and change, and
 * which rows it may create, for every table of the catalogue. The rules are
 * those of include/qf/store.h; sql/postgres/002_security.sql states the same
 * rules as row-level security, the second line on PostgreSQL.
 *
 *   read    system, platform admins: all rows; a user: own rows and rows of
 *           organisations the user is a member of (any role); anonymous:
 *           nothing
 *   insert  system: any; a user: owner = user, and into an organisation
 *           only with role researcher or admin there
 *   update  system, platform admins: all; a user: own rows (where the
 *   delete  organisation role, if any, is researcher or admin) and any row
 *           of an organisation where the user is admin
 *
 * Special tables:
 *   api_keys       as owned rows, except that only the key's owner (or the
 *                  system, or a platform admin) changes a key: an
 *                  organisation admin who could rewrite a member's key_hash
 *                  could sign in as that member; it may delete the key
 *   users          a user sees itself and the members of its organisations,
 *                  updates itself (never the administrator-only columns);
 *                  only the system and administrators create or delete users
 *   organisations  the owner and members see it; a user creates one it
 *                  owns; its admins change or delete it
 *   memberships    members of an organisation see its memberships; its
 *                  admins manage them; the owner of a new organisation adds
 *                  itself as admin
 *   user_audit_log a user sees its own entries, an organisation admin those
 *                  of the organisation; a user writes entries about itself,
 *                  into no organisation or one it belongs to; append-only
 *                  (no update or delete by anyone through the API;
 *                  retention removes old entries)
 *   user_credentials password hashes and TOTP secrets: the system alone
 *                  reads and writes them (sign-in, sign-up); not a user
 *                  itself, not a platform administrator (they once were
 *                  columns of users, where any co-member could read them)
 *
 * A row that names a parent row (molecule_id, calculation_id, batch_id)
 * may only name one the actor can see (qf__scope_check_ref).
 */
#include <string.h>

#include "qf/str.h"
#include "store_int.h"

#define MEMBER_ORGS "SELECT org_id FROM memberships WHERE user_id = "
#define WRITER_ROLES " AND role IN ('admin', 'researcher')"
#define ADMIN_ROLE " AND role = 'admin'"

static bool sees_all(const qf_actor *a)
{
	return a->kind == QF_ACTOR_SYSTEM || (a->kind == QF_ACTOR_USER && a->is_admin);
}

bool qf__scope_secrets(const qf_actor *a)
{
	return a->kind == QF_ACTOR_SYSTEM;
}

/* "col IN (SELECT org_id FROM memberships WHERE user_id = ? [roles])" */
static void in_orgs(qf__query *q, const char *col, const qf_actor *a, const char *roles)
{
	qf__query_ident(q, col);
	qf__query_sql(q, " IN (" MEMBER_ORGS);
	qf__query_text(q, a->user_id);
	qf__query_sql(q, "%s)", roles);
}

static void owned_read(qf__query *q, const qf__table *t, const qf_actor *a)
{
	qf__query_sql(q, "(");
	qf__query_ident(q, t->cols[t->owner].name);
	qf__query_sql(q, " = ");
	qf__query_text(q, a->user_id);
	if (t->org >= 0) {
		const char *org = t->cols[t->org].name;
		qf__query_sql(q, " OR (\"%s\" IS NOT NULL AND ", org);
		in_orgs(q, org, a, "");
		qf__query_sql(q, ")");
	}
	qf__query_sql(q, ")");
}

static void owned_modify(qf__query *q, const qf__table *t, const qf_actor *a, bool org_admins)
{
	const char *owner = t->cols[t->owner].name;
	if (t->org < 0) {
		qf__query_sql(q, "(\"%s\" = ", owner);
		qf__query_text(q, a->user_id);
		qf__query_sql(q, ")");
		return;
	}
	const char *org = t->cols[t->org].name;
	qf__query_sql(q, "((\"%s\" = ", owner);
	qf__query_text(q, a->user_id);
	qf__query_sql(q, " AND (\"%s\" IS NULL OR ", org);
	in_orgs(q, org, a, WRITER_ROLES);
	qf__query_sql(q, "))");
	if (org_admins) {
		qf__query_sql(q, " OR (\"%s\" IS NOT NULL AND ", org);
		in_orgs(q, org, a, ADMIN_ROLE);
		qf__query_sql(q, ")");
	}
	qf__query_sql(q, ")");
}

void qf__scope_where(qf__query *q, const qf__table *t, const qf_actor *a, qf__op op)
{
	bool read = op == QF__OP_READ;
	/* Credentials are the system's alone. */
	if (t->rule == QF__RULE_SYSTEM) {
		qf__query_sql(q, a->kind == QF_ACTOR_SYSTEM ? "(1 = 1)" : "(1 = 0)");
		return;
	}
	/* Notifications are the platform's to write (a user reads its own). */
	if (!read && t->rule == QF__RULE_OUTBOX) {
		qf__query_sql(q, a->kind == QF_ACTOR_SYSTEM ? "(1 = 1)" : "(1 = 0)");
		return;
	}
	/* The audit log is append-only for everyone. */
	if (!read && t->rule == QF__RULE_AUDIT) {
		qf__query_sql(q, "(1 = 0)");
		return;
	}
	if (sees_all(a)) {
		qf__query_sql(q, "(1 = 1)");
		return;
	}
	/* A viewer reads; it changes only its own account rows. */
	if (!read && a->viewer && !t->personal) {
		qf__query_sql(q, "(1 = 0)");
		return;
	}
	if (a->kind != QF_ACTOR_USER) {
		qf__query_sql(q, "(1 = 0)");
		return;
	}
	switch (t->rule) {
	case QF__RULE_OWNED:
	case QF__RULE_KEYS:
		if (read)
			owned_read(q, t, a);
		else
			owned_modify(q, t, a, t->rule == QF__RULE_OWNED || op == QF__OP_DELETE);
		return;
	case QF__RULE_USERS:
		if (op == QF__OP_DELETE) {
			qf__query_sql(q, "(1 = 0)");
		} else if (read) {
			qf__query_sql(q, "(\"id\" = ");
			qf__query_text(q, a->user_id);
			qf__query_sql(q, " OR \"id\" IN (SELECT b.user_id FROM memberships a JOIN memberships b "
			                 "ON a.org_id = b.org_id WHERE a.user_id = ");
			qf__query_text(q, a->user_id);
			qf__query_sql(q, "))");
		} else {
			qf__query_sql(q, "(\"id\" = ");
			qf__query_text(q, a->user_id);
			qf__query_sql(q, ")");
		}
		return;
	case QF__RULE_ORGS:
		if (read) {
			qf__query_sql(q, "(\"owner_id\" = ");
			qf__query_text(q, a->user_id);
			qf__query_sql(q, " OR ");
			in_orgs(q, "id", a, "");
			qf__query_sql(q, ")");
		} else {
			qf__query_sql(q, "(");
			in_orgs(q, "id", a, ADMIN_ROLE);
			qf__query_sql(q, ")");
		}
		return;
	case QF__RULE_MEMBERSHIPS:
		if (read) {
			qf__query_sql(q, "(\"user_id\" = ");
			qf__query_text(q, a->user_id);
			qf__query_sql(q, " OR ");
			in_orgs(q, "org_id", a, "");
			qf__query_sql(q, ")");
		} else {
			qf__query_sql(q, "(");
			in_orgs(q, "org_id", a, ADMIN_ROLE);
			qf__query_sql(q, ")");
		}
		return;
	case QF__RULE_SYSTEM:
		break;
	case QF__RULE_OUTBOX:
		owned_read(q, t, a);
		return;
	case QF__RULE_AUDIT:
		qf__query_sql(q, "(\"user_id\" = ");
		qf__query_text(q, a->user_id);
		qf__query_sql(q, " OR (\"org_id\" IS NOT NULL AND ");
		in_orgs(q, "org_id", a, ADMIN_ROLE);
		qf__query_sql(q, "))");
		return;
	}
	qf__query_sql(q, "(1 = 0)");
}

/* ---- checks in C, for values not yet in a row ------------------------------ */

static int forbidden(qf_err *err, const char *fmt, const char *table)
{
	return qf_err_set(err, QF_CAT_VALIDATION, "store.forbidden", fmt, table);
}

int qf__scope_org_role(qf__db *db, const qf_actor *a, const char *org, qf_role *role, qf_err *err)
{
	*role = QF_ROLE_NONE;
	if (a->kind != QF_ACTOR_USER || !org)
		return 0;
	qf__stmt *st;
	int rc = qf__db_prepare(db, "SELECT role FROM memberships WHERE user_id = ? AND org_id = ?", &st,
	                        err);
	if (rc)
		return rc;
	qf__stmt_bind_str(st, 1, a->user_id);
	qf__stmt_bind_str(st, 2, org);
	rc = qf__stmt_step(st, err);
	if (rc == 1) {
		const char *r = qf__stmt_col_text(st, 0, NULL);
		if (!r || qf_role_parse(r, role))
			*role = QF_ROLE_NONE;
		rc = 0;
	}
	qf__stmt_finalize(st);
	return rc;
}

static const char *str_of(const json_t *row, const char *key)
{
	json_t *v = json_object_get(row, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool is_me(const qf_actor *a, const char *id)
{
	return id && !strcmp(id, a->user_id);
}

/* The owner / organisation pair rule shared by inserts (may_modify false:
 * own rows only) and moves (may_modify true: also into organisations the
 * user administers). */
static int check_pair(qf__db *db, const qf__table *t, const qf_actor *a, const char *owner,
                      const char *org, bool may_modify, qf_err *err)
{
	qf_role role = QF_ROLE_NONE;
	int rc = qf__scope_org_role(db, a, org, &role, err);
	if (rc)
		return rc;
	if (may_modify && org && role == QF_ROLE_ADMIN)
		return 0;
	if (!is_me(a, owner))
		return forbidden(err, "rows of table '%s' you write must be your own: set the owner to "
		                      "yourself or leave it out",
		                 t->name);
	if (org && role != QF_ROLE_RESEARCHER && role != QF_ROLE_ADMIN)
		return forbidden(err, "you may not write rows of table '%s' into that organisation: it "
		                      "needs the researcher or admin role there",
		                 t->name);
	return 0;
}

int qf__scope_check_insert(qf__db *db, const qf__table *t, const qf_actor *a, const json_t *row,
                           qf_err *err)
{
	if (a->kind == QF_ACTOR_SYSTEM)
		return 0;
	if (a->kind != QF_ACTOR_USER)
		return forbidden(err, "sign in to write to table '%s'", t->name);
	if (a->viewer && !t->personal)
		return forbidden(err, "a viewer reads only: ask an administrator for the researcher role "
		                      "to write to table '%s'",
		                 t->name);
	switch (t->rule) {
	case QF__RULE_SYSTEM:
	case QF__RULE_OUTBOX:
		return forbidden(err, "rows of table '%s' are written by the platform itself only", t->name);
	case QF__RULE_OWNED:
	case QF__RULE_KEYS:
		return check_pair(db, t, a, str_of(row, t->cols[t->owner].name),
		                  t->org >= 0 ? str_of(row, t->cols[t->org].name) : NULL, false, err);
	case QF__RULE_USERS:
		if (a->is_admin)
			return 0;
		return forbidden(err, "only an administrator may create rows of table '%s'", t->name);
	case QF__RULE_ORGS:
		if (is_me(a, str_of(row, "owner_id")))
			return 0;
		return forbidden(err, "an organisation you create must be owned by you (table '%s')", t->name);
	case QF__RULE_MEMBERSHIPS: {
		if (a->is_admin)
			return 0;
		const char *org = str_of(row, "org_id");
		qf_role role = QF_ROLE_NONE;
		int rc = qf__scope_org_role(db, a, org, &role, err);
		if (rc)
			return rc;
		if (role == QF_ROLE_ADMIN)
			return 0;
		/* The owner of an organisation makes itself its first admin. */
		const char *r = str_of(row, "role");
		if (org && is_me(a, str_of(row, "user_id")) && r && !strcmp(r, "admin")) {
			qf__stmt *st;
			if ((rc = qf__db_prepare(db,
			                         "SELECT count(*) FROM organisations WHERE id = ? AND owner_id = ?",
			                         &st, err)))
				return rc;
			qf__stmt_bind_str(st, 1, org);
			qf__stmt_bind_str(st, 2, a->user_id);
			rc = qf__stmt_step(st, err);
			bool owner = rc == 1 && qf__stmt_col_int64(st, 0) > 0;
			qf__stmt_finalize(st);
			if (rc < 0)
				return rc;
			if (owner)
				return 0;
		}
		return forbidden(err, "only an admin of the organisation manages its members (table '%s')",
		                 t->name);
	}
	case QF__RULE_AUDIT: {
		if (!is_me(a, str_of(row, "user_id")))
			return forbidden(err, "entries of table '%s' you write must name yourself as the user",
			                 t->name);
		const char *org = str_of(row, "org_id");
		qf_role role = QF_ROLE_NONE;
		int rc = qf__scope_org_role(db, a, org, &role, err);
		if (rc)
			return rc;
		if (org && role == QF_ROLE_NONE)
			return forbidden(err, "entries of table '%s' you write may only name an organisation "
			                      "you belong to",
			                 t->name);
		return 0;
	}
	}
	return forbidden(err, "you may not write to table '%s'", t->name);
}

int qf__scope_check_move(qf__db *db, const qf__table *t, const qf_actor *a, const char *new_owner,
                         const char *new_org, qf_err *err)
{
	if (sees_all(a) || (t->rule != QF__RULE_OWNED && t->rule != QF__RULE_KEYS))
		return 0;
	if (a->kind != QF_ACTOR_USER)
		return forbidden(err, "sign in to write to table '%s'", t->name);
	return check_pair(db, t, a, new_owner, new_org, t->rule == QF__RULE_OWNED, err);
}

int qf__scope_check_column(const qf__table *t, const qf__column *c, const qf_actor *a, qf_err *err)
{
	if (!(c->flags & QF__C_ADMIN) || sees_all(a))
		return 0;
	return qf_err_set(err, QF_CAT_VALIDATION, "store.forbidden",
	                  "only an administrator may set column '%s' of table '%s'", c->name, t->name);
}

int qf__scope_check_ref(qf__db *db, const char *table, const qf_actor *a, const char *id,
                        const char *what, qf_err *err)
{
	if (a->kind == QF_ACTOR_SYSTEM || !id)
		return 0;
	const qf__table *t = qf__catalog_find(table);
	if (!t)
		return 0;
	qf__query q;
	qf__query_init(&q, qf__db_dialect(db));
	qf__query_sql(&q, "SELECT count(*) FROM \"%s\" WHERE \"id\" = ", t->name);
	qf__query_text(&q, id);
	qf__query_sql(&q, " AND ");
	qf__scope_where(&q, t, a, QF__OP_READ);
	qf__stmt *st = NULL;
	int rc = qf__query_run(&q, db, &st, err);
	bool seen = rc == 1 && qf__stmt_col_int64(st, 0) > 0;
	qf__stmt_finalize(st);
	qf__query_release(&q);
	if (rc < 0)
		return rc;
	if (!seen)
		/* The same words as a missing referenced row (a foreign key). */
		return qf_err_set(err, QF_CAT_VALIDATION, "store.constraint",
		                  "%s: the referenced row of table '%s' does not exist", what, table);
	return 0;
}
