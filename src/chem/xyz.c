/*
 * XYZ reader: one frame per record.
 *
 *     3                       atom count, alone on its line
 *     water                   comment: the molecule's name
 *     O  0.000 0.000 0.117    element (symbol in any case, or Z) and x y z in
 *     H  0.000 0.757 -0.467   Angstrom; further columns (charges, forces) are
 *     h  0.000 -0.757 -0.467  ignored
 *
 * Extended XYZ (as ASE and QUIP write it) puts key=value pairs on the
 * comment line:
 *
 *     name=water Properties=species:S:1:pos:R:3:forces:R:3 pbc="F F F"
 *
 * The comment line is read as extended XYZ when it holds at least one '='
 * outside quotes; it is then tokenised as ASE's key_val_str_to_dict does
 * (keys here case-insensitive; values bare, "double" or 'single' quoted,
 * {curly} or [square] bracketed, a backslash escaping the next character,
 * blanks around '=' allowed, a key without '=' a flag meaning T). Of the
 * keys, four are looked at (the last of each wins, as in ASE's dict):
 *   name=        the molecule's name;
 *   Properties=  name:type:columns triples giving the atom line's columns:
 *                species:S:1 (or Z:I:1) and pos:R:3 are read wherever they
 *                are, every other column is accepted and ignored, and each
 *                atom line must have all the declared columns;
 *   Lattice= / pbc=  a frame with a Lattice or any true pbc is refused
 *                (input.periodic): computing a periodic cell as a gas-phase
 *                molecule is a wrong answer. pbc="F F F" alone is fine.
 * The name, when there is no name= key, is the file's base name (and the
 * frame number in a multi-frame file), as for an empty comment line: the
 * key=value text is metadata, not a name. A comment line with no '=' at all
 * is a plain XYZ title and stays the name, as before (plain XYZ files name
 * molecules that way). Parsing is one pass over the line into buffers of
 * fixed size (QF_MAX_LINE), so a frame costs time linear in its bytes.
 *
 * Blank lines before and between frames are skipped; CRLF line ends and
 * trailing blanks are fine. After a bad atom count the reader cannot know
 * where the next frame starts, so it stops; after a bad comment or atom line
 * it skips the rest of the frame (count + 2 lines) and goes on.
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

/* ---- the extended XYZ comment line ------------------------------------------ */

/* The keys looked at; the others are accepted and ignored. */
enum { K_NAME, K_PROPERTIES, K_LATTICE, K_PBC, K_COUNT };
static const char *const info_keys[K_COUNT] = {"name", "properties", "lattice", "pbc"};

/* What a comment line says about its frame. */
typedef struct xyz_info {
	bool extended;         /* at least one key=value pair */
	char *val[K_COUNT];    /* the value of each key (a flag: "T"), or NULL */
	/* The values of the keys above, NUL-terminated. Each value character
	 * comes from its own line character, and each pair adds at most two
	 * (a NUL, or "T" and a NUL for a flag, which takes a key character and
	 * a blank or the line end): 2 * QF_MAX_LINE + 2 is never exceeded. */
	char vals[2 * QF_MAX_LINE + 2];
	size_t nvals;
	char key[QF_MAX_LINE + 1]; /* the key being read */
	size_t nkey;
	const char *error;     /* the first syntax error, or NULL */
	size_t error_col;      /* its 1-based column */
} xyz_info;

/* Tokeniser state: the pair being read. */
typedef struct kv_state {
	bool open;         /* a pair has begun */
	int parts;         /* 0: in the key; n > 0: in the n-th '='-part of the value */
	bool part_started; /* the current part has a character (or a quote) */
	bool pending;      /* a blank ended the part; a '=' may still continue the pair */
	size_t val_start;  /* offset of the pair's value in vals */
} kv_state;

static void kv_put(xyz_info *in, const kv_state *st, char c)
{
	if (st->parts == 0) {
		if (in->nkey < sizeof(in->key) - 1)
			in->key[in->nkey++] = c;
	} else if (in->nvals < sizeof(in->vals) - 2) {
		in->vals[in->nvals++] = c;
	}
}

/* The pair is complete: keep its value when its key is one looked at. */
static void kv_finish(xyz_info *in, kv_state *st)
{
	if (!st->open)
		return;
	in->key[in->nkey] = '\0';
	int k = 0;
	while (k < K_COUNT && !qf_streq_ci(in->key, info_keys[k]))
		k++;
	if (k == K_COUNT || in->nvals + 2 > sizeof(in->vals)) {
		in->nvals = st->val_start;
	} else {
		if (st->parts == 0)
			in->vals[in->nvals++] = 'T';
		in->vals[in->nvals++] = '\0';
		in->val[k] = in->vals + st->val_start;
	}
	*st = (kv_state){0};
	in->nkey = 0;
}

/* A character that is part of a key or value: it starts a new pair after a
 * blank-ended one. */
static void kv_begin(xyz_info *in, kv_state *st)
{
	if (st->pending)
		kv_finish(in, st);
	if (!st->open) {
		st->open = true;
		st->val_start = in->nvals;
	}
	st->pending = false;
	st->part_started = true;
}

static void kv_error(xyz_info *in, const char *what, size_t col)
{
	if (!in->error) {
		in->error = what;
		in->error_col = col;
	}
}

/* Tokenise a comment line as ASE's key_val_str_to_dict does: in one pass,
 * into in's fixed buffers. Syntax errors are noted in in->error; they only
 * matter when the line turns out to be extended XYZ. */
static void kv_parse(const char *s, size_t n, xyz_info *in)
{
	kv_state st = {0};
	char delim = 0;
	size_t delim_col = 0;
	bool escaped = false;
	in->extended = false;
	in->nvals = in->nkey = 0;
	in->error = NULL;
	for (int k = 0; k < K_COUNT; k++)
		in->val[k] = NULL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (escaped) {
			kv_put(in, &st, c);
			escaped = false;
		} else if (c == '\\') {
			kv_begin(in, &st);
			escaped = true;
		} else if (delim) {
			if (c == delim)
				delim = 0;
			else
				kv_put(in, &st, c);
		} else if (c == '"' || c == '\'' || c == '{' || c == '[') {
			kv_begin(in, &st);
			delim = c == '{' ? '}' : c == '[' ? ']' : c;
			delim_col = i + 1;
		} else if (isspace((unsigned char)c)) {
			if (st.open && st.part_started)
				st.pending = true;
		} else if (c == '=') {
			if (!st.open) {
				kv_error(in, "'=' with no key before it", i + 1);
				continue;
			}
			in->extended = true;
			st.pending = false;
			st.part_started = false;
			if (++st.parts > 1)
				kv_put(in, &st, '=');
		} else {
			kv_begin(in, &st);
			kv_put(in, &st, c);
		}
	}
	if (delim)
		kv_error(in, delim == '"'   ? "the \" quote opened here is not closed"
		             : delim == '\'' ? "the ' quote opened here is not closed"
		             : delim == '}'  ? "the { opened here is not closed by }"
		                             : "the [ opened here is not closed by ]",
		         delim_col);
	else if (escaped)
		kv_error(in, "the line ends with a backslash that escapes nothing", n);
	kv_finish(in, &st);
}

/* Columns of the atom lines: 0-based columns of the element and of x (y and
 * z follow), and how many every line must have. */
typedef struct xyz_cols {
	int el, pos, need;
	bool declared; /* by Properties= (else: at least 4, the rest ignored) */
} xyz_cols;

/* Properties=name:type:columns[:name:type:columns...] */
static int parse_properties(qf_reader *r, long line, char *p, xyz_cols *c, qf_err *err)
{
	char sbuf[SHOWN + 4], shown_p[QF_MAX_LINE + 1];
	qf_strlcpy(shown_p, p, sizeof(shown_p));
	int species = -1, zcol = -1, pos = -1;
	long col = 0;
	for (char *s = p; s;) {
		char *f[3];
		for (int k = 0; k < 3; k++) {
			f[k] = s;
			char *colon = s ? strchr(s, ':') : NULL;
			if (colon)
				*colon = '\0';
			s = colon ? colon + 1 : NULL;
		}
		long ncols;
		if (!f[2] || !*f[0] || strlen(f[1]) != 1 || !strchr("RISL", f[1][0]) ||
		    !qf_parse_int(f[2], 1, QF_MAX_LINE, &ncols))
			return qf__reader_error(r, err, line, "input.syntax",
			                        "Properties= must be name:type:columns triples (type R, "
			                        "I, S or L), e.g. species:S:1:pos:R:3; got '%s'",
			                        shown(shown_p, sbuf));
		int *which = qf_streq_ci(f[0], "species") ? &species
		             : qf_streq_ci(f[0], "Z")     ? &zcol
		             : qf_streq_ci(f[0], "pos")   ? &pos
		                                          : NULL;
		if (which == &species && (f[1][0] != 'S' || ncols != 1))
			return qf__reader_error(r, err, line, "input.syntax",
			                        "Properties= gives species:%s:%ld: the element column "
			                        "is species:S:1",
			                        f[1], ncols);
		if (which == &zcol && (f[1][0] != 'I' || ncols != 1))
			return qf__reader_error(r, err, line, "input.syntax",
			                        "Properties= gives Z:%s:%ld: the atomic number column "
			                        "is Z:I:1",
			                        f[1], ncols);
		if (which == &pos && (f[1][0] != 'R' || ncols != 3))
			return qf__reader_error(r, err, line, "input.syntax",
			                        "Properties= gives pos:%s:%ld: positions are pos:R:3 "
			                        "(x y z in Angstrom)",
			                        f[1], ncols);
		if (which && *which >= 0)
			return qf__reader_error(r, err, line, "input.syntax",
			                        "Properties= names the %s column twice", f[0]);
		if (which)
			*which = (int)col;
		col += ncols;
		if (col > QF_MAX_LINE / 2)
			return qf__reader_error(r, err, line, "input.syntax",
			                        "Properties= declares more than %d columns: they cannot "
			                        "fit on an atom line of %d bytes",
			                        QF_MAX_LINE / 2, QF_MAX_LINE);
	}
	if (pos < 0)
		return qf__reader_error(r, err, line, "input.syntax",
		                        "Properties= has no pos:R:3 column, so the atoms have no "
		                        "positions: got '%s'",
		                        shown(shown_p, sbuf));
	if (species < 0 && zcol < 0)
		return qf__reader_error(r, err, line, "input.syntax",
		                        "Properties= has no species:S:1 (or Z:I:1) column, so the "
		                        "atoms have no elements: got '%s'",
		                        shown(shown_p, sbuf));
	c->el = species >= 0 ? species : zcol;
	c->pos = pos;
	c->need = (int)col;
	c->declared = true;
	return 0;
}

/* Split s in place at blanks and commas (as ASE splits array values); the
 * number of fields, at most max kept. */
static int split_list(char *s, char **f, int max)
{
	int n = 0;
	for (char *p = s; *p;) {
		while (*p && (isspace((unsigned char)*p) || *p == ','))
			*p++ = '\0';
		if (!*p)
			break;
		if (n < max)
			f[n] = p;
		n++;
		while (*p && !isspace((unsigned char)*p) && *p != ',')
			p++;
	}
	return n;
}

/* Lattice= (9 numbers) or any true pbc= refuses the frame. */
static int check_periodic(qf_reader *r, long line, xyz_info *in, qf_err *err)
{
	char sbuf[SHOWN + 4];
	char *lat = in->val[K_LATTICE], *pbc = in->val[K_PBC];
	if (lat) {
		char *f[9];
		double v;
		int n = split_list(lat, f, 9);
		int bad = -1;
		for (int k = 0; n == 9 && bad < 0 && k < 9; k++)
			if (!qf__coord_parse(f[k], &v))
				bad = k;
		if (n != 9)
			return qf__reader_error(r, err, line, "input.syntax",
			                        "Lattice= must be 9 numbers (three cell vectors), got %d",
			                        n);
		if (bad >= 0)
			return qf__reader_error(r, err, line, "input.syntax",
			                        "Lattice= must be 9 numbers (three cell vectors): '%s' is "
			                        "not a number",
			                        shown(f[bad], sbuf));
		return qf__reader_error(r, err, line, "input.periodic",
		                        "the frame has a periodic cell (Lattice=): qforge computes "
		                        "molecules in the gas phase, and a periodic system computed "
		                        "as one gives a wrong answer; remove Lattice= (and pbc=) only "
		                        "if the structure really is an isolated molecule");
	}
	if (pbc) {
		char copy[QF_MAX_LINE + 1], *f[3];
		qf_strlcpy(copy, pbc, sizeof(copy));
		int n = split_list(pbc, f, 3);
		bool any = false, ok = n == 1 || n == 3;
		for (int k = 0; ok && k < n; k++) {
			if (qf_streq_ci(f[k], "T") || qf_streq_ci(f[k], "True"))
				any = true;
			else if (!qf_streq_ci(f[k], "F") && !qf_streq_ci(f[k], "False"))
				ok = false;
		}
		if (!ok)
			return qf__reader_error(r, err, line, "input.syntax",
			                        "pbc= must be T or F for each of the three cell "
			                        "directions (pbc=\"F F F\"), got '%s'",
			                        shown(copy, sbuf));
		if (any)
			return qf__reader_error(r, err, line, "input.periodic",
			                        "the frame is periodic (pbc=\"%s\"): qforge computes "
			                        "molecules in the gas phase, and a periodic system "
			                        "computed as one gives a wrong answer",
			                        shown(copy, sbuf));
	}
	return 0;
}

/* Read the comment line: its key=value pairs when there are any, the atom
 * columns, the periodic checks. */
static int parse_comment(qf_reader *r, const qf__line *l, xyz_info *in, xyz_cols *c,
                         qf_err *err)
{
	*c = (xyz_cols){.el = 0, .pos = 1, .need = 4, .declared = false};
	kv_parse(l->s, l->n, in);
	if (!in->extended)
		return 0;
	if (in->error)
		return qf__reader_error(r, err, l->no, "input.syntax",
		                        "could not parse the extended XYZ comment line at column "
		                        "%zu: %s",
		                        in->error_col, in->error);
	int rc = check_periodic(r, l->no, in, err);
	if (!rc && in->val[K_PROPERTIES])
		rc = parse_properties(r, l->no, in->val[K_PROPERTIES], c, err);
	return rc;
}

/* Split an atom line (in buf, modified) at blanks; out[0] the element, out[1..3]
 * x y z, by the columns c. Returns the number of fields. */
static int atom_fields(char *buf, const xyz_cols *c, char *out[ATOM_FIELDS])
{
	const int want[ATOM_FIELDS] = {c->el, c->pos, c->pos + 1, c->pos + 2};
	int n = 0;
	for (char *p = buf;;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		for (int k = 0; k < ATOM_FIELDS; k++)
			if (want[k] == n)
				out[k] = p;
		n++;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
	return n;
}

int qf__xyz_next(qf_reader *r, qf_mol *m, qf_err *err)
{
	char buf[QF_MAX_LINE + 1], sbuf[SHOWN + 4];
	/* About 16 KB: on the stack, like the line buffers (no thread of
	 * qforge runs with a reduced stack). */
	xyz_info info[1];
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
	xyz_cols cols;
	if ((rc = parse_comment(r, &comment, info, &cols, err))) {
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
		qf__line_str(&l, buf, sizeof(buf));
		int nf = atom_fields(buf, &cols, f);
		if (nf == 1 && all_digits(qf_lskip(buf))) {
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
		if (cols.declared && nf < cols.need) {
			skip_lines(r, natoms - i - 1);
			return qf__reader_error(r, err, l.no, "input.syntax",
			                        "Properties= declares %d columns, atom %d has %d",
			                        cols.need, i + 1, nf);
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
	/* Unnamed frames are "<base>", or "<base>:<frame>" in a multi-frame file:
	 * those with an empty comment line, and extended XYZ frames without a
	 * name= key (their comment line is metadata, not a title). */
	bool multi = r->record > 1 || !qf__reader_only_blank_from(r, r->pos);
	const char *title = comment.s;
	size_t title_len = comment.n;
	if (info->extended) {
		title = info->val[K_NAME] ? info->val[K_NAME] : "";
		title_len = strlen(title);
	}
	qf__reader_name(r, title, title_len, multi ? r->record : 0, m->name, sizeof(m->name));
	m->charge = 0;
	m->uhf = 0;
	return 1;
}
