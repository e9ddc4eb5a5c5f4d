/* qf-test: labels=integration,cli,store,postgres,xtb timeout=900 */
/*
 * `qforge reindex JOBS_ROOT --store URL` on both backends, with job
 * directories made by real `qforge run` calls (real xtb): every job is
 * recorded (calculations, molecules, per-atom rows, execution metrics, the
 * error of the failed one), a second run changes nothing (every row of every
 * table compared), owners named in metadata are honoured within their
 * rights, every malformed job directory is reported with its path and
 * reason while the rest is recorded, and malformed command lines are refused.
 */
#include "store_cli.h"

#include <jansson.h>
#include <sys/stat.h>

#include "qf/job.h"
#include "qf/uuid.h"

/* snprintf into a path buffer; a path that does not fit fails the test. */
#define PATHF(buf, size, ...) assert_int_equal(qf_snprintf((buf), (size), __VA_ARGS__), 0)

static char good_root[QF_MAX_PATH];  /* 4 finished jobs: 3 completed, 1 failed */
static char good_ids[4][QF_UUID_STR];
static int good_atoms;               /* atoms of the 4 jobs together */
static char failed_id[QF_UUID_STR];  /* the one that failed */

static int count_job_dirs(const char *root, char ids[][QF_UUID_STR], int max)
{
	qft_output o;
	const char *argv[] = {"ls", "-1", root, NULL};
	qft_run(&o, argv, NULL, NULL, 30);
	assert_int_equal(o.exit_code, 0);
	int n = 0;
	char *save = NULL;
	for (char *line = strtok_r(o.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (qf_uuid_valid(line) && n < max)
			qf_strlcpy(ids[n], line, QF_UUID_STR);
		n++;
	}
	qft_output_release(&o);
	return n;
}

static json_t *load_metadata(const char *root, const char *id)
{
	char path[QF_MAX_PATH];
	PATHF(path, sizeof(path), "%s/%s/metadata.json", root, id);
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);
	if (!doc)
		fail_msg("could not read %s: %s", path, e.text);
	return doc;
}

/* The jobs, made once by the real program: three molecules that complete
 * and caffeine with a 2-iteration SCC limit, which fails. */
static int group_setup(void **state)
{
	(void)state;
	qft_tmpdir(good_root, "reindex-jobs");
	char xyz[QF_MAX_PATH], caffeine[QF_MAX_PATH];
	qft_data(xyz, "cli/three_frames.xyz");
	qft_data(caffeine, "runner/caffeine.xyz");
	qft_output o;
	const char *run3[] = {"run", xyz, "--jobs-root", good_root, NULL};
	ts_qforge(&o, NULL, run3);
	ts_expect(&o, 0, "qforge run three_frames.xyz", NULL);
	qft_output_release(&o);
	const char *run1[] = {"run", caffeine, "--max-scc-iterations", "2", "--jobs-root", good_root, NULL};
	ts_qforge(&o, NULL, run1);
	ts_expect(&o, qf_err_exit_status(QF_CAT_CONVERGENCE), "qforge run caffeine (2 SCC iterations)",
	          NULL);
	qft_output_release(&o);

	assert_int_equal(count_job_dirs(good_root, good_ids, 4), 4);
	good_atoms = 0;
	for (int i = 0; i < 4; i++) {
		json_t *doc = load_metadata(good_root, good_ids[i]);
		good_atoms += (int)json_integer_value(json_object_get(json_object_get(doc, "molecule"), "natoms"));
		if (!strcmp(json_string_value(json_object_get(doc, "status")), "failed"))
			qf_strlcpy(failed_id, good_ids[i], sizeof(failed_id));
		json_decref(doc);
	}
	assert_int_equal(good_atoms, 3 + 4 + 5 + 24);
	assert_true(qf_uuid_valid(failed_id));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	qf_fs_rm_rf(good_root);
	return 0;
}

/* A copy of the good jobs in a new root. */
static void copy_root(const char *dst)
{
	qft_output o;
	char src[QF_MAX_PATH + 2];
	PATHF(src, sizeof(src), "%s/.", good_root);
	const char *argv[] = {"cp", "-a", src, dst, NULL};
	qft_run(&o, argv, NULL, NULL, 60);
	assert_int_equal(o.exit_code, 0);
	qft_output_release(&o);
}

static void migrate(const test_store *t)
{
	qft_output o;
	const char *args[] = {"db", "migrate", "--store", t->url, NULL};
	ts_qforge(&o, NULL, args);
	ts_expect(&o, 0, "qforge db migrate", (const char *const[]){"schema version", NULL});
	qft_output_release(&o);
}

static void reindex(qft_output *o, const char *root, const test_store *t)
{
	const char *args[] = {"reindex", root, "--store", t->url, NULL};
	ts_qforge(o, NULL, args);
}

static json_t *get_row(qf_store *s, const char *table, const char *id)
{
	qf_actor sys = qf_actor_system();
	json_t *row = NULL;
	qf_err e;
	qf_err_init(&e);
	if (qf_store_get(s, &sys, table, id, &row, &e))
		fail_msg("%s %s: %s", table, id, e.message);
	return row;
}

/* Everything recorded once; a second run is a no-op. */
static void reindex_twice(ts_backend kind)
{
	test_store t;
	ts_create(&t, kind, "reindex");
	migrate(&t);
	json_t *empty = ts_snapshot(&t);

	qft_output o;
	reindex(&o, good_root, &t);
	ts_expect(&o, 0, "first reindex",
	          (const char *const[]){"4 recorded, 0 unchanged, 0 unreadable", NULL});
	qft_output_release(&o);

	json_t *first = ts_snapshot(&t);
	assert_int_equal(ts_snap_count(first, "calculations"), 4);
	assert_int_equal(ts_snap_count(first, "molecules"), 4);
	assert_int_equal(ts_snap_count(first, "atomic_properties"), good_atoms);
	assert_int_equal(ts_snap_count(first, "calculation_execution_metrics"), 4);
	assert_int_equal(ts_snap_count(first, "calculation_errors"), 1);
	/* nothing else was touched */
	static const char *const untouched[] = {"organisations", "users", "memberships", "api_keys",
	                                        "batches", "user_audit_log", "performance_metrics"};
	for (size_t i = 0; i < sizeof(untouched) / sizeof(untouched[0]); i++)
		assert_int_equal(ts_snap_count(first, untouched[i]), ts_snap_count(empty, untouched[i]));

	/* the rows say what the metadata says */
	qf_store *s = ts_open(&t);
	for (int i = 0; i < 4; i++) {
		json_t *doc = load_metadata(good_root, good_ids[i]);
		json_t *calc = get_row(s, "calculations", good_ids[i]);
		assert_string_equal(json_string_value(json_object_get(calc, "owner_id")), QF_LOCAL_USER_ID);
		assert_string_equal(json_string_value(json_object_get(calc, "status")),
		                    json_string_value(json_object_get(doc, "status")));
		char dir[QF_MAX_PATH];
		PATHF(dir, sizeof(dir), "%s/%s", good_root, good_ids[i]);
		struct stat a, b;
		assert_int_equal(stat(dir, &a), 0);
		assert_int_equal(stat(json_string_value(json_object_get(calc, "job_dir")), &b), 0);
		assert_true(a.st_ino == b.st_ino);
		json_t *energy = json_object_get(json_object_get(doc, "results"), "total_energy_hartree");
		if (json_is_number(energy))
			assert_close(json_real_value(json_object_get(calc, "total_energy")),
			             json_number_value(energy), 1e-10);
		if (!strcmp(good_ids[i], failed_id))
			assert_string_equal(json_string_value(json_object_get(calc, "error_category")),
			                    "convergence");
		json_decref(calc);
		json_decref(doc);
	}
	qf_store_close(s);

	reindex(&o, good_root, &t);
	ts_expect(&o, 0, "second reindex",
	          (const char *const[]){"0 recorded, 4 unchanged, 0 unreadable", NULL});
	qft_output_release(&o);
	json_t *second = ts_snapshot(&t);
	ts_assert_same(first, second, "a second reindex");

	json_decref(empty);
	json_decref(first);
	json_decref(second);
	ts_destroy(&t);
}

static void test_reindex_sqlite(void **state)
{
	(void)state;
	reindex_twice(TS_SQLITE);
}

static void test_reindex_postgres(void **state)
{
	(void)state;
	reindex_twice(TS_POSTGRES);
}

/* A copy of the good job `from` as a new job (its own id and directory),
 * edited by set (keys to set at the top level; may be NULL). Returns the
 * new directory's name in id. */
static void clone_job(const char *root, const char *from, const char *dirname, json_t *set,
                      char id[QF_UUID_STR])
{
	json_t *doc = load_metadata(good_root, from);
	qf_uuid_v7(id);
	json_object_set_new(doc, "job_id", json_string(id));
	const char *key;
	json_t *v;
	json_object_foreach(set, key, v)
		json_object_set(doc, key, v);
	char dir[QF_MAX_PATH], path[QF_MAX_PATH];
	PATHF(dir, sizeof(dir), "%s/%s", root, dirname ? dirname : id);
	json_object_set_new(doc, "job_dir", json_string(dir));
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_fs_mkdir_p(dir, false, &e), 0);
	PATHF(path, sizeof(path), "%s/metadata.json", dir);
	assert_int_equal(json_dump_file(doc, path, JSON_SORT_KEYS), 0);
	json_decref(doc);
}

/* Every kind of broken job directory is reported (path and reason) and
 * left out; the good ones next to them are recorded; stray files are not
 * job directories. */
static void test_reindex_malformed_job_dirs(void **state)
{
	(void)state;
	char root[QF_MAX_PATH];
	qft_tmpdir(root, "reindex-malformed");
	copy_root(root);

	static const struct {
		const char *name;
		const char *metadata; /* the file's text; NULL: no file */
		const char *reason;   /* expected in the report */
	} raw[] = {
		{"no metadata.json", NULL, "metadata.json"},
		{"an empty file", "", "could not parse"},
		{"not JSON", "{\"schema\": 1, \"status\": ", "could not parse"},
		{"a JSON array", "[1, 2, 3]", "missing or mistyped top-level keys"},
		{"a JSON string", "\"metadata\"", "could not parse"},
		{"an object of something else", "{\"hello\": \"world\"}", "missing or mistyped top-level keys"},
		{"duplicate keys", "{\"schema\": 1, \"schema\": 1}", "duplicate"},
		{"binary", "\x7f" "ELF\x02\x01\x01", "could not parse"},
	};
	char dirs[32][QF_MAX_PATH];
	const char *reasons[32];
	int nbad = 0;
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		char id[QF_UUID_STR];
		qf_uuid_v7(id);
		PATHF(dirs[nbad], QF_MAX_PATH, "%s/%s", root, id);
		qf_err e;
		qf_err_init(&e);
		assert_int_equal(qf_fs_mkdir_p(dirs[nbad], false, &e), 0);
		if (raw[i].metadata) {
			char path[QF_MAX_PATH + 16];
			PATHF(path, sizeof(path), "%s/metadata.json", dirs[nbad]);
			qft_write(path, raw[i].metadata);
		}
		reasons[nbad++] = raw[i].reason;
	}

	/* real metadata with one thing wrong */
	char truncated[QF_MAX_PATH + 16], id[QF_UUID_STR];
	{
		char src[QF_MAX_PATH];
		PATHF(src, sizeof(src), "%s/%s/metadata.json", good_root, good_ids[0]);
		size_t len = 0;
		char *text = qft_slurp(src, &len);
		text[len / 2] = '\0';
		qf_uuid_v7(id);
		PATHF(dirs[nbad], QF_MAX_PATH, "%s/%s", root, id);
		qf_err e;
		qf_err_init(&e);
		assert_int_equal(qf_fs_mkdir_p(dirs[nbad], false, &e), 0);
		PATHF(truncated, sizeof(truncated), "%s/metadata.json", dirs[nbad]);
		qft_write(truncated, text);
		free(text);
		reasons[nbad++] = "could not parse";
	}
	static const struct {
		const char *set; /* JSON object of keys to set */
		const char *reason;
		bool other_dir;  /* put it in a directory named for another job */
	} edited[] = {
		{"{\"schema\": 99}", "unknown schema version", false},
		{"{\"status\": \"exploded\"}", "unknown status", false},
		{"{\"job_id\": \"not-a-uuid\"}", "job_id is not a UUID", false},
		{"{\"molecule\": {\"natoms\": 2}}", "molecule is incomplete", false},
		{"{\"owner_id\": \"root\"}", "owner_id is not a UUID", false},
		{"{\"owner_id\": 7}", "owner_id is not a UUID", false},
		{"{\"org_id\": \"org one\"}", "org_id is not a UUID", false},
		{"{\"owner_id\": \"00000000-0000-7000-8000-0000000000ee\"}", "is not a user of this store", false},
		{"{}", "but its directory is", true},
	};
	for (size_t i = 0; i < sizeof(edited) / sizeof(edited[0]); i++) {
		json_error_t je;
		json_t *set = json_loads(edited[i].set, 0, &je);
		assert_non_null(set);
		char other[QF_UUID_STR];
		qf_uuid_v7(other);
		clone_job(root, good_ids[i % 4], edited[i].other_dir ? other : NULL, set, id);
		json_decref(set);
		PATHF(dirs[nbad], QF_MAX_PATH, "%s/%s", root, edited[i].other_dir ? other : id);
		reasons[nbad++] = edited[i].reason;
	}
	/* a stray file is not a job directory: ignored, not unreadable */
	char stray[QF_MAX_PATH + 16];
	PATHF(stray, sizeof(stray), "%s/README", root);
	qft_write(stray, "jobs live here\n");

	test_store t;
	ts_create(&t, TS_SQLITE, "reindex-malformed");
	qft_output o;
	reindex(&o, root, &t);
	char summary[128];
	snprintf(summary, sizeof(summary), "4 recorded, 0 unchanged, %d unreadable", nbad);
	ts_expect(&o, qf_err_exit_status(QF_CAT_VALIDATION), "reindex of malformed job directories",
	          (const char *const[]){summary, NULL});
	/* each bad directory: one stderr line naming it and the reason */
	int failures = 0;
	for (int i = 0; i < nbad; i++) {
		const char *p = strstr(o.err, dirs[i]);
		const char *eol = p ? strchr(p, '\n') : NULL;
		const char *bol = p;
		while (bol && bol > o.err && bol[-1] != '\n')
			bol--;
		char line[2 * QF_MAX_PATH];
		if (bol)
			snprintf(line, sizeof(line), "%.*s", (int)(eol ? eol - bol : (long)strlen(bol)), bol);
		if (!p || !strstr(line, reasons[i])) {
			print_error("no report of %s with '%s'\n", dirs[i], reasons[i]);
			failures++;
		}
	}
	if (failures)
		print_error("stderr was:\n%s\n", o.err);
	assert_int_equal(failures, 0);
	assert_null(strstr(o.err, "README"));
	qft_output_release(&o);

	qf_store *s = ts_open(&t);
	assert_int_equal(ts_count(s, "calculations"), 4);
	qf_store_close(s);
	ts_destroy(&t);
	qf_fs_rm_rf(root);
}

/* Metadata naming an owner: recorded as that user, within that user's
 * rights: into an organisation where it may write, not into one where it
 * may not (reported, the rest recorded). */
static void owners_from_metadata(ts_backend kind)
{
	static const char user[] = "00000000-0000-7000-8000-0000000000a1";
	static const char org_ok[] = "00000000-0000-7000-8000-0000000000b1";
	static const char org_viewer[] = "00000000-0000-7000-8000-0000000000b2";
	test_store t;
	ts_create(&t, kind, "reindex-owner");
	qf_store *s = ts_open(&t);
	qf_actor sys = qf_actor_system();
	qf_err e;
	qf_err_init(&e);
	json_t *rows[] = {
		json_pack("{s:s,s:s}", "id", user, "email", "ada@example.org"),
		json_pack("{s:s,s:s,s:s}", "id", org_ok, "name", "lab", "owner_id", user),
		json_pack("{s:s,s:s,s:s}", "id", org_viewer, "name", "other lab", "owner_id", user),
		json_pack("{s:s,s:s,s:s}", "user_id", user, "org_id", org_ok, "role", "researcher"),
		json_pack("{s:s,s:s,s:s}", "user_id", user, "org_id", org_viewer, "role", "viewer"),
	};
	const char *tables[] = {"users", "organisations", "organisations", "memberships", "memberships"};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (qf_store_insert(s, &sys, tables[i], rows[i], NULL, &e))
			fail_msg("insert into %s: %s", tables[i], e.message);
		json_decref(rows[i]);
	}
	qf_store_close(s);

	char root[QF_MAX_PATH];
	qft_tmpdir(root, "reindex-owner");
	char personal[QF_UUID_STR], in_org[QF_UUID_STR], refused[QF_UUID_STR], local[QF_UUID_STR];
	json_t *set = json_pack("{s:s}", "owner_id", user);
	clone_job(root, good_ids[0], NULL, set, personal);
	json_decref(set);
	set = json_pack("{s:s,s:s}", "owner_id", user, "org_id", org_ok);
	clone_job(root, good_ids[1], NULL, set, in_org);
	json_decref(set);
	set = json_pack("{s:s,s:s}", "owner_id", user, "org_id", org_viewer);
	clone_job(root, good_ids[2], NULL, set, refused);
	json_decref(set);
	clone_job(root, good_ids[3], NULL, NULL, local);

	qft_output o;
	reindex(&o, root, &t);
	ts_expect(&o, qf_err_exit_status(QF_CAT_VALIDATION), "reindex with owners",
	          (const char *const[]){"3 recorded, 0 unchanged, 1 unreadable", "not recorded", refused,
	                                NULL});
	qft_output_release(&o);

	s = ts_open(&t);
	json_t *c = get_row(s, "calculations", personal);
	assert_string_equal(json_string_value(json_object_get(c, "owner_id")), user);
	assert_true(json_is_null(json_object_get(c, "org_id")));
	json_decref(c);
	c = get_row(s, "calculations", in_org);
	assert_string_equal(json_string_value(json_object_get(c, "owner_id")), user);
	assert_string_equal(json_string_value(json_object_get(c, "org_id")), org_ok);
	json_decref(c);
	c = get_row(s, "calculations", local);
	assert_string_equal(json_string_value(json_object_get(c, "owner_id")), QF_LOCAL_USER_ID);
	json_decref(c);
	qf_actor a = qf_actor_system();
	json_t *none = NULL;
	assert_int_equal(qf_store_get(s, &a, "calculations", refused, &none, &e), QF_ENOENT);
	assert_int_equal(ts_count(s, "calculations"), 3);
	qf_store_close(s);

	/* again: nothing changes, the refused one is still refused */
	json_t *before = ts_snapshot(&t);
	reindex(&o, root, &t);
	ts_expect(&o, qf_err_exit_status(QF_CAT_VALIDATION), "second reindex with owners",
	          (const char *const[]){"0 recorded, 3 unchanged, 1 unreadable", NULL});
	qft_output_release(&o);
	json_t *after = ts_snapshot(&t);
	ts_assert_same(before, after, "a second reindex with owners");
	json_decref(before);
	json_decref(after);
	ts_destroy(&t);
	qf_fs_rm_rf(root);
}

static void test_owners_sqlite(void **state)
{
	(void)state;
	owners_from_metadata(TS_SQLITE);
}

static void test_owners_postgres(void **state)
{
	(void)state;
	owners_from_metadata(TS_POSTGRES);
}

/* Malformed command lines and roots (table-driven). */
static void test_reindex_malformed_command_lines(void **state)
{
	(void)state;
	test_store t;
	ts_create(&t, TS_SQLITE, "reindex-cli");
	char missing[QF_MAX_PATH + 16], file[QF_MAX_PATH + 16];
	PATHF(missing, sizeof(missing), "%s/no-such-root", t.dir);
	PATHF(file, sizeof(file), "%s/a-file", t.dir);
	qft_write(file, "not a directory\n");
	const struct {
		const char *args[8];
		int status;
		const char *text;
	} cases[] = {
		{{"reindex", "a", "b", NULL}, QF_EXIT_USAGE, "give one JOBS_ROOT"},
		{{"reindex", good_root, "--store", NULL}, QF_EXIT_USAGE, "needs a value"},
		{{"reindex", good_root, "--frobnicate", NULL}, QF_EXIT_USAGE, "unknown option"},
		{{"reindex", "--store", t.url, missing, NULL}, 10, "could not read the jobs root"},
		{{"reindex", "--store", t.url, file, NULL}, 10, "could not read the jobs root"},
		{{"reindex", good_root, "--store", "mysql://db", NULL}, 10, "unknown store URL"},
		{{"reindex", good_root, "--store", "sqlite:", NULL}, 10, "names no file"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		qft_output o;
		ts_qforge(&o, NULL, cases[i].args);
		char where[128];
		snprintf(where, sizeof(where), "case %zu (%s %s)", i, cases[i].args[1],
		         cases[i].args[2] ? cases[i].args[2] : "");
		ts_expect(&o, cases[i].status, where, (const char *const[]){cases[i].text, NULL});
		qft_output_release(&o);
	}
	/* --help works and says what it does */
	qft_output o;
	ts_qforge(&o, NULL, (const char *const[]){"reindex", "--help", NULL});
	ts_expect(&o, 0, "reindex --help", (const char *const[]){"usage: qforge reindex", NULL});
	qft_output_release(&o);
	ts_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reindex_sqlite),
		cmocka_unit_test(test_reindex_postgres),
		cmocka_unit_test(test_reindex_malformed_job_dirs),
		cmocka_unit_test(test_owners_sqlite),
		cmocka_unit_test(test_owners_postgres),
		cmocka_unit_test(test_reindex_malformed_command_lines),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
