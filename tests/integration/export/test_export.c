/* qf-test: labels=integration,store,postgres,xtb timeout=900 */
/*
 * Queries and exports end to end, on SQLite and on PostgreSQL (as the
 * application role, under row-level security): real xtb calculations
 * recorded by qforge run, descriptors by qforge props recompute, another
 * user's calculation beside them; then qforge query in both syntaxes (the
 * seed's "MW < 300 and logP < 5, top by gap"), scoping (a foreign row never
 * appears), injection attempts (plain values: nothing matches, nothing is
 * dropped), refusals, and qforge export in every format, each read back by
 * its own ecosystem's reader (check_export.py: ASE, RDKit, h5py, json, csv)
 * and compared with the job directories' metadata.json; every export in
 * the audit log.
 */
#include "../cli/store_cli.h"

#include <jansson.h>
#include <math.h>

#include "qf/molio.h"
#include "qf/query.h"

#define USER_B "c0000000-0000-7000-8000-0000000000b1"
#define MOL_B "c0000000-0000-7000-8000-0000000000b2"
#define CALC_B "c0000000-0000-7000-8000-0000000000b3"

static void sys_insert(qf_store *s, const char *table, const char *json)
{
	qf_actor sys = qf_actor_system();
	json_error_t je;
	json_t *row = json_loads(json, 0, &je);
	if (!row)
		fail_msg("bad fixture JSON: %s", je.text);
	qf_err e;
	qf_err_init(&e);
	if (qf_store_insert(s, &sys, table, row, NULL, &e))
		fail_msg("insert into %s: %s", table, e.message);
	json_decref(row);
}

/* The rows of a JSON array on stdout. */
static json_t *rows_of(const qft_output *o)
{
	json_error_t je;
	json_t *a = json_loads(o->out, 0, &je);
	if (!json_is_array(a))
		fail_msg("not a JSON array: %s\n%s", je.text, o->out);
	return a;
}

static void check_file(const char *fmt, const char *path, const char *jobs, int rows)
{
	char script[QF_MAX_PATH], n[16];
	snprintf(script, sizeof(script), "%s/tests/integration/export/check_export.py", QF_SOURCE_DIR);
	snprintf(n, sizeof(n), "%d", rows);
	const char *argv[] = {"/usr/bin/python3", script, fmt, path, jobs, n, NULL};
	qft_output o;
	qft_run(&o, argv, NULL, NULL, 300);
	if (o.exit_code != 0)
		fail_msg("%s export read back: %s%s", fmt, o.out, o.err);
	qft_output_release(&o);
}

static int on_row(void *ctx, const qf_qcell *cells, const qf_qatoms *atoms, qf_err *err)
{
	(void)cells;
	(void)err;
	int *n = ctx;
	if (!atoms || atoms->n < 1)
		return -1;
	(*n)++;
	return 0;
}

/* The extended XYZ export read back by qforge's own reader (what a user
 * feeds to the next `qforge batch submit`): every frame reads, its atoms
 * and positions are its calculation's final geometry (metadata.json). */
static void check_extxyz_ours(const char *path, const char *jobs, int rows)
{
	qf_reader *r = NULL;
	qf_err e;
	qf_err_init(&e);
	if (qf_reader_new_path(&r, path, QF_FMT_XYZ, &e))
		fail_msg("%s: %s", path, e.message);
	int n = 0;
	qf_mol m;
	int rc;
	while ((rc = qf_reader_next(r, &m, &e)) == 1) {
		size_t len = 0;
		const char *text = qf_reader_record_text(r, &len);
		const char *id = strstr(text, "calculation_id=\"");
		assert_non_null(id);
		id += strlen("calculation_id=\"");
		char cid[QF_UUID_STR];
		snprintf(cid, sizeof(cid), "%.36s", id);
		char meta[QF_MAX_PATH + 64];
		snprintf(meta, sizeof(meta), "%s/%s/metadata.json", jobs, cid);
		json_error_t je;
		json_t *doc = json_load_file(meta, 0, &je);
		if (!doc)
			fail_msg("%s: %s", meta, je.text);
		json_t *res = json_object_get(doc, "results");
		json_t *zs = json_object_get(res, "atomic_numbers");
		json_t *geo = json_object_get(res, "geometry_angstrom");
		assert_int_equal((int)json_array_size(zs), m.natoms);
		for (int a = 0; a < m.natoms; a++) {
			assert_int_equal(json_integer_value(json_array_get(zs, (size_t)a)), m.z[a]);
			for (int k = 0; k < 3; k++) {
				double want = json_real_value(json_array_get(json_array_get(geo, (size_t)a), (size_t)k));
				if (fabs(m.xyz[3 * a + k] - want) > 1e-9)
					fail_msg("%s atom %d: %.12f read back, %.12f computed", cid, a + 1,
					         m.xyz[3 * a + k], want);
			}
		}
		json_decref(doc);
		qf_mol_release(&m);
		n++;
	}
	if (rc < 0)
		fail_msg("%s: %s", path, e.message);
	qf_reader_free(r);
	assert_int_equal(n, rows);
}

static void suite(ts_backend kind)
{
	test_store t;
	ts_create(&t, kind, "export");
	char app[QF_MAX_PATH + 32];
	if (kind == TS_POSTGRES)
		ts_pg_db_url(app, sizeof(app), t.db, "qforge_app");
	else
		qf_strlcpy(app, t.url, sizeof(app));
	char dir[QF_MAX_PATH], jobs[QF_MAX_PATH], smi[QF_MAX_PATH], xyz[QF_MAX_PATH];
	qft_tmpdir(dir, "export");
	qft_join(jobs, dir, "jobs");
	qft_join(smi, dir, "drugs.smi");
	qft_write(smi, "CC(=O)Oc1ccccc1C(=O)O aspirin\nCC(C)Cc1ccc(cc1)C(C)C(=O)O ibuprofen\n"
	               "CC(=O)Nc1ccc(O)cc1 paracetamol\nCn1cnc2c1c(=O)n(C)c(=O)n2C caffeine\n");
	qft_data(xyz, "cli/ethanol.xyz");
	qft_output o;

	/* five real calculations (four singlepoints with gradients, one
	 * optimisation without), as the local user */
	ts_qforge(&o, NULL, (const char *[]){"run", smi, "--store", t.url, "--jobs-root", jobs, NULL});
	ts_expect(&o, 0, "run smiles", NULL);
	qft_output_release(&o);
	ts_qforge(&o, NULL, (const char *[]){"run", xyz, "--task", "opt", "--store", t.url, "--jobs-root",
	                                     jobs, NULL});
	ts_expect(&o, 0, "run xyz", NULL);
	qft_output_release(&o);

	/* another user's calculation that matches every filter below */
	qf_store *s = ts_open(&t);
	sys_insert(s, "users", "{\"id\": \"" USER_B "\", \"email\": \"b@example.org\"}");
	sys_insert(s, "molecules",
	           "{\"id\": \"" MOL_B "\", \"owner_id\": \"" USER_B "\", \"name\": \"water of b\", "
	           "\"formula\": \"H2O\", \"natoms\": 3, \"charge\": 0, \"uhf\": 0, \"atomic_numbers\": "
	           "[8, 1, 1], \"coordinates\": [[0, 0, 0.1173], [0, 0.7572, -0.4692], [0, -0.7572, "
	           "-0.4692]], \"input_sha256\": \"b\", \"geometry_sha256\": \"b\"}");
	sys_insert(s, "calculations",
	           "{\"id\": \"" CALC_B "\", \"molecule_id\": \"" MOL_B "\", \"owner_id\": \"" USER_B "\", "
	           "\"method\": \"gfn2\", \"task\": \"sp\", \"optimization_level\": \"normal\", \"charge\": "
	           "0, \"uhf\": 0, \"parameters\": {}, \"spec\": {}, \"status\": \"completed\", "
	           "\"total_energy\": -5.07, \"homo_lumo_gap\": 99.0}");
	int64_t ncalc = ts_count(s, "calculations");
	assert_int_equal(ncalc, 6);

	ts_qforge(&o, NULL, (const char *[]){"props", "recompute", "--store", t.url, NULL});
	ts_expect(&o, 0, "props recompute", (const char *[]){"of 6 molecules computed, 0 could not", NULL});
	qft_output_release(&o);

	/* the seed's question, in the CLI's syntax ... */
	ts_qforge(&o, NULL, (const char *[]){"query", "mw<300,logp<5,gap>3,status=completed", "--order",
	                                     "-gap", "--limit", "1000", "--format", "json", "--store", app,
	                                     NULL});
	ts_expect(&o, 0, "query (CLI syntax)", NULL);
	json_t *cli = rows_of(&o);
	qft_output_release(&o);
	assert_int_equal(json_array_size(cli), 5);
	double last = 1e9;
	for (size_t i = 0; i < json_array_size(cli); i++) {
		json_t *r = json_array_get(cli, i);
		double gap = json_real_value(json_object_get(r, "homo_lumo_gap_ev"));
		assert_true(gap <= last);
		last = gap;
		assert_true(json_real_value(json_object_get(r, "molecular_weight_g_mol")) < 300);
		assert_string_not_equal(json_string_value(json_object_get(r, "id")), CALC_B);
	}
	/* ... and in PostgREST's: the same rows in the same order, counted */
	ts_qforge(&o, NULL, (const char *[]){"query", "--postgrest",
	                                     "select=id,gap,energy&mw=lt.300&logp=lt.5&gap=gt.3&status=eq."
	                                     "completed&order=gap.desc&limit=1000",
	                                     "--prefer", "count=exact", "--format", "json", "--store", app,
	                                     NULL});
	ts_expect(&o, 0, "query (PostgREST syntax)", (const char *[]){"content-range: 0-4/5", NULL});
	json_t *pg = rows_of(&o);
	qft_output_release(&o);
	assert_int_equal(json_array_size(pg), 5);
	for (size_t i = 0; i < 5; i++) {
		json_t *a = json_array_get(cli, i), *b = json_array_get(pg, i);
		assert_string_equal(json_string_value(json_object_get(a, "id")),
		                    json_string_value(json_object_get(b, "id")));
		assert_true(json_real_value(json_object_get(a, "total_energy_hartree")) ==
		            json_real_value(json_object_get(b, "energy")));
		assert_int_equal(json_object_size(b), 3);
	}
	json_decref(cli);
	json_decref(pg);

	/* the other user sees its own row only */
	ts_qforge(&o, NULL, (const char *[]){"query", "--format", "json", "--store", app, "--user", USER_B, NULL});
	ts_expect(&o, 0, "query as b", (const char *[]){CALC_B, NULL});
	json_t *bs = rows_of(&o);
	assert_int_equal(json_array_size(bs), 1);
	json_decref(bs);
	qft_output_release(&o);
	ts_qforge(&o, NULL, (const char *[]){"query", "--view", "molecules", "--format", "csv", "--store", app, NULL});
	ts_expect(&o, 0, "molecules", (const char *[]){"aspirin", "ethanol", NULL});
	assert_null(strstr(o.out, "water of b"));
	qft_output_release(&o);

	/* injection attempts are plain values: nothing matches, nothing changes */
	ts_qforge(&o, NULL, (const char *[]){"query", "name=\"x'); DROP TABLE calculations; --\"",
	                                     "--format", "json", "--store", app, NULL});
	ts_expect(&o, 0, "injection (CLI)", (const char *[]){"[]", NULL});
	qft_output_release(&o);
	ts_qforge(&o, NULL, (const char *[]){"query", "--postgrest",
	                                     "name=eq.x%27%3B%20DROP%20TABLE%20calculations%3B--&formula="
	                                     "like.%25%27%20OR%20%271%27%3D%271",
	                                     "--format", "json", "--store", app, NULL});
	ts_expect(&o, 0, "injection (PostgREST)", (const char *[]){"[]", NULL});
	qft_output_release(&o);
	assert_int_equal(ts_count(s, "calculations"), ncalc);
	/* refusals */
	ts_qforge(&o, NULL, (const char *[]){"query", "owner_id=" USER_B, "--store", app, NULL});
	ts_expect(&o, 10, "unknown column", (const char *[]){"query.column", "unknown column 'owner_id'", NULL});
	qft_output_release(&o);
	ts_qforge(&o, NULL, (const char *[]){"query", "--postgrest", "mw=lt.abc", "--store", app, NULL});
	ts_expect(&o, 10, "bad value", (const char *[]){"query.value", NULL});
	qft_output_release(&o);
	ts_qforge(&o, NULL, (const char *[]){"export", "--format", "hdf5", "--store", app, NULL});
	ts_expect(&o, 2, "hdf5 without -o", (const char *[]){"-o FILE", NULL});
	qft_output_release(&o);
	ts_qforge(&o, NULL, (const char *[]){"export", "--format", "sdf", "--view", "molecules", "-o", "/dev/null", "--store", app, NULL});
	ts_expect(&o, 10, "sdf of molecules", (const char *[]){"export.format", NULL});
	qft_output_release(&o);

	/* every format, read back by its own reader */
	static const char *const formats[][2] = {{"csv", "out.csv"},   {"jsonl", "out.jsonl"},
	                                         {"extxyz", "out.xyz"}, {"sdf", "out.sdf"},
	                                         {"hdf5", "out.h5"},    {"qcschema", "out.json"}};
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		char path[QF_MAX_PATH];
		qft_join(path, dir, formats[i][1]);
		ts_qforge(&o, NULL, (const char *[]){"export", "status=completed", "--format", formats[i][0],
		                                     "-o", path, "--store", app, NULL});
		ts_expect(&o, 0, formats[i][0], (const char *[]){"exported 5 rows", NULL});
		qft_output_release(&o);
		check_file(formats[i][0], path, jobs, 5);
		if (!strcmp(formats[i][0], "extxyz"))
			check_extxyz_ours(path, jobs, 5);
	}
	/* to stdout, as the other user: its row only */
	ts_qforge(&o, NULL, (const char *[]){"export", "--format", "extxyz", "--store", app, "--user", USER_B, NULL});
	ts_expect(&o, 0, "export as b", (const char *[]){"exported 1 row", CALC_B, NULL});
	assert_null(strstr(o.out, "aspirin"));
	qft_output_release(&o);

	/* the audit log: one entry per export, by whom */
	qf_actor sys = qf_actor_system();
	json_t *where = json_pack("{s:s}", "action", "data_export");
	qf_store_filter f = {.where = where, .limit = 100};
	json_t *audit = NULL;
	qf_err e;
	qf_err_init(&e);
	if (qf_store_list(s, &sys, "user_audit_log", &f, &audit, &e))
		fail_msg("audit: %s", e.message);
	int mine = 0, b = 0;
	for (size_t i = 0; i < json_array_size(audit); i++) {
		json_t *r = json_array_get(audit, i);
		const char *u = json_string_value(json_object_get(r, "user_id"));
		if (u && !strcmp(u, QF_LOCAL_USER_ID) &&
		    !strcmp(json_string_value(json_object_get(r, "status")), "success") &&
		    json_integer_value(json_object_get(json_object_get(r, "changes"), "rows")) == 5)
			mine++;
		if (u && !strcmp(u, USER_B))
			b++;
	}
	assert_int_equal(mine, 6);
	assert_int_equal(b, 1);
	/* the refused sdf export of molecules was never run: no entry */
	assert_int_equal(json_array_size(audit), 7);
	json_decref(audit);
	json_decref(where);

	/* in one process, the same query again and again (PostgreSQL prepares
	 * a statement text it sees twice on a connection: the cursor's too) */
	qf_store *as = NULL;
	if (qf_store_open(&as, app, NULL, &e))
		fail_msg("open as app: %s", e.message);
	qf_actor me = qf_actor_local();
	for (int k = 0; k < 3; k++) {
		qf_query q;
		qf_query_init(&q, qf_store_view("calculations"));
		if (qf_query_parse_filter(&q, "mw<300", &e))
			fail_msg("parse: %s", e.message);
		int n = 0;
		qf_select_cb cb = {.row = on_row, .ctx = &n, .atoms = true};
		if (qf_store_select(as, &me, &q, &cb, NULL, &e))
			fail_msg("select %d: %s: %s", k, e.code, e.message);
		assert_int_equal(n, 5);
		qf_query_release(&q);
	}
	qf_store_close(as);
	qf_store_close(s);
	qf_fs_rm_rf(dir);
	ts_destroy(&t);
}

static void test_sqlite(void **state)
{
	(void)state;
	suite(TS_SQLITE);
}

static void test_postgres(void **state)
{
	(void)state;
	suite(TS_POSTGRES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sqlite),
		cmocka_unit_test(test_postgres),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
