/*
 * Molecule readers: formats, the reader object, the line cursor shared by the
 * format readers, the SMILES line reader, and the XYZ writer.
 * See include/qf/molio.h; XYZ in xyz.c, SDF/MOL in sdf.c.
 */
#include "qf/molio.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "molio_int.h"
#include "qf/buf.h"
#include "qf/embed.h"
#include "qf/fs.h"
#include "qf/str.h"

/* ---- formats ---------------------------------------------------------------- */

static const struct {
	const char *name;
	qf_format fmt;
} format_names[] = {
	{"xyz", QF_FMT_XYZ},    {"sdf", QF_FMT_SDF},       {"sd", QF_FMT_SDF},
	{"mol", QF_FMT_SDF},    {"smiles", QF_FMT_SMILES}, {"smi", QF_FMT_SMILES},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

qf_format qf_format_parse(const char *name)
{
	for (size_t i = 0; name && i < COUNT(format_names); i++)
		if (qf_streq_ci(name, format_names[i].name))
			return format_names[i].fmt;
	return QF_FMT_UNKNOWN;
}

/* The extension (after the last dot of the last path component) names the
 * format; there is no sniffing of the contents. */
qf_format qf_format_from_path(const char *path)
{
	if (!path)
		return QF_FMT_UNKNOWN;
	const char *slash = strrchr(path, '/');
	const char *file = slash ? slash + 1 : path;
	const char *dot = strrchr(file, '.');
	if (!dot || dot == file)
		return QF_FMT_UNKNOWN;
	return qf_format_parse(dot + 1);
}

/* Names round-trip through qf_format_parse (job metadata stores them). */
const char *qf_format_name(qf_format f)
{
	switch (f) {
	case QF_FMT_XYZ: return "xyz";
	case QF_FMT_SDF: return "sdf";
	case QF_FMT_SMILES: return "smiles";
	case QF_FMT_UNKNOWN: break;
	}
	return "unknown";
}

/* ---- line cursor ------------------------------------------------------------ */

bool qf__reader_peek(const qf_reader *r, qf__line *l)
{
	if (r->pos >= r->len)
		return false;
	const char *s = r->data + r->pos;
	const char *nl = memchr(s, '\n', r->len - r->pos);
	size_t n = nl ? (size_t)(nl - s) : r->len - r->pos;
	l->s = s;
	l->next = nl ? (size_t)(nl - r->data) + 1 : r->len;
	if (n && s[n - 1] == '\r')
		n--;
	l->n = n;
	l->no = r->line;
	return true;
}

void qf__reader_advance(qf_reader *r, const qf__line *l)
{
	r->pos = l->next;
	r->line = l->no + 1;
}

int qf__reader_line(qf_reader *r, qf__line *l, qf_err *err)
{
	if (!qf__reader_peek(r, l))
		return 0;
	qf__reader_advance(r, l);
	if (l->n > QF_MAX_LINE)
		return qf__reader_error(r, err, l->no, "input.line_too_long",
		                        "the line is longer than %d bytes: this is not a molecule "
		                        "file, or the line is broken",
		                        QF_MAX_LINE);
	return 1;
}

static bool is_blank_char(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

bool qf__reader_only_blank_from(const qf_reader *r, size_t pos)
{
	for (size_t i = pos; i < r->len; i++)
		if (!is_blank_char(r->data[i]))
			return false;
	return true;
}

bool qf__line_blank(const qf__line *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (!is_blank_char(l->s[i]))
			return false;
	return true;
}

char *qf__line_str(const qf__line *l, char *buf, size_t size)
{
	size_t n = l->n < size - 1 ? l->n : size - 1;
	memcpy(buf, l->s, n);
	buf[n] = '\0';
	return qf_rstrip(buf);
}

int qf__line_split(const qf__line *l, char *buf, size_t size, char **fields, int max)
{
	qf__line_str(l, buf, size);
	return qf_split_ws(buf, fields, max);
}

void qf__reader_begin_record(qf_reader *r, size_t start)
{
	r->record++;
	r->rec_start = start;
	r->rec_end = start;
}

void qf__reader_end_record(qf_reader *r, size_t end)
{
	r->rec_end = end;
}

int qf__reader_error(const qf_reader *r, qf_err *err, long line, const char *code,
                     const char *fmt, ...)
{
	char msg[QF_MAX_ERR_MSG];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		return qf_err_set(err, QF_CAT_VALIDATION, code, "could not read %s line %ld: %s",
		                  r->source, line, msg);
	return qf_err_set(err, QF_CAT_VALIDATION, code, "could not read %s: %s", r->source, msg);
}

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8
 * sequence. */
static size_t utf8_cut(const char *s, size_t n)
{
	size_t k = n;
	while (k > 0 && ((unsigned char)s[k - 1] & 0xC0) == 0x80)
		k--;
	if (k == 0)
		return n;
	unsigned char lead = (unsigned char)s[k - 1];
	size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	return n - (k - 1) >= want ? n : k - 1;
}

void qf__reader_name(const qf_reader *r, const char *s, size_t n, long number, char *out,
                     size_t size)
{
	while (n && is_blank_char(*s)) {
		s++;
		n--;
	}
	while (n && is_blank_char(s[n - 1]))
		n--;
	if (n == 0) {
		if (number > 0)
			snprintf(out, size, "%s:%ld", r->base, number);
		else
			snprintf(out, size, "%s", r->base);
		return;
	}
	if (n >= size)
		n = utf8_cut(s, size - 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	out[n] = '\0';
}

int qf__element_parse(const char *s)
{
	if (isdigit((unsigned char)s[0])) {
		long z;
		return qf_parse_int(s, 1, QF_MAX_Z, &z) ? (int)z : 0;
	}
	return qf_element_from_symbol(s);
}

/* strtod alone would take "nan", "inf", "0x1p3" and "infinity"; coordinates
 * are plain decimals, so the shape is checked first. */
bool qf__coord_parse(char *s, double *out)
{
	char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	int digits = 0;
	while (isdigit((unsigned char)*p)) {
		p++;
		digits++;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			p++;
			digits++;
		}
	}
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E' || *p == 'd' || *p == 'D') {
		*p++ = 'e';
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p)
		return false;
	errno = 0;
	double v = strtod(s, NULL);
	/* Underflow ("1e-400") is a zero coordinate; overflow is refused. */
	if ((errno == ERANGE && fabs(v) > 1.0) || !isfinite(v))
		return false;
	*out = v;
	return true;
}

/* ---- reader ----------------------------------------------------------------- */

/* Bytes looked at to tell text from binary. */
#define SNIFF_BYTES 4096

/* Length of a valid UTF-8 sequence at s (at most n bytes), 0 when invalid.
 * A sequence cut off by n counts as valid (the sniff window ends there). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t want;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		want = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		want = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		want = 4;
	else
		return 0;
	for (size_t k = 1; k < want; k++) {
		if (k >= n)
			return k;
		if ((s[k] & 0xC0) != 0x80)
			return 0;
	}
	return want;
}

/* A NUL byte anywhere, or more than 10% of the first 4 KiB being neither
 * printable ASCII, blanks, nor valid UTF-8: not a text file. */
static int check_text(const qf_reader *r, qf_err *err)
{
	const char *nul = memchr(r->data, '\0', r->len);
	if (nul) {
		long line = 1;
		for (const char *p = r->data; p < nul; p++)
			line += *p == '\n';
		return qf__reader_error(r, err, line, "input.binary",
		                        "the file contains a NUL byte: it is binary (or UTF-16), not "
		                        "an XYZ, SDF or SMILES text");
	}
	size_t n = r->len < SNIFF_BYTES ? r->len : SNIFF_BYTES;
	const unsigned char *s = (const unsigned char *)r->data;
	size_t bad = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c >= 0x80) {
			size_t k = utf8_seq(s + i, n - i);
			if (k) {
				i += k;
				continue;
			}
			bad++;
		} else if ((c < 0x20 && !is_blank_char((char)c)) || c == 0x7f) {
			bad++;
		}
		i++;
	}
	if (bad * 10 > n)
		return qf__reader_error(r, err, 0, "input.binary",
		                        "%zu of its first %zu bytes are not text: it is a binary "
		                        "file, not an XYZ, SDF or SMILES text",
		                        bad, n);
	return 0;
}

static void set_base(qf_reader *r)
{
	const char *slash = strrchr(r->source, '/');
	const char *file = slash && slash[1] ? slash + 1 : r->source;
	qf_strlcpy(r->base, file, sizeof(r->base));
	char *dot = strrchr(r->base, '.');
	if (dot && dot != r->base)
		*dot = '\0';
}

/* Takes ownership of data (NUL-terminated at len). */
static int reader_open(qf_reader **out, qf_format fmt, const char *source, char *data,
                       size_t len, qf_err *err)
{
	*out = NULL;
	qf_reader *r = calloc(1, sizeof(*r));
	if (!r) {
		free(data);
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory opening %s", source);
	}
	r->data = data;
	r->len = len;
	qf_strlcpy(r->source, source && *source ? source : "<input>", sizeof(r->source));
	set_base(r);
	r->line = 1;
	r->can_continue = true;
	if (fmt == QF_FMT_UNKNOWN)
		fmt = qf_format_from_path(r->source);
	r->fmt = fmt;
	int rc;
	if (fmt == QF_FMT_UNKNOWN) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "input.format",
		                "unknown format of %s: name the file .xyz, .sdf, .mol or .smi, "
		                "or give the format (xyz, sdf, smiles)",
		                r->source);
		goto out_free;
	}
	if (len == 0 || qf__reader_only_blank_from(r, 0)) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "input.empty",
		                "%s is empty: it holds no molecule", r->source);
		goto out_free;
	}
	if ((rc = check_text(r, err)))
		goto out_free;
	/* A UTF-8 byte order mark (some Windows editors write one) is not text. */
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		r->pos = 3;
	*out = r;
	return 0;
out_free:
	qf_reader_free(r);
	return rc;
}

int qf_reader_new_buf(qf_reader **r, qf_format fmt, const char *source, const char *data,
                      size_t len, qf_err *err)
{
	*r = NULL;
	if (len > (size_t)QF_MAX_INPUT_BYTES)
		return qf_err_set(err, QF_CAT_VALIDATION, "input.too_large",
		                  "%s is larger than the limit of %ld bytes", source ? source : "<input>",
		                  (long)QF_MAX_INPUT_BYTES);
	char *copy = malloc(len + 1);
	if (!copy)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory reading %s", source ? source : "<input>");
	if (len)
		memcpy(copy, data, len);
	copy[len] = '\0';
	return reader_open(r, fmt, source, copy, len, err);
}

int qf_reader_new_path(qf_reader **r, const char *path, qf_format fmt, qf_err *err)
{
	*r = NULL;
	if (fmt == QF_FMT_UNKNOWN && qf_format_from_path(path) == QF_FMT_UNKNOWN)
		return qf_err_set(err, QF_CAT_VALIDATION, "input.format",
		                  "unknown format of %s: name the file .xyz, .sdf, .mol or .smi, "
		                  "or give the format (xyz, sdf, smiles)",
		                  path);
	char *data = NULL;
	size_t len = 0;
	int rc = qf_fs_read(path, (size_t)QF_MAX_INPUT_BYTES, &data, &len, err);
	if (rc)
		return rc;
	return reader_open(r, fmt, path, data, len, err);
}

void qf_reader_free(qf_reader *r)
{
	if (!r)
		return;
	free(r->data);
	free(r);
}

/* ---- SMILES lines ----------------------------------------------------------- */

/* "smiles" or "smiles name" (any case, any blanks) as the first line. */
static bool smiles_header(char *buf)
{
	char *f[3];
	int nf = qf_split_ws(buf, f, 3);
	return (nf == 1 && qf_streq_ci(f[0], "smiles")) ||
	       (nf == 2 && qf_streq_ci(f[0], "smiles") && qf_streq_ci(f[1], "name"));
}

static int smiles_next(qf_reader *r, qf_mol *m, qf_err *err)
{
	char buf[QF_MAX_LINE + 1];
	qf__line l;
	for (;;) {
		if (!qf__reader_peek(r, &l))
			return 0;
		const char *p = l.s;
		size_t n = l.n;
		while (n && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		if (qf__line_blank(&l) || *p == '#') {
			qf__reader_advance(r, &l);
			continue;
		}
		if (!r->seen_content) {
			r->seen_content = true;
			if (l.n <= QF_MAX_LINE && smiles_header(qf__line_str(&l, buf, sizeof(buf)))) {
				qf__reader_advance(r, &l);
				continue;
			}
		}
		break;
	}
	qf__reader_begin_record(r, (size_t)(l.s - r->data));
	qf__reader_end_record(r, l.next);
	int rc = qf__reader_line(r, &l, err);
	if (rc < 0)
		return rc;
	qf__line_str(&l, buf, sizeof(buf));
	char *smiles = (char *)qf_lskip(buf);
	char *rest = smiles;
	while (*rest && !isspace((unsigned char)*rest))
		rest++;
	if (*rest)
		*rest++ = '\0';
	char name[QF_MAX_NAME];
	qf__reader_name(r, rest, strlen(rest), l.no, name, sizeof(name));
	/* Embedding is unbounded in RDKit: a child process does it, under limits. */
	qf_embed_limits el = {.conformers = r->conformers};
	rc = r->no_embed ? qf_smiles_check(smiles, name, m, err) : qf_embed_one(&el, smiles, name, m, err);
	if (rc) {
		qf_err_prefix(err, "could not read %s line %ld", r->source, l.no);
		return rc;
	}
	return 1;
}

/* ---- records ---------------------------------------------------------------- */

static const struct {
	qf_format fmt;
	int (*next)(qf_reader *r, qf_mol *m, qf_err *err);
} readers[] = {
	{QF_FMT_XYZ, qf__xyz_next},
	{QF_FMT_SDF, qf__sdf_next},
	{QF_FMT_SMILES, smiles_next},
};

int qf_reader_next(qf_reader *r, qf_mol *m, qf_err *err)
{
	qf_mol_init(m);
	if (!r->can_continue)
		return 0;
	for (size_t i = 0; i < COUNT(readers); i++) {
		if (readers[i].fmt != r->fmt)
			continue;
		int rc = readers[i].next(r, m, err);
		if (rc < 0)
			qf_mol_release(m);
		return rc;
	}
	r->can_continue = false;
	return qf_err_set(err, QF_CAT_VALIDATION, "input.format", "could not read %s: unknown format",
	                  r->source);
}

bool qf_reader_can_continue(const qf_reader *r)
{
	return r->can_continue;
}

void qf_reader_set_embed(qf_reader *r, bool embed)
{
	r->no_embed = !embed;
}

void qf_reader_set_conformers(qf_reader *r, int conformers)
{
	r->conformers = conformers;
}

int qf_reader_record(const qf_reader *r)
{
	return r ? r->record : 0;
}

const char *qf_reader_record_text(const qf_reader *r, size_t *len)
{
	*len = r->rec_end - r->rec_start;
	return r->data + r->rec_start;
}

qf_format qf_reader_format(const qf_reader *r)
{
	return r->fmt;
}

/* Is there another record after the one just read? SMILES comment lines
 * and blank lines do not count. */
static bool more_records(const qf_reader *r, long *line)
{
	qf_reader probe = *r;
	qf__line l;
	while (qf__reader_peek(&probe, &l)) {
		const char *p = qf_lskip(l.s);
		bool skip = qf__line_blank(&l) || (probe.fmt == QF_FMT_SMILES && *p == '#');
		if (!skip) {
			*line = l.no;
			return true;
		}
		qf__reader_advance(&probe, &l);
	}
	return false;
}

int qf_mol_parse(qf_mol *m, qf_format fmt, const char *source, const char *data, size_t len,
                 qf_err *err)
{
	return qf_mol_parse_conformers(m, fmt, source, data, len, 1, err);
}

int qf_mol_parse_conformers(qf_mol *m, qf_format fmt, const char *source, const char *data,
                            size_t len, int conformers, qf_err *err)
{
	qf_mol_init(m);
	qf_reader *r;
	int rc = qf_reader_new_buf(&r, fmt, source, data, len, err);
	if (rc)
		return rc;
	qf_reader_set_conformers(r, conformers);
	rc = qf_reader_next(r, m, err);
	if (rc == 0) {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "input.empty", "%s holds no molecule",
		                r->source);
	} else if (rc == 1) {
		long line;
		rc = 0;
		if (more_records(r, &line)) {
			qf_mol_release(m);
			rc = qf__reader_error(r, err, line, "input.multiple",
			                      "more input after the first molecule: give one molecule "
			                      "here (several go in a batch)");
		}
	}
	qf_reader_free(r);
	return rc;
}

/* ---- writing ---------------------------------------------------------------- */

char *qf_mol_to_xyz(const qf_mol *m, const char *comment)
{
	qf_buf b;
	qf_buf_init(&b, (size_t)QF_MAX_INPUT_BYTES);
	int rc = qf_buf_printf(&b, "%d\n", m->natoms);
	/* One line: a line end inside the comment would shift every atom line. */
	for (const char *c = comment ? comment : ""; !rc && *c; c++)
		rc = qf_buf_append(&b, *c == '\n' || *c == '\r' ? " " : c, 1);
	if (!rc)
		rc = qf_buf_puts(&b, "\n");
	for (int i = 0; !rc && i < m->natoms; i++) {
		const char *sym = qf_element_symbol(m->z[i]);
		if (!sym) {
			rc = QF_EINVAL;
			break;
		}
		const double *x = m->xyz + 3 * i;
		rc = qf_buf_printf(&b, "%-2s %17.10f %17.10f %17.10f\n", sym, x[0], x[1], x[2]);
	}
	if (rc) {
		qf_buf_release(&b);
		return NULL;
	}
	return qf_buf_detach(&b, NULL);
}

int qf_mol_write_xyz(const qf_mol *m, const char *path, qf_err *err)
{
	for (int i = 0; i < m->natoms; i++)
		if (!qf_element_symbol(m->z[i]))
			return qf_err_set(err, QF_CAT_VALIDATION, "input.element",
			                  "could not write %s: atom %d has atomic number %d, which is "
			                  "not an element",
			                  path, i + 1, m->z[i]);
	char *text = qf_mol_to_xyz(m, "");
	if (!text)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory",
		                    "out of memory writing %s", path);
	int rc = qf_fs_write_atomic(path, text, strlen(text), err);
	free(text);
	return rc;
}
