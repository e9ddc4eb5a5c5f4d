/* Reader machinery: formats, opening files, refusing empty and binary input,
 * reading exactly one molecule. */
#include "qftest.h"

#include <stdlib.h>
#include <string.h>

#include "qf/fs.h"
#include "qf/molio.h"

static void test_formats(void **state)
{
	(void)state;
	static const struct {
		const char *path;
		qf_format fmt;
	} rows[] = {
		{"a.xyz", QF_FMT_XYZ},         {"/x/y/B.XYZ", QF_FMT_XYZ},     {"a.sdf", QF_FMT_SDF},
		{"a.SD", QF_FMT_SDF},          {"dir.v2/a.mol", QF_FMT_SDF},   {"a.smi", QF_FMT_SMILES},
		{"a.smiles", QF_FMT_SMILES},   {"a.txt", QF_FMT_UNKNOWN},      {"a", QF_FMT_UNKNOWN},
		{".xyz", QF_FMT_UNKNOWN},      {"dir.xyz/a", QF_FMT_UNKNOWN},  {"a.xyz.gz", QF_FMT_UNKNOWN},
		{"a.mol2", QF_FMT_UNKNOWN},    {"a.", QF_FMT_UNKNOWN},         {"", QF_FMT_UNKNOWN},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (qf_format_from_path(rows[i].path) != rows[i].fmt)
			fail_msg("%s: got %d", rows[i].path, (int)qf_format_from_path(rows[i].path));
	assert_int_equal(qf_format_from_path(NULL), QF_FMT_UNKNOWN);

	assert_int_equal(qf_format_parse("xyz"), QF_FMT_XYZ);
	assert_int_equal(qf_format_parse("SDF"), QF_FMT_SDF);
	assert_int_equal(qf_format_parse("mol"), QF_FMT_SDF);
	assert_int_equal(qf_format_parse("sd"), QF_FMT_SDF);
	assert_int_equal(qf_format_parse("smi"), QF_FMT_SMILES);
	assert_int_equal(qf_format_parse("Smiles"), QF_FMT_SMILES);
	assert_int_equal(qf_format_parse("pdb"), QF_FMT_UNKNOWN);
	assert_int_equal(qf_format_parse(""), QF_FMT_UNKNOWN);
	assert_int_equal(qf_format_parse(NULL), QF_FMT_UNKNOWN);
	/* names round-trip (job metadata stores them) */
	for (qf_format f = QF_FMT_UNKNOWN; f <= QF_FMT_SMILES; f++)
		assert_int_equal(qf_format_parse(qf_format_name(f)), f);
	assert_string_equal(qf_format_name(QF_FMT_SDF), "sdf");
}

static void test_open_path(void **state)
{
	(void)state;
	char dir[QF_MAX_PATH], path[QF_MAX_PATH];
	qft_tmpdir(dir, "chem-molio-open");
	qf_reader *r = (qf_reader *)1;
	qf_err e;
	qf_err_init(&e);

	qf_fs_join(path, sizeof(path), dir, "missing.xyz");
	assert_int_equal(qf_reader_new_path(&r, path, QF_FMT_UNKNOWN, &e), QF_EINVAL);
	assert_null(r);
	assert_string_equal(e.code, "input.not_found");
	assert_non_null(strstr(e.message, path));

	/* the extension decides, unless a format is given */
	qf_fs_join(path, sizeof(path), dir, "water.txt");
	qft_write(path, "3\nwater\nO 0 0 0.117\nH 0 0.757 -0.467\nH 0 -0.757 -0.467\n");
	assert_int_equal(qf_reader_new_path(&r, path, QF_FMT_UNKNOWN, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.format");
	assert_non_null(strstr(e.message, "water.txt"));
	assert_int_equal(qf_reader_new_path(&r, path, QF_FMT_XYZ, &e), 0);
	assert_int_equal(qf_reader_format(r), QF_FMT_XYZ);
	assert_int_equal(qf_reader_record(r), 0);
	qf_mol m;
	assert_int_equal(qf_reader_next(r, &m, &e), 1);
	assert_string_equal(m.name, "water");
	qf_mol_release(&m);
	qf_reader_free(r);

	/* empty, whitespace-only and binary files are refused at the door */
	static const struct {
		const char *name;
		const char *data;
		size_t len;
		const char *code;
	} bad[] = {
		{"empty.xyz", "", 0, "input.empty"},
		{"blank.sdf", "\n \t\r\n\n", 6, "input.empty"},
		{"nul.smi", "CCO\0ethanol\n", 12, "input.binary"},
		{"random.xyz", "\x9c\xff\x01\x02\x8d\xfe\x03\x04\x05\x06\xf9\xfa", 12, "input.binary"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		qf_fs_join(path, sizeof(path), dir, bad[i].name);
		assert_int_equal(qf_fs_write(path, bad[i].data, bad[i].len, &e), 0);
		r = (qf_reader *)1;
		assert_int_equal(qf_reader_new_path(&r, path, QF_FMT_UNKNOWN, &e), QF_EINVAL);
		assert_null(r);
		if (strcmp(e.code, bad[i].code) != 0)
			fail_msg("%s: %s (%s)", bad[i].name, e.code, e.message);
		assert_non_null(strstr(e.message, path));
	}

	/* a directory */
	qf_fs_join(path, sizeof(path), dir, "d.xyz");
	assert_int_equal(qf_fs_mkdir_p(path, false, &e), 0);
	assert_int_equal(qf_reader_new_path(&r, path, QF_FMT_UNKNOWN, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.unreadable");
	qf_fs_rm_rf(dir);
}

static void test_open_buf(void **state)
{
	(void)state;
	qf_reader *r;
	qf_err e;
	qf_err_init(&e);
	const char *text = "1\nhelium\nHe 0 0 0\n";
	/* unknown format: the source name's extension decides, else refused */
	assert_int_equal(qf_reader_new_buf(&r, QF_FMT_UNKNOWN, "he.xyz", text, strlen(text), &e), 0);
	assert_int_equal(qf_reader_format(r), QF_FMT_XYZ);
	qf_reader_free(r);
	assert_int_equal(qf_reader_new_buf(&r, QF_FMT_UNKNOWN, "<request>", text, strlen(text), &e),
	                 QF_EINVAL);
	assert_string_equal(e.code, "input.format");
	assert_non_null(strstr(e.message, "<request>"));
	/* the text is copied: the caller's buffer may go away */
	char *copy = strdup(text);
	assert_int_equal(qf_reader_new_buf(&r, QF_FMT_XYZ, "<request>", copy, strlen(copy), &e), 0);
	memset(copy, 'x', strlen(copy));
	free(copy);
	qf_mol m;
	assert_int_equal(qf_reader_next(r, &m, &e), 1);
	assert_string_equal(m.name, "helium");
	size_t len;
	const char *rec = qf_reader_record_text(r, &len);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(rec, text, len);
	qf_mol_release(&m);
	qf_reader_free(r);
	qf_reader_free(NULL);

	/* a UTF-8 byte order mark is not part of the first line */
	const char *bom = "\xEF\xBB\xBF" "1\nhelium\nHe 0 0 0\n";
	assert_int_equal(qf_mol_parse(&m, QF_FMT_XYZ, "bom.xyz", bom, strlen(bom), &e), 0);
	assert_int_equal(m.z[0], 2);
	qf_mol_release(&m);
	/* UTF-8 text is text */
	const char *utf8 = "1\n\xce\xb1-helium \xe2\x80\x94 \xf0\x9f\x8e\x88\nHe 0 0 0\n";
	assert_int_equal(qf_mol_parse(&m, QF_FMT_XYZ, "u.xyz", utf8, strlen(utf8), &e), 0);
	assert_string_equal(m.name, "\xce\xb1-helium \xe2\x80\x94 \xf0\x9f\x8e\x88");
	qf_mol_release(&m);
}

/* qf_mol_parse wants exactly one molecule. */
static void test_parse_one(void **state)
{
	(void)state;
	static const struct {
		qf_format fmt;
		const char *text;
		int rc;
		const char *code;
		const char *part;
	} rows[] = {
		{QF_FMT_XYZ, "1\nx\nHe 0 0 0\n\n\n", 0, NULL, NULL},
		{QF_FMT_XYZ, "1\nx\nHe 0 0 0\n1\ny\nNe 0 0 0\n", QF_EINVAL, "input.multiple",
		 "could not read one.xyz line 4: more input after the first molecule"},
		{QF_FMT_XYZ, "1\nx\nHe 0 0 0\ntrailing junk\n", QF_EINVAL, "input.multiple", "line 4"},
		{QF_FMT_SDF, "x\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n"
		             "    0.0000    0.0000    0.0000 He  0  0\nM  END\n$$$$\n\n",
		 0, NULL, NULL},
		{QF_FMT_SDF, "x\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n"
		             "    0.0000    0.0000    0.0000 He  0  0\nM  END\n$$$$\ny\n",
		 QF_EINVAL, "input.multiple", "line 8"},
		{QF_FMT_XYZ, "1\nx\nHe 0 0 zero\n", QF_EINVAL, "input.coordinates", "line 3"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		qf_mol m;
		qf_err e;
		qf_err_init(&e);
		int rc = qf_mol_parse(&m, rows[i].fmt, "one.xyz", rows[i].text, strlen(rows[i].text), &e);
		if (rc != rows[i].rc)
			fail_msg("row %zu: rc %d (%s)", i, rc, e.message);
		if (rows[i].code) {
			assert_string_equal(e.code, rows[i].code);
			if (!strstr(e.message, rows[i].part))
				fail_msg("row %zu: '%s' lacks '%s'", i, e.message, rows[i].part);
			assert_int_equal(m.natoms, 0);
			assert_null(m.z);
		} else {
			assert_int_equal(m.natoms, 1);
		}
		qf_mol_release(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_open_path),
		cmocka_unit_test(test_open_buf),
		cmocka_unit_test(test_parse_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
