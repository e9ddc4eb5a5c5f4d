/*
 * XYZ reader: one frame per record.
 *
 *     3                       atom count, alone on its line
 *     water                   comment: the molecule's name
 *     O  0.000 0.000 0.117    element (symbol in any case, or Z) and x y z in
 *     H  0.000 0.757 -0.467   Angstrom; further columns (charges, forces) are
 *     h  0.000 -0.757 -0.467  ignored
 *
 * Blank lines before and between frames are skipped; CRLF line ends and
 * trailing blanks are fine. After a bad atom count the reader cannot know
 * where the next frame starts, so it stops; after a bad atom line it skips
 * the rest of the frame (count + 2 lines) and goes on.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "molio_int.h"
#include "qf/str.h"

/* Fields of an atom line that are looked at (element, x, y, z) plus one to
 * tell "exactly one field" from more. */
#define ATOM_FIELDS 4

/* Show at most this much of an offending line in a message. */
#define SHOWN 40

static const char *shown(const char *s, char out[SHOWN + 4])
{
	size_t n = strlen(s);
	if (n <= SHOWN)
		return s;
	memcpy(out, s, SHOWN);
	memcpy(out + SHOWN, "...", 4);
	return out;
}

static bool all_digits(const char *s)
{
	if (*s == '+')
		s++;
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* The atom count line: a positive integer alone. Any failure here stops the
 * reader (the frame's length is unknown). */
static int parse_count(qf_reader *r, const qf__line *l, int *natoms, qf_err *err)
{
	char buf[QF_MAX_LINE + 1], sbuf[SHOWN + 4];
	char *f[2];
	if (l->n > QF_MAX_LINE)
		return qf__reader_error(r, err, l->no, "input.line_too_long",
		                        "the line is longer than %d bytes: this is not an XYZ file",
		                        QF_MAX_LINE);
	int nf = qf__line_split(l, buf, sizeof(buf), f, 2);
	long n;
	if (nf != 1)
		return qf__reader_error(r, err, l->no, "input.atom_count",
		                        "expected the number of atoms alone on the line, got '%s'",
		                        shown(qf__line_str(l, buf, sizeof(buf)), sbuf));
	if (!qf_parse_int(f[0], LONG_MIN, LONG_MAX, &n)) {
		if (all_digits(f[0]))
			return qf__reader_error(r, err, l->no, "input.too_many_atoms",
			                        "the frame declares %s atoms, more than the limit of %d",
			                        shown(f[0], sbuf), QF_MAX_ATOMS);
		return qf__reader_error(r, err, l->no, "input.atom_count",
		                        "expected the number of atoms, got '%s'", shown(f[0], sbuf));
	}
	if (n <= 0)
		return qf__reader_error(r, err, l->no, "input.atom_count",
		                        "the frame declares %ld atoms: it needs at least one", n);
	if (n > QF_MAX_ATOMS)
		return qf__reader_error(r, err, l->no, "input.too_many_atoms",
		                        "the frame declares %ld atoms, more than the limit of %d", n,
		                        QF_MAX_ATOMS);
	*natoms = (int)n;
	return 0;
}

/* Skip count lines (or to the end of the text), extending the record. */
static void skip_lines(qf_reader *r, long count)
{
	qf__line l;
	while (count-- > 0 && qf__reader_peek(r, &l))
		qf__reader_advance(r, &l);
	qf__reader_end_record(r, r->pos);
}

int qf__xyz_next(qf_reader *r, qf_mol *m, qf_err *err)
{
	char buf[QF_MAX_LINE + 1], sbuf[SHOWN + 4];
	qf__line l;
	for (;;) {
		if (!qf__reader_peek(r, &l))
			return 0;
		if (!qf__line_blank(&l))
			break;
		qf__reader_advance(r, &l);
	}
	qf__reader_begin_record(r, (size_t)(l.s - r->data));
	qf__reader_advance(r, &l);
	qf__reader_end_record(r, l.next);
	const long count_line = l.no;
	int natoms = 0;
	int rc = parse_count(r, &l, &natoms, err);
	if (rc) {
		r->can_continue = false;
		return rc;
	}

	qf__line comment;
	rc = qf__reader_line(r, &comment, err);
	if (rc == 0) {
		r->can_continue = false;
		return qf__reader_error(r, err, count_line, "input.atom_count",
		                        "the file ends after the atom count: expected a comment line "
		                        "and %d atom lines",
		                        natoms);
	}
	qf__reader_end_record(r, r->pos);
	if (rc < 0) {
		skip_lines(r, natoms);
		return rc;
	}
	if ((rc = qf_mol_resize(m, natoms, err)))
		return rc;

	for (int i = 0; i < natoms; i++) {
		const size_t line_pos = r->pos;
		const long line_no = r->line;
		rc = qf__reader_line(r, &l, err);
		if (rc == 0)
			return qf__reader_error(r, err, r->line - 1, "input.atom_count",
			                        "line %ld declares %d atoms but the file ends after %d "
			                        "atom lines",
			                        count_line, natoms, i);
		qf__reader_end_record(r, r->pos);
		if (rc < 0) {
			skip_lines(r, natoms - i - 1);
			return rc;
		}
		if (qf__line_blank(&l))
			/* The frame is shorter than declared; what follows the blank
			 * line is probably the next frame, so go on from there. */
			return qf__reader_error(r, err, l.no, "input.atom_count",
			                        "line %ld declares %d atoms but atom %d is a blank line: "
			                        "fewer atom lines than declared?",
			                        count_line, natoms, i + 1);
		char *f[ATOM_FIELDS];
		int nf = qf__line_split(&l, buf, sizeof(buf), f, ATOM_FIELDS);
		if (nf == 1 && all_digits(f[0])) {
			/* Another frame's atom count: this frame is short. Leave the
			 * count line for the next call. */
			r->pos = line_pos;
			r->line = line_no;
			qf__reader_end_record(r, line_pos);
			return qf__reader_error(r, err, l.no, "input.atom_count",
			                        "line %ld declares %d atoms but only %d atom lines "
			                        "follow before the next frame",
			                        count_line, natoms, i);
		}
		if (nf < 4) {
			skip_lines(r, natoms - i - 1);
			return qf__reader_error(r, err, l.no, "input.syntax",
			                        "expected an element and 3 coordinates, got %d field%s",
			                        nf, nf == 1 ? "" : "s");
		}
		int z = qf__element_parse(f[0]);
		if (!z) {
			skip_lines(r, natoms - i - 1);
			return qf__reader_error(r, err, l.no, "input.element",
			                        "unknown element '%s' for atom %d: use an element "
			                        "symbol (C, Cl) or an atomic number (1-%d)",
			                        shown(f[0], sbuf), i + 1, QF_MAX_Z);
		}
		m->z[i] = z;
		for (int k = 0; k < 3; k++) {
			if (!qf__coord_parse(f[1 + k], &m->xyz[3 * i + k])) {
				skip_lines(r, natoms - i - 1);
				return qf__reader_error(r, err, l.no, "input.coordinates",
				                        "the %c coordinate of atom %d is not a finite "
				                        "number: '%s'",
				                        "xyz"[k], i + 1, shown(f[1 + k], sbuf));
			}
		}
	}
	/* Unnamed frames are "<base>", or "<base>:<frame>" in a multi-frame file. */
	bool multi = r->record > 1 || !qf__reader_only_blank_from(r, r->pos);
	qf__reader_name(r, comment.s, comment.n, multi ? r->record : 0, m->name,
	                sizeof(m->name));
	m->charge = 0;
	m->uhf = 0;
	return 1;
}
