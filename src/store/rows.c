/*
 * The generic row API over every catalogued table: insert, get, update,
 * delete, list, count (see include/qf/store.h). Values are checked against
 * the catalogue, defaults filled, and every statement scoped by scope.c.
 *
 * Refusals, decided once here:
 *   - a row the actor may not see or change: QF_ENOENT store.not_found,
 *     exactly as a missing row (get, update, delete);
 *   - an insert the actor may not make (anonymous, a viewer, someone
 *     else's owner or organisation): QF_EINVAL store.forbidden, since there
 *     is no row to hide and the caller must change the request;
 *   - update or delete on the append-only audit log: store.forbidden.
 */
#include <stdlib.h>
#include <string.h>

#include "qf/str.h"
#include "qf/uuid.h"
#include "store_int.h"

static int find_table(const char *name, const qf__table **t, qf_err *err)
{
	*t = qf__catalog_find(name);
	if (!*t)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "unknown table '%s': see sql/README.md for the tables", name ? name : "");
	return 0;
}

static int not_found(const qf__table *t, const char *id, qf_err *err)
{
	return qf_err_setrc(err, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found",
	                    "no row '%s' in table '%s'", id ? id : "", t->name);
}

static int unknown_column(const qf__table *t, const char *key, qf_err *err)
{
	return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid", "table '%s' has no column '%s'",
	                  t->name, key);
}

/* ---- primary keys ---------------------------------------------------------- */

typedef struct pkey {
	json_t *v[2];
} pkey;

static void pkey_release(pkey *k)
{
	json_decref(k->v[0]);
	json_decref(k->v[1]);
	k->v[0] = k->v[1] = NULL;
}

/* "id" or "k1/k2" as the key's typed values. */
static int pkey_parse(const qf__table *t, const char *id, pkey *k, qf_err *err)
{
	memset(k, 0, sizeof(*k));
	if (!id || !*id || strlen(id) > 256)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid", "a row id of table '%s' is needed",
		                  t->name);
	char buf[260];
	qf_strlcpy(buf, id, sizeof(buf));
	char *parts[2] = {buf, NULL};
	char *slash = strchr(buf, '/');
	if (t->npk == 2) {
		if (!slash)
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "rows of table '%s' are named '%s/%s'", t->name,
			                  t->cols[t->pk[0]].name, t->cols[t->pk[1]].name);
		*slash = '\0';
		parts[1] = slash + 1;
	} else if (slash) {
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "row id '%s' of table '%s' has a '/' but the key has one part", id, t->name);
	}
	for (int i = 0; i < t->npk; i++) {
		const qf__column *c = &t->cols[t->pk[i]];
		long n;
		if (c->type == QF__UUID) {
			if (!qf_uuid_valid(parts[i]))
				goto bad;
			k->v[i] = json_string(parts[i]);
		} else if (c->type == QF__INT) {
			if (!qf_parse_int(parts[i], c->flags & QF__C_BIG ? -INT64_MAX : INT32_MIN,
			                  c->flags & QF__C_BIG ? INT64_MAX : INT32_MAX, &n))
				goto bad;
			k->v[i] = json_integer(n);
		} else {
			k->v[i] = json_string(parts[i]);
		}
		if (!k->v[i]) {
			pkey_release(k);
			return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		}
		continue;
	bad:
		pkey_release(k);
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "row id '%s' of table '%s': '%s' must be %s", id, t->name, c->name,
		                  c->type == QF__UUID ? "a lowercase UUID" : "an integer");
	}
	return 0;
}

/* "pk1" = ? [AND "pk2" = ?] */
static void where_pk(qf__query *q, const qf__table *t, const pkey *k)
{
	for (int i = 0; i < t->npk; i++) {
		const qf__column *c = &t->cols[t->pk[i]];
		qf__query_sql(q, "%s\"%s\" = ", i ? " AND " : "", c->name);
		qf__query_value(q, c, k->v[i]);
	}
}

/* ---- insert ------------------------------------------------------------------- */

static int set_default_text(json_t *row, const char *key, const char *value)
{
	json_t *v = json_string(value);
	if (!v || json_object_set_new(row, key, v))
		return QF_ENOMEM;
	return 0;
}

/* Fill what the caller left out: ids, creation times, the owner. */
static int fill_defaults(const qf__table *t, const qf_actor *a, json_t *row)
{
	double now = qf_clock_now();
	for (int i = 0; i < t->ncols; i++) {
		const qf__column *c = &t->cols[i];
		if (json_object_get(row, c->name))
			continue;
		int rc = 0;
		if (c->flags & QF__C_AUTO_ID) {
			char id[QF_UUID_STR];
			qf_uuid_v7(id);
			rc = set_default_text(row, c->name, id);
		} else if (c->flags & QF__C_AUTO_NOW) {
			char ts[QF_TIME_STR];
			qf__time_format(now, ts);
			rc = set_default_text(row, c->name, ts);
		} else if ((c->flags & QF__C_OWNER) && a->kind == QF_ACTOR_USER) {
			rc = set_default_text(row, c->name, a->user_id);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* Check each given column: known, writable, of the right type, and not an
 * administrator's column. fixed_ok: insert (fixed columns may be given). */
static int check_columns(const qf__table *t, const qf_actor *a, const json_t *row, bool insert,
                         qf_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)row, key, v) {
		int ci = qf__table_col(t, key);
		if (ci < 0)
			return unknown_column(t, key, err);
		const qf__column *c = &t->cols[ci];
		if (c->flags & QF__C_GENERATED)
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "column '%s' of table '%s' is generated by the database: leave it out",
			                  key, t->name);
		if (!insert && (c->flags & QF__C_FIXED))
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "column '%s' of table '%s' is set when the row is created and cannot "
			                  "be changed",
			                  key, t->name);
		int rc = qf__value_check(t, c, v, err);
		if (!rc)
			rc = qf__scope_check_column(t, c, a, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* Referenced rows (molecule_id, calculation_id, batch_id) must be visible
 * to the actor, as a foreign key would need them to exist. */
static int check_refs(qf__db *db, const qf__table *t, const qf_actor *a, const json_t *row,
                      qf_err *err)
{
	for (int i = 0; i < t->ncols; i++) {
		const qf__column *c = &t->cols[i];
		if (!c->ref)
			continue;
		json_t *v = json_object_get(row, c->name);
		if (!json_is_string(v))
			continue;
		char what[128];
		snprintf(what, sizeof(what), "column '%s' of table '%s'", c->name, t->name);
		int rc = qf__scope_check_ref(db, c->ref, a, json_string_value(v), what, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* Check a row for insertion into t and fill its defaults: *full gets the
 * row to write. */
static int insert_prepare(const qf__table *t, const qf_actor *a, const json_t *row, json_t **full,
                          qf_err *err)
{
	*full = NULL;
	if (!json_is_object(row))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "a row of table '%s' must be a JSON object", t->name);
	if (a->kind == QF_ACTOR_ANONYMOUS)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.forbidden",
		                  "sign in to write to table '%s'", t->name);
	int rc = check_columns(t, a, row, true, err);
	if (rc)
		return rc;
	json_t *f = json_copy((json_t *)row);
	if (!f || fill_defaults(t, a, f)) {
		json_decref(f);
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	}
	for (int i = 0; i < t->ncols; i++) {
		const qf__column *c = &t->cols[i];
		json_t *v = json_object_get(f, c->name);
		if ((c->flags & QF__C_REQUIRED) && (!v || json_is_null(v))) {
			json_decref(f);
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "column '%s' of table '%s' is required", c->name, t->name);
		}
	}
	*full = f;
	return 0;
}

/* Insert a prepared row in the caller's transaction; *out (may be NULL)
 * gets it as stored. */
static int insert_row(qf__tx *tx, const qf__table *t, const qf_actor *a, const json_t *full,
                      json_t **out, qf_err *err)
{
	qf__query q;
	qf__query_init(&q, tx->s->dialect);
	qf__stmt *st = NULL;
	int rc;
	if ((rc = qf__scope_check_insert(tx->db, t, a, full, err)) ||
	    (rc = check_refs(tx->db, t, a, full, err)))
		goto out;
	qf__query_sql(&q, "INSERT INTO \"%s\" (", t->name);
	int n = 0;
	for (int i = 0; i < t->ncols; i++)
		if (json_object_get(full, t->cols[i].name))
			qf__query_sql(&q, "%s\"%s\"", n++ ? ", " : "", t->cols[i].name);
	qf__query_sql(&q, ") VALUES (");
	n = 0;
	for (int i = 0; i < t->ncols; i++) {
		json_t *v = json_object_get(full, t->cols[i].name);
		if (!v)
			continue;
		if (n++)
			qf__query_sql(&q, ", ");
		qf__query_value(&q, &t->cols[i], v);
	}
	if (out) {
		qf__query_sql(&q, ") RETURNING ");
		qf__query_columns(&q, t);
	} else {
		qf__query_sql(&q, ")");
	}
	rc = qf__query_run(&q, tx->db, &st, err);
	if (rc == 1 && out) {
		rc = 0;
		if (!(*out = qf__row_json(st, t, qf__scope_secrets(a), false)))
			rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		/* Finish the statement (SQLite completes the insert on the last step). */
		while (!rc && (rc = qf__stmt_step(st, err)) > 0)
			;
	} else if (rc == 0 && out) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "store.error", "insert into '%s' returned no row", t->name);
	} else if (rc > 0) {
		rc = 0;
	}
out:
	qf__stmt_finalize(st);
	qf__query_release(&q);
	if (rc && out) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int qf_store_insert(qf_store *s, const qf_actor *a, const char *table, const json_t *row,
                    json_t **out, qf_err *err)
{
	if (out)
		*out = NULL;
	const qf__table *t;
	json_t *full = NULL;
	int rc = find_table(table, &t, err);
	if (!rc)
		rc = insert_prepare(t, a, row, &full, err);
	if (rc)
		return rc;
	qf__tx tx;
	if ((rc = qf__tx_begin(s, a, true, &tx, err))) {
		json_decref(full);
		return rc;
	}
	rc = insert_row(&tx, t, a, full, out, err);
	json_decref(full);
	if (rc) {
		qf__tx_rollback(&tx);
		if (err)
			qf_err_prefix(err, "insert into %s", t->name);
		return rc;
	}
	rc = qf__tx_commit(&tx, err);
	if (rc && out) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int qf_store_insert_many(qf_store *s, const qf_actor *a, const char *table, const json_t *rows,
                         qf_err *err)
{
	const qf__table *t;
	int rc = find_table(table, &t, err);
	if (rc)
		return rc;
	if (!json_is_array(rows))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "rows for table '%s' must be a JSON array", t->name);
	size_t n = json_array_size(rows);
	if (n == 0)
		return 0;
	json_t **full = calloc(n, sizeof(*full));
	if (!full)
		return qf__oom(err);
	for (size_t i = 0; !rc && i < n; i++)
		if ((rc = insert_prepare(t, a, json_array_get(rows, i), &full[i], err)))
			qf_err_prefix(err, "row %zu", i + 1);
	qf__tx tx;
	if (!rc && !(rc = qf__tx_begin(s, a, true, &tx, err))) {
		for (size_t i = 0; !rc && i < n; i++)
			if ((rc = insert_row(&tx, t, a, full[i], NULL, err)))
				qf_err_prefix(err, "insert into %s, row %zu", t->name, i + 1);
		if (rc)
			qf__tx_rollback(&tx);
		else
			rc = qf__tx_commit(&tx, err);
	}
	for (size_t i = 0; i < n; i++)
		json_decref(full[i]);
	free(full);
	return rc;
}

/* ---- get ------------------------------------------------------------------------ */

/* Where a got row goes: a jansson object (*out), or JSON text appended to
 * b less the omitted columns, with the picked columns parsed (*picked). */
typedef struct get_sink {
	qf_buf *b;
	const char *const *omit, *const *pick;
	json_t **picked;
} get_sink;

/* The columns named in pick of the current row, parsed, as an object. */
static json_t *row_pick(qf__stmt *st, const qf__table *t, const char *const *pick)
{
	json_t *o = json_object();
	for (size_t k = 0; o && pick && pick[k]; k++) {
		int ci = qf__table_col(t, pick[k]);
		if (ci >= 0 && json_object_set_new(o, pick[k], qf__col_json(st, ci, &t->cols[ci]))) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

static int get_row_to(qf_store *s, const qf_actor *a, const char *table, const char *id, bool raw,
                      json_t **out, get_sink *sink, qf_err *err);

static int get_row(qf_store *s, const qf_actor *a, const char *table, const char *id, bool raw,
                   json_t **out, qf_err *err)
{
	return get_row_to(s, a, table, id, raw, out, NULL, err);
}

static int get_row_to(qf_store *s, const qf_actor *a, const char *table, const char *id, bool raw,
                      json_t **out, get_sink *sink, qf_err *err)
{
	if (out)
		*out = NULL;
	const qf__table *t;
	pkey k;
	int rc = find_table(table, &t, err);
	if (rc || (rc = pkey_parse(t, id, &k, err)))
		return rc;
	if (a->kind == QF_ACTOR_ANONYMOUS) {
		pkey_release(&k);
		return not_found(t, id, err);
	}
	qf__tx tx;
	if ((rc = qf__tx_begin(s, a, false, &tx, err))) {
		pkey_release(&k);
		return rc;
	}
	qf__query q;
	qf__query_init(&q, s->dialect);
	qf__query_sql(&q, "SELECT ");
	qf__query_columns(&q, t);
	qf__query_sql(&q, " FROM \"%s\" WHERE ", t->name);
	where_pk(&q, t, &k);
	qf__query_sql(&q, " AND ");
	qf__scope_where(&q, t, a, QF__OP_READ);
	qf__stmt *st = NULL;
	unsigned char plan[QF__MAX_PARAMS];
	size_t start = sink && sink->b ? sink->b->len : 0;
	rc = qf__query_run(&q, tx.db, &st, err);
	if (rc == 1 && sink) {
		int wrc = 0;
		if (sink->b && !(wrc = qf__row_plan(t, qf__scope_secrets(a), sink->omit, plan,
		                                    (int)sizeof(plan))))
			wrc = qf__row_write(sink->b, st, t, plan, -1);
		if (!wrc && sink->picked && !(*sink->picked = row_pick(st, t, sink->pick)))
			wrc = QF_ENOMEM;
		rc = !wrc ? 0
		     : wrc == QF_ENOMEM
		         ? qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory")
		         : qf_err_setrc(err, QF_EINVAL, QF_CAT_VALIDATION, "store.too_large",
		                        "the row of table '%s' is too large to send", t->name);
	} else if (rc == 1) {
		rc = 0;
		if (!(*out = qf__row_json(st, t, qf__scope_secrets(a), raw)))
			rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	} else if (rc == 0) {
		rc = not_found(t, id, err);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	pkey_release(&k);
	if (!rc)
		rc = qf__tx_commit(&tx, err);
	else
		qf__tx_rollback(&tx);
	if (rc && out) {
		json_decref(*out);
		*out = NULL;
	}
	if (rc && sink) {
		if (sink->b) {
			sink->b->len = start;
			if (sink->b->data)
				sink->b->data[start] = '\0';
		}
		if (sink->picked) {
			json_decref(*sink->picked);
			*sink->picked = NULL;
		}
	}
	return rc;
}

int qf_store_get_write(qf_store *s, const qf_actor *a, const char *table, const char *id,
                       const char *const *omit, qf_buf *b, const char *const *pick,
                       json_t **picked, qf_err *err)
{
	if (picked)
		*picked = NULL;
	get_sink sink = {.b = b, .omit = omit, .pick = pick, .picked = picked};
	return get_row_to(s, a, table, id, true, NULL, &sink, err);
}

int qf_store_get(qf_store *s, const qf_actor *a, const char *table, const char *id, json_t **out,
                 qf_err *err)
{
	return get_row(s, a, table, id, false, out, err);
}

int qf_store_get_raw(qf_store *s, const qf_actor *a, const char *table, const char *id,
                     json_t **out, qf_err *err)
{
	return get_row(s, a, table, id, true, out, err);
}

/* ---- update ------------------------------------------------------------------------ */

static const char *text_or_null(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int qf_store_update(qf_store *s, const qf_actor *a, const char *table, const char *id,
                    const json_t *changes, qf_err *err)
{
	const qf__table *t;
	pkey k;
	int rc = find_table(table, &t, err);
	if (rc || (rc = pkey_parse(t, id, &k, err)))
		return rc;
	json_t *ch = NULL;
	if (t->rule == QF__RULE_AUDIT) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "store.forbidden",
		                "table '%s' is append-only: its rows are never changed", t->name);
		goto out_key;
	}
	if (!json_is_object(changes) || !json_object_size(changes)) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                "the changes to a row of table '%s' must be a non-empty JSON object", t->name);
		goto out_key;
	}
	if (a->kind == QF_ACTOR_ANONYMOUS) {
		rc = not_found(t, id, err);
		goto out_key;
	}
	if ((rc = check_columns(t, a, changes, false, err)))
		goto out_key;
	if (!(ch = json_copy((json_t *)changes))) {
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		goto out_key;
	}
	char now[QF_TIME_STR];
	qf__time_format(qf_clock_now(), now);
	for (int i = 0; i < t->ncols; i++)
		if ((t->cols[i].flags & QF__C_TOUCH) && !json_object_get(ch, t->cols[i].name) &&
		    set_default_text(ch, t->cols[i].name, now)) {
			rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
			goto out_key;
		}

	qf__tx tx;
	if ((rc = qf__tx_begin(s, a, true, &tx, err)))
		goto out_key;
	qf__query q;
	qf__stmt *st = NULL;
	json_t *cur = NULL;
	/* The row as it is, if the actor may change it (locked until commit). */
	qf__query_init(&q, s->dialect);
	qf__query_sql(&q, "SELECT ");
	qf__query_columns(&q, t);
	qf__query_sql(&q, " FROM \"%s\" WHERE ", t->name);
	where_pk(&q, t, &k);
	qf__query_sql(&q, " AND ");
	qf__scope_where(&q, t, a, QF__OP_UPDATE);
	if (s->dialect == QF__PG)
		qf__query_sql(&q, " FOR UPDATE");
	rc = qf__query_run(&q, tx.db, &st, err);
	if (rc == 0)
		rc = not_found(t, id, err);
	if (rc < 0)
		goto out_tx;
	cur = qf__row_json(st, t, true, false);
	qf__stmt_finalize(st);
	st = NULL;
	qf__query_release(&q);
	qf__query_init(&q, s->dialect);
	if (!cur) {
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		goto out_tx;
	}
	/* Moving the row to another owner or organisation must be allowed too. */
	const char *owner_col = t->owner >= 0 ? t->cols[t->owner].name : NULL;
	const char *org_col = t->org >= 0 ? t->cols[t->org].name : NULL;
	if ((owner_col && json_object_get(ch, owner_col)) || (org_col && json_object_get(ch, org_col))) {
		json_t *no = owner_col ? json_object_get(ch, owner_col) : NULL;
		json_t *ng = org_col ? json_object_get(ch, org_col) : NULL;
		if (!no && owner_col)
			no = json_object_get(cur, owner_col);
		if (!ng && org_col)
			ng = json_object_get(cur, org_col);
		if ((rc = qf__scope_check_move(tx.db, t, a, text_or_null(no), text_or_null(ng), err)))
			goto out_tx;
	}
	if ((rc = check_refs(tx.db, t, a, ch, err)))
		goto out_tx;

	qf__query_sql(&q, "UPDATE \"%s\" SET ", t->name);
	int n = 0;
	for (int i = 0; i < t->ncols; i++) {
		json_t *v = json_object_get(ch, t->cols[i].name);
		if (!v)
			continue;
		qf__query_sql(&q, "%s\"%s\" = ", n++ ? ", " : "", t->cols[i].name);
		qf__query_value(&q, &t->cols[i], v);
	}
	qf__query_sql(&q, " WHERE ");
	where_pk(&q, t, &k);
	qf__query_sql(&q, " AND ");
	qf__scope_where(&q, t, a, QF__OP_UPDATE);
	rc = qf__query_run(&q, tx.db, &st, err);
	if (rc >= 0)
		rc = qf__stmt_changes(st) > 0 ? 0 : not_found(t, id, err);
out_tx:
	qf__stmt_finalize(st);
	qf__query_release(&q);
	json_decref(cur);
	if (rc)
		qf__tx_rollback(&tx);
	else
		rc = qf__tx_commit(&tx, err);
out_key:
	json_decref(ch);
	pkey_release(&k);
	if (rc && err && rc != QF_ENOENT)
		qf_err_prefix(err, "update of %s", t->name);
	return rc;
}

/* ---- delete ---------------------------------------------------------------------- */

int qf_store_delete(qf_store *s, const qf_actor *a, const char *table, const char *id, qf_err *err)
{
	const qf__table *t;
	pkey k;
	int rc = find_table(table, &t, err);
	if (rc || (rc = pkey_parse(t, id, &k, err)))
		return rc;
	if (t->rule == QF__RULE_AUDIT) {
		pkey_release(&k);
		return qf_err_set(err, QF_CAT_VALIDATION, "store.forbidden",
		                  "table '%s' is append-only: old entries are removed by retention "
		                  "(qforge db purge) only",
		                  t->name);
	}
	if (a->kind == QF_ACTOR_ANONYMOUS) {
		pkey_release(&k);
		return not_found(t, id, err);
	}
	qf__tx tx;
	if ((rc = qf__tx_begin(s, a, true, &tx, err))) {
		pkey_release(&k);
		return rc;
	}
	qf__query q;
	qf__query_init(&q, s->dialect);
	qf__query_sql(&q, "DELETE FROM \"%s\" WHERE ", t->name);
	where_pk(&q, t, &k);
	qf__query_sql(&q, " AND ");
	qf__scope_where(&q, t, a, QF__OP_DELETE);
	qf__stmt *st = NULL;
	rc = qf__query_run(&q, tx.db, &st, err);
	if (rc >= 0)
		rc = qf__stmt_changes(st) > 0 ? 0 : not_found(t, id, err);
	qf__stmt_finalize(st);
	qf__query_release(&q);
	pkey_release(&k);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}

/* ---- list and count ------------------------------------------------------------- */

/* WHERE scope AND filters (without the keyword). */
static int where_filter(qf__query *q, const qf__table *t, const qf_actor *a, const qf_store_filter *f,
                        qf_err *err)
{
	qf__scope_where(q, t, a, QF__OP_READ);
	if (!f)
		return 0;
	if (f->where && !json_is_object(f->where))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "the filter of table '%s' must be a JSON object", t->name);
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)f->where, key, v) {
		int ci = qf__table_col(t, key);
		if (ci < 0)
			return unknown_column(t, key, err);
		const qf__column *c = &t->cols[ci];
		if (!(c->flags & QF__C_FILTER))
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "column '%s' of table '%s' cannot be filtered on (not indexed): see "
			                  "sql/README.md",
			                  key, t->name);
		if (json_is_null(v)) {
			qf__query_sql(q, " AND \"%s\" IS NULL", key);
			continue;
		}
		/* A filter value is checked like a written one, but may be null. */
		qf__column loose = *c;
		loose.flags &= ~(unsigned)(QF__C_REQUIRED | QF__C_NOTNULL);
		int rc = qf__value_check(t, &loose, v, err);
		if (rc)
			return rc;
		qf__query_sql(q, " AND \"%s\" = ", key);
		qf__query_value(q, c, v);
	}
	if (f->since < 0 || f->until < 0)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "a time range of table '%s' cannot start before 1970", t->name);
	if (f->since > 0 || f->until > 0) {
		if (t->time < 0)
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "table '%s' has no time column to filter on", t->name);
		const char *tc = t->cols[t->time].name;
		if (f->since > 0) {
			qf__query_sql(q, " AND \"%s\" >= ", tc);
			qf__query_time(q, f->since);
		}
		if (f->until > 0) {
			qf__query_sql(q, " AND \"%s\" < ", tc);
			qf__query_time(q, f->until);
		}
	}
	return 0;
}

/* Rows after the cursor (f->after_value, f->after_key) in the order of
 * column `order` (NULLS LAST), ties broken by the key. */
static int where_after(qf__query *q, const qf__table *t, int order, bool desc,
                       const qf_store_filter *f, qf_err *err)
{
	if (t->npk != 1)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "table '%s' cannot be paged with a cursor", t->name);
	const qf__column *oc = &t->cols[order], *kc = &t->cols[t->pk[0]];
	long kn = 0;
	bool ok = kc->type == QF__INT ? qf_parse_int(f->after_key, 0, INT64_MAX, &kn)
	                              : kc->type != QF__UUID || qf_uuid_valid(f->after_key);
	const json_t *v = f->after_value;
	if (ok && v && !json_is_null(v) && order != t->pk[0]) {
		qf__column loose = *oc;
		loose.flags &= ~(unsigned)(QF__C_REQUIRED | QF__C_NOTNULL);
		ok = qf__value_check(t, &loose, v, NULL) == 0;
	}
	if (!ok)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid", "the cursor is not valid");
	const char *cmp = desc ? "<" : ">";
#define KEY()                                      \
	do {                                       \
		if (kc->type == QF__INT)           \
			qf__query_int(q, kn);      \
		else                               \
			qf__query_text(q, f->after_key); \
	} while (0)
	if (order == t->pk[0]) {
		qf__query_sql(q, " AND \"%s\" %s ", kc->name, cmp);
		KEY();
	} else if (!v || json_is_null(v)) {
		qf__query_sql(q, " AND \"%s\" IS NULL AND \"%s\" %s ", oc->name, kc->name, cmp);
		KEY();
	} else {
		qf__query_sql(q, " AND (\"%s\" %s ", oc->name, cmp);
		qf__query_value(q, oc, v);
		qf__query_sql(q, " OR (\"%s\" = ", oc->name);
		qf__query_value(q, oc, v);
		qf__query_sql(q, " AND \"%s\" %s ", kc->name, cmp);
		KEY();
		qf__query_sql(q, ") OR \"%s\" IS NULL)", oc->name);
	}
#undef KEY
	return 0;
}

/* The SELECT of a listing of t by f (q initialised here; *order gets the
 * order column). */
static int list_query(qf_store *s, const qf__table *t, const qf_actor *a, const qf_store_filter *f,
                      qf__query *q, int *order, qf_err *err)
{
	int limit = f && f->limit ? f->limit : QF_STORE_DEFAULT_LIMIT;
	int offset = f ? f->offset : 0;
	qf__query_init(q, s->dialect);
	if (limit < 0 || offset < 0)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "limit and offset of a listing must not be negative");
	if (limit > QF_STORE_MAX_LIMIT)
		limit = QF_STORE_MAX_LIMIT;
	*order = t->time >= 0 ? t->time : t->pk[0];
	if (f && f->order_by) {
		*order = qf__table_col(t, f->order_by);
		if (*order < 0)
			return unknown_column(t, f->order_by, err);
		if (!(t->cols[*order].flags & (QF__C_FILTER | QF__C_PK)) && *order != t->time)
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "table '%s' cannot be ordered by column '%s' (not indexed)", t->name,
			                  f->order_by);
	}
	bool desc = f && f->descending;
	int rc;
	qf__query_sql(q, "SELECT ");
	qf__query_columns(q, t);
	qf__query_sql(q, " FROM \"%s\" WHERE ", t->name);
	if ((rc = where_filter(q, t, a, f, err)) ||
	    (f && f->after_key && (rc = where_after(q, t, *order, desc, f, err))))
		return rc;
	/* NULLS LAST on both backends (their defaults differ); the key breaks
	 * ties so that pages are stable. */
	qf__query_sql(q, " ORDER BY \"%s\" %s NULLS LAST", t->cols[*order].name, desc ? "DESC" : "ASC");
	for (int i = 0; i < t->npk; i++)
		if (t->pk[i] != *order)
			qf__query_sql(q, ", \"%s\" %s", t->cols[t->pk[i]].name, desc ? "DESC" : "ASC");
	qf__query_sql(q, " LIMIT ");
	qf__query_int(q, limit);
	qf__query_sql(q, " OFFSET ");
	qf__query_int(q, offset);
	return 0;
}

/* Where a listing's rows go: a jansson array, or JSON text. */
typedef struct list_sink {
	json_t *arr;             /* qf_store_list */
	qf_buf *b;               /* qf_store_list_write */
	const char *const *omit; /* qf_store_list_write */
	json_t **last;           /* qf_store_list_write: the last row's order and key */
	size_t nrows;
} list_sink;

/* The order column and the key columns of the current row, parsed. */
static json_t *row_position(qf__stmt *st, const qf__table *t, int order)
{
	json_t *o = json_object();
	if (o && json_object_set_new(o, t->cols[order].name, qf__col_json(st, order, &t->cols[order]))) {
		json_decref(o);
		return NULL;
	}
	for (int i = 0; o && i < t->npk; i++) {
		const qf__column *c = &t->cols[t->pk[i]];
		if (json_object_set_new(o, c->name, qf__col_json(st, t->pk[i], c))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static int list_rows(qf_store *s, const qf_actor *a, const char *table, const qf_store_filter *f,
                     list_sink *sink, qf_err *err)
{
	const qf__table *t;
	int order = 0, rc = find_table(table, &t, err);
	if (rc)
		return rc;
	qf__query q;
	if ((rc = list_query(s, t, a, f, &q, &order, err))) {
		qf__query_release(&q);
		return rc;
	}
	qf__tx tx;
	if ((rc = qf__tx_begin(s, a, false, &tx, err))) {
		qf__query_release(&q);
		return rc;
	}
	qf__stmt *st = NULL;
	bool secrets = qf__scope_secrets(a);
	/* the order column stays parsed: a page's cursor is made of it */
	bool raw = f && f->raw_json && t->cols[order].type != QF__JSON;
	unsigned char plan[QF__MAX_PARAMS];
	if (sink->b && qf__row_plan(t, secrets, sink->omit, plan, (int)sizeof(plan)))
		rc = qf_err_set(err, QF_CAT_SYSTEM, "store.error", "table '%s' has too many columns",
		                t->name);
	else
		rc = qf__query_run(&q, tx.db, &st, err);
	while (rc == 1) {
		if (sink->b) {
			int wrc = sink->nrows ? qf_buf_append(sink->b, ",", 1) : 0;
			if (!wrc)
				wrc = qf__row_write(sink->b, st, t, plan,
				                    t->cols[order].type == QF__JSON ? order : -1);
			if (!wrc && sink->last) {
				json_decref(*sink->last);
				if (!(*sink->last = row_position(st, t, order)))
					wrc = QF_ENOMEM;
			}
			if (wrc) {
				rc = wrc != QF_ENOMEM
				         ? qf_err_setrc(err, QF_EINVAL, QF_CAT_VALIDATION, "store.too_large",
				                        "the rows of table '%s' are too large to send", t->name)
				         : qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
				break;
			}
		} else {
			json_t *row = qf__row_json(st, t, secrets, raw);
			if (!row || json_array_append_new(sink->arr, row)) {
				rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
				break;
			}
		}
		sink->nrows++;
		rc = qf__stmt_step(st, err);
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	if (rc < 0) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}

int qf_store_list(qf_store *s, const qf_actor *a, const char *table, const qf_store_filter *f,
                  json_t **out, qf_err *err)
{
	*out = NULL;
	list_sink sink = {.arr = json_array()};
	if (!sink.arr)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	int rc = list_rows(s, a, table, f, &sink, err);
	if (rc) {
		json_decref(sink.arr);
		return rc;
	}
	*out = sink.arr;
	return 0;
}

int qf_store_list_write(qf_store *s, const qf_actor *a, const char *table, const qf_store_filter *f,
                        const char *const *omit, qf_buf *b, size_t *nrows, json_t **last,
                        qf_err *err)
{
	size_t start = b->len;
	if (last)
		*last = NULL;
	list_sink sink = {.b = b, .omit = omit, .last = last};
	int rc = qf_buf_append(b, "[", 1);
	if (rc)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	if (!(rc = list_rows(s, a, table, f, &sink, err)) && qf_buf_append(b, "]", 1))
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	if (rc) {
		b->len = start;
		if (b->data)
			b->data[start] = '\0';
		if (last) {
			json_decref(*last);
			*last = NULL;
		}
		return rc;
	}
	if (nrows)
		*nrows = sink.nrows;
	return 0;
}

int qf_store_count(qf_store *s, const qf_actor *a, const char *table, const qf_store_filter *f,
                   int64_t *count, qf_err *err)
{
	*count = 0;
	const qf__table *t;
	int rc = find_table(table, &t, err);
	if (rc)
		return rc;
	qf__query q;
	qf__query_init(&q, s->dialect);
	qf__query_sql(&q, "SELECT count(*) FROM \"%s\" WHERE ", t->name);
	if ((rc = where_filter(&q, t, a, f, err))) {
		qf__query_release(&q);
		return rc;
	}
	qf__tx tx;
	if ((rc = qf__tx_begin(s, a, false, &tx, err))) {
		qf__query_release(&q);
		return rc;
	}
	qf__stmt *st = NULL;
	rc = qf__query_run(&q, tx.db, &st, err);
	if (rc == 1) {
		*count = qf__stmt_col_int64(st, 0);
		rc = 0;
	}
	qf__stmt_finalize(st);
	qf__query_release(&q);
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}
