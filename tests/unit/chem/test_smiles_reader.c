/* SMILES files: one molecule per line through RDKit, names, header and
 * comment lines, malformed lines and going on after them. */
#include "qftest.h"

#include <stdlib.h>
#include <string.h>

#include "bad_input.h"
#include "qf/molio.h"

static void test_lines(void **state)
{
	(void)state;
	const char *text = "SMILES Name\n"
	                   "# a comment\n"
	                   "\n"
	                   "CCO ethanol\n"
	                   "  CC(=O)[O-]\tacetate anion, from vinegar  \r\n"
	                   "   # indented comment\n"
	                   "[NH4+]\n"
	                   "c1ccccc1\n";
	qf_reader *r;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_reader_new_buf(&r, QF_FMT_UNKNOWN, "/data/set.smi", text, strlen(text), &e), 0);
	assert_int_equal(qf_reader_format(r), QF_FMT_SMILES);
	static const struct {
		const char *name, *line;
		int natoms, charge, record;
	} want[] = {
		{"ethanol", "CCO ethanol\n", 9, 0, 1},
		{"acetate anion, from vinegar", "  CC(=O)[O-]\tacetate anion, from vinegar  \r\n", 7, -1, 2},
		{"set:7", "[NH4+]\n", 5, 1, 3}, /* no name: file base name and line */
		{"set:8", "c1ccccc1\n", 12, 0, 4},
	};
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		qf_mol m;
		int rc = qf_reader_next(r, &m, &e);
		if (rc != 1)
			fail_msg("record %zu: %d %s", k + 1, rc, e.message);
		assert_int_equal(qf_reader_record(r), want[k].record);
		assert_string_equal(m.name, want[k].name);
		assert_int_equal(m.natoms, want[k].natoms);
		assert_int_equal(m.charge, want[k].charge);
		assert_non_null(m.smiles);
		size_t len;
		const char *rec = qf_reader_record_text(r, &len);
		assert_int_equal(len, strlen(want[k].line));
		assert_memory_equal(rec, want[k].line, len);
		assert_int_equal(qf_mol_validate(&m, 86, m.charge, m.uhf, &e), 0);
		qf_mol_release(&m);
	}
	qf_mol m;
	assert_int_equal(qf_reader_next(r, &m, &e), 0);
	qf_reader_free(r);

	/* the header is only skipped as the first line; "smiles" alone too */
	const char *only_header = "smiles\n# nothing else\n\n";
	assert_int_equal(qf_reader_new_buf(&r, QF_FMT_SMILES, "h.smi", only_header,
	                                   strlen(only_header), &e), 0);
	assert_int_equal(qf_reader_next(r, &m, &e), 0);
	qf_reader_free(r);
}

static void test_malformed(void **state)
{
	(void)state;
	/* More atoms than the limit once hydrogens are added: 7 x C490H982. In
	 * fragments, because RDKit 2022.09 parses one long chain in time cubic
	 * in its length (C3400 in one piece: 45 s). */
	char *alkane = malloc(7 * 491 + 2);
	assert_non_null(alkane);
	char *p = alkane;
	*p++ = '\n';
	for (int f = 0; f < 7; f++) {
		if (f)
			*p++ = '.';
		memset(p, 'C', 490);
		p += 490;
	}
	memcpy(p, "\n", 2);
	const bad_row rows[] = {
		{"unparsable", "# set 1\nC1CC broken ring\n", 0, AT_READ, "input.smiles", 2,
		 "could not parse SMILES 'C1CC'", 0, 0, 0},
		{"unclosed branch", "# header comment\n\nCC(C\n", 0, AT_READ, "input.smiles", 3, NULL, 0, 0, 0},
		{"unknown element", "[Xx]\n", 0, AT_READ, "input.smiles", 1, NULL, 0, 0, 0},
		{"dummy atom", "*C\n", 0, AT_READ, "input.smiles", 1, NULL, 0, 0, 0},
		{"line too long", "C@LONG@\n", 0, AT_READ, "input.line_too_long", 1, NULL, 0, 0, 0},
		/* 3439 characters: over QF_MAX_SMILES (which also keeps SMILES below the
		 * atom limit: 1000 characters cannot make 10,000 atoms) */
		{"too long for RDKit", alkane, 0, AT_READ, "input.smiles", 2, "longer than", 0, 0, 0},
		{"empty file", "", 0, AT_OPEN, "input.empty", 0, NULL, 0, 0, 0},
		{"only blanks", "\n\n  \t\n", 0, AT_OPEN, "input.empty", 0, NULL, 0, 0, 0},
		{"NUL byte", "CCO\nCC\0O\n", 9, AT_OPEN, "input.binary", 2, NULL, 0, 0, 0},
		{"binary junk", "\x1f\x8b\x08\x01\x12\x34\x56\x78\x02\x03", 10, AT_OPEN, "input.binary", 0,
		 NULL, 0, 0, 0},
		/* read fine, refused by validation */
		{"H+ alone", "[H+] proton\n", 0, AT_VALIDATE, "input.charge", 0, "leaves 0 electrons", 0,
		 0, 0},
		{"radical forced to uhf 0", "[CH3] methyl\n", 0, AT_VALIDATE, "input.parity", 0,
		 "odd number of electrons (9) with 0 unpaired electrons", 0, 0, -1},
		{"francium for GFN2", "[Fr+]\n", 0, AT_VALIDATE, "input.element", 0, "Fr (Z=87)", 86, 0, 0},
		{"uhf above electrons", "[H][H]\n", 0, AT_VALIDATE, "input.charge", 0,
		 "4 unpaired electrons", 0, 0, 4},
	};
	bad_check_rows(QF_FMT_SMILES, "mols.smi", rows, sizeof(rows) / sizeof(rows[0]));
	free(alkane);
}

/* A bad line is one failed record; reading goes on with the next line. */
static void test_recovery(void **state)
{
	(void)state;
	const char *text = "CCO ethanol\nC1CC broken\n\nO water\n";
	qf_reader *r;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_reader_new_buf(&r, QF_FMT_SMILES, "mix.smi", text, strlen(text), &e), 0);
	qf_mol m;
	assert_int_equal(qf_reader_next(r, &m, &e), 1);
	assert_string_equal(m.name, "ethanol");
	qf_mol_release(&m);
	assert_int_equal(qf_reader_next(r, &m, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.smiles");
	assert_non_null(strstr(e.message, "could not read mix.smi line 2: "));
	assert_int_equal(qf_reader_record(r), 2);
	assert_true(qf_reader_can_continue(r));
	assert_int_equal(m.natoms, 0);
	size_t len;
	const char *rec = qf_reader_record_text(r, &len);
	assert_int_equal(len, strlen("C1CC broken\n"));
	assert_memory_equal(rec, "C1CC broken\n", len);
	assert_int_equal(qf_reader_next(r, &m, &e), 1);
	assert_string_equal(m.name, "water");
	assert_int_equal(qf_reader_record(r), 3);
	assert_int_equal(m.natoms, 3);
	qf_mol_release(&m);
	assert_int_equal(qf_reader_next(r, &m, &e), 0);
	qf_reader_free(r);
}

/* Without embedding: the same records, atoms, charges, names and canonical
 * SMILES as with it, every coordinate 0, the same errors; C x 300 (902
 * atoms) refused by the SMILES atom limit before any embedding. */
static void test_no_embed(void **state)
{
	(void)state;
	char big[320];
	memset(big, 'C', 300);
	memcpy(big + 300, " big\n", 6);
	char text[1024];
	snprintf(text, sizeof(text), "CCO ethanol\nC1CC broken\n[NH4+]\n[CH3] methyl\n%s", big);
	static const struct {
		const char *name, *smiles;
		int natoms, charge, uhf;
	} want[] = {
		{"ethanol", "CCO", 9, 0, 0}, {NULL, NULL, 0, 0, 0}, {"set:3", "[NH4+]", 5, 1, 0},
		{"methyl", "[CH3]", 4, 0, 1}, {"big", NULL, -1, 0, 0},
	};
	qf_reader *r;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_reader_new_buf(&r, QF_FMT_SMILES, "set.smi", text, strlen(text), &e), 0);
	qf_reader_set_embed(r, false);
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		qf_mol m;
		int rc = qf_reader_next(r, &m, &e);
		if (!want[k].name) {
			assert_int_equal(rc, QF_EINVAL);
			assert_string_equal(e.code, "input.smiles");
			assert_non_null(strstr(e.message, "could not read set.smi line 2: "));
			continue;
		}
		if (want[k].natoms < 0) {
			/* 902 atoms: past QF_MAX_SMILES_ATOMS, refused before any embedding */
			assert_int_equal(rc, QF_EINVAL);
			assert_string_equal(e.code, "input.embedding");
			assert_non_null(strstr(e.message, "902 atoms"));
			continue;
		}
		if (rc != 1)
			fail_msg("record %zu: %d %s", k + 1, rc, e.message);
		assert_string_equal(m.name, want[k].name);
		assert_int_equal(m.natoms, want[k].natoms);
		assert_int_equal(m.charge, want[k].charge);
		assert_int_equal(m.uhf, want[k].uhf);
		if (want[k].smiles)
			assert_string_equal(m.smiles, want[k].smiles);
		for (int i = 0; i < 3 * m.natoms; i++)
			assert_true(m.xyz[i] == 0.0);
		qf_mol_release(&m);
	}
	qf_mol m;
	assert_int_equal(qf_reader_next(r, &m, &e), 0);
	qf_reader_free(r);

	/* qf_smiles_check directly: same as qf_smiles_to_mol but the coordinates */
	qf_mol a, b;
	qf_mol_init(&a);
	qf_mol_init(&b);
	assert_int_equal(qf_smiles_check("CC(=O)[O-]", NULL, &a, &e), 0);
	assert_int_equal(qf_smiles_to_mol("CC(=O)[O-]", NULL, &b, &e), 0);
	assert_int_equal(a.natoms, b.natoms);
	assert_memory_equal(a.z, b.z, (size_t)a.natoms * sizeof(*a.z));
	assert_int_equal(a.charge, b.charge);
	assert_string_equal(a.smiles, b.smiles);
	assert_string_equal(a.name, b.name);
	qf_mol_release(&a);
	qf_mol_release(&b);
	qf_mol_init(&a);
	assert_int_equal(qf_smiles_check("*C", NULL, &a, &e), QF_EINVAL);
	assert_string_equal(e.code, "input.smiles");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_recovery),
		cmocka_unit_test(test_no_embed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
