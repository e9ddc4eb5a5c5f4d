/* qf-test: labels=integration,http,xtb,e2e timeout=600 */
/*
 * GET /rest/v1/{view} driven by the real npm client @supabase/postgrest-js
 * (tests/e2e/postgrest/test.mjs, no Supabase server involved) against
 * `qforge serve`, and compared with `qforge query --postgrest` on the same
 * store: the same rows in the same order, the same count, the same refusals.
 *
 * The store: four drugs from SMILES and ethanol optimised, by qforge run,
 * with descriptors from qforge props recompute (all the local user's). The
 * HTTP caller: an administrator's API key (it sees every row, as the local
 * user does on the command line).
 */
#include "http_test.h"

static void test_postgrest_js(void **state)
{
	(void)state;
	sv_setup();
	char e2e[QF_MAX_PATH], mod[QF_MAX_PATH];
	qft_data(e2e, "../e2e/postgrest");
	qft_join(mod, e2e, "node_modules/@supabase/postgrest-js/package.json");
	if (access(mod, R_OK))
		fail_msg("%s is missing: scripts/install-deps runs npm ci in tests/e2e/postgrest", mod);
	ht_server s;
	memset(&s, 0, sizeof(s));
	char tmp[QF_MAX_PATH], jobs[QF_MAX_PATH], smi[QF_MAX_PATH], xyz[QF_MAX_PATH];
	qft_tmpdir(tmp, "http-postgrest");
	sv_store_sqlite(&s.store, tmp);
	qft_join(jobs, tmp, "cli-jobs");
	qft_join(smi, tmp, "drugs.smi");
	qft_write(smi, "CC(=O)Oc1ccccc1C(=O)O aspirin\nCC(C)Cc1ccc(cc1)C(C)C(=O)O ibuprofen\n"
	               "CC(=O)Nc1ccc(O)cc1 paracetamol\nCn1cnc2c1c(=O)n(C)c(=O)n2C caffeine\n");
	qft_data(xyz, "cli/ethanol.xyz");
	qft_output o;
	sv_qforge(&o, NULL, (const char *[]){"run", smi, "--store", s.store.url, "--jobs-root", jobs, NULL});
	sv_expect_status(&o, 0, "qforge run (SMILES)");
	qft_output_release(&o);
	sv_qforge(&o, NULL, (const char *[]){"run", xyz, "--task", "opt", "--store", s.store.url,
	                                     "--jobs-root", jobs, NULL});
	sv_expect_status(&o, 0, "qforge run (XYZ)");
	qft_output_release(&o);
	sv_qforge(&o, NULL, (const char *[]){"props", "recompute", "--store", s.store.url, NULL});
	sv_expect_status(&o, 0, "qforge props recompute");
	qft_output_release(&o);

	ht_serve(&s, tmp, 0, NULL);
	char admin[QF_MAX_PATH];
	ht_register(&s, "admin@example.org", admin, NULL);
	ht_resp r;
	ht_expect(&r, &s, "POST", "/api/v1/api-keys", admin, "{\"name\":\"postgrest-js\"}", 201);
	char key[QF_MAX_PATH];
	qf_strlcpy(key, json_string_value(json_object_get(r.json, "key")), sizeof(key));
	ht_resp_release(&r);

	char e_qforge[QF_MAX_PATH + 16], e_store[QF_MAX_PATH + 48], e_url[96], e_key[QF_MAX_PATH + 16];
	snprintf(e_qforge, sizeof(e_qforge), "QF_QFORGE=%s", qft_qforge());
	snprintf(e_store, sizeof(e_store), "QF_STORE=%s", s.store.url);
	snprintf(e_url, sizeof(e_url), "QF_URL=%s", s.base);
	snprintf(e_key, sizeof(e_key), "QF_API_KEY=%s", key);
	const char *env[] = {e_qforge, e_store, e_url, e_key, NULL};
	const char *argv[] = {"node", "test.mjs", NULL};
	qft_run(&o, argv, env, e2e, 300);
	if (o.exit_code != 0)
		fail_msg("postgrest-js e2e failed (exit %d):\n%s\n%s", o.exit_code, o.out, o.err);
	assert_non_null(strstr(o.out, "postgrest-js e2e: ok"));
	print_message("%s", o.out);
	qft_output_release(&o);
	assert_int_equal(ht_stop(&s, 60), 0);
	sv_teardown(NULL);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_postgrest_js, sv_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
