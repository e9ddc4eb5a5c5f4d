/*
 * Internals shared by the molecule readers (molio.c, xyz.c, sdf.c): the
 * reader's state, a line cursor over the reader's text, and error and name
 * helpers. Not part of libqf's public API.
 */
#ifndef QF_CHEM_MOLIO_INT_H
#define QF_CHEM_MOLIO_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "qf/err.h"
#include "qf/limits.h"
#include "qf/mol.h"
#include "qf/molio.h"

struct qf_reader {
	qf_format fmt;
	char *data;               /* owned, NUL-terminated */
	size_t len;
	char source[QF_MAX_PATH]; /* as given, for messages */
	char base[QF_MAX_NAME];   /* file name without directory and extension */
	size_t pos;               /* offset of the next unread line */
	long line;                /* 1-based number of the line at pos */
	int record;               /* records started so far */
	size_t rec_start, rec_end;
	bool can_continue;
	bool seen_content;        /* SMILES: the header line was looked for */
	bool no_embed;            /* SMILES: qf_smiles_check, not qf_smiles_to_mol */
	int conformers;           /* SMILES: conformers embedded, the lowest kept (0: 1) */
};

/* One line of the text: s points into the reader's data (not NUL-terminated),
 * n excludes the line end ("\n", "\r\n"); next is the offset after it. */
typedef struct qf__line {
	const char *s;
	size_t n;
	long no;
	size_t next;
} qf__line;

/* The line at r->pos without consuming it; false at the end of the text. */
bool qf__reader_peek(const qf_reader *r, qf__line *l);
/* Consume the line returned by qf__reader_peek. */
void qf__reader_advance(qf_reader *r, const qf__line *l);
/* Peek and, when there is a line, check its length against QF_MAX_LINE and
 * consume it. Returns 1 (a line), 0 (end of text) or a negative code. */
int qf__reader_line(qf_reader *r, qf__line *l, qf_err *err);
/* True when nothing but blanks and line ends remain after pos. */
bool qf__reader_only_blank_from(const qf_reader *r, size_t pos);
bool qf__line_blank(const qf__line *l);
/* Copy a line into buf (size > QF_MAX_LINE) and split it at blanks into at
 * most max fields; returns the number of fields (which may exceed max). */
int qf__line_split(const qf__line *l, char *buf, size_t size, char **fields, int max);
/* The line as a NUL-terminated string in buf, trailing blanks removed. */
char *qf__line_str(const qf__line *l, char *buf, size_t size);

/* Start a record at offset start (record number increments). */
void qf__reader_begin_record(qf_reader *r, size_t start);
void qf__reader_end_record(qf_reader *r, size_t end);

/* Set err to "could not read <source> line <no>: <message>" (validation)
 * and return QF_EINVAL. */
int qf__reader_error(const qf_reader *r, qf_err *err, long line, const char *code,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Molecule name into out (size bytes) from a title/comment text: trimmed,
 * control characters blanked, truncated on a UTF-8 boundary; when empty,
 * "<base>" or, with number > 0, "<base>:<number>". */
void qf__reader_name(const qf_reader *r, const char *s, size_t n, long number, char *out,
                     size_t size);

/* Element from a symbol (any case) or an atomic number; 0 when neither. */
int qf__element_parse(const char *s);
/* A coordinate: a plain decimal number with optional exponent (e, E, or the
 * Fortran D), finite; "nan", "inf", hex and out-of-range values are refused. */
bool qf__coord_parse(char *s, double *out);

/* The format readers: 1 with *m filled, 0 at the end, negative on error. */
int qf__xyz_next(qf_reader *r, qf_mol *m, qf_err *err);
int qf__sdf_next(qf_reader *r, qf_mol *m, qf_err *err);

#endif
