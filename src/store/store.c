/*
 * The store: opening, connection slots, transactions with claims,
 * migrations, actors (see include/qf/store.h and store_int.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qf/fs.h"
#include "qf/log.h"
#include "qf/str.h"
#include "qf/uuid.h"
#include "store_int.h"

/* ---- actors and roles ------------------------------------------------------ */

static const char *const role_names[] = {
	[QF_ROLE_NONE] = "none",
	[QF_ROLE_VIEWER] = "viewer",
	[QF_ROLE_RESEARCHER] = "researcher",
	[QF_ROLE_ADMIN] = "admin",
};

const char *qf_role_name(qf_role r)
{
	return (unsigned)r < sizeof(role_names) / sizeof(role_names[0]) ? role_names[r] : "none";
}

int qf_role_parse(const char *s, qf_role *out)
{
	for (unsigned i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (s && !strcmp(s, role_names[i])) {
			*out = (qf_role)i;
			return 0;
		}
	return QF_EINVAL;
}

qf_actor qf_actor_system(void)
{
	qf_actor a;
	memset(&a, 0, sizeof(a));
	a.kind = QF_ACTOR_SYSTEM;
	return a;
}

qf_actor qf_actor_anonymous(void)
{
	qf_actor a;
	memset(&a, 0, sizeof(a));
	a.kind = QF_ACTOR_ANONYMOUS;
	return a;
}

qf_actor qf_actor_local(void)
{
	qf_actor a;
	memset(&a, 0, sizeof(a));
	a.kind = QF_ACTOR_USER;
	qf_strlcpy(a.user_id, QF_LOCAL_USER_ID, sizeof(a.user_id));
	return a;
}

const char *qf_store_default_url(void)
{
	const char *u = getenv("QF_STORE");
	return u && *u ? u : "sqlite:var/qforge.db";
}

const char *qf_store_backend(const qf_store *s)
{
	return s->dialect == QF__PG ? "postgresql" : "sqlite";
}

/* ---- slots ------------------------------------------------------------------ */

static int slot_connect(qf_store *s, qf__slot *sl, qf_err *err)
{
	if (s->dialect == QF__PG)
		return qf__pg_connect(&sl->db, s->target, err);
	int rc = qf__sqlite_open(&sl->db, s->target, s->opts.busy_timeout_ms, err);
	/* a reading slot cannot write: a read transaction that did would
	 * fail here, loudly, rather than race the writing slot for the lock;
	 * and its page cache is a quarter of the writer's (8 MiB: an answer
	 * reads a few pages; what a recording batch needs is the writer's) */
	if (!rc && sl->reader &&
	    (rc = qf__db_exec(sl->db, "PRAGMA query_only = ON; PRAGMA cache_size = -8192", err))) {
		qf__db_close(sl->db);
		sl->db = NULL;
	}
	return rc;
}

/* Take a free slot (waiting for one), connected and healthy: on SQLite
 * with reading slots, a read transaction takes one of those and everything
 * else the writing slot 0. */
static int slot_take(qf_store *s, bool write, int *idx, qf_err *err)
{
	int lo = 0, hi = s->nslots;
	if (s->dialect == QF__SQLITE && s->nslots > 1) {
		if (write)
			hi = 1;
		else
			lo = 1;
	}
	pthread_mutex_lock(&s->mu);
	int i;
	for (;;) {
		for (i = lo; i < hi; i++)
			if (!s->slots[i].busy)
				break;
		if (i < hi)
			break;
		pthread_cond_wait(&s->cv, &s->mu);
	}
	qf__slot *sl = &s->slots[i];
	sl->busy = true;
	unsigned gen = s->schema_gen;
	pthread_mutex_unlock(&s->mu);

	int rc = 0;
	if (!sl->db) {
		rc = slot_connect(s, sl, err);
		sl->schema_gen = gen;
	} else if (s->dialect == QF__PG) {
		rc = qf__pg_check(sl->db, err);
		if (!rc && sl->schema_gen != gen) {
			rc = qf__pg_forget_prepared(sl->db, err);
			sl->schema_gen = gen;
		}
	}
	if (rc) {
		if (sl->db && s->dialect == QF__PG && qf__pg_broken(sl->db)) {
			qf__db_close(sl->db);
			sl->db = NULL;
		}
		pthread_mutex_lock(&s->mu);
		sl->busy = false;
		pthread_cond_broadcast(&s->cv); /* waiters may want another kind of slot */
		pthread_mutex_unlock(&s->mu);
		return rc;
	}
	*idx = i;
	return 0;
}

static void slot_give(qf_store *s, int i)
{
	qf__slot *sl = &s->slots[i];
	/* A broken PostgreSQL connection is dropped; the next user of the slot
	 * connects again. */
	if (sl->db && s->dialect == QF__PG && qf__pg_broken(sl->db)) {
		qf__db_close(sl->db);
		sl->db = NULL;
	}
	pthread_mutex_lock(&s->mu);
	sl->busy = false;
	pthread_cond_broadcast(&s->cv); /* waiters may want another kind of slot */
	pthread_mutex_unlock(&s->mu);
}

/* ---- transactions ------------------------------------------------------------- */

static const char *claim_role(const qf_actor *a)
{
	switch (a->kind) {
	case QF_ACTOR_SYSTEM: return "system";
	case QF_ACTOR_USER: return "user";
	default: return "anonymous";
	}
}

int qf__tx_begin(qf_store *s, const qf_actor *a, bool write, qf__tx *tx, qf_err *err)
{
	memset(tx, 0, sizeof(*tx));
	tx->slot = -1;
	if (a->kind == QF_ACTOR_USER && !qf_uuid_valid(a->user_id))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "the acting user id is not a lowercase UUID");
	int idx, rc = slot_take(s, write, &idx, err);
	if (rc)
		return rc;
	tx->s = s;
	tx->slot = idx;
	tx->db = s->slots[idx].db;
	tx->actor = a;
	if (s->dialect == QF__SQLITE) {
		rc = qf__db_exec(tx->db, write ? "BEGIN IMMEDIATE" : "BEGIN", err);
	} else {
		/* One round trip: the transaction and its claims. The user id was
		 * checked to be a UUID (hex digits and dashes), the role is ours. */
		char sql[256];
		snprintf(sql, sizeof(sql),
		         "BEGIN; SELECT set_config('qf.user_id', '%s', true), set_config('qf.role', '%s', true)",
		         a->kind == QF_ACTOR_USER ? a->user_id : "", claim_role(a));
		rc = qf__db_exec(tx->db, sql, err);
	}
	if (rc) {
		qf__db_exec(tx->db, "ROLLBACK", NULL);
		slot_give(s, idx);
		tx->s = NULL;
		return rc;
	}
	tx->open = true;
	return 0;
}

int qf__tx_commit(qf__tx *tx, qf_err *err)
{
	if (!tx->s)
		return 0;
	int rc = qf__db_exec(tx->db, "COMMIT", err);
	if (rc)
		qf__db_exec(tx->db, "ROLLBACK", NULL);
	tx->open = false;
	slot_give(tx->s, tx->slot);
	tx->s = NULL;
	return rc;
}

void qf__tx_rollback(qf__tx *tx)
{
	if (!tx->s)
		return;
	if (tx->open)
		qf__db_exec(tx->db, "ROLLBACK", NULL);
	tx->open = false;
	slot_give(tx->s, tx->slot);
	tx->s = NULL;
}

/* ---- opening -------------------------------------------------------------------- */

/* SQLite: the writing slot, and QF_SQLITE_READERS reading ones for a file
 * (an in-memory database is one per connection: one slot). */
static int sqlite_slots(const char *target)
{
	if (!strcmp(target, ":memory:") || !strncmp(target, "file:", 5))
		return 1;
	return 1 + QF_SQLITE_READERS;
}

/* Create the directory that will hold the SQLite file (var/). */
static int make_parent(const char *path, qf_err *err)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return 0;
	char dir[QF_MAX_PATH];
	size_t n = (size_t)(slash - path);
	if (n >= sizeof(dir))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.url", "database path too long: %s", path);
	memcpy(dir, path, n);
	dir[n] = '\0';
	if (qf_fs_exists(dir))
		return 0;
	return qf_fs_mkdir_p(dir, false, err);
}

int qf_store_open(qf_store **out, const char *url, const qf_store_opts *opts, qf_err *err)
{
	*out = NULL;
	if (!url || !*url)
		url = qf_store_default_url();
	qf__dialect d;
	const char *target;
	if (!strncmp(url, "sqlite:", 7)) {
		d = QF__SQLITE;
		target = url + 7;
		if (!*target)
			return qf_err_set(err, QF_CAT_VALIDATION, "store.url",
			                  "store URL '%s' names no file: use sqlite:PATH", url);
	} else if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11)) {
		d = QF__PG;
		target = url;
	} else {
		return qf_err_set(err, QF_CAT_VALIDATION, "store.url",
		                  "unknown store URL '%s': use sqlite:PATH or postgresql://USER@HOST/DB", url);
	}
	qf_store_opts o = {0};
	if (opts)
		o = *opts;
	if (o.pool_size == 0)
		o.pool_size = 4;
	if (o.pool_size < 1 || o.pool_size > QF_MAX_PG_POOL)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.pool_size",
		                  "pool size %d is out of range: use 1 to %d", o.pool_size, QF_MAX_PG_POOL);
	if (o.busy_timeout_ms == 0)
		o.busy_timeout_ms = 10000;
	if (o.busy_timeout_ms < 0)
		return qf_err_set(err, QF_CAT_VALIDATION, "store.busy_timeout",
		                  "busy timeout %d ms is negative", o.busy_timeout_ms);

	qf_store *s = calloc(1, sizeof(*s));
	if (!s)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	s->dialect = d;
	s->opts = o;
	s->nslots = d == QF__PG ? o.pool_size : sqlite_slots(target);
	for (int i = 1; d == QF__SQLITE && i < s->nslots; i++)
		s->slots[i].reader = true;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	int rc;
	if (!(s->target = strdup(target))) {
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		goto out_store;
	}
	if (d == QF__SQLITE && strcmp(target, ":memory:") && (rc = make_parent(target, err)))
		goto out_store;
	/* Connect one slot now, so a wrong URL or an unreachable server fails
	 * here rather than at the first request. */
	if ((rc = slot_connect(s, &s->slots[0], err)))
		goto out_store;
	if (!o.no_migrate && (rc = qf_store_migrate(s, NULL, err)))
		goto out_store;
	*out = s;
	return 0;

out_store:
	qf_store_close(s);
	return rc;
}

void qf_store_close(qf_store *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nslots; i++)
		qf__db_close(s->slots[i].db);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s->target);
	free(s);
}

/* ---- migrations ---------------------------------------------------------------- */

/* The advisory lock two migrating PostgreSQL sessions serialise on
 * ("qfmigrat" in ASCII). */
#define MIGRATE_LOCK "8243118118711436660"

static int table_exists(qf__db *db, bool *exists, qf_err *err)
{
	const char *sql = qf__db_dialect(db) == QF__PG
	                          ? "SELECT to_regclass('schema_migrations') IS NOT NULL"
	                          : "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
	                            "name = 'schema_migrations'";
	qf__stmt *st;
	int rc = qf__db_prepare(db, sql, &st, err);
	if (rc)
		return rc;
	rc = qf__stmt_step(st, err);
	if (rc == 1) {
		*exists = qf__stmt_col_bool(st, 0);
		rc = 0;
	}
	qf__stmt_finalize(st);
	return rc;
}

static int version_applied(qf__db *db, int version, bool *applied, qf_err *err)
{
	qf__stmt *st;
	int rc = qf__db_prepare(db, "SELECT count(*) FROM schema_migrations WHERE version = ?", &st, err);
	if (rc)
		return rc;
	qf__stmt_bind_int64(st, 1, version);
	rc = qf__stmt_step(st, err);
	if (rc == 1) {
		*applied = qf__stmt_col_int64(st, 0) > 0;
		rc = 0;
	}
	qf__stmt_finalize(st);
	return rc;
}

static int max_version(qf__db *db, int *version, qf_err *err)
{
	qf__stmt *st;
	int rc = qf__db_prepare(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", &st, err);
	if (rc)
		return rc;
	rc = qf__stmt_step(st, err);
	if (rc == 1) {
		*version = (int)qf__stmt_col_int64(st, 0);
		rc = 0;
	}
	qf__stmt_finalize(st);
	return rc;
}

/* The pending migrations of list, given the applied ones. */
static int count_pending(qf__db *db, bool have_table, const qf__migration *list, int *pending,
                         int *first, qf_err *err)
{
	*pending = 0;
	*first = 0;
	for (const qf__migration *m = list; m->sql; m++) {
		bool applied = false;
		int rc;
		if (have_table && (rc = version_applied(db, m->version, &applied, err)))
			return rc;
		if (!applied) {
			if (!*pending)
				*first = m->version;
			(*pending)++;
		}
	}
	return 0;
}

static int may_create(qf__db *db, bool *yes, qf_err *err)
{
	*yes = true;
	if (qf__db_dialect(db) != QF__PG)
		return 0;
	qf__stmt *st;
	int rc = qf__db_prepare(db, "SELECT has_schema_privilege('public', 'CREATE')", &st, err);
	if (rc)
		return rc;
	rc = qf__stmt_step(st, err);
	if (rc == 1) {
		*yes = qf__stmt_col_bool(st, 0);
		rc = 0;
	}
	qf__stmt_finalize(st);
	return rc;
}

static int outdated(qf_err *err, int first)
{
	return qf_err_set(err, QF_CAT_SYSTEM, "store.schema_outdated",
	                  "the database schema needs migration %03d and later, and this role may not "
	                  "create tables: run `qforge db migrate --store <admin URL>` as the database "
	                  "owner or a superuser", first);
}

/* Apply one migration in its own transaction, with its schema_migrations
 * row. Another process may have applied it meanwhile (PostgreSQL: it held
 * the advisory lock): then nothing is done. */
static int apply_one(qf__db *db, const qf__migration *m, bool *did, qf_err *err)
{
	bool pg = qf__db_dialect(db) == QF__PG;
	*did = false;
	int rc = qf__db_exec(db, pg ? "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")"
	                            : "BEGIN IMMEDIATE",
	                     err);
	if (rc)
		return rc;
	rc = qf__db_exec(db, pg ? "CREATE TABLE IF NOT EXISTS schema_migrations ("
	                          "version integer PRIMARY KEY, name text NOT NULL, "
	                          "applied_at timestamptz NOT NULL)"
	                        : "CREATE TABLE IF NOT EXISTS schema_migrations ("
	                          "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
	                          "applied_at TEXT NOT NULL)",
	                 err);
	bool applied = false;
	if (!rc)
		rc = version_applied(db, m->version, &applied, err);
	if (!rc && !applied) {
		if ((rc = qf__db_exec(db, m->sql, err))) {
			qf_err_prefix(err, "migration %s failed (nothing of it was applied)", m->name);
		} else {
			qf__stmt *st;
			if (!(rc = qf__db_prepare(db,
			                          "INSERT INTO schema_migrations (version, name, applied_at) "
			                          "VALUES (?, ?, ?)",
			                          &st, err))) {
				char now[QF_TIME_STR];
				qf__time_format(qf_clock_now(), now);
				qf__stmt_bind_int64(st, 1, m->version);
				qf__stmt_bind_str(st, 2, m->name);
				qf__stmt_bind_str(st, 3, now);
				rc = qf__stmt_step(st, err);
				qf__stmt_finalize(st);
				if (rc > 0)
					rc = 0;
			}
		}
	}
	if (!rc)
		rc = qf__db_exec(db, "COMMIT", err);
	if (rc) {
		qf__db_exec(db, "ROLLBACK", NULL);
		return rc;
	}
	*did = !applied;
	if (*did)
		qf_log_info("store", "applied migration %s", m->name);
	return 0;
}

int qf__store_migrate_with(qf_store *s, const qf__migration *list, int *applied, qf_err *err)
{
	if (applied)
		*applied = 0;
	int idx, rc = slot_take(s, true, &idx, err);
	if (rc)
		return rc;
	qf__db *db = s->slots[idx].db;
	bool have = false, create = true;
	int pending = 0, first = 0, done = 0;
	if ((rc = table_exists(db, &have, err)) ||
	    (rc = count_pending(db, have, list, &pending, &first, err)))
		goto out;
	if (!pending)
		goto out;
	if ((rc = may_create(db, &create, err)))
		goto out;
	if (!create) {
		rc = outdated(err, first);
		goto out;
	}
	for (const qf__migration *m = list; m->sql; m++) {
		bool did = false;
		if ((rc = apply_one(db, m, &did, err))) {
			if (err && !strcmp(err->code, "store.forbidden"))
				rc = outdated(err, m->version);
			break;
		}
		done += did;
	}
out:
	if (done && s->dialect == QF__PG) {
		pthread_mutex_lock(&s->mu);
		s->schema_gen++;
		s->slots[idx].schema_gen = s->schema_gen;
		pthread_mutex_unlock(&s->mu);
		qf__pg_forget_prepared(db, NULL);
	}
	slot_give(s, idx);
	if (applied)
		*applied = done;
	return rc;
}

int qf_store_migrate(qf_store *s, int *applied, qf_err *err)
{
	const qf__migration *list =
		s->dialect == QF__PG ? qf__migrations_postgres : qf__migrations_sqlite;
	return qf__store_migrate_with(s, list, applied, err);
}

int qf_store_schema_version(qf_store *s, int *version, qf_err *err)
{
	*version = 0;
	int idx, rc = slot_take(s, true, &idx, err);
	if (rc)
		return rc;
	qf__db *db = s->slots[idx].db;
	bool have = false;
	if (!(rc = table_exists(db, &have, err)) && have)
		rc = max_version(db, version, err);
	slot_give(s, idx);
	return rc;
}

/* ---- actors from the database ---------------------------------------------- */

int qf_store_actor(qf_store *s, const char *user_id, qf_actor *out, qf_err *err)
{
	if (!user_id || !qf_uuid_valid(user_id))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "user id '%s' is not a lowercase UUID", user_id ? user_id : "");
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	int rc = qf__tx_begin(s, &sys, false, &tx, err);
	if (rc)
		return rc;
	qf__stmt *st;
	if ((rc = qf__db_prepare(tx.db, "SELECT is_admin, disabled, role FROM users WHERE id = ?", &st, err)))
		goto out;
	qf__stmt_bind_str(st, 1, user_id);
	rc = qf__stmt_step(st, err);
	if (rc == 1) {
		memset(out, 0, sizeof(*out));
		out->kind = QF_ACTOR_USER;
		qf_strlcpy(out->user_id, user_id, sizeof(out->user_id));
		/* A disabled administrator is not one (as qf_is_admin() in SQL). */
		out->is_admin = qf__stmt_col_bool(st, 0) && !qf__stmt_col_bool(st, 1);
		const char *role = qf__stmt_col_text(st, 2, NULL);
		out->viewer = !out->is_admin && role && !strcmp(role, "viewer");
		rc = 0;
	} else if (rc == 0) {
		rc = qf_err_setrc(err, QF_ENOENT, QF_CAT_VALIDATION, "store.not_found",
		                  "user %s not found", user_id);
	}
	qf__stmt_finalize(st);
out:
	if (rc)
		qf__tx_rollback(&tx);
	else
		rc = qf__tx_commit(&tx, err);
	return rc;
}

/* ---- test hooks -------------------------------------------------------------- */

int qf__store_exec(qf_store *s, const char *sql, qf_err *err)
{
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	int rc = qf__tx_begin(s, &sys, true, &tx, err);
	if (rc)
		return rc;
	if ((rc = qf__db_exec(tx.db, sql, err))) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}

int qf__store_query_int(qf_store *s, const char *sql, int64_t *out, qf_err *err)
{
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	int rc = qf__tx_begin(s, &sys, false, &tx, err);
	if (rc)
		return rc;
	qf__stmt *st;
	if (!(rc = qf__db_prepare(tx.db, sql, &st, err))) {
		rc = qf__stmt_step(st, err);
		if (rc == 1) {
			*out = qf__stmt_col_int64(st, 0);
			rc = 0;
		} else if (rc == 0) {
			rc = qf_err_set(err, QF_CAT_VALIDATION, "store.not_found", "the query returned no row");
		}
		qf__stmt_finalize(st);
	}
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}
