/* qf-test: labels=integration,http,rdkit timeout=300 */
/*
 * Conformers over HTTP: POST /api/v1/batches of a SMILES upload with
 * "conformers": 10 queues the lowest of the conformer search (the one this
 * process finds); with "keep_conformers": true every distinct conformer,
 * each its own calculation of the same record with its index and MMFF94
 * energy in its molecule; keep_conformers without conformers of 2 or more,
 * and conformers past QF_MAX_CONFORMERS, are refused with the error shape.
 * POST /api/v1/molecules of the SMILES with "conformers": 10 stores the
 * lowest conformer, its geometry and energy those of the same search, and
 * its embedding description; conformers on XYZ, or out of range, is 400.
 */
#include "http_test.h"

#include <math.h>

#include "qf/limits.h"
#include "qf/molio.h"

#define SMILES "OCCCCCCN"

static void test_conformers_over_http(void **state)
{
	(void)state;
	sv_setup();
	qf_mol m;
	qf_mol_init(&m);
	qf_conformers c;
	qf_err e;
	qf_err_init(&e);
	if (qf_smiles_to_conformers(SMILES, NULL, 10, &m, &c, &e))
		fail_msg("%s: %s", SMILES, e.message);
	assert_true(c.n > 1); /* else keep_conformers shows nothing here */

	ht_server s;
	char tmp[QF_MAX_PATH], token[QF_MAX_PATH];
	ht_store(&s, "http-conformers", false, tmp);
	ht_serve(&s, tmp, 0, NULL);
	ht_register(&s, "conformers@example.org", token, NULL);
	ht_resp r;

	static const struct {
		const char *body;
		const char *code;
	} bad[] = {
		{"{\"format\":\"smiles\",\"data\":\"" SMILES "\",\"keep_conformers\":true}", "http.invalid_body"},
		{"{\"format\":\"smiles\",\"data\":\"" SMILES "\",\"conformers\":1,\"keep_conformers\":true}",
		 "http.invalid_body"},
		{"{\"format\":\"smiles\",\"data\":\"" SMILES "\",\"conformers\":51}", "http.invalid_body"},
		{"{\"format\":\"smiles\",\"data\":\"" SMILES "\",\"conformers\":\"ten\"}", "http.invalid_body"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ht_call(&r, &s, "POST", "/api/v1/batches", token, bad[i].body);
		if (r.status != 400 || strcmp(ht_error_code(&r), bad[i].code))
			fail_msg("%s: %ld %s", bad[i].body, r.status, r.body);
		ht_check_error_shape(&r, bad[i].body);
		ht_resp_release(&r);
	}

	/* one molecule: the lowest conformer, described */
	static const char *const bad_mol[] = {
	    "{\"format\":\"xyz\",\"data\":\"3\\nw\\nO 0 0 0\\nH 0 0 0.96\\nH 0.93 0 -0.24\\n\","
	    "\"conformers\":5}",
	    "{\"format\":\"smiles\",\"data\":\"" SMILES "\",\"conformers\":0}",
	    "{\"format\":\"smiles\",\"data\":\"" SMILES "\",\"conformers\":51}",
	    "{\"format\":\"smiles\",\"data\":\"" SMILES "\",\"conformers\":\"ten\"}",
	    "{\"format\":\"smiles\",\"data\":\"" SMILES "\",\"conformers\":2.5}",
	};
	for (size_t i = 0; i < sizeof(bad_mol) / sizeof(bad_mol[0]); i++) {
		ht_call(&r, &s, "POST", "/api/v1/molecules", token, bad_mol[i]);
		if (r.status != 400 || strcmp(ht_error_code(&r), "http.invalid_body"))
			fail_msg("%s: %ld %s", bad_mol[i], r.status, r.body);
		ht_check_error_shape(&r, bad_mol[i]);
		ht_resp_release(&r);
	}
	ht_expect(&r, &s, "POST", "/api/v1/molecules", token,
	          "{\"format\":\"smiles\",\"data\":\"" SMILES "\",\"conformers\":10}", 201);
	{
		const json_t *emb = json_object_get(r.json, "embedding");
		assert_true(json_is_object(emb));
		assert_int_equal(json_integer_value(json_object_get(emb, "conformers_requested")), 10);
		assert_int_equal(json_integer_value(json_object_get(emb, "conformers")), c.n);
		assert_int_equal(json_integer_value(json_object_get(emb, "conformer")), 0);
		double ff = json_real_value(json_object_get(emb, "ff_energy_kcal"));
		if (fabs(ff - c.ff_energy[0]) > 1e-6)
			fail_msg("kept conformer: %.8f kcal/mol stored, %.8f in process", ff, c.ff_energy[0]);
		const json_t *xyz = json_object_get(r.json, "coordinates");
		assert_int_equal((int)json_array_size(xyz), m.natoms);
		for (int a = 0; a < m.natoms; a++)
			for (int d = 0; d < 3; d++) {
				double v = json_number_value(json_array_get(json_array_get(xyz, (size_t)a), (size_t)d));
				if (fabs(v - m.xyz[3 * a + d]) > 1e-9)
					fail_msg("atom %d: %.12f stored, %.12f in process", a, v, m.xyz[3 * a + d]);
			}
	}
	ht_resp_release(&r);
	/* without conformers: one, and still described */
	ht_expect(&r, &s, "POST", "/api/v1/molecules", token, "{\"format\":\"smiles\",\"data\":\"CCO\"}", 201);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r.json, "embedding"), "conformers_requested")), 1);
	ht_resp_release(&r);

	/* the lowest only */
	ht_expect(&r, &s, "POST", "/api/v1/batches", token,
	          "{\"format\":\"smiles\",\"data\":\"" SMILES " lowest\\n\",\"conformers\":10}", 201);
	assert_int_equal(json_integer_value(json_object_get(r.json, "queued")), 1);
	ht_resp_release(&r);
	/* every conformer */
	char batch[QF_UUID_STR], path[256];
	ht_create(&s, "/api/v1/batches", token,
	          "{\"format\":\"smiles\",\"data\":\"" SMILES " all\\n\",\"conformers\":10,"
	          "\"keep_conformers\":true,\"force\":true}",
	          batch);

	/* the store: one molecule per conformer, indices 0..n-1, energies as
	 * this process's search, the lowest shared with the first batch */
	json_t *rows = sv_rows(&s.store,
	                       "SELECT m.embedding FROM calculations c "
	                       "JOIN molecules m ON m.id = c.molecule_id JOIN batches b ON b.id = c.batch_id "
	                       "ORDER BY b.created_at, c.id");
	size_t n = json_array_size(rows);
	assert_int_equal((int)n, 1 + c.n);
	bool seen[QF_MAX_CONFORMERS] = {false};
	for (size_t i = 1; i < n; i++) {
		json_t *row = json_array_get(rows, i);
		const json_t *ev = json_array_get(row, 0);
		json_error_t je;
		json_t *emb = json_is_string(ev) ? json_loads(json_string_value(ev), 0, &je) : json_incref((json_t *)ev);
		assert_non_null(emb);
		int k = (int)json_integer_value(json_object_get(emb, "conformer"));
		assert_true(k >= 0 && k < c.n && !seen[k]);
		seen[k] = true;
		double ff = json_real_value(json_object_get(emb, "ff_energy_kcal"));
		if (fabs(ff - c.ff_energy[k]) > 1e-6)
			fail_msg("conformer %d: %.8f kcal/mol stored, %.8f in process", k, ff, c.ff_energy[k]);
		assert_int_equal(json_integer_value(json_object_get(emb, "conformers_requested")), 10);
		json_decref(emb);
	}
	json_decref(rows);
	snprintf(path, sizeof(path), "/api/v1/calculations?batch_id=%s&limit=100", batch);
	ht_expect(&r, &s, "GET", path, token, NULL, 200);
	assert_int_equal((int)json_array_size(json_object_get(r.json, "items")), c.n);
	ht_resp_release(&r);

	assert_int_equal(ht_stop(&s, 30), 0);
	qf_conformers_release(&c);
	qf_mol_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conformers_over_http),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
