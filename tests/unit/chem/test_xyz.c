/* XYZ: single and multi-frame files, malformed input, recovery, writing. */
#include "qftest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bad_input.h"
#include "qf/buf.h"
#include "qf/fs.h"
#include "qf/molio.h"

static qf_reader *open_data(const char *rel)
{
	char path[QF_MAX_PATH];
	qf_reader *r = NULL;
	qf_err e;
	qf_err_init(&e);
	if (qf_reader_new_path(&r, qft_data(path, rel), QF_FMT_UNKNOWN, &e))
		fail_msg("%s: %s", rel, e.message);
	assert_int_equal(qf_reader_format(r), QF_FMT_XYZ);
	return r;
}

static void next_ok(qf_reader *r, qf_mol *m)
{
	qf_err e;
	qf_err_init(&e);
	int rc = qf_reader_next(r, m, &e);
	if (rc != 1)
		fail_msg("expected a molecule, got %d: %s", rc, e.message);
}

/* CRLF line ends, trailing blanks, tabs, lower- and upper-case symbols. */
static void test_caffeine(void **state)
{
	(void)state;
	qf_reader *r = open_data("chem/caffeine.xyz");
	qf_mol m;
	next_ok(r, &m);
	assert_int_equal(qf_reader_record(r), 1);
	assert_int_equal(m.natoms, 24);
	assert_string_equal(m.name, "caffeine");
	assert_int_equal(m.charge, 0);
	assert_int_equal(m.uhf, 0);
	char f[32];
	qf_mol_formula(&m, f, sizeof(f));
	assert_string_equal(f, "C8H10N4O2");
	assert_int_equal(m.z[0], 6); /* written "c" */
	assert_close(m.xyz[0], 3.29319920, 1e-12);
	assert_close(m.xyz[2], 0.25370666, 1e-12);
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_mol_validate(&m, 86, 0, 0, &e), 0);
	/* the record is the file as given, CRLF included */
	char path[QF_MAX_PATH];
	size_t flen, rlen;
	char *file = qft_slurp(qft_data(path, "chem/caffeine.xyz"), &flen);
	const char *rec = qf_reader_record_text(r, &rlen);
	assert_int_equal(rlen, flen);
	assert_memory_equal(rec, file, flen);
	free(file);
	qf_mol_release(&m);
	assert_int_equal(qf_reader_next(r, &m, &e), 0);
	qf_reader_free(r);
}

static void test_multi_frame(void **state)
{
	(void)state;
	qf_reader *r = open_data("chem/multi.xyz");
	static const struct {
		const char *name;
		int natoms;
		const char *formula;
		const char *text_start;
	} frames[] = {
		{"water", 3, "H2O", "3\nwater\nO "},
		{"multi:2", 5, "CH4", "5\n\nC "}, /* no comment: base name and frame */
		{"ammonia, forces attached", 4, "H3N", "4\nammonia"}, /* Z column, extra columns */
	};
	for (int k = 0; k < 3; k++) {
		qf_mol m;
		next_ok(r, &m);
		assert_int_equal(qf_reader_record(r), k + 1);
		assert_string_equal(m.name, frames[k].name);
		assert_int_equal(m.natoms, frames[k].natoms);
		char f[32];
		qf_mol_formula(&m, f, sizeof(f));
		assert_string_equal(f, frames[k].formula);
		size_t len;
		const char *text = qf_reader_record_text(r, &len);
		assert_true(len > strlen(frames[k].text_start));
		assert_memory_equal(text, frames[k].text_start, strlen(frames[k].text_start));
		/* the record ends with its last atom line */
		assert_int_equal(text[len - 1], '\n');
		assert_true(len < 2 || text[len - 2] != '\n');
		qf_mol_release(&m);
	}
	qf_mol m;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_reader_next(r, &m, &e), 0);
	assert_int_equal(qf_reader_next(r, &m, &e), 0);
	qf_reader_free(r);
}

static void test_names(void **state)
{
	(void)state;
	static const struct {
		const char *source, *text, *name;
	} rows[] = {
		{"/data/runs/h2.xyz", "2\n\nH 0 0 0\nH 0 0 0.74\n", "h2"},
		{"h2.xyz", "2\n   \t  \nH 0 0 0\nH 0 0 0.74\n", "h2"},
		{"h2.xyz", "2\n  hydrogen molecule \t\nH 0 0 0\nH 0 0 0.74", "hydrogen molecule"},
		{"<stdin>", "2\n\nH 0 0 0\nH 0 0 0.74\n\n\n", "<stdin>"},
		{"h2.xyz", "\n\n2\nx\tand y\nH 0 0 0\nH 0 0 0.74\n", "x and y"},
		{"h2.xyz", "2\n\xc3\xa9thyl\nH 0 0 0\nH 0 0 0.74\n", "\xc3\xa9thyl"},
		{"h2.xyz", "2\n$chrg 1\nH 0 0 0\nH 0 0 0.74\n", "$chrg 1"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		qf_mol m;
		qf_err e;
		qf_err_init(&e);
		if (qf_mol_parse(&m, QF_FMT_XYZ, rows[i].source, rows[i].text, strlen(rows[i].text), &e))
			fail_msg("row %zu: %s", i, e.message);
		assert_string_equal(m.name, rows[i].name);
		qf_mol_release(&m);
	}
	/* A long comment is truncated on a character boundary. */
	qf_buf b;
	qf_buf_init(&b, 1 << 20);
	qf_buf_puts(&b, "1\n");
	for (int i = 0; i < 300; i++)
		qf_buf_puts(&b, "\xc3\xa9");
	qf_buf_puts(&b, "\nHe 0 0 0\n");
	qf_mol m;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_mol_parse(&m, QF_FMT_XYZ, "x.xyz", b.data, b.len, &e), 0);
	assert_int_equal(strlen(m.name), QF_MAX_NAME - 2); /* 254: 127 whole characters */
	qf_mol_release(&m);
	qf_buf_release(&b);
}

/* One table of malformed XYZ inputs, each failing where and how it must. */
static void test_malformed(void **state)
{
	(void)state;
	static const bad_row rows[] = {
		{"unknown element", "2\nx\nXx 0 0 0\nH 0 0 1\n", 0, AT_READ, "input.element", 3,
		 "unknown element 'Xx' for atom 1", 0, 0, 0},
		{"atomic number 0", "2\nx\nH 0 0 0\n0 0 0 1\n", 0, AT_READ, "input.element", 4, NULL, 0, 0, 0},
		{"atomic number 119", "1\nx\n119 0 0 0\n", 0, AT_READ, "input.element", 3, NULL, 0, 0, 0},
		{"symbol with a label", "1\nx\nC1 0 0 0\n", 0, AT_READ, "input.element", 3, NULL, 0, 0, 0},
		{"fewer atom lines, end of file", "3\nwater\nO 0 0 0\nH 0 0 1\n", 0, AT_READ,
		 "input.atom_count", 4, "line 1 declares 3 atoms but the file ends after 2", 0, 0, 0},
		{"fewer atom lines, blank line", "3\nx\nO 0 0 0\n\nH 0 0 1\n", 0, AT_READ,
		 "input.atom_count", 4, "atom 2 is a blank line", 0, 0, 0},
		{"comment line missing", "2\n", 0, AT_READ, "input.atom_count", 1, NULL, 0, 0, 0},
		{"count not a number", "three\nx\nH 0 0 0\n", 0, AT_READ, "input.atom_count", 1,
		 "expected the number of atoms, got 'three'", 0, 0, 0},
		{"count with words", "3 atoms\nx\n", 0, AT_READ, "input.atom_count", 1, "'3 atoms'", 0, 0, 0},
		{"count not an integer", "3.0\nx\n", 0, AT_READ, "input.atom_count", 1, NULL, 0, 0, 0},
		{"count negative", "-2\nx\nH 0 0 0\nH 0 0 1\n", 0, AT_READ, "input.atom_count", 1,
		 "declares -2 atoms", 0, 0, 0},
		{"count zero", "0\nx\n", 0, AT_READ, "input.atom_count", 1, "declares 0 atoms", 0, 0, 0},
		{"count above the limit", "10001\nbig\nH 0 0 0\n", 0, AT_READ, "input.too_many_atoms", 1,
		 "10001 atoms, more than the limit of 10000", 0, 0, 0},
		{"count far above the limit", "99999999999999999999999\nx\n", 0, AT_READ,
		 "input.too_many_atoms", 1, NULL, 0, 0, 0},
		{"nan coordinate", "2\nx\nH 0 0 0\nH 0 nan 1\n", 0, AT_READ, "input.coordinates", 4,
		 "the y coordinate of atom 2 is not a finite number: 'nan'", 0, 0, 0},
		{"NaN coordinate", "1\nx\nHe NaN 0 0\n", 0, AT_READ, "input.coordinates", 3, NULL, 0, 0, 0},
		{"inf coordinate", "1\nx\nHe 0 0 inf\n", 0, AT_READ, "input.coordinates", 3, NULL, 0, 0, 0},
		{"-infinity coordinate", "1\nx\nHe 0 0 -infinity\n", 0, AT_READ, "input.coordinates", 3,
		 NULL, 0, 0, 0},
		{"overflowing coordinate", "1\nx\nHe 1e999 0 0\n", 0, AT_READ, "input.coordinates", 3,
		 "'1e999'", 0, 0, 0},
		{"hex coordinate", "1\nx\nHe 0x1p3 0 0\n", 0, AT_READ, "input.coordinates", 3, NULL, 0, 0, 0},
		{"word coordinate", "1\nx\nHe 0 zero 0\n", 0, AT_READ, "input.coordinates", 3, NULL, 0, 0, 0},
		{"two fields", "2\nx\nH 0\nH 0 0 1\n", 0, AT_READ, "input.syntax", 3,
		 "expected an element and 3 coordinates, got 2 fields", 0, 0, 0},
		{"long comment line", "1\n@LONG@\nHe 0 0 0\n", 0, AT_READ, "input.line_too_long", 2, NULL,
		 0, 0, 0},
		{"long atom line", "1\nx\nHe 0 0 0 @LONG@\n", 0, AT_READ, "input.line_too_long", 3, NULL,
		 0, 0, 0},
		{"long count line", "@LONG@\n", 0, AT_READ, "input.line_too_long", 1, NULL, 0, 0, 0},
		{"empty file", "", 0, AT_OPEN, "input.empty", 0, "is empty", 0, 0, 0},
		{"only blanks", "  \n\t\r\n\n   ", 0, AT_OPEN, "input.empty", 0, NULL, 0, 0, 0},
		{"NUL byte", "1\nx\nHe 0 0\0 0\n", 14, AT_OPEN, "input.binary", 3, "NUL byte", 0, 0, 0},
		{"binary junk", "\x7f" "ELF\x02\x01\x01\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11\x12\x13"
		                "\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x90\x91\x92\x93",
		 0, AT_OPEN, "input.binary", 0, "not text", 0, 0, 0},
		/* read fine, refused by validation */
		{"atoms overlap", "2\nx\nH 0 0 0\nH 0 0 0.2\n", 0, AT_VALIDATE, "input.overlap", 0,
		 "atoms 1 (H) and 2 (H) are 0.200 A apart", 0, 0, 0},
		{"francium for GFN2", "2\nx\nFr 0 0 0\nH 0 0 2.3\n", 0, AT_VALIDATE, "input.element", 0,
		 "Fr (Z=87)", 86, 0, 0},
		{"odd electrons, uhf 0", "1\nx\nH 0 0 0\n", 0, AT_VALIDATE, "input.parity", 0,
		 "odd number of electrons (1)", 0, 0, 0},
		{"H+ alone", "1\nproton\nH 0 0 0\n", 0, AT_VALIDATE, "input.charge", 0, NULL, 0, 1, 0},
		{"uhf above electrons", "1\nx\nH 0 0 0\n", 0, AT_VALIDATE, "input.charge", 0, NULL, 0, 0, 3},
		/* extended XYZ comment lines */
		{"unterminated quote", "1\nname=\"water\nHe 0 0 0\n", 0, AT_READ, "input.syntax", 2,
		 "column 6: the \" quote opened here is not closed", 0, 0, 0},
		{"unterminated brace", "1\nProperties={species:S:1:pos:R:3\nHe 0 0 0\n", 0, AT_READ,
		 "input.syntax", 2, "the { opened here is not closed", 0, 0, 0},
		{"trailing backslash", "1\nname=x\\\nHe 0 0 0\n", 0, AT_READ, "input.syntax", 2,
		 "backslash", 0, 0, 0},
		{"'=' without a key", "1\n=x name=y\nHe 0 0 0\n", 0, AT_READ, "input.syntax", 2,
		 "column 1: '=' with no key", 0, 0, 0},
		{"Properties without pos", "1\nProperties=species:S:1:forces:R:3\nHe 0 0 0\n", 0,
		 AT_READ, "input.syntax", 2, "no pos:R:3 column", 0, 0, 0},
		{"Properties without species", "1\nProperties=pos:R:3\n0 0 0\n", 0, AT_READ,
		 "input.syntax", 2, "no species:S:1 (or Z:I:1) column", 0, 0, 0},
		{"pos:R:2", "1\nProperties=species:S:1:pos:R:2\nHe 0 0\n", 0, AT_READ, "input.syntax",
		 2, "pos:R:2: positions are pos:R:3", 0, 0, 0},
		{"pos:I:3", "1\nProperties=species:S:1:pos:I:3\nHe 0 0 0\n", 0, AT_READ,
		 "input.syntax", 2, "pos:I:3", 0, 0, 0},
		{"species:S:2", "1\nProperties=species:S:2:pos:R:3\nHe x 0 0 0\n", 0, AT_READ,
		 "input.syntax", 2, "species:S:1", 0, 0, 0},
		{"pos twice", "1\nProperties=species:S:1:pos:R:3:pos:R:3\nHe 0 0 0 0 0 0\n", 0,
		 AT_READ, "input.syntax", 2, "names the pos column twice", 0, 0, 0},
		{"Properties not triples", "1\nProperties=species:S:1:pos:R\nHe 0 0 0\n", 0, AT_READ,
		 "input.syntax", 2, "name:type:columns triples", 0, 0, 0},
		{"Properties unknown type", "1\nProperties=species:S:1:pos:R:3:q:X:1\nHe 0 0 0 1\n", 0,
		 AT_READ, "input.syntax", 2, NULL, 0, 0, 0},
		{"Properties zero columns", "1\nProperties=species:S:1:pos:R:3:q:R:0\nHe 0 0 0\n", 0,
		 AT_READ, "input.syntax", 2, NULL, 0, 0, 0},
		{"Properties too many columns",
		 "1\nProperties=species:S:1:pos:R:3:f:R:4000\nHe 0 0 0\n", 0, AT_READ, "input.syntax",
		 2, "more than 2048 columns", 0, 0, 0},
		{"atom line short of Properties",
		 "2\nProperties=species:S:1:pos:R:3:forces:R:3\nHe 0 0 0 1 2 3\nHe 0 0 3 1 2\n", 0,
		 AT_READ, "input.syntax", 4, "Properties= declares 7 columns, atom 2 has 6", 0, 0, 0},
		{"Lattice with 8 numbers", "1\nLattice=\"10 0 0 0 10 0 0 0\" pbc=\"F F F\"\nHe 0 0 0\n",
		 0, AT_READ, "input.syntax", 2, "Lattice= must be 9 numbers (three cell vectors), got 8",
		 0, 0, 0},
		{"Lattice with a word", "1\nLattice=\"10 0 0 0 10 0 0 0 ten\"\nHe 0 0 0\n", 0,
		 AT_READ, "input.syntax", 2, "'ten' is not a number", 0, 0, 0},
		{"Lattice as a flag", "1\nname=x Lattice\nHe 0 0 0\n", 0, AT_READ, "input.syntax", 2,
		 "got 1", 0, 0, 0},
		{"Lattice", "1\nLattice=\"10 0 0 0 10 0 0 0 10\" Properties=species:S:1:pos:R:3\n"
		            "He 0 0 0\n", 0, AT_READ, "input.periodic", 2, "periodic cell (Lattice=)", 0,
		 0, 0},
		{"lowercase lattice", "1\nlattice={10 0 0 0 10 0 0 0 10}\nHe 0 0 0\n", 0, AT_READ,
		 "input.periodic", 2, NULL, 0, 0, 0},
		{"Lattice with pbc F F F", "1\nLattice=\"10 0 0 0 10 0 0 0 10\" pbc=\"F F F\"\n"
		                           "He 0 0 0\n", 0, AT_READ, "input.periodic", 2, NULL, 0, 0, 0},
		{"pbc T T T", "1\npbc=\"T T T\"\nHe 0 0 0\n", 0, AT_READ, "input.periodic", 2,
		 "periodic (pbc=\"T T T\")", 0, 0, 0},
		{"pbc F F T", "1\nname=slab pbc=\"F F T\"\nHe 0 0 0\n", 0, AT_READ, "input.periodic",
		 2, NULL, 0, 0, 0},
		{"pbc flag", "1\nname=x pbc\nHe 0 0 0\n", 0, AT_READ, "input.periodic", 2, NULL, 0, 0,
		 0},
		{"pbc True", "1\npbc=True\nHe 0 0 0\n", 0, AT_READ, "input.periodic", 2, NULL, 0, 0, 0},
		{"pbc two values", "1\npbc=\"F F\"\nHe 0 0 0\n", 0, AT_READ, "input.syntax", 2,
		 "pbc= must be T or F", 0, 0, 0},
		{"pbc a word", "1\npbc=maybe\nHe 0 0 0\n", 0, AT_READ, "input.syntax", 2, "'maybe'", 0,
		 0, 0},
		{"coordinate beyond 1e5 A", "1\nx\nHe 0 0 1e6\n", 0, AT_VALIDATE, "input.coordinates", 0,
		 NULL, 0, 0, 0},
	};
	bad_check_rows(QF_FMT_XYZ, "geometry.xyz", rows, sizeof(rows) / sizeof(rows[0]));
}

/* Coordinates as other programs write them. */
static void test_number_forms(void **state)
{
	(void)state;
	const char *text = "4\nx\nHe +1.5 -2.25e+00 3.0E1\nHe .5 5. 1e-400\n"
	                   "He 1.0D+01 -2.5d-1 0\n2 1 2 3 0.5 0.6 0.7\n";
	qf_mol m;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_mol_parse(&m, QF_FMT_XYZ, "x.xyz", text, strlen(text), &e), 0);
	const double want[12] = {1.5, -2.25, 30, 0.5, 5, 0, 10, -0.25, 0, 1, 2, 3};
	for (int k = 0; k < 12; k++)
		assert_close(m.xyz[k], want[k], 1e-12);
	assert_int_equal(m.z[3], 2);
	qf_mol_release(&m);
}

/* A bad atom line skips its frame and reading goes on; a bad count stops. */
static void test_recovery(void **state)
{
	(void)state;
	const char *text = "1\none\nHe 0 0 0\n"
	                   "2\ntwo\nHe 0 0 0\nQq 0 0 3\n"
	                   "1\nthree\nNe 0 0 0\n"
	                   "x\nfour\nAr 0 0 0\n"
	                   "1\nfive\nKr 0 0 0\n";
	qf_reader *r;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_reader_new_buf(&r, QF_FMT_XYZ, "frames.xyz", text, strlen(text), &e), 0);
	qf_mol m;
	next_ok(r, &m);
	assert_string_equal(m.name, "one");
	qf_mol_release(&m);

	assert_int_equal(qf_reader_next(r, &m, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.element");
	assert_non_null(strstr(e.message, "could not read frames.xyz line 7: "));
	assert_int_equal(qf_reader_record(r), 2);
	assert_true(qf_reader_can_continue(r));
	assert_int_equal(m.natoms, 0);
	assert_null(m.z);
	size_t len;
	const char *rec = qf_reader_record_text(r, &len);
	assert_int_equal(len, strlen("2\ntwo\nHe 0 0 0\nQq 0 0 3\n"));
	assert_memory_equal(rec, "2\ntwo\n", 6);

	next_ok(r, &m);
	assert_string_equal(m.name, "three");
	assert_int_equal(qf_reader_record(r), 3);
	qf_mol_release(&m);

	assert_int_equal(qf_reader_next(r, &m, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.atom_count");
	assert_non_null(strstr(e.message, "could not read frames.xyz line 11: "));
	assert_int_equal(qf_reader_record(r), 4);
	assert_false(qf_reader_can_continue(r));
	assert_int_equal(qf_reader_next(r, &m, &e), 0);
	qf_reader_free(r);

	/* A short frame followed by another: the next frame is still read. */
	text = "3\nshort\nHe 0 0 0\nHe 0 0 3\n2\nnext\nH 0 0 0\nH 0 0 0.74\n";
	assert_int_equal(qf_reader_new_buf(&r, QF_FMT_XYZ, "short.xyz", text, strlen(text), &e), 0);
	assert_int_equal(qf_reader_next(r, &m, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.atom_count");
	assert_non_null(strstr(e.message, "line 5: line 1 declares 3 atoms but only 2 atom lines"));
	assert_true(qf_reader_can_continue(r));
	next_ok(r, &m);
	assert_string_equal(m.name, "next");
	assert_int_equal(qf_reader_record(r), 2);
	qf_mol_release(&m);
	qf_reader_free(r);
}

/* The writer: count, the given comment (never the name), 10 decimals. */
static void test_write(void **state)
{
	(void)state;
	qf_mol m;
	qf_err e;
	qf_err_init(&e);
	const char *in = "3\nwater\nO 0.0 0.0 0.1173\nH 0.0 0.7572 -0.4692\nH 0.0 -0.7572 -0.4692\n";
	assert_int_equal(qf_mol_parse(&m, QF_FMT_XYZ, "w.xyz", in, strlen(in), &e), 0);
	char *text = qf_mol_to_xyz(&m, NULL);
	assert_non_null(text);
	assert_string_equal(text, "3\n\n"
	                          "O       0.0000000000      0.0000000000      0.1173000000\n"
	                          "H       0.0000000000      0.7572000000     -0.4692000000\n"
	                          "H       0.0000000000     -0.7572000000     -0.4692000000\n");
	free(text);
	text = qf_mol_to_xyz(&m, "two\nlines\r");
	assert_non_null(text);
	assert_memory_equal(text, "3\ntwo lines \nO ", 15);
	free(text);

	char dir[QF_MAX_PATH], path[QF_MAX_PATH];
	qft_tmpdir(dir, "chem-xyz-write");
	qf_fs_join(path, sizeof(path), dir, "input.xyz");
	assert_int_equal(qf_mol_write_xyz(&m, path, &e), 0);
	size_t len;
	char *back = qft_slurp(path, &len);
	assert_memory_equal(back, "3\n\nO ", 5);
	assert_null(strstr(back, "water"));
	qf_mol m2;
	assert_int_equal(qf_mol_parse(&m2, QF_FMT_XYZ, path, back, len, &e), 0);
	assert_int_equal(m2.natoms, 3);
	for (int k = 0; k < 9; k++)
		assert_close(m2.xyz[k], m.xyz[k], 1e-10);
	assert_string_equal(m2.name, "input");
	qf_mol_release(&m2);
	free(back);

	/* an atom that is no element cannot be written */
	m.z[1] = 0;
	assert_null(qf_mol_to_xyz(&m, ""));
	assert_int_equal(qf_mol_write_xyz(&m, path, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.element");
	qf_mol_release(&m);
	qf_fs_rm_rf(dir);
}

/* 10,000 atoms: read, validated, written and read back unchanged. */
static void test_large(void **state)
{
	(void)state;
	qf_buf b;
	qf_buf_init(&b, QF_MAX_INPUT_BYTES);
	assert_int_equal(qf_buf_printf(&b, "%d\nlattice\n", QF_MAX_ATOMS), 0);
	for (int a = 0; a < QF_MAX_ATOMS; a++)
		assert_int_equal(qf_buf_printf(&b, "%s %.6f %.6f %.6f\n", a % 3 ? "H" : "C",
		                               1.2 * (a % 22), 1.2 * ((a / 22) % 22), 1.2 * (a / 484)),
		                 0);
	qf_mol m;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_mol_parse(&m, QF_FMT_XYZ, "big.xyz", b.data, b.len, &e), 0);
	assert_int_equal(m.natoms, QF_MAX_ATOMS);
	assert_close(m.xyz[3 * 9999 + 2], 1.2 * (9999 / 484), 1e-9);
	assert_int_equal(qf_mol_validate(&m, 86, 0, 0, &e), 0);
	char *text = qf_mol_to_xyz(&m, "");
	assert_non_null(text);
	qf_mol m2;
	assert_int_equal(qf_mol_parse(&m2, QF_FMT_XYZ, "big2.xyz", text, strlen(text), &e), 0);
	assert_int_equal(m2.natoms, m.natoms);
	assert_memory_equal(m2.z, m.z, sizeof(int) * (size_t)m.natoms);
	for (int k = 0; k < 3 * m.natoms; k++)
		assert_close(m2.xyz[k], m.xyz[k], 1e-10);
	free(text);
	qf_mol_release(&m2);
	qf_mol_release(&m);

	/* one atom more is refused at the count line */
	qf_buf_clear(&b);
	assert_int_equal(qf_buf_printf(&b, "%d\nlattice\nH 0 0 0\n", QF_MAX_ATOMS + 1), 0);
	assert_int_equal(qf_mol_parse(&m, QF_FMT_XYZ, "big.xyz", b.data, b.len, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.too_many_atoms");
	qf_buf_release(&b);
}

/* Extended XYZ comment lines that read: names, columns, flags, quoting. */
static void test_extended(void **state)
{
	(void)state;
	static const struct {
		const char *what, *source, *text, *name;
		double x1; /* x of the last atom */
	} rows[] = {
		{"name key", "w.xyz", "1\nname=water\nHe 1 2 3\n", "water", 1},
		{"name key, any case", "w.xyz", "1\nNAME=water pbc=\"F F F\"\nHe 1 2 3\n", "water", 1},
		{"quoted name with escapes", "w.xyz",
		 "1\nname=\"water \\\"dimer\\\"\" energy=-76.4\nHe 1 2 3\n", "water \"dimer\"", 1},
		{"curly name", "w.xyz", "1\nname={two words} Time=0.5\nHe 1 2 3\n", "two words", 1},
		{"blanks around =", "w.xyz", "1\nenergy = -1.0 name = w2\nHe 1 2 3\n", "w2", 1},
		{"no name key: the file", "/d/w.xyz", "1\nenergy=-1.0 pbc=F\nHe 1 2 3\n", "w", 1},
		{"empty name: the file", "/d/w.xyz", "1\nname=\"\" config_type=x\nHe 1 2 3\n", "w", 1},
		{"the last name wins", "w.xyz", "1\nname=a name=b\nHe 1 2 3\n", "b", 1},
		{"pbc F F F, comma list", "w.xyz", "1\nname=x pbc=\"F,F,F\"\nHe 1 2 3\n", "x", 1},
		{"pbc False", "w.xyz", "1\nname=x pbc=False\nHe 1 2 3\n", "x", 1},
		{"forces and charges", "w.xyz",
		 "2\nProperties=species:S:1:pos:R:3:forces:R:3:charges:R:1 name=f\n"
		 "He 1 2 3 0.1 0.2 0.3 0.0\nHe 4 5 6 0.1 0.2 0.3 0.0\n", "f", 4},
		{"columns beyond those declared", "w.xyz",
		 "1\nProperties=species:S:1:pos:R:3 name=x\nHe 1 2 3 9 9\n", "x", 1},
		{"pos before species", "w.xyz",
		 "2\nProperties=pos:R:3:species:S:1 name=p\n1 2 3 He\n4 5 6 He\n", "p", 4},
		{"Z column, other columns first", "w.xyz",
		 "1\nProperties=tags:I:1:Z:I:1:mass:R:1:pos:R:3\n7 2 4.0 1 2 3\n", "w", 1},
		{"species and Z: species", "w.xyz",
		 "1\nProperties=Z:I:1:species:S:1:pos:R:3\n1 He 1 2 3\n", "w", 1},
		{"plain title, kept", "w.xyz", "1\nhelium, \"the\" atom\nHe 1 2 3\n",
		 "helium, \"the\" atom", 1},
		{"plain title, unbalanced quote", "w.xyz", "1\n5\" ruler {\nHe 1 2 3\n", "5\" ruler {", 1},
		{"'=' only inside quotes: plain", "w.xyz", "1\nsee \"a=b\"\nHe 1 2 3\n", "see \"a=b\"", 1},
		{"the name is sanitised", "w.xyz", "1\nname=\"a\tb\"\nHe 1 2 3\n", "a b", 1},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		qf_mol m;
		qf_err e;
		qf_err_init(&e);
		if (qf_mol_parse(&m, QF_FMT_XYZ, rows[i].source, rows[i].text, strlen(rows[i].text), &e))
			fail_msg("%s: %s", rows[i].what, e.message);
		if (strcmp(m.name, rows[i].name))
			fail_msg("%s: name '%s', expected '%s'", rows[i].what, m.name, rows[i].name);
		assert_int_equal(m.z[m.natoms - 1], 2);
		assert_close(m.xyz[3 * (m.natoms - 1)], rows[i].x1, 1e-12);
		assert_close(m.xyz[3 * (m.natoms - 1) + 2], rows[i].x1 + 2, 1e-12);
		qf_mol_release(&m);
	}

	/* Frames of a multi-frame file without name=: "<base>:<frame>"; a
	 * periodic frame is refused and the next one still read. */
	const char *text = "1\nenergy=-1\nHe 0 0 0\n"
	                   "1\nLattice=\"9 0 0 0 9 0 0 0 9\" pbc=\"T T T\"\nHe 0 0 0\n"
	                   "2\nProperties=species:S:1:pos:R:3:forces:R:3\n"
	                   "He 0 0 0 1 1 1\nHe 0 0 3 1 1 1\n"
	                   "1\nname=last\nHe 0 0 0\n";
	qf_reader *r;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_reader_new_buf(&r, QF_FMT_XYZ, "/tmp/traj.xyz", text, strlen(text), &e),
	                 0);
	qf_mol m;
	next_ok(r, &m);
	assert_string_equal(m.name, "traj:1");
	qf_mol_release(&m);
	assert_int_equal(qf_reader_next(r, &m, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.periodic");
	assert_non_null(strstr(e.message, "could not read /tmp/traj.xyz line 5: "));
	assert_true(qf_reader_can_continue(r));
	next_ok(r, &m);
	assert_string_equal(m.name, "traj:3");
	assert_int_equal(m.natoms, 2);
	assert_close(m.xyz[5], 3, 1e-12);
	qf_mol_release(&m);
	next_ok(r, &m);
	assert_string_equal(m.name, "last");
	qf_mol_release(&m);
	assert_int_equal(qf_reader_next(r, &m, &e), 0);
	qf_reader_free(r);

	/* A comment line of QF_MAX_LINE bytes of pairs and of quotes reads in
	 * one pass (the fixed buffers are enough). */
	qf_buf b;
	qf_buf_init(&b, 1 << 20);
	qf_buf_puts(&b, "1\n");
	while (b.len < QF_MAX_LINE - 8)
		qf_buf_puts(&b, "a=b ");
	qf_buf_puts(&b, "name=z\nHe 0 0 0\n");
	assert_int_equal(qf_mol_parse(&m, QF_FMT_XYZ, "x.xyz", b.data, b.len, &e), 0);
	assert_string_equal(m.name, "z");
	qf_mol_release(&m);
	qf_buf_clear(&b);
	qf_buf_puts(&b, "1\nname=");
	while (b.len < QF_MAX_LINE - 2)
		qf_buf_puts(&b, "n ");
	qf_buf_puts(&b, "\nHe 0 0 0\n");
	assert_int_equal(qf_mol_parse(&m, QF_FMT_XYZ, "x.xyz", b.data, b.len, &e), 0);
	assert_string_equal(m.name, "n"); /* "name=n n n ...": flags after the value */
	qf_mol_release(&m);
	qf_buf_clear(&b);
	qf_buf_puts(&b, "1\n");
	while (b.len < QF_MAX_LINE - 2)
		qf_buf_puts(&b, "name ");
	qf_buf_puts(&b, "=\nHe 0 0 0\n");
	assert_int_equal(qf_mol_parse(&m, QF_FMT_XYZ, "x.xyz", b.data, b.len, &e), 0);
	assert_string_equal(m.name, "x"); /* flags "name" (T), the last one "name=": empty */
	qf_mol_release(&m);
	qf_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caffeine),   cmocka_unit_test(test_multi_frame),
		cmocka_unit_test(test_names),      cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_number_forms), cmocka_unit_test(test_recovery),
		cmocka_unit_test(test_write),      cmocka_unit_test(test_large),
		cmocka_unit_test(test_extended),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
