/* qf-test: labels=integration,http,postgres timeout=300 */
/*
 * GET /api/v1/calculations/{id} reuses the tail of an answer (per-atom rows,
 * molecule summary) only while the calculation's row is the one it was made
 * with, per caller: over real HTTP with a real worker and xtb, on SQLite and
 * PostgreSQL. A GET while queued (no worker yet: no atoms), then, once a
 * worker has run it, the finished calculation shows its 3 atoms; two GETs
 * of it are the same bytes; another user gets 404 like a missing id after
 * the owner's answers were kept.
 */
#include "http_test.h"

static void check_finished(const json_t *doc, const char *what)
{
	const char *st = json_string_value(json_object_get(doc, "status"));
	size_t atoms = json_array_size(json_object_get(doc, "atomic_properties"));
	const char *name = json_string_value(json_object_get(json_object_get(doc, "molecule"), "name"));
	if (!st || strcmp(st, "completed") || atoms != 3 || !name || strcmp(name, "tail-water"))
		fail_msg("%s: status %s, %zu atoms, molecule %s", what, st ? st : "?", atoms,
		         name ? name : "?");
}

static void run(bool pg)
{
	sv_setup();
	ht_server s;
	char tmp[QF_MAX_PATH], a[QF_MAX_PATH], b[QF_MAX_PATH], mol[QF_UUID_STR], calc[QF_UUID_STR];
	ht_store(&s, pg ? "http-tail-pg" : "http-tail", pg, tmp);
	ht_serve(&s, tmp, 0, NULL);
	ht_register(&s, "tail-a@example.org", a, NULL);
	ht_register(&s, "tail-b@example.org", b, NULL);
	char *body = ht_molecule_body("tail-water", NULL, 7);
	ht_create(&s, "/api/v1/molecules", a, body, mol);
	free(body);
	char sub[256], path[128];
	snprintf(sub, sizeof(sub), "{\"molecule_id\":\"%s\",\"spec\":{\"task\":\"sp\"}}", mol);
	ht_create(&s, "/api/v1/calculations", a, sub, calc);
	snprintf(path, sizeof(path), "/api/v1/calculations/%s", calc);

	ht_resp r1, r2;
	ht_expect(&r1, &s, "GET", path, a, NULL, 200);
	const char *st = json_string_value(json_object_get(r1.json, "status"));
	if (!st || strcmp(st, "queued") || json_array_size(json_object_get(r1.json, "atomic_properties")))
		fail_msg("before any worker: %s", r1.body);
	ht_resp_release(&r1);
	sv_proc w;
	char wlog[QF_MAX_PATH + 16];
	snprintf(wlog, sizeof(wlog), "%s/worker.log", tmp);
	sv_worker(&w, s.store.url, s.jobs, wlog, NULL, NULL, NULL, NULL);
	json_t *doc = ht_wait_calc(&s, a, calc, 120);
	check_finished(doc, "after the wait");
	json_decref(doc);

	ht_expect(&r1, &s, "GET", path, a, NULL, 200);
	ht_expect(&r2, &s, "GET", path, a, NULL, 200);
	if (r1.len != r2.len || memcmp(r1.body, r2.body, r1.len))
		fail_msg("two GETs of a finished calculation differ:\n%s\n%s", r1.body, r2.body);
	check_finished(r2.json, "a second GET");
	ht_resp_release(&r1);
	ht_resp_release(&r2);

	/* another user, after the owner's answers were kept: as a missing id */
	ht_expect(&r1, &s, "GET", path, b, NULL, 404);
	ht_check_error_shape(&r1, "another user's GET");
	ht_check_no_secrets(&r1, "another user's GET");
	assert_string_equal(ht_error_code(&r1), "store.not_found");
	ht_resp_release(&r1);

	sv_kill(&w, SIGTERM);
	sv_wait_or_fail(&w, 60, "qforge worker after SIGTERM");
	assert_int_equal(ht_stop(&s, 30), 0);
	sv_store_drop(&s.store);
}

static void test_tail_sqlite(void **state)
{
	(void)state;
	run(false);
}

static void test_tail_pg(void **state)
{
	(void)state;
	run(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tail_sqlite),
		cmocka_unit_test(test_tail_pg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
