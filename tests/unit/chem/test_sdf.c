/* SDF/MOL: V2000 and V3000, charges and radicals, multi-record files,
 * malformed records and recovery after "$$$$". */
#include "qftest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bad_input.h"
#include "qf/buf.h"
#include "qf/molio.h"

static void read_one(const char *rel, qf_mol *m)
{
	char path[QF_MAX_PATH];
	qf_reader *r = NULL;
	qf_err e;
	qf_err_init(&e);
	if (qf_reader_new_path(&r, qft_data(path, rel), QF_FMT_UNKNOWN, &e))
		fail_msg("%s: %s", rel, e.message);
	assert_int_equal(qf_reader_format(r), QF_FMT_SDF);
	if (qf_reader_next(r, m, &e) != 1)
		fail_msg("%s: %s", rel, e.message);
	qf_mol extra;
	assert_int_equal(qf_reader_next(r, &extra, &e), 0);
	qf_reader_free(r);
}

/* Files written by RDKit (and hand-edited variants), with the charges and
 * radicals RDKit itself reads from them. */
static void test_files(void **state)
{
	(void)state;
	static const struct {
		const char *file, *name, *formula;
		int natoms, charge, uhf;
		double x0; /* first atom's x */
	} rows[] = {
		{"chem/acetate.mol", "acetate", "C2H3O2", 7, -1, 0, -0.6338},
		{"chem/acetate_atomblock.mol", "acetate, charge in the atom block", "C2H3O2", 7, -1, 0,
		 -0.6338},
		{"chem/glycine_zwitterion.sdf", "glycine zwitterion", "C2H5NO2", 10, 0, 0, NAN},
		/* atom block says +3 on a carbon; "M  CHG" supersedes it */
		{"chem/glycine_superseded.sdf", "glycine zwitterion, stale atom-block charges",
		 "C2H5NO2", 10, 0, 0, NAN},
		{"chem/sulfate.mol", "sulfate", "O4S", 5, -2, 0, NAN},
		{"chem/methyl_radical.mol", "methyl radical", "CH3", 4, 0, 1, 0.0195},
		{"chem/methyl_atomblock.mol", "methyl radical, doublet code in the atom block", "CH3", 4,
		 0, 1, 0.0195},
		{"chem/ethanol_2d.mol", "ethanol 2D", "C2H6O", 9, 0, 0, -1.0809},
		{"chem/glycine_zwitterion_v3000.mol", "glycine zwitterion", "C2H5NO2", 10, 0, 0,
		 -1.082016},
		{"chem/sulfate_v3000.sdf", "sulfate", "O4S", 5, -2, 0, NAN},
		{"chem/methylene_v3000.mol", "methylene", "CH2", 3, 0, 2, -0.000821},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		qf_mol m;
		read_one(rows[i].file, &m);
		assert_string_equal(m.name, rows[i].name);
		char f[32];
		qf_mol_formula(&m, f, sizeof(f));
		assert_string_equal(f, rows[i].formula);
		assert_int_equal(m.natoms, rows[i].natoms);
		if (m.charge != rows[i].charge || m.uhf != rows[i].uhf)
			fail_msg("%s: charge %d uhf %d, expected %d %d", rows[i].file, m.charge, m.uhf,
			         rows[i].charge, rows[i].uhf);
		if (!isnan(rows[i].x0))
			assert_close(m.xyz[0], rows[i].x0, 1e-9);
		assert_null(m.smiles);
		qf_err e;
		qf_err_init(&e);
		if (qf_mol_validate(&m, 86, m.charge, m.uhf, &e))
			fail_msg("%s: %s", rows[i].file, e.message);
		qf_mol_release(&m);
	}
}

static void test_multi_record(void **state)
{
	(void)state;
	char path[QF_MAX_PATH];
	qf_reader *r;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_reader_new_path(&r, qft_data(path, "chem/multi.sdf"), QF_FMT_UNKNOWN, &e), 0);
	static const struct {
		const char *name;
		int natoms, charge;
	} want[] = {{"ethanol", 9, 0}, {"acetate", 7, -1}, {"ammonium", 5, 1}};
	for (int k = 0; k < 3; k++) {
		qf_mol m;
		assert_int_equal(qf_reader_next(r, &m, &e), 1);
		assert_int_equal(qf_reader_record(r), k + 1);
		assert_string_equal(m.name, want[k].name);
		assert_int_equal(m.natoms, want[k].natoms);
		assert_int_equal(m.charge, want[k].charge);
		size_t len;
		const char *text = qf_reader_record_text(r, &len);
		assert_true(len > 20);
		assert_memory_equal(text, want[k].name, strlen(want[k].name));
		assert_memory_equal(text + len - 5, "$$$$\n", 5);
		/* the data items belong to the record as given */
		assert_non_null(memmem(text, len, "<source>", 8));
		qf_mol_release(&m);
	}
	qf_mol m;
	assert_int_equal(qf_reader_next(r, &m, &e), 0);
	qf_reader_free(r);
}

/* The middle record lacks "M  END": records 1 and 3 are read, 2 is an error. */
static void test_broken_middle(void **state)
{
	(void)state;
	char path[QF_MAX_PATH];
	qf_reader *r;
	qf_err e;
	qf_err_init(&e);
	qft_data(path, "chem/broken_middle.sdf");
	assert_int_equal(qf_reader_new_path(&r, path, QF_FMT_UNKNOWN, &e), 0);
	qf_mol m;
	assert_int_equal(qf_reader_next(r, &m, &e), 1);
	assert_string_equal(m.name, "ethanol");
	qf_mol_release(&m);

	assert_int_equal(qf_reader_next(r, &m, &e), QF_EINVAL);
	assert_int_equal(qf_reader_record(r), 2);
	assert_string_equal(e.code, "input.syntax");
	assert_non_null(strstr(e.message, "'M  END'"));
	assert_non_null(strstr(e.message, path));
	/* the "$$$$" that ends record 2 is the line named */
	size_t flen;
	char *file = qft_slurp(path, &flen);
	long line = 0, delims = 0;
	for (char *p = file; *p && delims < 2; p++) {
		if (p == file || p[-1] == '\n') {
			line++;
			if (strncmp(p, "$$$$", 4) == 0)
				delims++;
		}
	}
	char want[64];
	snprintf(want, sizeof(want), " line %ld: ", line);
	if (!strstr(e.message, want))
		fail_msg("'%s' does not name line %ld", e.message, line);
	size_t len;
	const char *text = qf_reader_record_text(r, &len);
	assert_memory_equal(text, "acetate\n", 8);
	assert_memory_equal(text + len - 5, "$$$$\n", 5);
	assert_true(qf_reader_can_continue(r));
	free(file);

	assert_int_equal(qf_reader_next(r, &m, &e), 1);
	assert_int_equal(qf_reader_record(r), 3);
	assert_string_equal(m.name, "ammonium");
	assert_int_equal(m.charge, 1);
	qf_mol_release(&m);
	assert_int_equal(qf_reader_next(r, &m, &e), 0);
	qf_reader_free(r);
}

/* Water in V2000, one line per macro, so rows read as the record they are. */
#define HDR "water\n  test\n\n"
#define CNT "  3  2  0  0  0  0  0  0  0  0999 V2000\n"
#define A1 "    0.0000    0.0000    0.1173 O   0  0  0  0  0  0  0  0  0  0  0  0\n"
#define A2 "    0.0000    0.7572   -0.4692 H   0  0  0  0  0  0  0  0  0  0  0  0\n"
#define A3 "    0.0000   -0.7572   -0.4692 H   0  0  0  0  0  0  0  0  0  0  0  0\n"
#define B1 "  1  2  1  0\n"
#define B2 "  1  3  1  0\n"
#define MEND "M  END\n"
#define DELIM "$$$$\n"

static void test_v2000_variants(void **state)
{
	(void)state;
	static const struct {
		const char *what, *text, *name;
		int natoms, charge, uhf;
	} rows[] = {
		{"plain", HDR CNT A1 A2 A3 B1 B2 MEND DELIM, "water", 3, 0, 0},
		{"no $$$$, CRLF", "water\r\n  test\r\n\r\n  3  2  0  0  0  0  0  0  0  0999 V2000\r\n"
		                  "    0.0000    0.0000    0.1173 O   0  0\r\n"
		                  "    0.0000    0.7572   -0.4692 H   0  0\r\n"
		                  "    0.0000   -0.7572   -0.4692 H   0  0\r\n  1  2  1  0\r\n"
		                  "  1  3  1  0\r\nM  END\r\n",
		 "water", 3, 0, 0},
		{"no version tag, short atom lines", "water\n\n\n  3  2\n 0.0 0.0 0.1173 O\n"
		                                     " 0.0 0.7572 -0.4692 H\n 0.0 -0.7572 -0.4692 H\n"
		                                     "  1  2  1\n  1  3  1\n" MEND,
		 "water", 3, 0, 0},
		{"left-aligned counts", "water\n\n\n3 2 0 0 0 0 0 0 0 0 999 V2000\n" A1 A2 A3
		                        "1 2 1 0\n1 3 1 0\n" MEND,
		 "water", 3, 0, 0},
		{"empty title", "\n  test\n\n" CNT A1 A2 A3 B1 B2 MEND, "mol", 3, 0, 0},
		{"hydroxide via M  CHG", "hydroxide\n\n\n  2  1  0  0  0  0  0  0  0  0999 V2000\n" A1
		                         "    0.0000    0.0000    1.0873 H   0  0\n" B1
		                         "M  CHG  1   1  -1\n" MEND,
		 "hydroxide", 2, -1, 0},
		{"two M  CHG lines", "x\n\n\n  2  0  0  0  0  0  0  0  0  0999 V2000\n"
		                     "    0.0000    0.0000    0.0000 N   0  0\n"
		                     "    3.0000    0.0000    0.0000 O   0  0\n"
		                     "M  CHG  1   1   1\nM  CHG  1   2  -2\n" MEND,
		 "x", 2, -1, 0},
		{"M  RAD supersedes the atom block charge", "x\n\n\n  2  0  0  0  0  0  0  0  0  0999 V2000\n"
		                     "    0.0000    0.0000    0.0000 N   0  3\n"
		                     "    3.0000    0.0000    0.0000 O   0  0\n"
		                     "M  RAD  1   2   3\n" MEND,
		 "x", 2, 0, 2},
		{"alias and skip lines", HDR CNT A1 A2 A3 B1 B2 "A    2\nM  CHG  1   9   1\n"
		                         "S  SKP  1\nM  CHG  1   1   5\n" MEND "> <p>\nM  END\n\n" DELIM,
		 "water", 3, 0, 0},
		{"coordinates beyond 1000 A touch", "far\n\n\n  2  0  0  0  0  0  0  0  0  0999 V2000\n"
		                                    "-1000.0000-1000.0000    0.0000 He  0  0\n"
		                                    "-1001.5000-1000.0000    0.0000 He  0  5\n" MEND,
		 "far", 2, -1, 0},
		{"atoms above 99 touch in bond lines", NULL, "big", 101, 0, 0},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *text;
		if (rows[i].text) {
			text = strdup(rows[i].text);
		} else {
			/* 101 atoms on a line, bonds 100-101 written "100101  1  0" */
			qf_buf b;
			qf_buf_init(&b, 1 << 20);
			qf_buf_puts(&b, "big\n\n\n101100  0  0  0  0  0  0  0  0999 V2000\n");
			for (int a = 0; a < 101; a++)
				qf_buf_printf(&b, "%10.4f%10.4f%10.4f He  0  0\n", 1.5 * a, 0.0, 0.0);
			for (int a = 1; a <= 100; a++)
				qf_buf_printf(&b, "%3d%3d  1  0\n", a, a + 1);
			qf_buf_puts(&b, MEND);
			text = qf_buf_detach(&b, NULL);
		}
		qf_mol m;
		qf_err e;
		qf_err_init(&e);
		if (qf_mol_parse(&m, QF_FMT_SDF, "mol.sdf", text, strlen(text), &e))
			fail_msg("%s: %s", rows[i].what, e.message);
		assert_string_equal(m.name, rows[i].name);
		assert_int_equal(m.natoms, rows[i].natoms);
		if (m.charge != rows[i].charge || m.uhf != rows[i].uhf)
			fail_msg("%s: charge %d uhf %d", rows[i].what, m.charge, m.uhf);
		if (strcmp(m.name, "far") == 0) {
			assert_close(m.xyz[0], -1000.0, 0);
			assert_close(m.xyz[1], -1000.0, 0);
			assert_close(m.xyz[3], -1001.5, 0);
		}
		qf_mol_release(&m);
		free(text);
	}
}

/* Every code of the V2000 atom block charge column, one atom at a time. */
static void test_v2000_charge_codes(void **state)
{
	(void)state;
	static const int charge[8] = {0, 3, 2, 1, 0, -1, -2, -3};
	for (int code = 0; code < 8; code++) {
		char text[256];
		snprintf(text, sizeof(text),
		         "xe\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n"
		         "    0.0000    0.0000    0.0000 Xe  0%3d  0  0  0  0  0  0  0  0  0  0\n"
		         "M  END\n",
		         code);
		qf_mol m;
		qf_err e;
		qf_err_init(&e);
		if (qf_mol_parse(&m, QF_FMT_SDF, "xe.mol", text, strlen(text), &e))
			fail_msg("code %d: %s", code, e.message);
		if (m.charge != charge[code] || m.uhf != (code == 4))
			fail_msg("code %d: charge %d uhf %d", code, m.charge, m.uhf);
		qf_mol_release(&m);
	}
}

static void test_v2000_malformed(void **state)
{
	(void)state;
	static const bad_row rows[] = {
		{"unknown element", HDR CNT A1 "    0.0000    0.7572   -0.4692 Xx  0  0\n" A3 B1 B2 MEND,
		 0, AT_READ, "input.element", 6, "unknown element 'Xx' for atom 2", 0, 0, 0},
		{"query atom Q", HDR CNT A1 "    0.0000    0.7572   -0.4692 Q   0  0\n" A3 B1 B2 MEND, 0,
		 AT_READ, "input.element", 6, "'Q'", 0, 0, 0},
		{"query atom A", HDR CNT "    0.0000    0.0000    0.1173 A   0  0\n" A2 A3 B1 B2 MEND, 0,
		 AT_READ, "input.element", 5, NULL, 0, 0, 0},
		{"star atom", HDR CNT A1 A2 "    0.0000   -0.7572   -0.4692 *   0  0\n" B1 B2 MEND, 0,
		 AT_READ, "input.element", 7, NULL, 0, 0, 0},
		{"R-group", HDR CNT A1 A2 "    0.0000   -0.7572   -0.4692 R#  0  0\n" B1 B2 MEND, 0,
		 AT_READ, "input.element", 7, NULL, 0, 0, 0},
		{"atom list", HDR CNT A1 A2 "    0.0000   -0.7572   -0.4692 L   0  0\n" B1 B2 MEND, 0,
		 AT_READ, "input.element", 7, NULL, 0, 0, 0},
		{"fewer atom lines, bonds follow", HDR CNT A1 A2 B1 B2 MEND, 0, AT_READ,
		 "input.atom_count", 7, "got a bond line", 0, 0, 0},
		{"fewer atom lines, M  END follows", HDR CNT A1 A2 MEND, 0, AT_READ, "input.atom_count", 7,
		 "declares 3 atoms but the atom block ends after 2", 0, 0, 0},
		{"fewer atom lines, file ends", HDR CNT A1 A2, 0, AT_READ, "input.atom_count", 6, NULL, 0, 0, 0},
		{"counts not a number", HDR "  x  2  0  0  0  0  0  0  0  0999 V2000\n" A1 A2 A3 B1 B2 MEND,
		 0, AT_READ, "input.syntax", 4, "bad counts line", 0, 0, 0},
		{"counts garbage", HDR "garbage\n" A1 A2 A3 B1 B2 MEND, 0, AT_READ, "input.syntax", 4,
		 NULL, 0, 0, 0},
		{"counts line missing", "water\n  test\n", 0, AT_READ, "input.syntax", 2,
		 "ends before its counts line", 0, 0, 0},
		{"counts negative", HDR " -3  2  0  0  0  0  0  0  0  0999 V2000\n" A1 A2 A3 B1 B2 MEND,
		 0, AT_READ, "input.atom_count", 4, "declares -3 atoms", 0, 0, 0},
		{"counts zero", HDR "  0  0  0  0  0  0  0  0  0  0999 V2000\n" MEND, 0, AT_READ,
		 "input.atom_count", 4, "declares 0 atoms", 0, 0, 0},
		{"nan coordinate", HDR CNT "       nan    0.0000    0.1173 O   0  0\n" A2 A3 B1 B2 MEND,
		 0, AT_READ, "input.coordinates", 5, "the x coordinate of atom 1", 0, 0, 0},
		{"inf coordinate", HDR CNT A1 "    0.0000       inf   -0.4692 H   0  0\n" A3 B1 B2 MEND, 0,
		 AT_READ, "input.coordinates", 6, NULL, 0, 0, 0},
		{"overflowing coordinate", HDR CNT A1 A2 "    0.0000   -0.7572     1e999 H   0  0\n" B1 B2
		 MEND, 0, AT_READ, "input.coordinates", 7, NULL, 0, 0, 0},
		{"non-numeric coordinate", HDR CNT A1 A2 "    0.0000   -0.7572    -0.4x9 H   0  0\n" B1 B2
		 MEND, 0, AT_READ, "input.coordinates", 7, NULL, 0, 0, 0},
		{"no M  END before $$$$", HDR CNT A1 A2 A3 B1 B2 DELIM, 0, AT_READ, "input.syntax", 10,
		 "the record starting at line 1 ends without an 'M  END' line", 0, 0, 0},
		{"no M  END at the end", HDR CNT A1 A2 A3 B1 B2, 0, AT_READ, "input.syntax", 9, NULL, 0, 0, 0},
		{"bond to a missing atom", HDR CNT A1 A2 A3 B1 "  1  4  1  0\n" MEND, 0, AT_READ,
		 "input.syntax", 9, "bond 2 refers to atom 4, but the record has 3 atoms", 0, 0, 0},
		{"bond to atom 0", HDR CNT A1 A2 A3 "  0  2  1  0\n" B2 MEND, 0, AT_READ, "input.syntax", 8,
		 NULL, 0, 0, 0},
		{"fewer bond lines", HDR CNT A1 A2 A3 B1 MEND, 0, AT_READ, "input.syntax", 9,
		 "declares 2 bonds but the bond block ends after 1", 0, 0, 0},
		{"bond line garbage", HDR CNT A1 A2 A3 B1 "bond\n" MEND, 0, AT_READ, "input.syntax", 9,
		 NULL, 0, 0, 0},
		{"charge code 8", HDR CNT "    0.0000    0.0000    0.1173 O   0  8\n" A2 A3 B1 B2 MEND, 0,
		 AT_READ, "input.syntax", 5, "charge code of atom 1 must be 0-7", 0, 0, 0},
		{"M  CHG on a missing atom", HDR CNT A1 A2 A3 B1 B2 "M  CHG  1   9   1\n" MEND, 0,
		 AT_READ, "input.syntax", 10, "refers to atom '9'", 0, 0, 0},
		{"M  CHG count wrong", HDR CNT A1 A2 A3 B1 B2 "M  CHG  2   1  -1\n" MEND, 0, AT_READ,
		 "input.syntax", 10, NULL, 0, 0, 0},
		{"M  RAD value 4", HDR CNT A1 A2 A3 B1 B2 "M  RAD  1   1   4\n" MEND, 0, AT_READ,
		 "input.syntax", 10, NULL, 0, 0, 0},
		{"empty record", "$$$$\n", 0, AT_READ, "input.syntax", 1, "empty record", 0, 0, 0},
		{"long title line", "@LONG@\n  test\n\n" CNT A1 A2 A3 B1 B2 MEND, 0, AT_READ,
		 "input.line_too_long", 1, NULL, 0, 0, 0},
		{"long atom line", HDR CNT A1 "    0.0000    0.7572   -0.4692 H @LONG@\n" A3 B1 B2 MEND, 0,
		 AT_READ, "input.line_too_long", 6, NULL, 0, 0, 0},
		{"empty file", "", 0, AT_OPEN, "input.empty", 0, NULL, 0, 0, 0},
		{"only blanks", "\n\n   \n", 0, AT_OPEN, "input.empty", 0, NULL, 0, 0, 0},
		{"NUL byte", HDR "\0" CNT, sizeof(HDR "\0" CNT) - 1, AT_OPEN, "input.binary", 4, NULL, 0,
		 0, 0},
		{"binary junk", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 16, AT_OPEN, "input.binary", 3, NULL,
		 0, 0, 0},
		{"mostly control bytes", "\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11hello", 0,
		 AT_OPEN, "input.binary", 0, NULL, 0, 0, 0},
		/* read fine, refused by validation */
		{"H+ alone", "proton\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n"
		             "    0.0000    0.0000    0.0000 H   0  3\n" MEND,
		 0, AT_VALIDATE, "input.charge", 0, "leaves 0 electrons", 0, 0, 0},
		{"radical not declared", "methyl\n\n\n  4  0  0  0  0  0  0  0  0  0999 V2000\n"
		                         "    0.0000    0.0000    0.0000 C   0  0\n"
		                         "    1.0900    0.0000    0.0000 H   0  0\n"
		                         "   -0.5450    0.9440    0.0000 H   0  0\n"
		                         "   -0.5450   -0.9440    0.0000 H   0  0\n" MEND,
		 0, AT_VALIDATE, "input.parity", 0, "odd number of electrons (9)", 0, 0, 0},
		{"overlapping atoms", HDR CNT A1 A2 A2 B1 B2 MEND, 0, AT_VALIDATE, "input.overlap", 0,
		 "atoms 2 (H) and 3 (H) are 0.000 A apart", 0, 0, 0},
		{"radon for GFN2 is fine, francium is not", "fr\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n"
		                                            "    0.0000    0.0000    0.0000 Fr  0  3\n" MEND,
		 0, AT_VALIDATE, "input.element", 0, "Fr (Z=87)", 86, 0, 0},
		{"uhf above electrons", HDR CNT A1 A2 A3 B1 B2 MEND, 0, AT_VALIDATE, "input.charge", 0,
		 "12 unpaired electrons but the molecule has only 10", 0, 0, 12},
	};
	bad_check_rows(QF_FMT_SDF, "input.sdf", rows, sizeof(rows) / sizeof(rows[0]));
}

/* Water in V3000. */
#define V3HDR "water\n  test\n\n  0  0  0     0  0            999 V3000\n"
#define V3BEGIN "M  V30 BEGIN CTAB\n"
#define V3COUNTS "M  V30 COUNTS 3 2 0 0 0\n"
#define V3ATOM "M  V30 BEGIN ATOM\n"
#define V3A1 "M  V30 1 O 0.0 0.0 0.1173 0\n"
#define V3A2 "M  V30 2 H 0.0 0.7572 -0.4692 0\n"
#define V3A3 "M  V30 3 H 0.0 -0.7572 -0.4692 0\n"
#define V3ENDATOM "M  V30 END ATOM\n"
#define V3BOND "M  V30 BEGIN BOND\n"
#define V3B1 "M  V30 1 1 1 2\n"
#define V3B2 "M  V30 2 1 1 3\n"
#define V3ENDBOND "M  V30 END BOND\n"
#define V3END "M  V30 END CTAB\n"
#define V3PRE V3HDR V3BEGIN V3COUNTS V3ATOM
#define V3BONDS V3BOND V3B1 V3B2 V3ENDBOND

static void test_v3000_variants(void **state)
{
	(void)state;
	static const struct {
		const char *what, *text;
		int natoms, charge, uhf;
	} rows[] = {
		{"plain", V3PRE V3A1 V3A2 V3A3 V3ENDATOM V3BONDS V3END MEND, 3, 0, 0},
		{"continuation lines and CHG", V3HDR V3BEGIN "M  V30 COUNTS 2 1 0 0 0\n" V3ATOM
		                               "M  V30 1 O 0.0 0.0 -\nM  V30 0.1173 0 CHG=-1 -\n"
		                               "M  V30 MASS=18\n" V3A2 V3ENDATOM
		                               "M  V30 BEGIN BOND\nM  V30 1 1 1 2\nM  V30 END BOND\n" V3END MEND,
		 2, -1, 0},
		{"indices not in order", V3HDR V3BEGIN "M  V30 COUNTS 3 2 0 0 0\n" V3ATOM
		                         "M  V30 30 O 0.0 0.0 0.1173 0\nM  V30 10 H 0.0 0.7572 -0.4692 0\n"
		                         "M  V30 20 H 0.0 -0.7572 -0.4692 0 RAD=2\n" V3ENDATOM V3BOND
		                         "M  V30 1 1 30 10\nM  V30 2 1 30 20\n" V3ENDBOND V3END MEND,
		 3, 0, 1},
		{"sgroup and collection blocks", V3PRE V3A1 V3A2 V3A3 V3ENDATOM V3BONDS
		                                 "M  V30 BEGIN SGROUP\nM  V30 1 SUP 0 ATOMS=(1 1) LABEL=OH\n"
		                                 "M  V30 END SGROUP\nM  V30 BEGIN COLLECTION\n"
		                                 "M  V30 MDLV30/STEABS ATOMS=(1 1)\nM  V30 END COLLECTION\n"
		                                 V3END MEND "> <id>\n7\n\n" DELIM,
		 3, 0, 0},
		{"no bonds", V3HDR V3BEGIN "M  V30 COUNTS 1 0 0 0 0\n" V3ATOM
		             "M  V30 1 Na 0 0 0.1173 0 CHG=1\n" V3ENDATOM V3END MEND,
		 1, 1, 0},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		qf_mol m;
		qf_err e;
		qf_err_init(&e);
		if (qf_mol_parse(&m, QF_FMT_SDF, "v3.mol", rows[i].text, strlen(rows[i].text), &e))
			fail_msg("%s: %s", rows[i].what, e.message);
		assert_string_equal(m.name, "water");
		assert_int_equal(m.natoms, rows[i].natoms);
		if (m.charge != rows[i].charge || m.uhf != rows[i].uhf)
			fail_msg("%s: charge %d uhf %d", rows[i].what, m.charge, m.uhf);
		assert_close(m.xyz[2], 0.1173, 1e-12);
		qf_mol_release(&m);
	}
}

static void test_v3000_malformed(void **state)
{
	(void)state;
	static const bad_row rows[] = {
		{"unknown element", V3PRE V3A1 "M  V30 2 Xx 0.0 0.7572 -0.4692 0\n" V3A3 V3ENDATOM V3BONDS
		 V3END MEND, 0, AT_READ, "input.element", 9, "unknown element 'Xx' for atom 2", 0, 0, 0},
		{"atom list", V3PRE V3A1 "M  V30 2 [C,N] 0.0 0.7572 -0.4692 0\n" V3A3 V3ENDATOM V3BONDS
		 V3END MEND, 0, AT_READ, "input.element", 9, NULL, 0, 0, 0},
		{"R-group", V3PRE "M  V30 1 R# 0.0 0.0 0.1173 0 RGROUPS=(1 1)\n" V3A2 V3A3 V3ENDATOM
		 V3BONDS V3END MEND, 0, AT_READ, "input.element", 8, NULL, 0, 0, 0},
		{"star atom", V3PRE V3A1 V3A2 "M  V30 3 * 0.0 -0.7572 -0.4692 0\n" V3ENDATOM V3BONDS V3END
		 MEND, 0, AT_READ, "input.element", 10, NULL, 0, 0, 0},
		{"query A", V3PRE V3A1 V3A2 "M  V30 3 A 0.0 -0.7572 -0.4692 0\n" V3ENDATOM V3BONDS V3END
		 MEND, 0, AT_READ, "input.element", 10, NULL, 0, 0, 0},
		{"fewer atom lines", V3HDR V3BEGIN "M  V30 COUNTS 4 2 0 0 0\n" V3ATOM V3A1 V3A2 V3A3
		 V3ENDATOM V3BONDS V3END MEND, 0, AT_READ, "input.atom_count", 11,
		 "declares 4 atoms but the atom block ends after 3", 0, 0, 0},
		{"more atom lines", V3HDR V3BEGIN "M  V30 COUNTS 2 1 0 0 0\n" V3ATOM V3A1 V3A2 V3A3
		 V3ENDATOM V3BONDS V3END MEND, 0, AT_READ, "input.atom_count", 10, "has more", 0, 0, 0},
		{"record ends in the atom block", V3PRE V3A1 V3A2, 0, AT_READ, "input.syntax", 9, NULL, 0, 0,
		 0},
		{"COUNTS not a number", V3HDR V3BEGIN "M  V30 COUNTS three 2 0 0 0\n" V3ATOM V3A1 V3A2 V3A3
		 V3ENDATOM V3BONDS V3END MEND, 0, AT_READ, "input.atom_count", 6, NULL, 0, 0, 0},
		{"COUNTS negative", V3HDR V3BEGIN "M  V30 COUNTS -3 2 0 0 0\n" V3ATOM V3A1 V3A2 V3A3
		 V3ENDATOM V3BONDS V3END MEND, 0, AT_READ, "input.atom_count", 6, "declares -3 atoms", 0,
		 0, 0},
		{"COUNTS zero", V3HDR V3BEGIN "M  V30 COUNTS 0 0 0 0 0\n" V3ATOM V3ENDATOM V3END MEND, 0,
		 AT_READ, "input.atom_count", 6, NULL, 0, 0, 0},
		{"COUNTS above the limit", V3HDR V3BEGIN "M  V30 COUNTS 10001 0 0 0 0\n" V3ATOM V3A1,
		 0, AT_READ, "input.too_many_atoms", 6, "10001 atoms, more than the limit of 10000", 0,
		 0, 0},
		{"COUNTS far above the limit", V3HDR V3BEGIN "M  V30 COUNTS 2000000000 0 0 0 0\n", 0,
		 AT_READ, "input.too_many_atoms", 6, NULL, 0, 0, 0},
		{"COUNTS missing", V3HDR V3BEGIN V3ATOM V3A1, 0, AT_READ, "input.syntax", 6,
		 "expected 'M  V30 COUNTS", 0, 0, 0},
		{"BEGIN CTAB missing", V3HDR V3COUNTS V3ATOM V3A1 V3A2 V3A3 V3ENDATOM V3BONDS V3END MEND, 0,
		 AT_READ, "input.syntax", 5, "expected 'M  V30 BEGIN CTAB'", 0, 0, 0},
		{"nan coordinate", V3PRE "M  V30 1 O nan 0.0 0.1173 0\n" V3A2 V3A3 V3ENDATOM V3BONDS V3END
		 MEND, 0, AT_READ, "input.coordinates", 8, NULL, 0, 0, 0},
		{"inf coordinate", V3PRE V3A1 "M  V30 2 H 0.0 inf -0.4692 0\n" V3A3 V3ENDATOM V3BONDS V3END
		 MEND, 0, AT_READ, "input.coordinates", 9, NULL, 0, 0, 0},
		{"overflowing coordinate", V3PRE V3A1 V3A2 "M  V30 3 H 0.0 -0.7572 -1e999 0\n" V3ENDATOM
		 V3BONDS V3END MEND, 0, AT_READ, "input.coordinates", 10, NULL, 0, 0, 0},
		{"missing coordinates", V3PRE V3A1 "M  V30 2 H 0.0\n" V3A3 V3ENDATOM V3BONDS V3END MEND, 0,
		 AT_READ, "input.syntax", 9, NULL, 0, 0, 0},
		{"no END CTAB before M  END", V3PRE V3A1 V3A2 V3A3 V3ENDATOM V3BONDS MEND, 0, AT_READ,
		 "input.syntax", 16, "no 'M  V30 END CTAB'", 0, 0, 0},
		{"no END CTAB before $$$$", V3PRE V3A1 V3A2 V3A3 V3ENDATOM V3BONDS DELIM, 0, AT_READ,
		 "input.syntax", 16, "no 'M  V30 END CTAB'", 0, 0, 0},
		{"no END CTAB at the end", V3PRE V3A1 V3A2 V3A3 V3ENDATOM V3BONDS, 0, AT_READ,
		 "input.syntax", 15, NULL, 0, 0, 0},
		{"no M  END", V3PRE V3A1 V3A2 V3A3 V3ENDATOM V3BONDS V3END DELIM, 0, AT_READ, "input.syntax",
		 17, "without an 'M  END'", 0, 0, 0},
		{"bond to a missing atom", V3PRE V3A1 V3A2 V3A3 V3ENDATOM V3BOND V3B1 "M  V30 2 1 1 5\n"
		 V3ENDBOND V3END MEND, 0, AT_READ, "input.syntax", 14,
		 "bond 2 refers to atom 5, which is not in the atom block", 0, 0, 0},
		{"empty V30 line in the bond block", V3PRE V3A1 V3A2 V3A3 V3ENDATOM V3BOND "M  V30\n"
		 V3B2 V3ENDBOND V3END MEND, 0, AT_READ, "input.syntax", 13,
		 "expected a bond line (index type atom atom), got an empty 'M  V30' line", 0, 0, 0},
		{"blank V30 line in the bond block", V3PRE V3A1 V3A2 V3A3 V3ENDATOM V3BOND V3B1
		 "M  V30   \t\n" V3ENDBOND V3END MEND, 0, AT_READ, "input.syntax", 14,
		 "got an empty 'M  V30' line", 0, 0, 0},
		{"bond count differs", V3HDR V3BEGIN "M  V30 COUNTS 3 3 0 0 0\n" V3ATOM V3A1 V3A2 V3A3
		 V3ENDATOM V3BONDS V3END MEND, 0, AT_READ, "input.syntax", 15,
		 "declares 3 bonds but the bond block has 2", 0, 0, 0},
		{"bond block missing", V3PRE V3A1 V3A2 V3A3 V3ENDATOM V3END MEND, 0, AT_READ, "input.syntax",
		 6, "no bond block", 0, 0, 0},
		{"atom index used twice", V3PRE V3A1 V3A2 "M  V30 1 H 0.0 -0.7572 -0.4692 0\n" V3ENDATOM
		 V3BONDS V3END MEND, 0, AT_READ, "input.syntax", 6, "used twice", 0, 0, 0},
		{"CHG not a number", V3PRE "M  V30 1 O 0.0 0.0 0.1173 0 CHG=minus\n" V3A2 V3A3 V3ENDATOM
		 V3BONDS V3END MEND, 0, AT_READ, "input.syntax", 8, "'CHG=minus' of atom 1", 0, 0, 0},
		{"not a V30 line in the CTAB", V3PRE V3A1 "X  junk\n" V3A3 V3ENDATOM V3BONDS V3END MEND, 0,
		 AT_READ, "input.syntax", 9, "expected an 'M  V30' line", 0, 0, 0},
		{"continuation into M  END", V3PRE "M  V30 1 O 0.0 0.0 -\n" MEND, 0, AT_READ, "input.syntax",
		 9, "continuing the one before", 0, 0, 0},
		{"long atom line", V3PRE V3A1 "M  V30 2 H 0.0 0.7572 -0.4692 0 @LONG@\n" V3A3 V3ENDATOM
		 V3BONDS V3END MEND, 0, AT_READ, "input.line_too_long", 9, NULL, 0, 0, 0},
		{"empty file", "", 0, AT_OPEN, "input.empty", 0, NULL, 0, 0, 0},
		{"only blanks", " \r\n \t \r\n", 0, AT_OPEN, "input.empty", 0, NULL, 0, 0, 0},
		{"NUL byte", V3HDR V3BEGIN "\0", sizeof(V3HDR V3BEGIN "\0") - 1, AT_OPEN, "input.binary", 6,
		 NULL, 0, 0, 0},
		/* read fine, refused by validation */
		{"H+ alone", V3HDR V3BEGIN "M  V30 COUNTS 1 0 0 0 0\n" V3ATOM "M  V30 1 H 0 0 0 0 CHG=1\n"
		 V3ENDATOM V3END MEND, 0, AT_VALIDATE, "input.charge", 0, NULL, 0, 0, 0},
		{"doublet on water", V3PRE "M  V30 1 O 0.0 0.0 0.1173 0 RAD=2\n" V3A2 V3A3 V3ENDATOM
		 V3BONDS V3END MEND, 0, AT_VALIDATE, "input.parity", 0,
		 "even number of electrons (10) with 1 unpaired electrons", 0, 0, 0},
		{"overlap", V3PRE V3A1 V3A2 "M  V30 3 H 0.0 0.7 -0.4692 0\n" V3ENDATOM V3BONDS V3END MEND, 0,
		 AT_VALIDATE, "input.overlap", 0, "atoms 2 (H) and 3 (H) are 0.057 A apart", 0, 0, 0},
		{"francium", V3HDR V3BEGIN "M  V30 COUNTS 1 0 0 0 0\n" V3ATOM "M  V30 1 Fr 0 0 0 0 CHG=1\n"
		 V3ENDATOM V3END MEND, 0, AT_VALIDATE, "input.element", 0, "Fr (Z=87)", 86, 0, 0},
	};
	bad_check_rows(QF_FMT_SDF, "input.sdf", rows, sizeof(rows) / sizeof(rows[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files),          cmocka_unit_test(test_multi_record),
		cmocka_unit_test(test_broken_middle),  cmocka_unit_test(test_v2000_variants),
		cmocka_unit_test(test_v2000_charge_codes),
		cmocka_unit_test(test_v2000_malformed), cmocka_unit_test(test_v3000_variants),
		cmocka_unit_test(test_v3000_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
