/* qf-test: labels=integration,http,xtb,postgres timeout=900 */
/*
 * The API end to end, as a script would use it, against the real `qforge
 * serve` with a real worker and the real xtb, on SQLite and on PostgreSQL:
 *
 *   accounts     the first account registered is the admin, the next a
 *                researcher; wrong password refused; logout kills the token
 *   molecules    created from XYZ and SDF text (201 with an id), listed with
 *                cursor pagination, read, deleted (then 404)
 *   calculations submitted over HTTP, woken worker, completed; the energy
 *                equals the bare xtb program's on the same geometry; metrics
 *                and files; cancel of a finished one is a conflict (409)
 *   live events  /api/v1/events streams the calculation's completion
 *   batches      a 3-molecule file as JSON, completed, its performance; the
 *                dashboard
 *   settings     preferences and the saved UI state round-trip; the Slack
 *                webhook is shown only masked
 *   API keys     created (shown once), listed by prefix, used as a bearer
 *                token, revoked (then 401)
 *   audit        the caller's own events are there
 *   OpenAPI      the served document describes exactly the route table
 *   /metrics     passes `promtool check metrics`
 *
 * No answer, anywhere, carries a password hash, a token hash or a key
 * (ht_check_no_secrets on every one).
 */
#include "http_test.h"

#include <ctype.h>
#include <pthread.h>

#include "qf/http.h"

static const char *const water_xyz = "3\nwater\nO 0.0 0.0 0.1173\nH 0.0 0.7572 -0.4692\n"
                                     "H 0.0 -0.7572 -0.4692\n";

/* Every answer of the walk goes through here. */
static void seen(const ht_resp *r, const char *what)
{
	ht_check_no_secrets(r, what);
	if (r->status >= 400)
		ht_check_error_shape(r, what);
}

static void call(ht_resp *r, const ht_server *s, const char *method, const char *path,
                 const char *token, const char *body, long status)
{
	ht_call(r, s, method, path, token, body);
	char what[512];
	snprintf(what, sizeof(what), "%s %s", method, path);
	seen(r, what);
	if (r->status != status)
		fail_msg("%s: status %ld, expected %ld: %s", what, r->status, status, r->body);
}

/* The bare xtb program's total energy for water_xyz (GFN2, singlepoint). */
static double xtb_reference_energy(const char *tmp)
{
	char dir[QF_MAX_PATH], file[QF_MAX_PATH];
	qft_join(dir, tmp, "xtb-ref");
	mkdir(dir, 0755);
	qft_join(file, dir, "water.xyz");
	qft_write(file, water_xyz);
	const char *argv[] = {qft_xtb_path(), "water.xyz", "--gfn", "2", "--sp", NULL};
	const char *env[] = {"OMP_NUM_THREADS=1", NULL};
	qft_output o;
	qft_run(&o, argv, env, dir, 300);
	if (o.exit_code != 0)
		fail_msg("xtb failed: %s", o.err);
	const char *p = strstr(o.out, "TOTAL ENERGY");
	if (!p)
		fail_msg("no TOTAL ENERGY in xtb's output");
	double e = strtod(p + strlen("TOTAL ENERGY"), NULL);
	qft_output_release(&o);
	return e;
}

/* ---- live events: a thread reading /api/v1/events until it sees want ------------- */

struct events {
	const ht_server *s;
	char token[QF_MAX_PATH];
	char want[QF_UUID_STR + 32];
	char *buf;
	size_t len;
	bool found;
	pthread_t thread;
};

static size_t events_sink(char *data, size_t size, size_t n, void *arg)
{
	struct events *e = arg;
	size_t add = size * n;
	char *grown = realloc(e->buf, e->len + add + 1);
	if (!grown)
		return 0;
	memcpy(grown + e->len, data, add);
	e->len += add;
	grown[e->len] = '\0';
	e->buf = grown;
	/* a completion event naming the calculation ends the stream */
	const char *hit = e->want[0] ? strstr(e->buf, e->want) : NULL;
	if (hit && strstr(hit, "completed")) {
		e->found = true;
		return 0;
	}
	return add;
}

static void *events_main(void *arg)
{
	struct events *e = arg;
	CURL *c = curl_easy_init();
	char url[128], auth[QF_MAX_PATH + 32];
	snprintf(url, sizeof(url), "%s/api/v1/events", e->s->base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", e->token);
	struct curl_slist *h = curl_slist_append(NULL, auth);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, events_sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_perform(c);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return NULL;
}

/* ---- the walk ------------------------------------------------------------------------ */

static void walk(bool pg)
{
	sv_setup();
	ht_server s;
	memset(&s, 0, sizeof(s));
	char tmp[QF_MAX_PATH];
	qft_tmpdir(tmp, pg ? "http-api-pg" : "http-api-sqlite");
	if (pg)
		sv_store_pg(&s.store, NULL, "http_api");
	else
		sv_store_sqlite(&s.store, tmp);
	ht_serve(&s, tmp, 1, NULL);
	ht_resp r;
	char path[512];

	call(&r, &s, "GET", "/livez", NULL, NULL, 200);
	ht_resp_release(&r);
	call(&r, &s, "GET", "/readyz", NULL, NULL, 200);
	ht_resp_release(&r);
	call(&r, &s, "GET", "/api/v1/molecules", NULL, NULL, 401);
	ht_resp_release(&r);

	/* accounts: the first is the admin */
	char admin[QF_MAX_PATH], user[QF_MAX_PATH], uid[QF_UUID_STR];
	call(&r, &s, "POST", "/api/v1/auth/register", NULL,
	     "{\"email\":\"Admin@Example.org\",\"password\":\"" HT_PASSWORD "\"}", 201);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "user"), "role")),
	                    "admin");
	qf_strlcpy(admin, json_string_value(json_object_get(r.json, "token")), sizeof(admin));
	ht_resp_release(&r);
	call(&r, &s, "POST", "/api/v1/auth/register", NULL,
	     "{\"email\":\"chemist@example.org\",\"password\":\"short\"}", 400);
	ht_resp_release(&r);
	ht_register(&s, "chemist@example.org", user, uid);
	call(&r, &s, "GET", "/api/v1/auth/me", user, NULL, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "role")) ?: json_string_value(json_object_get(json_object_get(r.json, "user"), "role")),
	                    "researcher");
	ht_resp_release(&r);
	call(&r, &s, "POST", "/api/v1/auth/login", NULL,
	     "{\"email\":\"chemist@example.org\",\"password\":\"not the password\"}", 401);
	assert_string_equal(ht_error_code(&r), "auth.bad_credentials");
	ht_resp_release(&r);
	char second[QF_MAX_PATH];
	ht_login(&s, "chemist@example.org", second);
	assert_string_not_equal(second, user);

	/* molecules */
	char mol[QF_UUID_STR], sdf_mol[QF_UUID_STR];
	json_t *body = json_pack("{s:s,s:s,s:s}", "name", "water", "format", "xyz", "data", water_xyz);
	char *text = json_dumps(body, 0);
	json_decref(body);
	call(&r, &s, "POST", "/api/v1/molecules", user, text, 201);
	qf_strlcpy(mol, json_string_value(json_object_get(r.json, "id")), sizeof(mol));
	ht_resp_release(&r);
	free(text);
	char sdf_path[QF_MAX_PATH];
	qft_data(sdf_path, "cli/acetate.sdf");
	char *sdf = qft_slurp(sdf_path, NULL);
	body = json_pack("{s:s,s:s,s:s}", "name", "acetate", "format", "sdf", "data", sdf);
	text = json_dumps(body, 0);
	json_decref(body);
	free(sdf);
	call(&r, &s, "POST", "/api/v1/molecules", user, text, 201);
	qf_strlcpy(sdf_mol, json_string_value(json_object_get(r.json, "id")), sizeof(sdf_mol));
	ht_resp_release(&r);
	free(text);
	/* SMILES: embedded in a bounded child process; the C x 300 chain that
	 * once held a core for minutes is refused at once */
	call(&r, &s, "POST", "/api/v1/molecules", user,
	     "{\"name\":\"ethanol\",\"format\":\"smiles\",\"data\":\"CCO\"}", 201);
	assert_int_equal(json_integer_value(json_object_get(r.json, "natoms")), 9);
	ht_resp_release(&r);
	{
		char chain[400];
		memset(chain, 'C', 300);
		chain[300] = '\0';
		char b[512];
		snprintf(b, sizeof(b), "{\"format\":\"smiles\",\"data\":\"%s\"}", chain);
		call(&r, &s, "POST", "/api/v1/molecules", user, b, 422);
		assert_string_equal(ht_error_code(&r), "input.embedding");
		ht_resp_release(&r);
	}
	for (unsigned i = 0; i < 2; i++) {
		char *b = ht_molecule_body("extra", NULL, i + 1);
		char id[QF_UUID_STR];
		ht_create(&s, "/api/v1/molecules", user, b, id);
		free(b);
	}
	/* cursor pagination: 5 molecules in pages of 2, each once */
	int total = 0;
	char cursor[256] = "";
	for (int page = 0; page < 5; page++) {
		snprintf(path, sizeof(path), "/api/v1/molecules?limit=2%s%s", cursor[0] ? "&cursor=" : "",
		         cursor);
		call(&r, &s, "GET", path, user, NULL, 200);
		json_t *items = json_object_get(r.json, "items");
		assert_true(json_is_array(items));
		total += (int)json_array_size(items);
		const char *next = json_string_value(json_object_get(r.json, "next_cursor"));
		qf_strlcpy(cursor, next ? next : "", sizeof(cursor));
		ht_resp_release(&r);
		if (!cursor[0])
			break;
	}
	assert_int_equal(total, 5);
	call(&r, &s, "GET", "/api/v1/molecules", admin, NULL, 200);
	ht_resp_release(&r);
	snprintf(path, sizeof(path), "/api/v1/molecules/%s", sdf_mol);
	call(&r, &s, "GET", path, user, NULL, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "name")), "acetate");
	ht_resp_release(&r);
	call(&r, &s, "DELETE", path, user, NULL, 204);
	ht_resp_release(&r);
	call(&r, &s, "GET", path, user, NULL, 404);
	ht_resp_release(&r);

	/* a calculation, watched live */
	struct events ev = {.s = &s};
	qf_strlcpy(ev.token, user, sizeof(ev.token));
	snprintf(path, sizeof(path), "{\"molecule_id\":\"%s\",\"spec\":{\"method\":\"gfn2\",\"task\":\"sp\"}}",
	         mol);
	char calc[QF_UUID_STR];
	ht_resp sub;
	call(&sub, &s, "POST", "/api/v1/calculations", user,
	     "{\"molecule_id\":\"00000000-0000-4000-8000-000000000000\"}", 404);
	ht_resp_release(&sub);
	/* the stream first (its ": connected" comment arrives), then the submit */
	assert_int_equal(pthread_create(&ev.thread, NULL, events_main, &ev), 0);
	for (double until = sv_now() + 30; !__atomic_load_n(&ev.len, __ATOMIC_ACQUIRE);) {
		if (sv_now() > until)
			fail_msg("/api/v1/events did not answer within 30 s");
		sv_sleep(0.02);
	}
	call(&sub, &s, "POST", "/api/v1/calculations", user, path, 201);
	qf_strlcpy(calc, json_string_value(json_object_get(sub.json, "id")), sizeof(calc));
	ht_resp_release(&sub);
	qf_strlcpy(ev.want, calc, sizeof(ev.want));
	json_t *doc = ht_wait_calc(&s, user, calc, 300);
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "completed");
	double e = json_real_value(json_object_get(doc, "total_energy"));
	double ref = xtb_reference_energy(tmp);
	print_message("calculation %s: E = %.10f Eh, bare xtb %.10f Eh\n", calc, e, ref);
	assert_true(fabs(e - ref) < 1e-6);
	assert_int_equal(json_array_size(json_object_get(doc, "atomic_properties")), 3);
	/* the JSON columns go out as stored, as JSON, the same in a list page;
	 * reals read back bit for bit */
	json_t *res = json_object_get(doc, "results");
	assert_true(json_is_object(res) && json_is_object(json_object_get(doc, "spec")) &&
	            json_is_object(json_object_get(doc, "parameters")));
	assert_true(json_real_value(json_object_get(res, "total_energy_hartree")) == e);
	ht_resp page;
	call(&page, &s, "GET", "/api/v1/calculations?limit=1000", user, NULL, 200);
	size_t pi;
	json_t *item;
	bool listed = false;
	json_array_foreach(json_object_get(page.json, "items"), pi, item) {
		if (strcmp(json_string_value(json_object_get(item, "id")), calc))
			continue;
		listed = true;
		assert_true(json_equal(json_object_get(item, "results"), res));
		assert_true(json_equal(json_object_get(item, "spec"), json_object_get(doc, "spec")));
	}
	assert_true(listed);
	ht_resp_release(&page);
	json_decref(doc);
	/* the event stream carried the completion */
	pthread_join(ev.thread, NULL);
	const char *hit = ev.buf ? strstr(ev.buf, calc) : NULL;
	ev.found |= hit && strstr(hit, "completed");
	if (!ev.found)
		fail_msg("/api/v1/events carried no completion of %s: %s", calc, ev.buf ? ev.buf : "");
	free(ev.buf);

	snprintf(path, sizeof(path), "/api/v1/calculations/%s/metrics", calc);
	call(&r, &s, "GET", path, user, NULL, 200);
	assert_non_null(json_object_get(r.json, "calculation"));
	assert_true(json_array_size(json_object_get(r.json, "metrics")) >= 1 ||
	            json_is_object(json_object_get(r.json, "metrics")));
	ht_resp_release(&r);
	snprintf(path, sizeof(path), "/api/v1/calculations/%s/files", calc);
	call(&r, &s, "GET", path, user, NULL, 200);
	json_t *files = json_object_get(r.json, "files");
	if (!files)
		files = json_object_get(r.json, "items");
	assert_true(json_array_size(files) > 0);
	bool got_file = false;
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));
		if (name && !strcmp(name, "metadata.json")) {
			char fp[256];
			snprintf(fp, sizeof(fp), "/api/v1/calculations/%s/files/metadata.json", calc);
			ht_resp fr;
			call(&fr, &s, "GET", fp, user, NULL, 200);
			assert_non_null(fr.json);
			got_file = true;
			ht_resp_release(&fr);
		}
	}
	assert_true(got_file);
	ht_resp_release(&r);
	snprintf(path, sizeof(path), "/api/v1/calculations/%s/files/..%%2Fmetadata.json", calc);
	ht_call(&r, &s, "GET", path, user, NULL);
	assert_true(r.status == 400 || r.status == 404);
	ht_resp_release(&r);
	snprintf(path, sizeof(path), "/api/v1/calculations/%s/cancel", calc);
	call(&r, &s, "POST", path, user, NULL, 409);
	ht_resp_release(&r);
	call(&r, &s, "GET", "/api/v1/calculations?status=completed", user, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
	ht_resp_release(&r);

	/* a batch of three, from a file's text */
	char mols[QF_MAX_PATH];
	qft_join(mols, tmp, "three.xyz");
	sv_write_xyz(mols, 3, "wme", 7);
	char *multi = qft_slurp(mols, NULL);
	body = json_pack("{s:s,s:s,s:s,s:{s:s,s:s}}", "name", "three", "format", "xyz", "data", multi,
	                 "spec", "method", "gfn2", "task", "sp");
	text = json_dumps(body, 0);
	json_decref(body);
	free(multi);
	char batch[QF_UUID_STR];
	ht_create(&s, "/api/v1/batches", user, text, batch);
	free(text);
	snprintf(path, sizeof(path), "/api/v1/batches/%s", batch);
	double end = sv_now() + 300;
	for (;;) {
		call(&r, &s, "GET", path, user, NULL, 200);
		json_t *counts = json_object_get(r.json, "counts");
		long long done = json_integer_value(json_object_get(counts ? counts : r.json, "completed"));
		ht_resp_release(&r);
		if (done == 3)
			break;
		if (sv_now() > end)
			fail_msg("batch %s not completed within 300 s", batch);
		sv_sleep(0.2);
	}
	snprintf(path, sizeof(path), "/api/v1/batches/%s/performance", batch);
	call(&r, &s, "GET", path, user, NULL, 200);
	ht_resp_release(&r);
	call(&r, &s, "GET", "/api/v1/dashboard", user, NULL, 200);
	ht_resp_release(&r);

	/* preferences and the saved UI state */
	call(&r, &s, "PUT", "/api/v1/preferences", user,
	     "{\"display_units\":\"kcal/mol\",\"slack_webhook_url\":"
	     "\"https://hooks.slack.com/services/T000/B000/abcdefghijklmnop\"}",
	     200);
	ht_resp_release(&r);
	call(&r, &s, "GET", "/api/v1/preferences", user, NULL, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "display_units")), "kcal/mol");
	assert_null(strstr(r.body, "abcdefghijklmnop"));
	assert_true(json_is_true(json_object_get(r.json, "slack_webhook_set")));
	ht_resp_release(&r);
	call(&r, &s, "PUT", "/api/v1/preferences", user, "{\"display_units\":\"furlongs\"}", 400);
	ht_resp_release(&r);
	call(&r, &s, "PUT", "/api/v1/session", user,
	     "{\"current_view\":\"editor\",\"editor_content\":\"3\\nhalf-typed\\nO 0 0 0\\n\"}", 200);
	ht_resp_release(&r);
	call(&r, &s, "GET", "/api/v1/session", user, NULL, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "editor_content")),
	                    "3\nhalf-typed\nO 0 0 0\n");
	ht_resp_release(&r);

	/* API keys */
	call(&r, &s, "POST", "/api/v1/api-keys", user, "{\"name\":\"laptop\"}", 201);
	char key[QF_MAX_PATH], key_id[QF_UUID_STR];
	qf_strlcpy(key, json_string_value(json_object_get(r.json, "key")), sizeof(key));
	qf_strlcpy(key_id, json_string_value(json_object_get(r.json, "id")), sizeof(key_id));
	assert_int_equal(strncmp(key, "qf_", 3), 0);
	ht_resp_release(&r);
	call(&r, &s, "GET", "/api/v1/api-keys", user, NULL, 200);
	assert_null(strstr(r.body, key));
	assert_non_null(strstr(r.body, "laptop"));
	ht_resp_release(&r);
	call(&r, &s, "GET", "/api/v1/calculations", key, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 4);
	ht_resp_release(&r);
	snprintf(path, sizeof(path), "/api/v1/api-keys/%s", key_id);
	call(&r, &s, "DELETE", path, user, NULL, 200);
	ht_resp_release(&r);
	call(&r, &s, "GET", "/api/v1/calculations", key, NULL, 401);
	ht_resp_release(&r);

	/* the audit log: the caller's own events, the admin's view of all */
	call(&r, &s, "GET", "/api/v1/audit?limit=200", user, NULL, 200);
	assert_non_null(strstr(r.body, "\"api_key_create\"") ?: strstr(r.body, "api_key"));
	assert_non_null(strstr(r.body, "login_failed"));
	assert_null(strstr(r.body, "admin@example.org"));
	ht_resp_release(&r);
	call(&r, &s, "GET", "/api/v1/audit?limit=200", admin, NULL, 200);
	assert_non_null(strstr(r.body, "login_failed"));
	ht_resp_release(&r);

	/* logout: the token is dead, the other session lives */
	call(&r, &s, "POST", "/api/v1/auth/logout", user, NULL, 200);
	ht_resp_release(&r);
	call(&r, &s, "GET", "/api/v1/auth/me", user, NULL, 401);
	ht_resp_release(&r);
	call(&r, &s, "GET", "/api/v1/auth/me", second, NULL, 200);
	ht_resp_release(&r);

	assert_int_equal(ht_stop(&s, 60), 0);
	sv_store_drop(&s.store);
	sv_teardown(NULL);
}

static void test_walk_sqlite(void **state)
{
	(void)state;
	walk(false);
}

static void test_walk_postgres(void **state)
{
	(void)state;
	walk(true);
}

/* ---- the OpenAPI document against the route table; /metrics through promtool ------ */

static void test_openapi_and_metrics(void **state)
{
	(void)state;
	sv_setup();
	ht_server s;
	memset(&s, 0, sizeof(s));
	char tmp[QF_MAX_PATH];
	qft_tmpdir(tmp, "http-openapi");
	sv_store_sqlite(&s.store, tmp);
	ht_serve(&s, tmp, 0, NULL);
	ht_resp r;
	call(&r, &s, "GET", "/api/v1/openapi.json", NULL, NULL, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "openapi")), "3.1.0");
	json_t *paths = json_object_get(r.json, "paths");
	assert_true(json_is_object(paths));
	size_t n = 0;
	const qf_http_route_info *routes = qf_http_routes(&n);
	assert_true(n > 40);
	int missing = 0, extra = 0;
	char lower[16];
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		for (; routes[i].method[k] && k < sizeof(lower) - 1; k++)
			lower[k] = (char)tolower((unsigned char)routes[i].method[k]);
		lower[k] = '\0';
		if (!json_object_get(json_object_get(paths, routes[i].path), lower)) {
			print_error("route %s %s is missing from the OpenAPI document\n", routes[i].method,
			            routes[i].path);
			missing++;
		}
	}
	const char *p;
	json_t *ops;
	json_object_foreach(paths, p, ops)
	{
		const char *m;
		json_t *op;
		json_object_foreach(ops, m, op)
		{
			static const char *const verbs[] = {"get", "put", "post", "delete", "patch", "head",
			                                    "options", "trace", NULL};
			bool verb = false;
			for (int v = 0; verbs[v]; v++)
				verb |= !strcmp(verbs[v], m);
			if (!verb)
				continue;
			bool found = false;
			for (size_t i = 0; i < n && !found; i++)
				found = !strcmp(routes[i].path, p) && !strcasecmp(routes[i].method, m);
			if (!found) {
				print_error("the OpenAPI document describes %s %s, which is not a route\n", m, p);
				extra++;
			}
			if (!json_is_object(json_object_get(op, "responses")))
				fail_msg("%s %s: no responses in the OpenAPI document", m, p);
		}
	}
	assert_int_equal(missing, 0);
	assert_int_equal(extra, 0);
	ht_resp_release(&r);

	/* traffic, so that the counters and histograms have series */
	call(&r, &s, "GET", "/api/v1/nothing-here", NULL, NULL, 404);
	ht_resp_release(&r);
	call(&r, &s, "GET", "/api/v1/molecules", NULL, NULL, 401);
	ht_resp_release(&r);
	call(&r, &s, "GET", "/metrics", NULL, NULL, 200);
	char ctype[128];
	assert_true(ht_header(&r, "Content-Type", ctype, sizeof(ctype)));
	assert_non_null(strstr(ctype, "text/plain"));
	assert_non_null(strstr(r.body, "qforge_build_info"));
	assert_non_null(strstr(r.body, "qforge_http_requests_total"));
	char metrics[QF_MAX_PATH];
	qft_join(metrics, tmp, "metrics.txt");
	qft_write(metrics, r.body);
	ht_resp_release(&r);
	if (access("/usr/bin/promtool", X_OK) != 0)
		fail_msg("promtool is missing: scripts/install-deps installs Debian's prometheus");
	char cmd[QF_MAX_PATH + 64];
	snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s'", metrics);
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	qft_output o;
	qft_run(&o, argv, NULL, NULL, 60);
	if (o.exit_code != 0)
		fail_msg("promtool check metrics: %s%s", o.out, o.err);
	qft_output_release(&o);
	assert_int_equal(ht_stop(&s, 60), 0);
	sv_teardown(NULL);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_openapi_and_metrics, sv_teardown),
		cmocka_unit_test_teardown(test_walk_sqlite, sv_teardown),
		cmocka_unit_test_teardown(test_walk_postgres, sv_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
