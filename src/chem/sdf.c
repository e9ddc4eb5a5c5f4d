/*
 * SDF/MOL reader (CTfile V2000 and V3000), one record per molecule.
 *
 * A record: title (the name), program line, comment, counts line, then the
 * connection table, "M  END", optional data items, and "$$$$" between
 * records (a .mol file is a single record without it). Atoms are taken as
 * written: hydrogens are not added. The total charge is the sum of the formal
 * charges, the unpaired electrons the sum over radicals (doublet 1, triplet 2,
 * singlet 0). In V2000, any "M  CHG" or "M  RAD" line supersedes all charges
 * and radicals of the atom block (CTfile spec); the atom block's charge
 * column is 1..7 = +3 +2 +1 doublet-radical -1 -2 -3.
 *
 * After a bad record the reader goes on after the next "$$$$".
 *
 * RDKit parses CTfiles too, but it sanitises (kekulises, checks valences) and
 * refuses molecules xtb runs happily (hypervalent, metal complexes), and its
 * messages do not name the line. What we need is coordinates, elements and
 * formal charges, which is this file.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "molio_int.h"
#include "qf/str.h"

/* Tokens of a V3000 line that are looked at (index, type, x, y, z, map and
 * the properties after them). */
#define V30_FIELDS 64
/* Pairs on one "M  CHG"/"M  RAD" line: the spec says 8; some writers put more. */
#define PROP_PAIRS 16
#define SHOWN 40

typedef struct sdf_rec {
	qf_reader *r;
	qf_mol *m;
	qf_err *err;
	long first_line; /* the title line */
	int *chg;        /* formal charge per atom */
	int *rad;        /* radical per atom: 0 none, 1 singlet, 2 doublet, 3 triplet */
	long *idx;       /* V3000 atom indices, as written */
	long *sorted;    /* the same, sorted, when they are not 1..n in order */
	int nbonds;
	char buf[QF_MAX_LINE + 1];
} sdf_rec;

static const char *shown(const char *s, size_t n, char out[SHOWN + 4])
{
	size_t k = n < SHOWN ? n : SHOWN;
	memcpy(out, s, k);
	memcpy(out + k, n > SHOWN ? "..." : "", n > SHOWN ? 4 : 1);
	return out;
}

static bool starts(const qf__line *l, const char *prefix)
{
	size_t k = strlen(prefix);
	return l->n >= k && memcmp(l->s, prefix, k) == 0;
}

static bool is_delim(const qf__line *l)
{
	if (!starts(l, "$$$$"))
		return false;
	for (size_t i = 4; i < l->n; i++)
		if (l->s[i] != ' ' && l->s[i] != '\t')
			return false;
	return true;
}

static bool is_m_end(const qf__line *l)
{
	if (!starts(l, "M  END"))
		return false;
	for (size_t i = 6; i < l->n; i++)
		if (l->s[i] != ' ' && l->s[i] != '\t')
			return false;
	return true;
}

/* The next line of the record: 1 (consumed), 0 when the record ended (end
 * of text, or a "$$$$" line, left for finish_record), negative when too long. */
static int rec_line(qf_reader *r, qf__line *l, qf_err *err)
{
	if (!qf__reader_peek(r, l) || is_delim(l))
		return 0;
	return qf__reader_line(r, l, err);
}

/* The line where the record ended: the "$$$$" line, or the last line. */
static long end_line(const qf_reader *r)
{
	qf__line l;
	return qf__reader_peek(r, &l) ? l.no : r->line - 1;
}

/* Consume the rest of the record through its "$$$$" line. Data items are
 * not parsed, so their lines may be of any length. */
static void finish_record(qf_reader *r)
{
	qf__line l;
	while (qf__reader_peek(r, &l)) {
		qf__reader_advance(r, &l);
		if (is_delim(&l))
			break;
	}
	qf__reader_end_record(r, r->pos);
}

/* Integer in columns [at, at+w) of a fixed-width line, blanks around it. */
static bool fixed_int(const qf__line *l, size_t at, size_t w, long *out)
{
	if (at >= l->n)
		return false;
	char tmp[16];
	size_t n = l->n - at < w ? l->n - at : w;
	if (n >= sizeof(tmp))
		return false;
	memcpy(tmp, l->s + at, n);
	tmp[n] = '\0';
	qf_rstrip(tmp);
	return qf_parse_int(qf_lskip(tmp), INT_MIN, INT_MAX, out);
}

static int alloc_atoms(sdf_rec *s, int natoms)
{
	int rc = qf_mol_resize(s->m, natoms, s->err);
	if (rc)
		return rc;
	s->chg = calloc((size_t)natoms, sizeof(*s->chg));
	s->rad = calloc((size_t)natoms, sizeof(*s->rad));
	if (!s->chg || !s->rad)
		return qf_err_setrc(s->err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory reading %s", s->r->source);
	return 0;
}

static int unknown_element(sdf_rec *s, long line, const char *sym, int atom)
{
	char sb[SHOWN + 4];
	return qf__reader_error(s->r, s->err, line, "input.element",
	                        "unknown element '%s' for atom %d: query atoms, aliases and "
	                        "R-groups cannot be computed, give real elements",
	                        shown(sym, strlen(sym), sb), atom);
}

static int bad_coord(sdf_rec *s, long line, int k, int atom, const char *text)
{
	char sb[SHOWN + 4];
	return qf__reader_error(s->r, s->err, line, "input.coordinates",
	                        "the %c coordinate of atom %d is not a finite number: '%s'",
	                        "xyz"[k], atom, shown(text, strlen(text), sb));
}

/* ---- V2000 ------------------------------------------------------------------ */

/* Atom block charge column: code -> charge; code 4 is a doublet radical. */
static const int v2000_charge[8] = {0, 3, 2, 1, 0, -1, -2, -3};

/* An atom line in the CTfile's fixed columns
 * ("xxxxx.xxxxyyyyy.yyyyzzzzz.zzzz aaaddccc"): coordinates of 1000 A or more
 * touch ("-1000.0000-1000.0000"), which splitting at blanks cannot read.
 * Puts x, y, z, symbol, mass difference and charge code (as far as present)
 * in f and returns how many; 0 when the line does not have that layout (some
 * writers do not keep it; such lines are split at blanks). */
static int v2000_fixed_atom(const qf__line *l, char *buf, char **f)
{
	static const size_t col[6][2] = {{0, 10}, {10, 10}, {20, 10}, {31, 3}, {34, 2}, {36, 3}};
	const char *s = l->s;
	if (l->n < 34 || s[30] != ' ' || s[5] != '.' || s[15] != '.' || s[25] != '.')
		return 0;
	int nf = 0;
	for (int k = 0; k < 6 && col[k][0] < l->n; k++) {
		size_t at = col[k][0], w = col[k][1];
		if (at + w > l->n)
			w = l->n - at;
		char *d = buf + 16 * k;
		memcpy(d, s + at, w);
		d[w] = '\0';
		qf_rstrip(d);
		f[k] = (char *)qf_lskip(d);
		if (!*f[k])
			break;
		nf = k + 1;
	}
	return nf;
}

static int v2000_atoms(sdf_rec *s, int natoms, long counts_line)
{
	qf_reader *r = s->r;
	char sb[SHOWN + 4];
	qf__line l;
	for (int i = 0; i < natoms; i++) {
		int rc = rec_line(r, &l, s->err);
		if (rc < 0)
			return rc;
		if (rc == 0 || starts(&l, "M  "))
			return qf__reader_error(r, s->err, rc ? l.no : end_line(r), "input.atom_count",
			                        "the counts line (line %ld) declares %d atoms but the "
			                        "atom block ends after %d",
			                        counts_line, natoms, i);
		char *f[8];
		int nf = v2000_fixed_atom(&l, s->buf, f);
		if (nf < 4)
			nf = qf__line_split(&l, s->buf, sizeof(s->buf), f, 8);
		if (nf >= 4 && qf_parse_int(f[3], LONG_MIN, LONG_MAX, &(long){0}))
			/* "  1  2  1  0": a bond line where an atom was expected. */
			return qf__reader_error(r, s->err, l.no, "input.atom_count",
			                        "expected atom %d of %d (x y z symbol), got a bond line: "
			                        "the atom block is shorter than the counts line (line "
			                        "%ld) declares",
			                        i + 1, natoms, counts_line);
		if (nf < 4)
			return qf__reader_error(r, s->err, l.no, "input.syntax",
			                        "expected an atom line (x y z symbol ...), got %d field%s",
			                        nf, nf == 1 ? "" : "s");
		for (int k = 0; k < 3; k++)
			if (!qf__coord_parse(f[k], &s->m->xyz[3 * i + k]))
				return bad_coord(s, l.no, k, i + 1, f[k]);
		int z = qf_element_from_symbol(f[3]);
		if (!z)
			return unknown_element(s, l.no, f[3], i + 1);
		s->m->z[i] = z;
		if (nf >= 6) {
			long code;
			if (!qf_parse_int(f[5], 0, 7, &code))
				return qf__reader_error(r, s->err, l.no, "input.syntax",
				                        "the charge code of atom %d must be 0-7, got '%s'",
				                        i + 1, shown(f[5], strlen(f[5]), sb));
			s->chg[i] = v2000_charge[code];
			s->rad[i] = code == 4 ? 2 : 0;
		}
	}
	return 0;
}

static int v2000_bonds(sdf_rec *s, int natoms, int nbonds, long counts_line)
{
	qf_reader *r = s->r;
	qf__line l;
	for (int b = 0; b < nbonds; b++) {
		int rc = rec_line(r, &l, s->err);
		if (rc < 0)
			return rc;
		if (rc == 0 || starts(&l, "M  "))
			return qf__reader_error(r, s->err, rc ? l.no : end_line(r), "input.syntax",
			                        "the counts line (line %ld) declares %d bonds but the "
			                        "bond block ends after %d",
			                        counts_line, nbonds, b);
		/* Fixed columns first: atoms >= 100 touch ("100101  1"). */
		long a[2];
		if (!fixed_int(&l, 0, 3, &a[0]) || !fixed_int(&l, 3, 3, &a[1])) {
			char *f[3];
			int nf = qf__line_split(&l, s->buf, sizeof(s->buf), f, 3);
			if (nf < 3 || !qf_parse_int(f[0], INT_MIN, INT_MAX, &a[0]) ||
			    !qf_parse_int(f[1], INT_MIN, INT_MAX, &a[1]))
				return qf__reader_error(r, s->err, l.no, "input.syntax",
				                        "expected bond %d (first atom, second atom, type), "
				                        "got '%s'",
				                        b + 1, qf__line_str(&l, s->buf, sizeof(s->buf)));
		}
		for (int k = 0; k < 2; k++)
			if (a[k] < 1 || a[k] > natoms)
				return qf__reader_error(r, s->err, l.no, "input.syntax",
				                        "bond %d refers to atom %ld, but the record has %d "
				                        "atoms",
				                        b + 1, a[k], natoms);
	}
	return 0;
}

/* "M  CHG  2   1  -1   4   1" / "M  RAD  1   3   2". */
static int v2000_prop(sdf_rec *s, const qf__line *l, int natoms, bool radical, bool *seen)
{
	qf_reader *r = s->r;
	const char *what = radical ? "M  RAD" : "M  CHG";
	char *f[3 + 2 * PROP_PAIRS + 1];
	int nf = qf__line_split(l, s->buf, sizeof(s->buf), f, (int)(sizeof(f) / sizeof(f[0])));
	long n;
	if (nf < 3 || !qf_parse_int(f[2], 1, PROP_PAIRS, &n) || nf != 3 + 2 * n)
		return qf__reader_error(r, s->err, l->no, "input.syntax",
		                        "malformed '%s' line: expected a count (1-%d) and that many "
		                        "atom/value pairs",
		                        what, PROP_PAIRS);
	if (!*seen) {
		/* The first CHG or RAD line voids the atom block's charges and
		 * radicals for the whole molecule. */
		memset(s->chg, 0, (size_t)natoms * sizeof(*s->chg));
		memset(s->rad, 0, (size_t)natoms * sizeof(*s->rad));
		*seen = true;
	}
	for (long k = 0; k < n; k++) {
		long atom, v;
		if (!qf_parse_int(f[3 + 2 * k], 1, natoms, &atom))
			return qf__reader_error(r, s->err, l->no, "input.syntax",
			                        "'%s' refers to atom '%s', but the record has %d atoms",
			                        what, f[3 + 2 * k], natoms);
		if (!qf_parse_int(f[4 + 2 * k], radical ? 0 : -15, radical ? 3 : 15, &v))
			return qf__reader_error(r, s->err, l->no, "input.syntax",
			                        "'%s' value '%s' for atom %ld is out of range (%s)", what,
			                        f[4 + 2 * k], atom,
			                        radical ? "0-3" : "-15 to 15");
		if (radical)
			s->rad[atom - 1] = (int)v;
		else
			s->chg[atom - 1] = (int)v;
	}
	return 0;
}

static int v2000_properties(sdf_rec *s, int natoms)
{
	qf_reader *r = s->r;
	qf__line l;
	bool seen = false;
	for (;;) {
		int rc = rec_line(r, &l, s->err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return qf__reader_error(r, s->err, end_line(r), "input.syntax",
			                        "the record starting at line %ld ends without an "
			                        "'M  END' line",
			                        s->first_line);
		if (is_m_end(&l))
			return 0;
		if (starts(&l, "M  CHG") || starts(&l, "M  RAD")) {
			if ((rc = v2000_prop(s, &l, natoms, starts(&l, "M  RAD"), &seen)))
				return rc;
		} else if (starts(&l, "A  ") || starts(&l, "G  ")) {
			/* Atom alias / group abbreviation: its text is the next line. */
			if ((rc = rec_line(r, &l, s->err)) < 0)
				return rc;
		} else if (starts(&l, "S  SKP")) {
			long skip;
			if (!fixed_int(&l, 6, 3, &skip) || skip < 0)
				return qf__reader_error(r, s->err, l.no, "input.syntax",
				                        "malformed 'S  SKP' line");
			while (skip-- > 0 && (rc = rec_line(r, &l, s->err)) > 0) {
			}
			if (rc < 0)
				return rc;
		}
	}
}

static int v2000(sdf_rec *s, const qf__line *counts)
{
	qf_reader *r = s->r;
	long na, nb;
	if (!fixed_int(counts, 0, 3, &na) || !fixed_int(counts, 3, 3, &nb)) {
		char *f[2];
		int nf = qf__line_split(counts, s->buf, sizeof(s->buf), f, 2);
		if (nf < 2 || !qf_parse_int(f[0], INT_MIN, INT_MAX, &na) ||
		    !qf_parse_int(f[1], INT_MIN, INT_MAX, &nb)) {
			char sb[SHOWN + 4];
			return qf__reader_error(r, s->err, counts->no, "input.syntax",
			                        "bad counts line: expected the numbers of atoms and "
			                        "bonds (as in '  9  8  0  0  0  0  0  0  0  0999 "
			                        "V2000'), got '%s'",
			                        shown(counts->s, counts->n, sb));
		}
	}
	if (na <= 0)
		return qf__reader_error(r, s->err, counts->no, "input.atom_count",
		                        "the counts line declares %ld atoms: a molecule needs at "
		                        "least one",
		                        na);
	if (na > QF_MAX_ATOMS)
		return qf__reader_error(r, s->err, counts->no, "input.too_many_atoms",
		                        "the counts line declares %ld atoms, more than the limit of %d",
		                        na, QF_MAX_ATOMS);
	if (nb < 0)
		return qf__reader_error(r, s->err, counts->no, "input.syntax",
		                        "bad counts line: %ld bonds", nb);
	int rc = alloc_atoms(s, (int)na);
	if (!rc)
		rc = v2000_atoms(s, (int)na, counts->no);
	if (!rc)
		rc = v2000_bonds(s, (int)na, (int)nb, counts->no);
	if (!rc)
		rc = v2000_properties(s, (int)na);
	return rc;
}

/* ---- V3000 ------------------------------------------------------------------ */

enum { V30_LINE = 1, V30_M_END = 2 };

/* The next logical "M  V30" line (continuations joined) into s->buf, without
 * the "M  V30 " prefix: V30_LINE, V30_M_END for an "M  END" line, 0 when the
 * record ended, negative on error. */
static int v30_line(sdf_rec *s, long *no)
{
	qf_reader *r = s->r;
	qf__line l;
	size_t used = 0;
	for (;;) {
		int rc = rec_line(r, &l, s->err);
		if (rc <= 0)
			return rc;
		if (used == 0) {
			*no = l.no;
			if (is_m_end(&l))
				return V30_M_END;
		}
		if (!starts(&l, "M  V30") || (l.n > 6 && l.s[6] != ' ')) {
			char sb[SHOWN + 4];
			return qf__reader_error(r, s->err, l.no, "input.syntax",
			                        "expected an 'M  V30' line%s, got '%s'",
			                        used ? " (continuing the one before)" : "",
			                        shown(l.s, l.n, sb));
		}
		size_t n = l.n > 7 ? l.n - 7 : 0;
		if (used + n > QF_MAX_LINE)
			return qf__reader_error(r, s->err, l.no, "input.line_too_long",
			                        "the V3000 line (continued) is longer than %d bytes",
			                        QF_MAX_LINE);
		memcpy(s->buf + used, l.s + 7, n);
		used += n;
		while (used && (s->buf[used - 1] == ' ' || s->buf[used - 1] == '\t'))
			used--;
		if (used && s->buf[used - 1] == '-') {
			used--;
			continue;
		}
		s->buf[used] = '\0';
		return V30_LINE;
	}
}

/* Is the split line exactly the keywords a b (b may be NULL)? */
static bool keywords(char **f, int nf, const char *a, const char *b)
{
	if (b)
		return nf == 2 && qf_streq_ci(f[0], a) && qf_streq_ci(f[1], b);
	return nf >= 1 && qf_streq_ci(f[0], a);
}

/* Read the next V30 line and require it to be "a b". */
static int v30_expect(sdf_rec *s, const char *a, const char *b)
{
	long no = 0;
	int rc = v30_line(s, &no);
	if (rc < 0)
		return rc;
	if (rc == V30_LINE) {
		char *f[3];
		int nf = qf_split_ws(s->buf, f, 3);
		if (keywords(f, nf, a, b))
			return 0;
	} else {
		no = end_line(s->r);
	}
	return qf__reader_error(s->r, s->err, no, "input.syntax", "expected 'M  V30 %s%s%s'", a,
	                        b ? " " : "", b ? b : "");
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

static bool atom_exists(const sdf_rec *s, long idx)
{
	if (!s->sorted)
		return idx >= 1 && idx <= s->m->natoms;
	return bsearch(&idx, s->sorted, (size_t)s->m->natoms, sizeof(long), cmp_long) != NULL;
}

static int v3000_atoms(sdf_rec *s, int natoms, long counts_line)
{
	qf_reader *r = s->r;
	char sb[SHOWN + 4];
	s->idx = malloc((size_t)natoms * sizeof(*s->idx));
	if (!s->idx)
		return qf_err_setrc(s->err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory reading %s", r->source);
	bool in_order = true;
	for (int i = 0; i <= natoms; i++) {
		long no = 0;
		int rc = v30_line(s, &no);
		if (rc < 0)
			return rc;
		if (rc != V30_LINE)
			return qf__reader_error(r, s->err, end_line(r), "input.syntax",
			                        "the record ends inside the V3000 atom block");
		char *f[V30_FIELDS];
		int nf = qf_split_ws(s->buf, f, V30_FIELDS);
		bool end = keywords(f, nf, "END", "ATOM");
		if (i == natoms) {
			if (end)
				break;
			return qf__reader_error(r, s->err, no, "input.atom_count",
			                        "the COUNTS line (line %ld) declares %d atoms but the "
			                        "atom block has more",
			                        counts_line, natoms);
		}
		if (end)
			return qf__reader_error(r, s->err, no, "input.atom_count",
			                        "the COUNTS line (line %ld) declares %d atoms but the "
			                        "atom block ends after %d",
			                        counts_line, natoms, i);
		if (nf < 5)
			return qf__reader_error(r, s->err, no, "input.syntax",
			                        "expected an atom line (index type x y z ...), got %d "
			                        "field%s",
			                        nf, nf == 1 ? "" : "s");
		if (!qf_parse_int(f[0], 1, LONG_MAX, &s->idx[i]))
			return qf__reader_error(r, s->err, no, "input.syntax",
			                        "atom index '%s' is not a positive integer",
			                        shown(f[0], strlen(f[0]), sb));
		in_order = in_order && s->idx[i] == i + 1;
		int z = qf_element_from_symbol(f[1]);
		if (!z)
			return unknown_element(s, no, f[1], i + 1);
		s->m->z[i] = z;
		for (int k = 0; k < 3; k++)
			if (!qf__coord_parse(f[2 + k], &s->m->xyz[3 * i + k]))
				return bad_coord(s, no, k, i + 1, f[2 + k]);
		for (int k = 6; k < nf && k < V30_FIELDS; k++) {
			bool chg = strncmp(f[k], "CHG=", 4) == 0, rad = strncmp(f[k], "RAD=", 4) == 0;
			if (!chg && !rad)
				continue;
			long v;
			if (!qf_parse_int(f[k] + 4, chg ? -15 : 0, chg ? 15 : 3, &v))
				return qf__reader_error(r, s->err, no, "input.syntax",
				                        "'%s' of atom %d is out of range (%s)",
				                        shown(f[k], strlen(f[k]), sb), i + 1,
				                        chg ? "-15 to 15" : "0-3");
			if (chg)
				s->chg[i] = (int)v;
			else
				s->rad[i] = (int)v;
		}
	}
	if (!in_order) {
		s->sorted = malloc((size_t)natoms * sizeof(*s->sorted));
		if (!s->sorted)
			return qf_err_setrc(s->err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
			                    "out of memory reading %s", r->source);
		memcpy(s->sorted, s->idx, (size_t)natoms * sizeof(*s->sorted));
		qsort(s->sorted, (size_t)natoms, sizeof(*s->sorted), cmp_long);
		for (int i = 1; i < natoms; i++)
			if (s->sorted[i] == s->sorted[i - 1])
				return qf__reader_error(r, s->err, counts_line, "input.syntax",
				                        "atom index %ld is used twice in the atom block",
				                        s->sorted[i]);
	}
	return 0;
}

static int v3000_bonds(sdf_rec *s, int nbonds, long counts_line)
{
	qf_reader *r = s->r;
	char sb[SHOWN + 4];
	for (int b = 0;; b++) {
		long no = 0;
		int rc = v30_line(s, &no);
		if (rc < 0)
			return rc;
		if (rc != V30_LINE)
			return qf__reader_error(r, s->err, end_line(r), "input.syntax",
			                        "the record ends inside the V3000 bond block");
		char *f[4];
		int nf = qf_split_ws(s->buf, f, 4);
		if (keywords(f, nf, "END", "BOND")) {
			if (b != nbonds)
				return qf__reader_error(r, s->err, no, "input.syntax",
				                        "the COUNTS line (line %ld) declares %d bonds but "
				                        "the bond block has %d",
				                        counts_line, nbonds, b);
			s->nbonds = b;
			return 0;
		}
		if (nf == 0) /* "M  V30" and nothing after it: f[0] is not set */
			return qf__reader_error(r, s->err, no, "input.syntax",
			                        "expected a bond line (index type atom atom), got an "
			                        "empty 'M  V30' line");
		long a[2];
		if (nf < 4 || !qf_parse_int(f[2], LONG_MIN, LONG_MAX, &a[0]) ||
		    !qf_parse_int(f[3], LONG_MIN, LONG_MAX, &a[1]))
			return qf__reader_error(r, s->err, no, "input.syntax",
			                        "expected a bond line (index type atom atom), got '%s'",
			                        shown(f[0], strlen(f[0]), sb));
		for (int k = 0; k < 2; k++)
			if (!atom_exists(s, a[k]))
				return qf__reader_error(r, s->err, no, "input.syntax",
				                        "bond %s refers to atom %ld, which is not in the "
				                        "atom block",
				                        f[0], a[k]);
	}
}

static int v3000(sdf_rec *s)
{
	qf_reader *r = s->r;
	int rc = v30_expect(s, "BEGIN", "CTAB");
	if (rc)
		return rc;
	long counts_line = 0;
	rc = v30_line(s, &counts_line);
	if (rc < 0)
		return rc;
	char *f[4];
	int nf = rc == V30_LINE ? qf_split_ws(s->buf, f, 4) : 0;
	long na, nb;
	if (rc != V30_LINE || nf < 3 || !qf_streq_ci(f[0], "COUNTS"))
		return qf__reader_error(r, s->err, rc == V30_LINE ? counts_line : end_line(r),
		                        "input.syntax", "expected 'M  V30 COUNTS atoms bonds ...'");
	if (!qf_parse_int(f[1], LONG_MIN, LONG_MAX, &na))
		return qf__reader_error(r, s->err, counts_line, "input.atom_count",
		                        "bad COUNTS line: the number of atoms is not a number");
	if (na <= 0)
		return qf__reader_error(r, s->err, counts_line, "input.atom_count",
		                        "the COUNTS line declares %ld atoms: a molecule needs at "
		                        "least one",
		                        na);
	if (na > QF_MAX_ATOMS)
		return qf__reader_error(r, s->err, counts_line, "input.too_many_atoms",
		                        "the COUNTS line declares %ld atoms, more than the limit of %d",
		                        na, QF_MAX_ATOMS);
	if (!qf_parse_int(f[2], 0, INT_MAX, &nb))
		return qf__reader_error(r, s->err, counts_line, "input.syntax",
		                        "bad COUNTS line: the number of bonds is not a number >= 0");
	if ((rc = alloc_atoms(s, (int)na)))
		return rc;
	if ((rc = v30_expect(s, "BEGIN", "ATOM")))
		return rc;
	if ((rc = v3000_atoms(s, (int)na, counts_line)))
		return rc;
	/* Then bonds and other blocks (SGROUP, COLLECTION, ...) until END CTAB. */
	bool bonds = false;
	for (;;) {
		long no = 0;
		rc = v30_line(s, &no);
		if (rc < 0)
			return rc;
		if (rc != V30_LINE)
			return qf__reader_error(r, s->err, rc == V30_M_END ? no : end_line(r),
			                        "input.syntax",
			                        "the V3000 record has no 'M  V30 END CTAB' line");
		char *k[3];
		int nk = qf_split_ws(s->buf, k, 3);
		if (keywords(k, nk, "END", "CTAB"))
			break;
		if (keywords(k, nk, "BEGIN", "BOND")) {
			if ((rc = v3000_bonds(s, (int)nb, counts_line)))
				return rc;
			bonds = true;
		}
	}
	if (nb > 0 && !bonds)
		return qf__reader_error(r, s->err, counts_line, "input.syntax",
		                        "the COUNTS line declares %ld bonds but there is no bond block",
		                        nb);
	qf__line l;
	for (;;) {
		rc = rec_line(r, &l, s->err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return qf__reader_error(r, s->err, end_line(r), "input.syntax",
			                        "the record starting at line %ld ends without an "
			                        "'M  END' line",
			                        s->first_line);
		if (is_m_end(&l))
			return 0;
	}
}

/* ---- records ---------------------------------------------------------------- */

static int read_record(sdf_rec *s, qf__line *title)
{
	qf_reader *r = s->r;
	qf__line l;
	int rc = rec_line(r, title, s->err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return qf__reader_error(r, s->err, end_line(r), "input.syntax",
		                        "empty record: '$$$$' where a title line was expected");
	for (int k = 0; k < 3; k++) {
		rc = rec_line(r, &l, s->err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return qf__reader_error(r, s->err, end_line(r), "input.syntax",
			                        "the record starting at line %ld ends before its counts "
			                        "line (its 4th line)",
			                        s->first_line);
	}
	if (memmem(l.s, l.n, "V3000", 5))
		return v3000(s);
	return v2000(s, &l);
}

int qf__sdf_next(qf_reader *r, qf_mol *m, qf_err *err)
{
	if (qf__reader_only_blank_from(r, r->pos)) {
		r->pos = r->len;
		return 0;
	}
	qf__line first;
	qf__reader_peek(r, &first);
	qf__reader_begin_record(r, (size_t)(first.s - r->data));
	sdf_rec *s = calloc(1, sizeof(*s));
	if (!s)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory reading %s", r->source);
	s->r = r;
	s->m = m;
	s->err = err;
	s->first_line = first.no;
	qf__line title = first;
	int rc = read_record(s, &title);
	finish_record(r);
	if (rc == 0) {
		long charge = 0, uhf = 0;
		for (int i = 0; i < m->natoms; i++) {
			charge += s->chg[i];
			uhf += s->rad[i] == 2 ? 1 : s->rad[i] == 3 ? 2 : 0;
		}
		m->charge = (int)charge;
		m->uhf = (int)uhf;
		bool multi = r->record > 1 || !qf__reader_only_blank_from(r, r->pos);
		qf__reader_name(r, title.s, title.n, multi ? r->record : 0, m->name,
		                sizeof(m->name));
		rc = 1;
	}
	free(s->sorted);
	free(s->idx);
	free(s->rad);
	free(s->chg);
	free(s);
	return rc;
}
