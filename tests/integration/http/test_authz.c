/* qf-test: labels=integration,http,xtb,postgres timeout=900 */
/*
 * The authorisation matrix, on SQLite and on PostgreSQL: every route of the
 * route table (qf_http_routes) for each caller
 *
 *   anonymous   no token
 *   viewer      platform role viewer, a viewer member of organisation A
 *   researcher  a researcher member of A (not its administrator)
 *   admin       the platform administrator (a member of nothing)
 *   other       a researcher member of organisation B
 *
 * and, for a route about one object, each object class seen from the caller
 *
 *   own         the caller's own (in its organisation, if any)
 *   same        another member's, shared with the caller's organisation
 *               (the organisation's administrator made it)
 *   foreign     made in the other organisation
 *   missing     an id that names nothing
 *
 * with the status each cell must answer. The rules the cells follow (and
 * which the test states once, in expect()): anonymous callers get 401 from
 * every route that is not public; a viewer gets 403 from every route that
 * writes research data; a non-administrator gets 403 from administrator
 * routes; what the caller may not see answers 404, exactly like a missing
 * object; what it sees but may not change answers 403; reads it may make
 * answer 200, and writes it may make pass authorisation (2xx, or 409/422
 * for a state that does not allow them).
 *
 * Then: lists show each caller exactly what it may see, and mass assignment
 * (owner, organisation, role, status, results in request bodies) is refused
 * or ignored.
 */
#include "http_test.h"

#include "qf/http.h"

enum { ANON, VIEWER, RESEARCHER, ADMIN, OTHER, NACTORS };
static const char *const actor_names[] = {"anonymous", "viewer", "researcher", "admin", "other"};
enum { OWN, SAME, FOREIGN, MISSING, NCLASSES };
static const char *const class_names[] = {"own", "same-org", "other-org", "missing"};
enum { K_MOLECULE, K_CALC, K_BATCH, K_ORG, K_USER, K_KEY };

#define MISSING_ID "00000000-0000-4000-8000-00000000dead"

typedef struct world {
	ht_server s;
	char tok[NACTORS][QF_MAX_PATH];
	char uid[NACTORS][QF_UUID_STR];
	/* object owners: ra administers A, yb administers B */
	char ra_tok[QF_MAX_PATH], yb_tok[QF_MAX_PATH], ra[QF_UUID_STR], yb[QF_UUID_STR];
	char spare[QF_UUID_STR]; /* a user added to and removed from organisations */
	char org_a[QF_UUID_STR], org_b[QF_UUID_STR];
	int mismatches, cells;
	unsigned seq;
} world;

static void put_member(world *w, const char *tok, const char *org, const char *uid, const char *role)
{
	char path[256], body[64];
	snprintf(path, sizeof(path), "/api/v1/organisations/%s/members/%s", org, uid);
	snprintf(body, sizeof(body), "{\"role\":\"%s\"}", role);
	ht_resp r;
	ht_call(&r, &w->s, "PUT", path, tok, body);
	if (r.status != 200 && r.status != 201)
		fail_msg("PUT %s: %ld %s", path, r.status, r.body);
	ht_resp_release(&r);
}

static void setup_world(world *w, bool pg, const char *tmp)
{
	memset(w, 0, sizeof(*w));
	if (pg)
		sv_store_pg(&w->s.store, NULL, "http_authz");
	else
		sv_store_sqlite(&w->s.store, tmp);
	/* one worker: the calculations complete, so their files exist; a web
	 * app of one page for the static route */
	char web[QF_MAX_PATH], index[QF_MAX_PATH];
	qft_join(web, tmp, "web");
	mkdir(web, 0755);
	qft_join(index, web, "index.html");
	qft_write(index, "<!doctype html><title>Quantum Forge</title>\n");
	const char *extra[] = {"--web-root", web, NULL};
	ht_serve(&w->s, tmp, 1, extra);
	ht_register(&w->s, "admin@example.org", w->tok[ADMIN], w->uid[ADMIN]);
	ht_register(&w->s, "viewer@example.org", w->tok[VIEWER], w->uid[VIEWER]);
	ht_register(&w->s, "researcher@example.org", w->tok[RESEARCHER], w->uid[RESEARCHER]);
	ht_register(&w->s, "other@example.org", w->tok[OTHER], w->uid[OTHER]);
	ht_register(&w->s, "ra@example.org", w->ra_tok, w->ra);
	ht_register(&w->s, "yb@example.org", w->yb_tok, w->yb);
	char spare_tok[QF_MAX_PATH];
	ht_register(&w->s, "spare@example.org", spare_tok, w->spare);
	ht_create(&w->s, "/api/v1/organisations", w->ra_tok, "{\"name\":\"Lab A\"}", w->org_a);
	ht_create(&w->s, "/api/v1/organisations", w->yb_tok, "{\"name\":\"Lab B\"}", w->org_b);
	put_member(w, w->ra_tok, w->org_a, w->uid[VIEWER], "viewer");
	put_member(w, w->ra_tok, w->org_a, w->uid[RESEARCHER], "researcher");
	put_member(w, w->yb_tok, w->org_b, w->uid[OTHER], "researcher");
	char path[128];
	snprintf(path, sizeof(path), "/api/v1/users/%s", w->uid[VIEWER]);
	ht_resp r;
	ht_expect(&r, &w->s, "PATCH", path, w->tok[ADMIN], "{\"role\":\"viewer\"}", 200);
	ht_resp_release(&r);
	/* the viewer's role changed: a fresh session to be sure it holds */
	ht_login(&w->s, "viewer@example.org", w->tok[VIEWER]);
}

/* The organisation an actor works in (NULL: none). */
static const char *org_of(const world *w, int a)
{
	return a == VIEWER || a == RESEARCHER ? w->org_a : a == OTHER ? w->org_b : NULL;
}

/* Make an object of kind k for actor a's class c; its id into id. For
 * OWN the actor makes it (in its organisation); SAME: the administrator of
 * the actor's organisation, shared with it; FOREIGN: the other
 * organisation's administrator. */
static void make(world *w, int k, int a, int c, char id[QF_UUID_STR])
{
	if (c == MISSING || a == ANON) {
		qf_strlcpy(id, MISSING_ID, QF_UUID_STR);
		if (a == ANON && c != MISSING)
			make(w, k, RESEARCHER, c, id); /* a real object anonymous callers ask for */
		return;
	}
	bool in_b = a == OTHER;
	const char *tok, *org, *uid;
	if (c == OWN) {
		tok = w->tok[a];
		org = org_of(w, a);
		uid = w->uid[a];
	} else if ((c == SAME) != in_b) {
		tok = w->ra_tok;
		org = w->org_a;
		uid = w->ra;
	} else {
		tok = w->yb_tok;
		org = w->org_b;
		uid = w->yb;
	}
	/* a viewer makes nothing of its own research data: its "own" object is
	 * one its organisation's administrator made for the organisation */
	if (a == VIEWER && c == OWN && (k == K_MOLECULE || k == K_CALC || k == K_BATCH)) {
		tok = w->ra_tok;
		org = w->org_a;
	}
	char name[32];
	snprintf(name, sizeof(name), "m%u", ++w->seq);
	switch (k) {
	case K_MOLECULE:
	case K_CALC: {
		char *body = ht_molecule_body(name, org, w->seq);
		char mol[QF_UUID_STR];
		ht_create(&w->s, "/api/v1/molecules", tok, body, mol);
		free(body);
		if (k == K_MOLECULE) {
			qf_strlcpy(id, mol, QF_UUID_STR);
			return;
		}
		char sub[256];
		snprintf(sub, sizeof(sub), "{\"molecule_id\":\"%s\",\"spec\":{\"method\":\"gfn2\",\"task\":\"sp\"}}",
		         mol);
		ht_create(&w->s, "/api/v1/calculations", tok, sub, id);
		return;
	}
	case K_BATCH: {
		char body[512];
		snprintf(body, sizeof(body),
		         "{\"name\":\"%s\",\"format\":\"xyz\",\"data\":\"3\\n%s\\nO 0 0 %.4f\\nH 0 0.7572 "
		         "-0.4692\\nH 0 -0.7572 -0.4692\\n\",\"spec\":{\"task\":\"sp\"}%s%s%s}",
		         name, name, 0.1173 + 0.0001 * w->seq, org ? ",\"org_id\":\"" : "", org ? org : "",
		         org ? "\"" : "");
		ht_create(&w->s, "/api/v1/batches", tok, body, id);
		return;
	}
	case K_ORG:
		/* own: the caller's organisation (the admin, a member of none, is
		 * given A); same: the same; foreign: the other */
		if (c == OWN || c == SAME)
			qf_strlcpy(id, in_b ? w->org_b : w->org_a, QF_UUID_STR);
		else
			qf_strlcpy(id, in_b ? w->org_a : w->org_b, QF_UUID_STR);
		return;
	case K_USER:
		qf_strlcpy(id, uid, QF_UUID_STR);
		return;
	case K_KEY: {
		ht_resp r;
		ht_expect(&r, &w->s, "POST", "/api/v1/api-keys", c == OWN ? w->tok[a] : tok,
		          "{\"name\":\"k\"}", 201);
		qf_strlcpy(id, json_string_value(json_object_get(r.json, "id")), QF_UUID_STR);
		ht_resp_release(&r);
		return;
	}
	}
}

/* What a route is about, from its path. */
static int kind_of(const char *path)
{
	if (strstr(path, "/molecules/"))
		return K_MOLECULE;
	if (strstr(path, "/calculations/"))
		return K_CALC;
	if (strstr(path, "/batches/"))
		return K_BATCH;
	if (strstr(path, "/organisations/"))
		return K_ORG;
	if (strstr(path, "/users/"))
		return K_USER;
	if (strstr(path, "/api-keys/"))
		return K_KEY;
	return -1;
}

#define ALLOWED 0 /* 2xx, or 409 / 422 / 400 for the object's state or the body */

/* The expected status of route rt for actor a and object class c (-1: a
 * route about no object). */
static int expect(const qf_http_route_info *rt, int a, int c)
{
	bool read = !strcmp(rt->method, "GET");
	if (rt->access == QF_HTTP_PUBLIC)
		return read ? 200 : ALLOWED;
	if (a == ANON)
		return 401;
	if (rt->access == QF_HTTP_WRITER && a == VIEWER)
		return 403;
	if (rt->access == QF_HTTP_ADMIN && a != ADMIN)
		return 403;
	int k = kind_of(rt->path);
	if (c < 0 || k < 0)
		return read ? 200 : ALLOWED;
	bool admin = a == ADMIN;
	/* users: one changes only oneself (others: 403, whoever they are) */
	if (k == K_USER && !read)
		return admin || c == OWN ? (c == MISSING ? 404 : ALLOWED) : 403;
	if (c == MISSING)
		return 404;
	/* an API key is seen by its owner (and administrators) alone */
	if (k == K_KEY)
		return admin || c == OWN ? ALLOWED : 404;
	bool sees = admin || c == OWN || c == SAME;
	if (!sees)
		return 404;
	if (read)
		return 200;
	/* changes: the owner, the organisation's administrators, platform
	 * administrators; a co-member who is none of these: 403 */
	if (k == K_ORG)
		return admin ? ALLOWED : 403;
	return admin || (c == OWN && a != VIEWER) ? ALLOWED : 403;
}

static bool matches(long status, int want)
{
	if (want == ALLOWED)
		return (status >= 200 && status < 300) || status == 409 || status == 422 ||
		       status == 400;
	return status == want;
}

/* The path of rt for object id (and, for members, the spare user). */
static void fill(const world *w, const qf_http_route_info *rt, const char *id, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = rt->path; *p && n + 64 < size;) {
		if (*p == '{') {
			const char *end = strchr(p, '}');
			char name[32];
			snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
			const char *v = !strcmp(name, "id") ? id
			                : !strcmp(name, "user_id") ? w->spare
			                : !strcmp(name, "name")    ? "metadata.json"
			                : !strcmp(name, "view")    ? "calculations"
			                : !strcmp(name, "*path")   ? "index.html"
			                                           : "x";
			n += (size_t)snprintf(out + n, size - n, "%s", v);
			p = end + 1;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	if (!strcmp(rt->path, "/api/v1/exports"))
		snprintf(out + n, size - n, "?format=csv");
}

static const char *body_for(const qf_http_route_info *rt)
{
	if (strstr(rt->path, "/members/"))
		return "{\"role\":\"viewer\"}";
	if (!strcmp(rt->method, "PATCH"))
		return "{\"display_name\":\"Renamed\"}";
	if (!strcmp(rt->method, "POST") || !strcmp(rt->method, "PUT"))
		return "{}";
	return NULL;
}

/* Routes whose call changes or removes the object: each cell gets a fresh one. */
static bool destructive(const qf_http_route_info *rt)
{
	return !strcmp(rt->method, "DELETE") || strstr(rt->path, "/cancel") || strstr(rt->path, "/retry");
}

static void cell(world *w, const qf_http_route_info *rt, int a, int c, const char *id)
{
	char path[512];
	fill(w, rt, id, path, sizeof(path));
	/* removing a member: the spare user is one, whoever asks */
	if (!strcmp(rt->method, "DELETE") && strstr(rt->path, "/members/") && strcmp(id, MISSING_ID)) {
		const char *owner = !strcmp(id, w->org_a) ? w->ra_tok : w->yb_tok;
		put_member(w, owner, id, w->spare, "viewer");
	}
	ht_resp r;
	const char *body = body_for(rt);
	ht_call(&r, &w->s, rt->method, path, a == ANON ? NULL : w->tok[a], body);
	ht_check_no_secrets(&r, path);
	int want = expect(rt, a, c);
	w->cells++;
	if (!matches(r.status, want)) {
		w->mismatches++;
		print_error("%-6s %-48s %-10s %-9s: %ld, expected %s%d: %.200s\n", rt->method, rt->path,
		            actor_names[a], c < 0 ? "-" : class_names[c], r.status,
		            want == ALLOWED ? "allowed, not " : "", want == ALLOWED ? 401 : want, r.body);
	}
	if (r.status >= 400)
		ht_check_error_shape(&r, path);
	ht_resp_release(&r);
}

static void run_matrix(world *w)
{
	size_t n = 0;
	const qf_http_route_info *routes = qf_http_routes(&n);
	/* the objects read-only routes share, one per kind, actor and class */
	static const int kinds[] = {K_MOLECULE, K_CALC, K_BATCH, K_ORG, K_USER, K_KEY};
	char shared[6][NACTORS][NCLASSES][QF_UUID_STR];
	for (int k = 0; k < 6; k++)
		for (int a = 0; a < NACTORS; a++)
			for (int c = 0; c < NCLASSES; c++)
				make(w, kinds[k], a, c, shared[k][a][c]);
	/* the calculations complete (their files are read) */
	for (int a = 1; a < NACTORS; a++)
		for (int c = 0; c < MISSING; c++) {
			json_t *d = ht_wait_calc(&w->s, w->tok[ADMIN], shared[K_CALC][a][c], 300);
			json_decref(d);
		}
	for (size_t i = 0; i < n; i++) {
		const qf_http_route_info *rt = &routes[i];
		if (!strcmp(rt->path, "/api/v1/events")) {
			/* a stream: only its refusal is a single answer */
			cell(w, rt, ANON, -1, MISSING_ID);
			continue;
		}
		if (rt->access == QF_HTTP_PUBLIC && strcmp(rt->method, "GET"))
			continue; /* register and login: their own tests */
		if (!strcmp(rt->path, "/api/v1/auth/logout") || !strcmp(rt->path, "/api/v1/auth/password"))
			continue; /* would end or change the callers' sessions: test_api */
		int k = kind_of(rt->path);
		for (int a = 0; a < NACTORS; a++) {
			if (k < 0) {
				cell(w, rt, a, -1, MISSING_ID);
				continue;
			}
			for (int c = 0; c < NCLASSES; c++) {
				char id[QF_UUID_STR];
				if (destructive(rt) && k != K_ORG)
					make(w, k, a, c, id);
				else
					qf_strlcpy(id, shared[k][a][c], sizeof(id));
				cell(w, rt, a, c, id);
			}
		}
	}
	print_message("authorisation matrix: %d cells, %d wrong\n", w->cells, w->mismatches);
	assert_int_equal(w->mismatches, 0);
}

/* Lists: each caller sees exactly its own, its organisation's, and (the
 * admin) everything. */
static void check_lists(world *w)
{
	char mine[QF_UUID_STR], a_obj[QF_UUID_STR], b_obj[QF_UUID_STR];
	make(w, K_MOLECULE, RESEARCHER, OWN, mine);
	make(w, K_MOLECULE, RESEARCHER, SAME, a_obj);
	make(w, K_MOLECULE, RESEARCHER, FOREIGN, b_obj);
	struct {
		int actor;
		bool mine, a, b;
	} want[] = {
		{VIEWER, true, true, false},  /* "mine" is shared with A */
		{RESEARCHER, true, true, false},
		{OTHER, false, false, true},
		{ADMIN, true, true, true},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		for (int page = 0; page < 2; page++) {
			const char *path = page ? "/rest/v1/molecules?select=id&limit=1000"
			                        : "/api/v1/molecules?limit=1000";
			ht_resp r;
			ht_expect(&r, &w->s, "GET", path, w->tok[want[i].actor], NULL, 200);
			bool m = strstr(r.body, mine), a = strstr(r.body, a_obj), b = strstr(r.body, b_obj);
			if (m != want[i].mine || a != want[i].a || b != want[i].b)
				fail_msg("%s as %s: own %d same-org %d other-org %d, expected %d %d %d", path,
				         actor_names[want[i].actor], m, a, b, want[i].mine, want[i].a, want[i].b);
			ht_resp_release(&r);
		}
	}
}

/* Fields a client may not set are never taken from a body. */
static void check_mass_assignment(world *w)
{
	static const struct {
		const char *method, *path, *body;
	} cases[] = {
		{"POST", "/api/v1/molecules",
		 "{\"name\":\"x\",\"format\":\"xyz\",\"data\":\"1\\nx\\nHe 0 0 0\\n\",\"owner_id\":\"%s\"}"},
		{"POST", "/api/v1/molecules",
		 "{\"name\":\"x\",\"format\":\"xyz\",\"data\":\"1\\nx\\nHe 0 0 0\\n\",\"id\":\"%s\"}"},
		{"POST", "/api/v1/calculations", "{\"molecule_id\":\"%s\",\"status\":\"completed\"}"},
		{"POST", "/api/v1/calculations", "{\"molecule_id\":\"%s\",\"total_energy\":-1.0}"},
		{"POST", "/api/v1/batches",
		 "{\"name\":\"x\",\"format\":\"xyz\",\"data\":\"1\\nx\\nHe 0 0 0\\n\",\"owner_id\":\"%s\"}"},
		{"PUT", "/api/v1/preferences", "{\"user_id\":\"%s\"}"},
		{"PUT", "/api/v1/session", "{\"user_id\":\"%s\"}"},
		{"POST", "/api/v1/api-keys", "{\"name\":\"k\",\"user_id\":\"%s\"}"},
		{"POST", "/api/v1/api-keys", "{\"name\":\"k\",\"key_hash\":\"%s\"}"},
		{"POST", "/api/v1/organisations", "{\"name\":\"x\",\"owner_id\":\"%s\"}"},
		{"PATCH", "/api/v1/users/{self}", "{\"role\":\"admin\",\"x\":\"%s\"}"},
		{"PATCH", "/api/v1/users/{self}", "{\"is_admin\":true,\"x\":\"%s\"}"},
		{"PATCH", "/api/v1/users/{self}", "{\"email\":\"%s@example.org\"}"},
		{"POST", "/api/v1/auth/register",
		 "{\"email\":\"new@example.org\",\"password\":\"" HT_PASSWORD "\",\"role\":\"admin\",\"x\":\"%s\"}"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[512], path[256];
		snprintf(body, sizeof(body), cases[i].body, w->uid[ADMIN]);
		if (strstr(cases[i].path, "{self}"))
			snprintf(path, sizeof(path), "/api/v1/users/%s", w->uid[RESEARCHER]);
		else
			qf_strlcpy(path, cases[i].path, sizeof(path));
		ht_resp r;
		ht_call(&r, &w->s, cases[i].method, path, w->tok[RESEARCHER], body);
		if (r.status != 400 && r.status != 403)
			fail_msg("%s %s with %s: %ld (expected refusal): %s", cases[i].method, path, body,
			         r.status, r.body);
		ht_check_error_shape(&r, path);
		ht_resp_release(&r);
	}
	/* and the researcher is still a researcher */
	ht_resp r;
	ht_expect(&r, &w->s, "GET", "/api/v1/auth/me", w->tok[RESEARCHER], NULL, 200);
	assert_null(strstr(r.body, "\"admin\""));
	ht_resp_release(&r);
}

static void matrix(bool pg)
{
	sv_setup();
	char tmp[QF_MAX_PATH];
	qft_tmpdir(tmp, pg ? "http-authz-pg" : "http-authz-sqlite");
	world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	setup_world(w, pg, tmp);
	run_matrix(w);
	check_lists(w);
	check_mass_assignment(w);
	assert_int_equal(ht_stop(&w->s, 120), 0);
	sv_store_drop(&w->s.store);
	free(w);
	sv_teardown(NULL);
}

static void test_matrix_sqlite(void **state)
{
	(void)state;
	matrix(false);
}

static void test_matrix_postgres(void **state)
{
	(void)state;
	matrix(true);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_matrix_sqlite, sv_teardown),
		cmocka_unit_test_teardown(test_matrix_postgres, sv_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
