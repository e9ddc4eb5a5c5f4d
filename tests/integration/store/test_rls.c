/* qf-test: labels=integration,store,postgres timeout=600 */
/*
 * PostgreSQL row-level security, proven at the SQL level with libpq.
 *
 * A fresh database gets the real migrations (qf_store_migrate), then
 * fixtures written as the superuser: users A (researcher in org1), B
 * (researcher in org2), V (viewer in org1), OA (admin of org1), P (platform
 * administrator) and X (no rows, deleted by the delete checks of users), and
 * a row owned by A in org1 in every user-data table.
 *
 * Then, connected as the application role qforge_app, each check runs in its
 * own transaction that first sets the claims and is always rolled back:
 *   - a matrix over every table, command (SELECT, INSERT, UPDATE, DELETE) and
 *     actor (A, B, V, OA, P, system, anonymous) with the expected outcome;
 *   - for every policy in pg_policies: its positive check passes, and fails
 *     once that policy is dropped (in one rolled-back transaction);
 *   - the role and table flags (not superuser, no BYPASSRLS, owns nothing,
 *     RLS enabled and forced everywhere), the append-only audit log and
 *     qf_purge_audit, the columns a user may not change on itself, rows
 *     that point at another tenant's rows, malformed claims, and claims
 *     that must not outlive their transaction.
 *
 * Needs QF_TEST_PG_URL (a superuser URL): scripts/with-postgres provides it.
 */
#include "qftest.h"

#include <glob.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qf/err.h"
#include "qf/store.h"
#include "qf/str.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define Q(id) "'" id "'"

/* Fixture ids. */
#define ID_A "10000000-0000-7000-8000-00000000000a"
#define ID_B "10000000-0000-7000-8000-00000000000b"
#define ID_V "10000000-0000-7000-8000-00000000000c"
#define ID_OA "10000000-0000-7000-8000-00000000000d"
#define ID_P "10000000-0000-7000-8000-00000000000e"
#define ID_X "10000000-0000-7000-8000-00000000000f"
#define ID_NOBODY "10000000-0000-7000-8000-0000000000ff"
#define ORG1 "20000000-0000-7000-8000-000000000001"
#define ORG2 "20000000-0000-7000-8000-000000000002"
#define ORG_NEW "20000000-0000-7000-8000-000000000003"
#define MOL_A1 "30000000-0000-7000-8000-000000000001"
#define MOL_A2 "30000000-0000-7000-8000-000000000002"
#define MOL_B "30000000-0000-7000-8000-00000000000b"
#define BATCH_A1 "40000000-0000-7000-8000-000000000001"
#define BATCH_A2 "40000000-0000-7000-8000-000000000002"
#define BATCH_B "40000000-0000-7000-8000-00000000000b"
#define CALC_A "50000000-0000-7000-8000-000000000001"
#define CALC_B "50000000-0000-7000-8000-00000000000b"
#define KEY_A "60000000-0000-7000-8000-000000000001"
#define AUTH_SESSION_A "70000000-0000-7000-8000-000000000001"
#define USER_SESSION_A "80000000-0000-7000-8000-000000000001"
#define INVITE_A "90000000-0000-7000-8000-000000000001"
#define OUTBOX_A "a0000000-0000-7000-8000-000000000001"

/* ---- the database under test ------------------------------------------- */

static struct {
	char base_url[1024]; /* QF_TEST_PG_URL */
	char db[64];         /* qf_rls_<pid> */
	char store_url[1024]; /* superuser URL of db, for qf_store_open */
	PGconn *server;      /* superuser, maintenance database */
	PGconn *admin;       /* superuser, db */
	PGconn *app;         /* qforge_app, db */
} g;

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Connect to dbname (NULL: the one in QF_TEST_PG_URL) as user (NULL: the
 * URL's). The URL is expanded first; later keywords override it. */
static PGconn *connect_db(const char *dbname, const char *user)
{
	const char *keys[4], *vals[4];
	int n = 0;
	keys[n] = "dbname";
	vals[n++] = g.base_url;
	if (dbname) {
		keys[n] = "dbname";
		vals[n++] = dbname;
	}
	if (user) {
		keys[n] = "user";
		vals[n++] = user;
	}
	keys[n] = NULL;
	vals[n] = NULL;
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c || PQstatus(c) != CONNECTION_OK)
		fail_msg("could not connect to database %s as %s: %s", dbname ? dbname : "(url)",
		         user ? user : "(url)", c ? PQerrorMessage(c) : "out of memory");
	PQsetNoticeProcessor(c, quiet_notices, NULL);
	return c;
}

/* Run sql (no parameters) and fail the test unless it succeeds. */
static void exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
		PQclear(r);
		fail_msg("%.200s failed: %s", sql, msg);
	}
	PQclear(r);
}

/* The single value of a one-row, one-column query, as a number. */
static long query_long(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 1) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
		PQclear(r);
		fail_msg("%.200s did not return one value: %s", sql, msg);
	}
	long v = 0;
	if (!qf_parse_int(PQgetvalue(r, 0, 0), LONG_MIN, LONG_MAX, &v)) {
		char val[64];
		qf_strlcpy(val, PQgetvalue(r, 0, 0), sizeof(val));
		PQclear(r);
		fail_msg("%.200s returned '%s', not a number", sql, val);
	}
	PQclear(r);
	return v;
}

/* postgresql://user@host:port/db of the test database, from the admin
 * connection's own parameters. */
static void build_store_url(void)
{
	const char *host = PQhost(g.admin);
	if (!host || !*host || host[0] == '/')
		fail_msg("the test needs a TCP PostgreSQL URL (got host '%s')", host ? host : "");
	if (qf_snprintf(g.store_url, sizeof(g.store_url), "postgresql://%s@%s:%s/%s", PQuser(g.admin),
	                host, PQport(g.admin), g.db))
		fail_msg("store url too long");
}

/* Apply the migrations through the store, as the superuser: the real
 * path. Every file of sql/postgres is applied; the version is the highest. */
static void migrate(void)
{
	glob_t gl;
	char pattern[QF_MAX_PATH];
	snprintf(pattern, sizeof(pattern), "%s/sql/postgres/[0-9][0-9][0-9]_*.sql", QF_SOURCE_DIR);
	assert_int_equal(glob(pattern, 0, NULL, &gl), 0);
	size_t nfiles = gl.gl_pathc;
	char num[4];
	memcpy(num, strrchr(gl.gl_pathv[nfiles - 1], '/') + 1, 3);
	num[3] = '\0';
	globfree(&gl);
	long highest = 0;
	assert_true(qf_parse_int(num, 1, 999, &highest));

	qf_store_opts o = {.no_migrate = true};
	qf_store *s = NULL;
	qf_err e;
	qf_err_init(&e);
	if (qf_store_open(&s, g.store_url, &o, &e))
		fail_msg("could not open the store at %s: %s", g.store_url, e.message);
	int applied = -1;
	if (qf_store_migrate(s, &applied, &e)) {
		qf_store_close(s);
		fail_msg("migrations failed: %s", e.message);
	}
	int version = 0;
	if (qf_store_schema_version(s, &version, &e)) {
		qf_store_close(s);
		fail_msg("schema version: %s", e.message);
	}
	qf_store_close(s);
	assert_int_equal(applied, (int)nfiles);
	assert_int_equal(version, (int)highest);
	assert_int_equal(query_long(g.admin, "SELECT count(*) FROM schema_migrations"), (long)nfiles);
}

static const char fixtures_sql[] =
	"BEGIN;"
	"INSERT INTO users (id, email, display_name, is_admin, created_at) VALUES"
	" (" Q(ID_A) ", 'a@example.org', 'A', false, now()),"
	" (" Q(ID_B) ", 'b@example.org', 'B', false, now()),"
	" (" Q(ID_V) ", 'v@example.org', 'V', false, now()),"
	" (" Q(ID_OA) ", 'oa@example.org', 'OA', false, now()),"
	" (" Q(ID_P) ", 'p@example.org', 'P', true, now()),"
	" (" Q(ID_X) ", 'x@example.org', 'X', false, now());"
	"INSERT INTO organisations (id, name, owner_id, created_at) VALUES"
	" (" Q(ORG1) ", 'org one', " Q(ID_OA) ", now()),"
	" (" Q(ORG2) ", 'org two', " Q(ID_B) ", now());"
	"INSERT INTO memberships (user_id, org_id, role, created_at) VALUES"
	" (" Q(ID_A) ", " Q(ORG1) ", 'researcher', now()),"
	" (" Q(ID_V) ", " Q(ORG1) ", 'viewer', now()),"
	" (" Q(ID_OA) ", " Q(ORG1) ", 'admin', now()),"
	" (" Q(ID_B) ", " Q(ORG2) ", 'researcher', now());"
	"INSERT INTO api_keys (id, user_id, org_id, name, prefix, key_hash, created_at) VALUES"
	" (" Q(KEY_A) ", " Q(ID_A) ", " Q(ORG1) ", 'key of a', 'qfk_a', 'hash-a', now());"
	"INSERT INTO auth_sessions (id, user_id, token_hash, created_at, expires_at) VALUES"
	" (" Q(AUTH_SESSION_A) ", " Q(ID_A) ", 'token-hash-a', now(), now() + interval '1 day');"
	"INSERT INTO molecules (id, owner_id, org_id, name, formula, natoms, charge, uhf,"
	"  atomic_numbers, coordinates, input_sha256, geometry_sha256, created_at) VALUES"
	" (" Q(MOL_A1) ", " Q(ID_A) ", " Q(ORG1) ", 'water', 'H2O', 3, 0, 0, '[8,1,1]',"
	"  '[[0,0,0],[0,0,0.96],[0.93,0,-0.24]]', 'in-a1', 'geo-a1', now()),"
	" (" Q(MOL_A2) ", " Q(ID_A) ", " Q(ORG1) ", 'methane', 'CH4', 5, 0, 0, '[6,1,1,1,1]',"
	"  '[[0,0,0],[0,0,1.09],[1.03,0,-0.36],[-0.51,0.89,-0.36],[-0.51,-0.89,-0.36]]',"
	"  'in-a2', 'geo-a2', now()),"
	" (" Q(MOL_B) ", " Q(ID_B) ", " Q(ORG2) ", 'water', 'H2O', 3, 0, 0, '[8,1,1]',"
	"  '[[0,0,0],[0,0,0.96],[0.93,0,-0.24]]', 'in-b', 'geo-b', now());"
	"INSERT INTO batches (id, owner_id, org_id, name, spec, status, created_at, updated_at) VALUES"
	" (" Q(BATCH_A1) ", " Q(ID_A) ", " Q(ORG1) ", 'batch a1', '{}', 'completed', now(), now()),"
	" (" Q(BATCH_A2) ", " Q(ID_A) ", " Q(ORG1) ", 'batch a2', '{}', 'queued', now(), now()),"
	" (" Q(BATCH_B) ", " Q(ID_B) ", " Q(ORG2) ", 'batch b', '{}', 'queued', now(), now());"
	"INSERT INTO calculations (id, molecule_id, batch_id, owner_id, org_id, method, task,"
	"  optimization_level, charge, uhf, parameters, spec, status, created_at, updated_at) VALUES"
	" (" Q(CALC_A) ", " Q(MOL_A1) ", " Q(BATCH_A1) ", " Q(ID_A) ", " Q(ORG1) ","
	"  'gfn2', 'sp', 'normal', 0, 0, '{}', '{}', 'completed', now(), now()),"
	" (" Q(CALC_B) ", " Q(MOL_B) ", " Q(BATCH_B) ", " Q(ID_B) ", " Q(ORG2) ","
	"  'gfn2', 'sp', 'normal', 0, 0, '{}', '{}', 'queued', now(), now());"
	"INSERT INTO atomic_properties (calculation_id, atom_index, owner_id, org_id, atomic_number,"
	"  element, x, y, z) VALUES"
	" (" Q(CALC_A) ", 0, " Q(ID_A) ", " Q(ORG1) ", 8, 'O', 0, 0, 0);"
	"INSERT INTO user_sessions (id, user_id, session_token, last_activity, created_at) VALUES"
	" (" Q(USER_SESSION_A) ", " Q(ID_A) ", 'session-a', now(), now());"
	"INSERT INTO calculation_execution_metrics (id, calculation_id, attempt, owner_id, org_id,"
	"  created_at) VALUES (1001, " Q(CALC_A) ", 1, " Q(ID_A) ", " Q(ORG1) ", now());"
	"INSERT INTO calculation_errors (id, calculation_id, attempt, owner_id, org_id, error_type,"
	"  error_severity, error_message, error_code, created_at) VALUES"
	" (1001, " Q(CALC_A) ", 1, " Q(ID_A) ", " Q(ORG1) ", 'system', 'error', 'disk full',"
	"  'fs.full', now());"
	"INSERT INTO performance_metrics (id, user_id, org_id, metric_type, metric_name, value,"
	"  \"timestamp\") VALUES (1001, " Q(ID_A) ", " Q(ORG1) ", 'api_request', 'latency', 1.5, now());"
	"INSERT INTO user_preferences (user_id, updated_at) VALUES (" Q(ID_A) ", now());"
	"INSERT INTO api_usage_logs (id, user_id, org_id, endpoint, method, status_code,"
	"  response_time_ms, created_at) VALUES"
	" (1001, " Q(ID_A) ", " Q(ORG1) ", '/api/molecules', 'GET', 200, 5, now());"
	"INSERT INTO molecule_properties_computed (id, molecule_id, owner_id, org_id, computed_at)"
	" VALUES (1001, " Q(MOL_A1) ", " Q(ID_A) ", " Q(ORG1) ", now());"
	"INSERT INTO batch_job_performance (batch_id, owner_id, org_id, updated_at) VALUES"
	" (" Q(BATCH_A1) ", " Q(ID_A) ", " Q(ORG1) ", now());"
	"INSERT INTO user_audit_log (id, user_id, org_id, action, status, created_at) VALUES"
	" (1001, " Q(ID_A) ", " Q(ORG1) ", 'login', 'success', now() - interval '400 days');"
	"INSERT INTO batch_workers (batch_id, worker, owner_id, org_id, attempts, created_at,"
	"  updated_at) VALUES (" Q(BATCH_A1) ", 'host:1/0', " Q(ID_A) ", " Q(ORG1) ", 1, now(), now());"
	"INSERT INTO user_credentials (user_id, password_hash, totp_secret, updated_at) VALUES"
	" (" Q(ID_A) ", 'hash-of-a', 'totp-of-a', now()),"
	" (" Q(ID_B) ", 'hash-of-b', 'totp-of-b', now());"
	"INSERT INTO user_backup_codes (user_id, code_hash, created_at) VALUES"
	" (" Q(ID_A) ", 'backup-of-a', now()), (" Q(ID_B) ", 'backup-of-b', now());"
	"INSERT INTO invites (id, created_by, org_id, email, role, code_hash, created_at, expires_at)"
	" VALUES (" Q(INVITE_A) ", " Q(ID_A) ", " Q(ORG1) ", 'new@example.org', 'researcher',"
	" 'invite-hash-a', now(), now() + interval '7 days');"
	"INSERT INTO notification_outbox (id, user_id, channel, event, payload, next_attempt_at,"
	"  created_at, updated_at) VALUES (" Q(OUTBOX_A) ", " Q(ID_A) ", 'email', 'test', '{}',"
	"  now(), now(), now());"
	"COMMIT;";

static int group_setup(void **state)
{
	(void)state;
	const char *url = getenv("QF_TEST_PG_URL");
	if (!url || !*url) {
		print_error("QF_TEST_PG_URL is not set: this test needs a PostgreSQL superuser URL; "
		            "run it through scripts/with-postgres (make test always does), e.g. "
		            "scripts/with-postgres ctest --test-dir BUILD -R rls\n");
		return -1;
	}
	if (qf_strlcpy(g.base_url, url, sizeof(g.base_url)) >= sizeof(g.base_url)) {
		print_error("QF_TEST_PG_URL is too long\n");
		return -1;
	}
	snprintf(g.db, sizeof(g.db), "qf_rls_%ld", (long)getpid());
	g.server = connect_db(NULL, NULL);
	char sql[256];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", g.db);
	exec_ok(g.server, sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", g.db);
	exec_ok(g.server, sql);
	g.admin = connect_db(g.db, NULL);
	build_store_url();
	migrate();
	exec_ok(g.admin, fixtures_sql);
	g.app = connect_db(g.db, "qforge_app");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g.app)
		PQfinish(g.app);
	if (g.admin)
		PQfinish(g.admin);
	g.app = g.admin = NULL;
	if (g.server) {
		char sql[256];
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", g.db);
		PGresult *r = PQexec(g.server, sql);
		bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			print_error("could not drop database %s: %s", g.db, PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(g.server);
		g.server = NULL;
		if (!ok)
			return -1;
	}
	return 0;
}

/* ---- actors and outcomes ------------------------------------------------ */

typedef struct actor {
	const char *name;
	const char *user_id; /* qf.user_id claim ("" for none) */
	const char *role;    /* qf.role claim */
} actor;

enum { ACT_A, ACT_B, ACT_V, ACT_OA, ACT_P, ACT_SYSTEM, ACT_ANON, ACT_COUNT };

static const actor actors[ACT_COUNT] = {
	[ACT_A] = {"A (researcher, org1)", ID_A, "user"},
	[ACT_B] = {"B (researcher, org2)", ID_B, "user"},
	[ACT_V] = {"V (viewer, org1)", ID_V, "user"},
	[ACT_OA] = {"OA (admin, org1)", ID_OA, "user"},
	[ACT_P] = {"P (platform admin)", ID_P, "user"},
	[ACT_SYSTEM] = {"system", "", "system"},
	[ACT_ANON] = {"anonymous", "", "anonymous"},
};

enum { CMD_SELECT, CMD_INSERT, CMD_UPDATE, CMD_DELETE, CMD_COUNT };
static const char *const cmd_names[CMD_COUNT] = {"SELECT", "INSERT", "UPDATE", "DELETE"};

typedef struct outcome {
	bool ok;
	long rows;      /* rows affected, or the value a count(*) returned */
	char state[6];  /* SQLSTATE on error */
	char message[512];
} outcome;

/* Run one statement; $1, when the text uses it, is param. */
static void run_stmt(PGconn *c, const char *sql, const char *param, outcome *o)
{
	memset(o, 0, sizeof(*o));
	const char *params[1] = {param};
	int n = strstr(sql, "$1") ? 1 : 0;
	PGresult *r = PQexecParams(c, sql, n, NULL, n ? params : NULL, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_TUPLES_OK) {
		o->ok = true;
		if (PQntuples(r) != 1 || PQnfields(r) != 1 ||
		    !qf_parse_int(PQgetvalue(r, 0, 0), 0, LONG_MAX, &o->rows)) {
			PQclear(r);
			fail_msg("check query did not return one count: %.200s", sql);
		}
	} else if (st == PGRES_COMMAND_OK) {
		o->ok = true;
		const char *t = PQcmdTuples(r);
		if (!qf_parse_int(t, 0, LONG_MAX, &o->rows)) {
			PQclear(r);
			fail_msg("statement reported no row count: %.200s", sql);
		}
	} else {
		const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		qf_strlcpy(o->state, s ? s : "?????", sizeof(o->state));
		const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
		qf_strlcpy(o->message, m ? m : PQresultErrorMessage(r), sizeof(o->message));
	}
	PQclear(r);
}

static void set_claims(PGconn *c, const actor *a)
{
	const char *p[2] = {a->user_id, a->role};
	PGresult *r = PQexecParams(c,
	                           "SELECT set_config('qf.user_id', $1, true), "
	                           "set_config('qf.role', $2, true)",
	                           2, NULL, p, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	if (!ok)
		fail_msg("could not set the claims of %s", a->name);
}

/*
 * What an outcome is:
 *   '+'  done (the row counted / inserted / updated / deleted)
 *   '0'  nothing (count 0, 0 rows updated or deleted)
 *   'r'  refused by row-level security (SQLSTATE 42501, "row-level security")
 *   'p'  refused by privileges (SQLSTATE 42501, "permission denied")
 *   '?'  anything else (another error, more than one row)
 */
static char verdict(const outcome *o)
{
	if (o->ok)
		return o->rows == 1 ? '+' : o->rows == 0 ? '0' : '?';
	if (!strcmp(o->state, "42501")) {
		if (strstr(o->message, "row-level security"))
			return 'r';
		if (strstr(o->message, "permission denied"))
			return 'p';
	}
	return '?';
}

static void describe(const outcome *o, char *out, size_t size)
{
	if (o->ok)
		snprintf(out, size, "%ld row(s)", o->rows);
	else
		snprintf(out, size, "error %s: %s", o->state, o->message);
}

/* ---- the tables --------------------------------------------------------- */

/*
 * One entry per user-data table: a count of A's fixture row, an insert of a
 * new row owned by $1 in org1 (or what the table's owner is), an update and
 * a delete of A's row, and the expected result per actor and command.
 *
 * expect: 7 groups (A B V OA P system anonymous) of 4 letters (SELECT INSERT
 * UPDATE DELETE), separated by spaces:
 *   '+'  allowed: the row is seen / inserted / updated / deleted
 *   '-'  refused: 0 rows seen, updated or deleted; an insert fails with
 *        SQLSTATE 42501 (row-level security)
 *   'p'  refused by privileges: SQLSTATE 42501, permission denied
 * The insert runs as the actor with itself as owner ($1; A for system and
 * anonymous). insert_pre (may be NULL) runs first, in the same transaction.
 */
typedef struct table_check {
	const char *table;
	const char *select_sql;
	const char *insert_pre;
	const char *insert_sql;
	const char *update_sql;
	const char *delete_sql;
	const char *expect;
} table_check;

/* Rows with an owner and an organisation. */
#define ORG_ROWS "++++ ---- +--- ++++ +-++ ++++ ----"
/* Rows of one user only (no organisation): other users cannot see them,
 * and everyone may create its own. */
#define OWN_ROWS "++++ -+-- -+-- -+-- ++++ ++++ ----"
/* Rows of the system alone: not the user they are about, not a platform
 * administrator. */
#define SYSTEM_ROWS "---- ---- ---- ---- ---- ++++ ----"

static const table_check tables[] = {
	{"organisations", "SELECT count(*) FROM organisations WHERE id = " Q(ORG1), NULL,
	 "INSERT INTO organisations (id, name, owner_id, created_at)"
	 " VALUES (gen_random_uuid(), 'new', $1, now())",
	 "UPDATE organisations SET name = 'renamed' WHERE id = " Q(ORG1),
	 "DELETE FROM organisations WHERE id = " Q(ORG1),
	 /* members read it, anyone signed in creates one it owns, its admins
	  * change it */
	 "++-- -+-- ++-- ++++ ++++ ++++ ----"},
	{"users", "SELECT count(*) FROM users WHERE id = " Q(ID_A), NULL,
	 "INSERT INTO users (id, email, created_at)"
	 " VALUES (gen_random_uuid(), gen_random_uuid()::text || '@example.org', now())",
	 "UPDATE users SET display_name = 'renamed' WHERE id = " Q(ID_A),
	 "DELETE FROM users WHERE id = " Q(ID_X),
	 /* a user reads itself and the members of its organisations, updates
	  * itself; only the system and administrators create and delete users */
	 "+-+- ---- +--- +--- ++++ ++++ ----"},
	{"memberships",
	 "SELECT count(*) FROM memberships WHERE user_id = " Q(ID_A) " AND org_id = " Q(ORG1), NULL,
	 "INSERT INTO memberships (user_id, org_id, role, created_at)"
	 " VALUES (" Q(ID_X) ", " Q(ORG1) ", 'viewer', now())",
	 "UPDATE memberships SET role = 'viewer' WHERE user_id = " Q(ID_A) " AND org_id = " Q(ORG1),
	 "DELETE FROM memberships WHERE user_id = " Q(ID_A) " AND org_id = " Q(ORG1),
	 /* members read, the organisation's admins manage */
	 "+--- ---- +--- ++++ ++++ ++++ ----"},
	{"api_keys", "SELECT count(*) FROM api_keys WHERE id = " Q(KEY_A), NULL,
	 "INSERT INTO api_keys (id, user_id, org_id, prefix, key_hash, created_at)"
	 " VALUES (gen_random_uuid(), $1, " Q(ORG1) ", gen_random_uuid()::text, 'h', now())",
	 "UPDATE api_keys SET key_hash = 'replaced' WHERE id = " Q(KEY_A),
	 "DELETE FROM api_keys WHERE id = " Q(KEY_A),
	 /* an organisation admin revokes (deletes) a member's key but cannot
	  * rewrite it: a key hash it chose would let it sign in as the member */
	 "++++ ---- +--- ++-+ +-++ ++++ ----"},
	{"auth_sessions", "SELECT count(*) FROM auth_sessions WHERE id = " Q(AUTH_SESSION_A), NULL,
	 "INSERT INTO auth_sessions (id, user_id, token_hash, created_at, expires_at)"
	 " VALUES (gen_random_uuid(), $1, gen_random_uuid()::text, now(), now() + interval '1 day')",
	 "UPDATE auth_sessions SET last_seen_at = now() WHERE id = " Q(AUTH_SESSION_A),
	 "DELETE FROM auth_sessions WHERE id = " Q(AUTH_SESSION_A), OWN_ROWS},
	{"molecules", "SELECT count(*) FROM molecules WHERE id = " Q(MOL_A1), NULL,
	 "INSERT INTO molecules (id, owner_id, org_id, name, formula, natoms, charge, uhf,"
	 " atomic_numbers, coordinates, input_sha256, geometry_sha256, created_at)"
	 " VALUES (gen_random_uuid(), $1, " Q(ORG1) ", 'h2', 'H2', 2, 0, 0, '[1,1]',"
	 " '[[0,0,0],[0,0,0.74]]', 'in', 'geo', now())",
	 "UPDATE molecules SET name = 'renamed' WHERE id = " Q(MOL_A1),
	 "DELETE FROM molecules WHERE id = " Q(MOL_A1), ORG_ROWS},
	{"batches", "SELECT count(*) FROM batches WHERE id = " Q(BATCH_A1), NULL,
	 "INSERT INTO batches (id, owner_id, org_id, name, spec, status, created_at, updated_at)"
	 " VALUES (gen_random_uuid(), $1, " Q(ORG1) ", 'new', '{}', 'queued', now(), now())",
	 "UPDATE batches SET name = 'renamed' WHERE id = " Q(BATCH_A1),
	 "DELETE FROM batches WHERE id = " Q(BATCH_A1), ORG_ROWS},
	{"calculations", "SELECT count(*) FROM calculations WHERE id = " Q(CALC_A), NULL,
	 "INSERT INTO calculations (id, molecule_id, batch_id, owner_id, org_id, method, task,"
	 " optimization_level, charge, uhf, parameters, spec, status, created_at, updated_at)"
	 " VALUES (gen_random_uuid(), " Q(MOL_A1) ", " Q(BATCH_A1) ", $1, " Q(ORG1) ", 'gfn2',"
	 " 'sp', 'normal', 0, 0, '{}', '{}', 'queued', now(), now())",
	 "UPDATE calculations SET priority = 5 WHERE id = " Q(CALC_A),
	 "DELETE FROM calculations WHERE id = " Q(CALC_A), ORG_ROWS},
	{"atomic_properties",
	 "SELECT count(*) FROM atomic_properties WHERE calculation_id = " Q(CALC_A)
	 " AND atom_index = 0", NULL,
	 "INSERT INTO atomic_properties (calculation_id, atom_index, owner_id, org_id,"
	 " atomic_number, element, x, y, z)"
	 " VALUES (" Q(CALC_A) ", 1, $1, " Q(ORG1) ", 1, 'H', 0, 0, 0.96)",
	 "UPDATE atomic_properties SET partial_charge = -0.5 WHERE calculation_id = " Q(CALC_A)
	 " AND atom_index = 0",
	 "DELETE FROM atomic_properties WHERE calculation_id = " Q(CALC_A) " AND atom_index = 0",
	 ORG_ROWS},
	{"user_sessions", "SELECT count(*) FROM user_sessions WHERE id = " Q(USER_SESSION_A), NULL,
	 "INSERT INTO user_sessions (id, user_id, session_token, last_activity, created_at)"
	 " VALUES (gen_random_uuid(), $1, gen_random_uuid()::text, now(), now())",
	 "UPDATE user_sessions SET current_view = 'batch_manager' WHERE id = " Q(USER_SESSION_A),
	 "DELETE FROM user_sessions WHERE id = " Q(USER_SESSION_A), OWN_ROWS},
	{"calculation_execution_metrics",
	 "SELECT count(*) FROM calculation_execution_metrics WHERE id = 1001", NULL,
	 "INSERT INTO calculation_execution_metrics (calculation_id, attempt, owner_id, org_id,"
	 " created_at) VALUES (" Q(CALC_A) ", 2, $1, " Q(ORG1) ", now())",
	 "UPDATE calculation_execution_metrics SET wall_time_seconds = 1 WHERE id = 1001",
	 "DELETE FROM calculation_execution_metrics WHERE id = 1001", ORG_ROWS},
	{"calculation_errors", "SELECT count(*) FROM calculation_errors WHERE id = 1001", NULL,
	 "INSERT INTO calculation_errors (calculation_id, attempt, owner_id, org_id, error_type,"
	 " error_severity, error_message, error_code, created_at)"
	 " VALUES (" Q(CALC_A) ", 2, $1, " Q(ORG1) ", 'timeout', 'error', 'too slow', 'xtb.timeout',"
	 " now())",
	 "UPDATE calculation_errors SET resolution = 'auto_retry' WHERE id = 1001",
	 "DELETE FROM calculation_errors WHERE id = 1001", ORG_ROWS},
	{"performance_metrics", "SELECT count(*) FROM performance_metrics WHERE id = 1001", NULL,
	 "INSERT INTO performance_metrics (user_id, org_id, metric_type, metric_name, value,"
	 " \"timestamp\") VALUES ($1, " Q(ORG1) ", 'api_request', 'latency', 2, now())",
	 "UPDATE performance_metrics SET value = 3 WHERE id = 1001",
	 "DELETE FROM performance_metrics WHERE id = 1001", ORG_ROWS},
	{"user_preferences",
	 "SELECT count(*) FROM user_preferences WHERE user_id = " Q(ID_A),
	 /* one row per user: A's own fixture row makes room first */
	 "DELETE FROM user_preferences WHERE user_id = $1",
	 "INSERT INTO user_preferences (user_id, theme, updated_at) VALUES ($1, 'dark', now())",
	 "UPDATE user_preferences SET theme = 'light' WHERE user_id = " Q(ID_A),
	 "DELETE FROM user_preferences WHERE user_id = " Q(ID_A), OWN_ROWS},
	{"api_usage_logs", "SELECT count(*) FROM api_usage_logs WHERE id = 1001", NULL,
	 "INSERT INTO api_usage_logs (user_id, org_id, endpoint, method, status_code,"
	 " response_time_ms, created_at) VALUES ($1, " Q(ORG1) ", '/api/batches', 'POST', 201, 7,"
	 " now())",
	 "UPDATE api_usage_logs SET status_code = 500 WHERE id = 1001",
	 "DELETE FROM api_usage_logs WHERE id = 1001", ORG_ROWS},
	{"molecule_properties_computed",
	 "SELECT count(*) FROM molecule_properties_computed WHERE id = 1001", NULL,
	 "INSERT INTO molecule_properties_computed (molecule_id, owner_id, org_id, computed_at)"
	 " VALUES (" Q(MOL_A2) ", $1, " Q(ORG1) ", now())",
	 "UPDATE molecule_properties_computed SET logp = 1.25 WHERE id = 1001",
	 "DELETE FROM molecule_properties_computed WHERE id = 1001", ORG_ROWS},
	{"batch_job_performance",
	 "SELECT count(*) FROM batch_job_performance WHERE batch_id = " Q(BATCH_A1), NULL,
	 "INSERT INTO batch_job_performance (batch_id, owner_id, org_id, updated_at)"
	 " VALUES (" Q(BATCH_A2) ", $1, " Q(ORG1) ", now())",
	 "UPDATE batch_job_performance SET failed_jobs = 2 WHERE batch_id = " Q(BATCH_A1),
	 "DELETE FROM batch_job_performance WHERE batch_id = " Q(BATCH_A1), ORG_ROWS},
	{"user_audit_log", "SELECT count(*) FROM user_audit_log WHERE id = 1001", NULL,
	 "INSERT INTO user_audit_log (user_id, org_id, action, status, created_at)"
	 " VALUES ($1, " Q(ORG1) ", 'data_export', 'success', now())",
	 "UPDATE user_audit_log SET action = 'rewritten' WHERE id = 1001",
	 "DELETE FROM user_audit_log WHERE id = 1001",
	 /* append-only; a user sees its own entries and writes them only into
	  * organisations it belongs to; an organisation admin sees the
	  * organisation's */
	 "++pp --pp -+pp ++pp +-pp ++pp --pp"},
	{"batch_workers",
	 "SELECT count(*) FROM batch_workers WHERE batch_id = " Q(BATCH_A1) " AND worker = 'host:1/0'",
	 NULL,
	 "INSERT INTO batch_workers (batch_id, worker, owner_id, org_id, attempts, created_at,"
	 " updated_at) VALUES (" Q(BATCH_A1) ", gen_random_uuid()::text, $1, " Q(ORG1) ", 1, now(),"
	 " now())",
	 "UPDATE batch_workers SET attempts = 2 WHERE batch_id = " Q(BATCH_A1)
	 " AND worker = 'host:1/0'",
	 "DELETE FROM batch_workers WHERE batch_id = " Q(BATCH_A1) " AND worker = 'host:1/0'",
	 ORG_ROWS},
	{"user_credentials", "SELECT count(*) FROM user_credentials WHERE user_id = " Q(ID_A),
	 /* one row per user: the system makes room first (for others this
	  * deletes nothing) */
	 "DELETE FROM user_credentials WHERE user_id = $1",
	 "INSERT INTO user_credentials (user_id, password_hash, updated_at) VALUES ($1, 'h', now())",
	 "UPDATE user_credentials SET password_hash = 'replaced' WHERE user_id = " Q(ID_A),
	 "DELETE FROM user_credentials WHERE user_id = " Q(ID_A), SYSTEM_ROWS},
	{"user_backup_codes",
	 "SELECT count(*) FROM user_backup_codes WHERE user_id = " Q(ID_A)
	 " AND code_hash = 'backup-of-a'",
	 NULL,
	 "INSERT INTO user_backup_codes (user_id, code_hash, created_at)"
	 " VALUES ($1, gen_random_uuid()::text, now())",
	 "UPDATE user_backup_codes SET used_at = now() WHERE user_id = " Q(ID_A),
	 "DELETE FROM user_backup_codes WHERE user_id = " Q(ID_A), SYSTEM_ROWS},
	{"invites", "SELECT count(*) FROM invites WHERE id = " Q(INVITE_A), NULL,
	 "INSERT INTO invites (id, created_by, org_id, code_hash, created_at, expires_at)"
	 " VALUES (gen_random_uuid(), $1, " Q(ORG1) ", gen_random_uuid()::text, now(),"
	 " now() + interval '1 day')",
	 "UPDATE invites SET email = 'renamed@example.org' WHERE id = " Q(INVITE_A),
	 "DELETE FROM invites WHERE id = " Q(INVITE_A), ORG_ROWS},
	{"notification_outbox", "SELECT count(*) FROM notification_outbox WHERE id = " Q(OUTBOX_A), NULL,
	 "INSERT INTO notification_outbox (id, user_id, channel, event, payload, next_attempt_at,"
	 " created_at, updated_at) VALUES (gen_random_uuid(), $1, 'slack', 'test', '{}', now(), now(),"
	 " now())",
	 "UPDATE notification_outbox SET status = 'sent' WHERE id = " Q(OUTBOX_A),
	 "DELETE FROM notification_outbox WHERE id = " Q(OUTBOX_A),
	 /* the owner (and administrators) read; only the platform writes: a
	  * user cannot make the server send anything */
	 "+--- ---- ---- ---- +--- ++++ ----"},
};

static const table_check *find_table(const char *name)
{
	for (size_t i = 0; i < COUNT(tables); i++)
		if (!strcmp(tables[i].table, name))
			return &tables[i];
	return NULL;
}

static char expected(const table_check *t, int act, int cmd)
{
	return t->expect[act * 5 + cmd];
}

/* Run a table's check for one command as actor a, in the caller's
 * transaction (claims already set). */
static void run_check(PGconn *c, const table_check *t, int cmd, const actor *a, outcome *o)
{
	const char *owner = a->user_id[0] ? a->user_id : ID_A;
	switch (cmd) {
	case CMD_SELECT:
		run_stmt(c, t->select_sql, NULL, o);
		break;
	case CMD_INSERT:
		if (t->insert_pre) {
			run_stmt(c, t->insert_pre, owner, o);
			if (!o->ok)
				return;
		}
		run_stmt(c, t->insert_sql, owner, o);
		break;
	case CMD_UPDATE:
		run_stmt(c, t->update_sql, NULL, o);
		break;
	default:
		run_stmt(c, t->delete_sql, NULL, o);
		break;
	}
}

/* Whether an outcome is what the expectation letter asks for. */
static bool matches(char want, int cmd, const outcome *o)
{
	char v = verdict(o);
	switch (want) {
	case '+':
		return v == '+';
	case '-':
		return cmd == CMD_INSERT ? v == 'r' : v == '0';
	case 'p':
		return v == 'p';
	default:
		return false;
	}
}

static const char *want_text(char want, int cmd)
{
	switch (want) {
	case '+':
		return "allowed";
	case '-':
		return cmd == CMD_INSERT ? "refused by row-level security" : "0 rows";
	case 'p':
		return "permission denied";
	default:
		return "(bad expectation)";
	}
}

/* BEGIN, claims, f, ROLLBACK: each check in its own transaction. */
static void check_in_tx(const table_check *t, int cmd, int act, outcome *o)
{
	exec_ok(g.app, "BEGIN");
	set_claims(g.app, &actors[act]);
	run_check(g.app, t, cmd, &actors[act], o);
	exec_ok(g.app, "ROLLBACK");
}

/* ---- tests -------------------------------------------------------------- */

/* The table list above covers every table of the schema (so a table added
 * later without checks fails here), and every expectation is well formed. */
static void test_every_table_is_checked(void **state)
{
	(void)state;
	PGresult *r = PQexec(g.admin,
	                     "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
	                     " AND relkind IN ('r', 'p') AND relname <> 'schema_migrations'"
	                     " ORDER BY relname");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	int failures = 0;
	for (int i = 0; i < PQntuples(r); i++)
		if (!find_table(PQgetvalue(r, i, 0))) {
			print_error("no row-level security checks for table %s\n", PQgetvalue(r, i, 0));
			failures++;
		}
	assert_int_equal(PQntuples(r), (int)COUNT(tables));
	PQclear(r);
	for (size_t i = 0; i < COUNT(tables); i++) {
		const char *e = tables[i].expect;
		bool ok = strlen(e) == ACT_COUNT * 5 - 1;
		for (size_t k = 0; ok && e[k]; k++)
			ok = (k % 5 == 4) ? e[k] == ' ' : strchr("+-p", e[k]) != NULL;
		if (!ok) {
			print_error("malformed expectation for %s: '%s'\n", tables[i].table, e);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

/* The application role cannot get around row-level security, and every
 * table forces it. */
static void test_role_and_table_flags(void **state)
{
	(void)state;
	assert_int_equal(query_long(g.admin, "SELECT count(*) FROM pg_roles WHERE rolname = 'qforge_app'"), 1);
	assert_int_equal(query_long(g.admin, "SELECT count(*) FROM pg_roles WHERE rolname = 'qforge_app'"
	                                     " AND (rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb)"),
	                 0);
	/* owns no relation (table, sequence, view), function or schema */
	assert_int_equal(query_long(g.admin, "SELECT count(*) FROM pg_class c JOIN pg_roles r"
	                                     " ON r.oid = c.relowner WHERE r.rolname = 'qforge_app'"),
	                 0);
	assert_int_equal(query_long(g.admin, "SELECT count(*) FROM pg_proc p JOIN pg_roles r"
	                                     " ON r.oid = p.proowner WHERE r.rolname = 'qforge_app'"),
	                 0);
	assert_int_equal(query_long(g.admin, "SELECT count(*) FROM pg_namespace n JOIN pg_roles r"
	                                     " ON r.oid = n.nspowner WHERE r.rolname = 'qforge_app'"),
	                 0);
	/* not a member of any role that could lend it privileges */
	assert_int_equal(query_long(g.admin, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r"
	                                     " ON r.oid = m.member WHERE r.rolname = 'qforge_app'"),
	                 0);

	PGresult *r = PQexec(g.admin,
	                     "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
	                     " AND relkind IN ('r', 'p') AND relname <> 'schema_migrations'"
	                     " AND NOT (relrowsecurity AND relforcerowsecurity) ORDER BY relname");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	for (int i = 0; i < PQntuples(r); i++)
		print_error("table %s does not enable and force row-level security\n", PQgetvalue(r, i, 0));
	int n = PQntuples(r);
	PQclear(r);
	assert_int_equal(n, 0);

	/* the connection really is the application role */
	assert_int_equal(query_long(g.app, "SELECT count(*) WHERE current_user = 'qforge_app'"), 1);
}

/* The matrix: every table, command and actor. */
static void test_matrix(void **state)
{
	(void)state;
	int failures = 0, checks = 0;
	for (size_t i = 0; i < COUNT(tables); i++) {
		for (int cmd = 0; cmd < CMD_COUNT; cmd++) {
			for (int act = 0; act < ACT_COUNT; act++) {
				char want = expected(&tables[i], act, cmd);
				outcome o;
				check_in_tx(&tables[i], cmd, act, &o);
				checks++;
				if (!matches(want, cmd, &o)) {
					char got[600];
					describe(&o, got, sizeof(got));
					print_error("%s %s as %s: expected %s, got %s\n", tables[i].table,
					            cmd_names[cmd], actors[act].name, want_text(want, cmd), got);
					failures++;
				}
			}
		}
	}
	assert_int_equal(checks, (int)COUNT(tables) * CMD_COUNT * ACT_COUNT);
	assert_int_equal(failures, 0);
}

/* Nobody but the system writes a row in another user's name: every
 * insert with A as the owner fails for every other actor. */
static void test_no_insert_in_another_name(void **state)
{
	(void)state;
	static const int others[] = {ACT_B, ACT_V, ACT_OA, ACT_P, ACT_ANON};
	int failures = 0;
	for (size_t i = 0; i < COUNT(tables); i++) {
		if (!strstr(tables[i].insert_sql, "$1"))
			continue; /* the insert names no owner (users, memberships) */
		for (size_t k = 0; k < COUNT(others); k++) {
			const actor *a = &actors[others[k]];
			outcome o;
			exec_ok(g.app, "BEGIN");
			set_claims(g.app, a);
			run_stmt(g.app, tables[i].insert_sql, ID_A, &o);
			exec_ok(g.app, "ROLLBACK");
			if (verdict(&o) != 'r') {
				char got[600];
				describe(&o, got, sizeof(got));
				print_error("%s INSERT owned by A as %s: expected refused by row-level "
				            "security, got %s\n", tables[i].table, a->name, got);
				failures++;
			}
		}
	}
	assert_int_equal(failures, 0);
}

/* The first actor (in an order that prefers the least privileged) for whom
 * the table's check of cmd is allowed: the check that proves the policy. */
static int positive_actor(const table_check *t, int cmd)
{
	static const int order[] = {ACT_A, ACT_V, ACT_OA, ACT_B, ACT_P, ACT_SYSTEM};
	for (size_t i = 0; i < COUNT(order); i++)
		if (expected(t, order[i], cmd) == '+')
			return order[i];
	return -1;
}

static int parse_cmd(const char *s)
{
	for (int i = 0; i < CMD_COUNT; i++)
		if (!strcmp(s, cmd_names[i]))
			return i;
	return -1;
}

/* Every policy matters: its positive check passes, and fails once the
 * policy is dropped. Policies come from pg_policies, so one added later
 * without a check fails this test. All in one superuser transaction,
 * rolled back (which restores the policy). */
static void test_each_policy_is_needed(void **state)
{
	(void)state;
	PGresult *pol = PQexec(g.admin, "SELECT policyname, tablename, cmd FROM pg_policies"
	                                " WHERE schemaname = 'public' ORDER BY tablename, policyname");
	assert_int_equal(PQresultStatus(pol), PGRES_TUPLES_OK);
	int n = PQntuples(pol), failures = 0;
	assert_true(n >= (int)COUNT(tables));
	for (int i = 0; i < n; i++) {
		const char *name = PQgetvalue(pol, i, 0), *tname = PQgetvalue(pol, i, 1);
		const table_check *t = find_table(tname);
		int cmd = parse_cmd(PQgetvalue(pol, i, 2));
		int act = t && cmd >= 0 ? positive_actor(t, cmd) : -1;
		if (act < 0) {
			print_error("no check for policy %s on %s (%s)\n", name, tname, PQgetvalue(pol, i, 2));
			failures++;
			continue;
		}
		char *qname = PQescapeIdentifier(g.admin, name, strlen(name));
		char *qtable = PQescapeIdentifier(g.admin, tname, strlen(tname));
		assert_non_null(qname);
		assert_non_null(qtable);
		char drop[512];
		snprintf(drop, sizeof(drop), "DROP POLICY %s ON %s", qname, qtable);
		PQfreemem(qname);
		PQfreemem(qtable);

		outcome before, after;
		exec_ok(g.admin, "BEGIN");
		exec_ok(g.admin, "SET LOCAL ROLE qforge_app");
		set_claims(g.admin, &actors[act]);
		exec_ok(g.admin, "SAVEPOINT before_drop");
		run_check(g.admin, t, cmd, &actors[act], &before);
		exec_ok(g.admin, "ROLLBACK TO SAVEPOINT before_drop");
		exec_ok(g.admin, "RESET ROLE");
		exec_ok(g.admin, drop);
		exec_ok(g.admin, "SET LOCAL ROLE qforge_app");
		run_check(g.admin, t, cmd, &actors[act], &after);
		exec_ok(g.admin, "ROLLBACK");

		char got[600];
		if (verdict(&before) != '+') {
			describe(&before, got, sizeof(got));
			print_error("policy %s: the %s check as %s should pass with the policy, got %s\n",
			            name, cmd_names[cmd], actors[act].name, got);
			failures++;
		}
		if (verdict(&after) == '+') {
			describe(&after, got, sizeof(got));
			print_error("policy %s: the %s check as %s still passes without the policy (%s)\n",
			            name, cmd_names[cmd], actors[act].name, got);
			failures++;
		}
	}
	PQclear(pol);
	/* the policy is back */
	assert_int_equal(query_long(g.admin, "SELECT count(*) FROM pg_policies WHERE schemaname = 'public'"),
	                 n);
	assert_int_equal(failures, 0);
}

/* Platform administrators and the system read every row of every table,
 * except that credentials are the system's alone. */
static void test_admin_and_system_read_everything(void **state)
{
	(void)state;
	static const int readers[] = {ACT_P, ACT_SYSTEM};
	int failures = 0;
	for (size_t i = 0; i < COUNT(tables); i++) {
		char sql[256];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i].table);
		long all = query_long(g.admin, sql);
		assert_true(all >= 1);
		for (size_t k = 0; k < COUNT(readers); k++) {
			exec_ok(g.app, "BEGIN");
			set_claims(g.app, &actors[readers[k]]);
			long seen = query_long(g.app, sql);
			exec_ok(g.app, "ROLLBACK");
			long want = expected(&tables[i], readers[k], CMD_SELECT) == '+' ? all : 0;
			if (seen != want) {
				print_error("%s as %s sees %ld of %ld rows (expected %ld)\n", tables[i].table,
				            actors[readers[k]].name, seen, all, want);
				failures++;
			}
		}
	}
	assert_int_equal(failures, 0);
}

/* The audit log is append-only for the application, even for the system;
 * rows past retention go only through qf_purge_audit, with the system claim. */
static void test_audit_log_append_only(void **state)
{
	(void)state;
	static const char *const writes[] = {
		"UPDATE user_audit_log SET action = 'rewritten'",
		"DELETE FROM user_audit_log",
		"TRUNCATE user_audit_log",
	};
	for (int act = 0; act < ACT_COUNT; act++) {
		for (size_t k = 0; k < COUNT(writes); k++) {
			outcome o;
			exec_ok(g.app, "BEGIN");
			set_claims(g.app, &actors[act]);
			run_stmt(g.app, writes[k], NULL, &o);
			exec_ok(g.app, "ROLLBACK");
			if (verdict(&o) != 'p')
				fail_msg("'%s' as %s: expected permission denied, got %s %s", writes[k],
				         actors[act].name, o.ok ? "success" : o.state, o.message);
		}
	}

	/* qf_purge_audit: refused without the system claim */
	for (int act = 0; act < ACT_COUNT; act++) {
		if (act == ACT_SYSTEM)
			continue;
		outcome o;
		exec_ok(g.app, "BEGIN");
		set_claims(g.app, &actors[act]);
		run_stmt(g.app, "SELECT qf_purge_audit(now())", NULL, &o);
		exec_ok(g.app, "ROLLBACK");
		if (o.ok || strcmp(o.state, "42501"))
			fail_msg("qf_purge_audit as %s: expected insufficient privilege, got %s",
			         actors[act].name, o.ok ? "success" : o.state);
	}
	/* with it, rows older than the cutoff go and newer ones stay */
	exec_ok(g.app, "BEGIN");
	set_claims(g.app, &actors[ACT_SYSTEM]);
	exec_ok(g.app, "INSERT INTO user_audit_log (user_id, action, status, created_at)"
	               " VALUES (" Q(ID_A) ", 'recent', 'success', now())");
	assert_int_equal(query_long(g.app, "SELECT qf_purge_audit(now() - interval '365 days')"), 1);
	assert_int_equal(query_long(g.app, "SELECT count(*) FROM user_audit_log WHERE id = 1001"), 0);
	assert_int_equal(query_long(g.app, "SELECT count(*) FROM user_audit_log WHERE action = 'recent'"), 1);
	exec_ok(g.app, "ROLLBACK");
	assert_int_equal(query_long(g.admin, "SELECT count(*) FROM user_audit_log WHERE id = 1001"), 1);
}

/* A user changes its own row but never the columns that give it power:
 * administrator, disabled, quotas (table-driven). The same changes work
 * for a platform administrator. */
static void test_user_cannot_raise_itself(void **state)
{
	(void)state;
	static const struct {
		const char *what;
		const char *sql;
		bool admin_may; /* a platform administrator may do it */
	} cases[] = {
		{"make itself admin", "UPDATE users SET is_admin = true WHERE id = " Q(ID_A), true},
		{"re-enable itself", "UPDATE users SET disabled = false WHERE id = " Q(ID_X), true},
		{"raise its storage quota", "UPDATE users SET storage_quota_mb = 1e9 WHERE id = " Q(ID_A), true},
		{"lift its storage quota", "UPDATE users SET storage_quota_mb = NULL WHERE id = " Q(ID_A), true},
		{"raise its job limit", "UPDATE users SET max_concurrent_jobs = 100000 WHERE id = " Q(ID_A), true},
		{"lift its job limit", "UPDATE users SET max_concurrent_jobs = NULL WHERE id = " Q(ID_A), true},
		/* (an administrator cannot either: A's rows reference the id) */
		{"take another user's id", "UPDATE users SET id = " Q(ID_NOBODY) " WHERE id = " Q(ID_A), false},
	};
	/* A has quotas, X is disabled (and acts as itself below) */
	exec_ok(g.admin, "UPDATE users SET storage_quota_mb = 100, max_concurrent_jobs = 2"
	                 " WHERE id = " Q(ID_A));
	exec_ok(g.admin, "UPDATE users SET disabled = true WHERE id = " Q(ID_X));
	const actor x = {"X (disabled)", ID_X, "user"};
	int failures = 0;
	for (size_t i = 0; i < COUNT(cases); i++) {
		const actor *self = strstr(cases[i].sql, ID_X) ? &x : &actors[ACT_A];
		outcome o;
		exec_ok(g.app, "BEGIN");
		set_claims(g.app, self);
		run_stmt(g.app, cases[i].sql, NULL, &o);
		exec_ok(g.app, "ROLLBACK");
		if (verdict(&o) != 'r') {
			print_error("a user could %s (%s): expected refused by row-level security, got %s %s\n",
			            cases[i].what, cases[i].sql, o.ok ? "success" : o.state, o.message);
			failures++;
		}

		if (!cases[i].admin_may)
			continue;
		exec_ok(g.app, "BEGIN");
		set_claims(g.app, &actors[ACT_P]);
		run_stmt(g.app, cases[i].sql, NULL, &o);
		exec_ok(g.app, "ROLLBACK");
		if (verdict(&o) != '+') {
			print_error("a platform administrator could not %s for a user: got %s %s\n",
			            cases[i].what, o.ok ? "success" : o.state, o.message);
			failures++;
		}
	}
	/* what a user may change on itself still works */
	outcome o;
	exec_ok(g.app, "BEGIN");
	set_claims(g.app, &actors[ACT_A]);
	run_stmt(g.app, "UPDATE users SET display_name = 'Ada', email = 'ada@example.org',"
	                " storage_quota_mb = 100, max_concurrent_jobs = 2 WHERE id = " Q(ID_A), NULL, &o);
	exec_ok(g.app, "ROLLBACK");
	assert_true(o.ok);
	assert_int_equal(o.rows, 1);
	exec_ok(g.admin, "UPDATE users SET storage_quota_mb = NULL, max_concurrent_jobs = NULL"
	                 " WHERE id = " Q(ID_A));
	exec_ok(g.admin, "UPDATE users SET disabled = false WHERE id = " Q(ID_X));
	assert_int_equal(failures, 0);
}

/* Creating an organisation: its owner adds itself as admin; nobody adds
 * itself to an organisation it does not own. */
static void test_organisation_bootstrap(void **state)
{
	(void)state;
	exec_ok(g.app, "BEGIN");
	set_claims(g.app, &actors[ACT_A]);
	exec_ok(g.app, "INSERT INTO organisations (id, name, owner_id, created_at)"
	               " VALUES (" Q(ORG_NEW) ", 'lab of a', " Q(ID_A) ", now())");
	exec_ok(g.app, "INSERT INTO memberships (user_id, org_id, role, created_at)"
	               " VALUES (" Q(ID_A) ", " Q(ORG_NEW) ", 'admin', now())");
	/* now an admin there: it adds a member and writes into it */
	exec_ok(g.app, "INSERT INTO memberships (user_id, org_id, role, created_at)"
	               " VALUES (" Q(ID_V) ", " Q(ORG_NEW) ", 'researcher', now())");
	assert_int_equal(query_long(g.app, "SELECT count(*) FROM memberships WHERE org_id = " Q(ORG_NEW)), 2);
	exec_ok(g.app, "ROLLBACK");

	static const struct {
		int act;
		const char *sql;
	} refused[] = {
		/* joining an organisation one does not own */
		{ACT_B, "INSERT INTO memberships (user_id, org_id, role, created_at)"
		        " VALUES (" Q(ID_B) ", " Q(ORG1) ", 'viewer', now())"},
		{ACT_A, "INSERT INTO memberships (user_id, org_id, role, created_at)"
		        " VALUES (" Q(ID_A) ", " Q(ORG2) ", 'admin', now())"},
		/* promoting oneself */
		{ACT_A, "INSERT INTO memberships (user_id, org_id, role, created_at)"
		        " VALUES (" Q(ID_A) ", " Q(ORG1) ", 'admin', now())"},
		{ACT_V, "INSERT INTO memberships (user_id, org_id, role, created_at)"
		        " VALUES (" Q(ID_V) ", " Q(ORG1) ", 'researcher', now())"},
		/* an organisation in another user's name */
		{ACT_A, "INSERT INTO organisations (id, name, owner_id, created_at)"
		        " VALUES (" Q(ORG_NEW) ", 'forged', " Q(ID_B) ", now())"},
	};
	for (size_t i = 0; i < COUNT(refused); i++) {
		outcome o;
		exec_ok(g.app, "BEGIN");
		set_claims(g.app, &actors[refused[i].act]);
		run_stmt(g.app, refused[i].sql, NULL, &o);
		exec_ok(g.app, "ROLLBACK");
		if (verdict(&o) != 'r')
			fail_msg("as %s, %s: expected refused by row-level security, got %s %s",
			         actors[refused[i].act].name, refused[i].sql, o.ok ? "success" : o.state,
			         o.message);
	}
}

/* A user cannot attach its rows to another tenant's rows (a calculation on
 * B's molecule, properties of B's calculation, a row in B's batch), nor
 * move a row of its own under them, nor move its rows into an organisation
 * where it may not write. */
static void test_no_rows_under_foreign_rows(void **state)
{
	(void)state;
	static const struct {
		const char *what;
		const char *sql;
	} cases[] = {
		{"a calculation of B's molecule",
		 "INSERT INTO calculations (id, molecule_id, owner_id, org_id, method, task,"
		 " optimization_level, charge, uhf, parameters, spec, status, created_at, updated_at)"
		 " VALUES (gen_random_uuid(), " Q(MOL_B) ", " Q(ID_A) ", " Q(ORG1) ", 'gfn2', 'sp',"
		 " 'normal', 0, 0, '{}', '{}', 'queued', now(), now())"},
		{"a calculation in B's batch",
		 "INSERT INTO calculations (id, molecule_id, batch_id, owner_id, org_id, method, task,"
		 " optimization_level, charge, uhf, parameters, spec, status, created_at, updated_at)"
		 " VALUES (gen_random_uuid(), " Q(MOL_A1) ", " Q(BATCH_B) ", " Q(ID_A) ", " Q(ORG1) ","
		 " 'gfn2', 'sp', 'normal', 0, 0, '{}', '{}', 'queued', now(), now())"},
		{"moving its calculation into B's batch",
		 "UPDATE calculations SET batch_id = " Q(BATCH_B) " WHERE id = " Q(CALC_A)},
		{"moving its calculation onto B's molecule",
		 "UPDATE calculations SET molecule_id = " Q(MOL_B) " WHERE id = " Q(CALC_A)},
		{"atomic properties of B's calculation",
		 "INSERT INTO atomic_properties (calculation_id, atom_index, owner_id, org_id,"
		 " atomic_number, element, x, y, z)"
		 " VALUES (" Q(CALC_B) ", 0, " Q(ID_A) ", " Q(ORG1) ", 1, 'H', 0, 0, 0)"},
		{"moving atomic properties onto B's calculation",
		 "UPDATE atomic_properties SET calculation_id = " Q(CALC_B) " WHERE calculation_id = "
		 Q(CALC_A)},
		{"execution metrics of B's calculation",
		 "INSERT INTO calculation_execution_metrics (calculation_id, attempt, owner_id, org_id,"
		 " created_at) VALUES (" Q(CALC_B) ", 1, " Q(ID_A) ", " Q(ORG1) ", now())"},
		{"an error of B's calculation",
		 "INSERT INTO calculation_errors (calculation_id, attempt, owner_id, org_id, error_type,"
		 " error_severity, error_message, error_code, created_at) VALUES (" Q(CALC_B) ", 1, "
		 Q(ID_A) ", " Q(ORG1) ", 'system', 'error', 'x', 'x', now())"},
		{"computed properties of B's molecule",
		 "INSERT INTO molecule_properties_computed (molecule_id, owner_id, org_id, computed_at)"
		 " VALUES (" Q(MOL_B) ", " Q(ID_A) ", " Q(ORG1) ", now())"},
		{"performance of B's batch",
		 "INSERT INTO batch_job_performance (batch_id, owner_id, org_id, updated_at)"
		 " VALUES (" Q(BATCH_B) ", " Q(ID_A) ", " Q(ORG1) ", now())"},
		{"moving its molecule into org2",
		 "UPDATE molecules SET org_id = " Q(ORG2) " WHERE id = " Q(MOL_A1)},
		{"giving its molecule to B", "UPDATE molecules SET owner_id = " Q(ID_B) " WHERE id = " Q(MOL_A1)},
		{"an audit entry in org2",
		 "INSERT INTO user_audit_log (user_id, org_id, action, status, created_at)"
		 " VALUES (" Q(ID_A) ", " Q(ORG2) ", 'login', 'success', now())"},
		{"an api key for org2",
		 "INSERT INTO api_keys (id, user_id, org_id, prefix, key_hash, created_at)"
		 " VALUES (gen_random_uuid(), " Q(ID_A) ", " Q(ORG2) ", 'qfk_x', 'h', now())"},
	};
	int failures = 0;
	for (size_t i = 0; i < COUNT(cases); i++) {
		outcome o;
		exec_ok(g.app, "BEGIN");
		set_claims(g.app, &actors[ACT_A]);
		run_stmt(g.app, cases[i].sql, NULL, &o);
		exec_ok(g.app, "ROLLBACK");
		if (verdict(&o) != 'r') {
			print_error("A could write %s: expected refused by row-level security, got %s %s\n",
			            cases[i].what, o.ok ? "success" : o.state, o.message);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
	/* the same rows under A's own parents are fine (the checks above are
	 * not refused for another reason) */
	exec_ok(g.app, "BEGIN");
	set_claims(g.app, &actors[ACT_A]);
	exec_ok(g.app, "INSERT INTO calculation_execution_metrics (calculation_id, attempt, owner_id,"
	               " org_id, created_at) VALUES (" Q(CALC_A) ", 3, " Q(ID_A) ", " Q(ORG1) ", now())");
	exec_ok(g.app, "UPDATE calculations SET batch_id = " Q(BATCH_A2) " WHERE id = " Q(CALC_A));
	exec_ok(g.app, "ROLLBACK");
}

/* The hole 005 closed: anyone may create an organisation and add anyone
 * to it, and co-members see each other's users rows, which held the
 * password hash and TOTP secret. B does that to A: it sees A's users row,
 * which has no secrets any more, and none of A's credentials. */
static void test_credentials_out_of_reach(void **state)
{
	(void)state;
	exec_ok(g.app, "BEGIN");
	set_claims(g.app, &actors[ACT_B]);
	exec_ok(g.app, "INSERT INTO organisations (id, name, owner_id, created_at)"
	               " VALUES (" Q(ORG_NEW) ", 'trap', " Q(ID_B) ", now())");
	exec_ok(g.app, "INSERT INTO memberships (user_id, org_id, role, created_at)"
	               " VALUES (" Q(ID_B) ", " Q(ORG_NEW) ", 'admin', now())");
	exec_ok(g.app, "INSERT INTO memberships (user_id, org_id, role, created_at)"
	               " VALUES (" Q(ID_A) ", " Q(ORG_NEW) ", 'viewer', now())");
	assert_int_equal(query_long(g.app, "SELECT count(*) FROM users WHERE id = " Q(ID_A)), 1);
	assert_int_equal(query_long(g.app, "SELECT count(*) FROM user_credentials"), 0);
	outcome o;
	run_stmt(g.app, "SELECT count(password_hash) FROM users WHERE id = " Q(ID_A), NULL, &o);
	assert_false(o.ok);
	assert_string_equal(o.state, "42703"); /* undefined column */
	exec_ok(g.app, "ROLLBACK");
	/* nor does A see its own, nor its co-member OA */
	static const int others[] = {ACT_A, ACT_OA, ACT_V, ACT_P, ACT_ANON};
	for (size_t k = 0; k < COUNT(others); k++) {
		exec_ok(g.app, "BEGIN");
		set_claims(g.app, &actors[others[k]]);
		assert_int_equal(query_long(g.app, "SELECT count(*) FROM user_credentials"), 0);
		exec_ok(g.app, "ROLLBACK");
	}
	/* the system does (sign-in) */
	exec_ok(g.app, "BEGIN");
	set_claims(g.app, &actors[ACT_SYSTEM]);
	assert_int_equal(query_long(g.app, "SELECT count(*) FROM user_credentials WHERE user_id = "
	                                   Q(ID_A) " AND password_hash = 'hash-of-a'"),
	                 1);
	exec_ok(g.app, "ROLLBACK");
}

/* Malformed or inconsistent claims see nothing and write nothing
 * (table-driven): only qf.role = 'system' means the system, only
 * qf.role = 'user' with a valid user id means a user. */
static void test_malformed_claims(void **state)
{
	(void)state;
	static const actor cases[] = {
		{"no claims at all", "", ""},
		{"anonymous with a user id", ID_A, "anonymous"},
		{"a user id without a role", ID_A, ""},
		{"a user id with an unknown role", ID_A, "researcher"},
		{"a user id with role admin", ID_P, "admin"},
		{"role System (case)", "", "System"},
		{"role 'system ' (blank)", "", "system "},
		{"role ' system'", "", " system"},
		{"role user without an id", "", "user"},
		{"an unknown user", ID_NOBODY, "user"},
		{"a user id that is not a uuid", "not-a-uuid", "user"},
		{"a user id with trailing text", ID_A "x", "user"},
		{"a user id with SQL", ID_A "' OR true --", "user"},
	};
	int failures = 0;
	for (size_t c = 0; c < COUNT(cases); c++) {
		for (size_t i = 0; i < COUNT(tables); i++) {
			char sql[256];
			snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i].table);
			outcome o;
			exec_ok(g.app, "BEGIN");
			set_claims(g.app, &cases[c]);
			run_stmt(g.app, sql, NULL, &o);
			exec_ok(g.app, "ROLLBACK");
			/* nothing visible: 0 rows, or an error (fails closed) */
			if (o.ok && o.rows != 0) {
				print_error("%s: %s shows %ld rows\n", cases[c].name, tables[i].table, o.rows);
				failures++;
			}
			exec_ok(g.app, "BEGIN");
			set_claims(g.app, &cases[c]);
			run_stmt(g.app, tables[i].insert_sql, ID_A, &o);
			exec_ok(g.app, "ROLLBACK");
			if (o.ok) {
				print_error("%s: insert into %s succeeded\n", cases[c].name, tables[i].table);
				failures++;
			}
			exec_ok(g.app, "BEGIN");
			set_claims(g.app, &cases[c]);
			run_stmt(g.app, tables[i].delete_sql, NULL, &o);
			exec_ok(g.app, "ROLLBACK");
			if (o.ok && o.rows != 0) {
				print_error("%s: delete from %s removed %ld rows\n", cases[c].name,
				            tables[i].table, o.rows);
				failures++;
			}
		}
	}
	assert_int_equal(failures, 0);
}

/* Claims are transaction-local: a committed transaction's claims do not
 * reach the next one on the same connection. */
static void test_claims_do_not_leak(void **state)
{
	(void)state;
	exec_ok(g.app, "BEGIN");
	set_claims(g.app, &actors[ACT_A]);
	assert_true(query_long(g.app, "SELECT count(*) FROM molecules") >= 2);
	exec_ok(g.app, "COMMIT");

	exec_ok(g.app, "BEGIN");
	assert_int_equal(query_long(g.app, "SELECT count(*) FROM molecules"), 0);
	assert_int_equal(query_long(g.app, "SELECT count(*) FROM users"), 0);
	exec_ok(g.app, "COMMIT");
	/* nor to a statement outside any explicit transaction */
	assert_int_equal(query_long(g.app, "SELECT count(*) FROM calculations"), 0);

	/* the same after a transaction that set the system claim and wrote */
	exec_ok(g.app, "BEGIN");
	set_claims(g.app, &actors[ACT_SYSTEM]);
	exec_ok(g.app, "INSERT INTO performance_metrics (metric_type, metric_name, value, \"timestamp\")"
	               " VALUES ('queue', 'depth', 0, now())");
	exec_ok(g.app, "COMMIT");
	assert_int_equal(query_long(g.app, "SELECT count(*) FROM performance_metrics"), 0);
	outcome o;
	run_stmt(g.app, "INSERT INTO performance_metrics (metric_type, metric_name, value, \"timestamp\")"
	                " VALUES ('queue', 'depth', 0, now())", NULL, &o);
	assert_int_equal(verdict(&o), 'r');
	/* and after a rolled-back one */
	exec_ok(g.app, "BEGIN");
	set_claims(g.app, &actors[ACT_P]);
	assert_true(query_long(g.app, "SELECT count(*) FROM users") >= 6);
	exec_ok(g.app, "ROLLBACK");
	assert_int_equal(query_long(g.app, "SELECT count(*) FROM users"), 0);
	exec_ok(g.admin, "DELETE FROM performance_metrics WHERE metric_type = 'queue'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_table_is_checked),
		cmocka_unit_test(test_role_and_table_flags),
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_no_insert_in_another_name),
		cmocka_unit_test(test_each_policy_is_needed),
		cmocka_unit_test(test_admin_and_system_read_everything),
		cmocka_unit_test(test_audit_log_append_only),
		cmocka_unit_test(test_user_cannot_raise_itself),
		cmocka_unit_test(test_organisation_bootstrap),
		cmocka_unit_test(test_no_rows_under_foreign_rows),
		cmocka_unit_test(test_credentials_out_of_reach),
		cmocka_unit_test(test_malformed_claims),
		cmocka_unit_test(test_claims_do_not_leak),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
