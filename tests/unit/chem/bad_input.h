/*
 * Table-driven checks of malformed molecule inputs, shared by the reader
 * tests of tests/unit/chem. Each row is an input text and where it must
 * fail: opening the reader, reading a record, or validating what was read;
 * the error code must match, and for reading errors the message must begin
 * "could not read <source> line <N>: ".
 */
#ifndef QF_TEST_CHEM_BAD_INPUT_H
#define QF_TEST_CHEM_BAD_INPUT_H

#include "qftest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/molio.h"

enum bad_stage { AT_OPEN, AT_READ, AT_VALIDATE };

typedef struct bad_row {
	const char *what;
	const char *text; /* "@LONG@" stands for a 5000-byte token */
	size_t len;       /* 0: strlen(text); set it for texts with NUL bytes */
	enum bad_stage stage;
	const char *code;
	long line;        /* AT_READ (and AT_OPEN when > 0): the line named */
	const char *part; /* NULL, or a text the message must contain */
	int max_z;        /* AT_VALIDATE: method limit (0: 86) */
	int charge, uhf;  /* AT_VALIDATE: added to the molecule's own */
} bad_row;

#define BAD_LONG 5000

/* The row's text with "@LONG@" expanded (heap). */
static inline char *bad_expand(const bad_row *row, size_t *len)
{
	size_t n = row->len ? row->len : strlen(row->text);
	const char *at = row->len ? NULL : strstr(row->text, "@LONG@");
	char *out = malloc(n + BAD_LONG + 1);
	assert_non_null(out);
	if (!at) {
		memcpy(out, row->text, n);
		*len = n;
	} else {
		size_t pre = (size_t)(at - row->text);
		memcpy(out, row->text, pre);
		memset(out + pre, 'x', BAD_LONG);
		memcpy(out + pre + BAD_LONG, at + 6, n - pre - 6);
		*len = n - 6 + BAD_LONG;
	}
	out[*len] = '\0';
	return out;
}

static inline void bad_check_rows(qf_format fmt, const char *source, const bad_row *rows,
                                  size_t nrows)
{
	for (size_t i = 0; i < nrows; i++) {
		const bad_row *row = &rows[i];
		size_t len;
		char *text = bad_expand(row, &len);
		qf_err e;
		qf_err_init(&e);
		qf_reader *r = NULL;
		int rc = qf_reader_new_buf(&r, fmt, source, text, len, &e);
		enum bad_stage failed = AT_OPEN;
		qf_mol m;
		qf_mol_init(&m);
		if (rc == 0) {
			failed = AT_READ;
			rc = qf_reader_next(r, &m, &e);
			if (rc == 1) {
				failed = AT_VALIDATE;
				rc = qf_mol_validate(&m, row->max_z ? row->max_z : 86, m.charge + row->charge,
				                     m.uhf + row->uhf, &e);
			} else if (rc == 0) {
				fail_msg("%s: no record and no error", row->what);
			}
		}
		if (rc == 0)
			fail_msg("%s: accepted, expected %s", row->what, row->code);
		if (failed != row->stage)
			fail_msg("%s: failed at stage %d, expected %d: %s: %s", row->what, (int)failed,
			         (int)row->stage, e.code, e.message);
		if (strcmp(e.code, row->code) != 0)
			fail_msg("%s: code %s, expected %s (%s)", row->what, e.code, row->code, e.message);
		if (e.category != QF_CAT_VALIDATION)
			fail_msg("%s: category %d (%s)", row->what, (int)e.category, e.message);
		char prefix[512];
		if (row->stage == AT_READ || (row->stage == AT_OPEN && row->line > 0)) {
			snprintf(prefix, sizeof(prefix), "could not read %s line %ld: ", source, row->line);
			if (strncmp(e.message, prefix, strlen(prefix)) != 0)
				fail_msg("%s: message '%s' does not begin '%s'", row->what, e.message, prefix);
		} else if (row->stage == AT_OPEN && !strstr(e.message, source)) {
			fail_msg("%s: message '%s' does not name %s", row->what, e.message, source);
		}
		if (row->part && !strstr(e.message, row->part))
			fail_msg("%s: message '%s' lacks '%s'", row->what, e.message, row->part);
		qf_mol_release(&m);
		qf_reader_free(r);
		free(text);
	}
}

#endif
