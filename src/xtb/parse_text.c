/*
 * The text xtb 6.5.1 leaves behind: stdout, stderr, charges, wbo,
 * xtbopt.xyz, xtbopt.log, vibspectrum and the Turbomole gradient file.
 * See include/qf/xtbparse.h; the formats, as observed, are in the comment
 * above each parser. The structured files are parsed strictly (a malformed
 * line is an xtb.parse error naming the file and the line) and completely
 * before the result is touched; stdout and stderr are free text read for
 * known lines only.
 */
#include "qf/xtbparse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/limits.h"
#include "qf/str.h"

/* 1 e*Bohr (atomic unit of dipole) in Debye. */
#define AU_TO_DEBYE 2.541746

/* Most fields we look at on one line of an xtb file. */
#define MAX_FIELDS 16

void qf_xtb_outinfo_init(qf_xtb_outinfo *i)
{
	memset(i, 0, sizeof(*i));
	i->scc_iterations = -1;
	i->opt_cycles = -1;
}

/* ---- lines ---------------------------------------------------------------- */

typedef struct lines {
	const char *p; /* next unread byte */
	int no;        /* 1-based number of the line last returned */
} lines;

static void lines_init(lines *it, const char *text)
{
	it->p = text ? text : "";
	it->no = 0;
}

/* Copy the next line (without its newline and trailing CR) into buf. A line
 * longer than the buffer is cut and *cut set. Returns false at the end. */
static bool next_line(lines *it, char *buf, size_t size, bool *cut)
{
	if (!*it->p)
		return false;
	const char *nl = strchr(it->p, '\n');
	size_t len = nl ? (size_t)(nl - it->p) : strlen(it->p);
	*cut = len >= size;
	size_t k = *cut ? size - 1 : len;
	memcpy(buf, it->p, k);
	buf[k] = '\0';
	if (k && buf[k - 1] == '\r')
		buf[k - 1] = '\0';
	it->p += len + (nl ? 1 : 0);
	it->no++;
	return true;
}

/* Whether the line is empty or blanks only (strips trailing blanks). */
static bool blank(char *s)
{
	return *qf_lskip(qf_rstrip(s)) == '\0';
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Parse a number; Fortran writes double precision exponents with D. */
static bool number(const char *s, double *out)
{
	char tmp[64];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(tmp))
		return false;
	for (size_t i = 0; i <= n; i++)
		tmp[i] = (s[i] == 'D' || s[i] == 'd') ? 'E' : s[i];
	return qf_parse_double(tmp, out);
}

/* The first blank-separated word after key in line, as a number. */
static bool number_after(const char *line, const char *key, double *out)
{
	const char *k = strstr(line, key);
	if (!k)
		return false;
	const char *s = qf_lskip(k + strlen(key));
	char tmp[64];
	size_t n = strcspn(s, " \t");
	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return number(tmp, out);
}

static bool int_after(const char *line, const char *key, int *out)
{
	double v;
	if (!number_after(line, key, &v) || v < 0 || v > 1e9 || v != floor(v))
		return false;
	*out = (int)v;
	return true;
}

static int perr(qf_err *err, const char *file, int line, const char *what)
{
	return qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse", "could not parse %s line %d: %s", file,
	                  line, what);
}

static int nomem(qf_err *err, const char *file)
{
	return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory reading %s",
	                    file);
}

static int check_natoms(const qf_result *r, int natoms, const char *file, qf_err *err)
{
	if (natoms <= 0 || natoms > QF_MAX_ATOMS)
		return qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
		                  "could not parse %s: %d atoms is not a molecule we ran", file, natoms);
	if (r->natoms > 0 && r->natoms != natoms)
		return qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
		                  "could not parse %s: it has %d atoms, the result %d", file, natoms,
		                  r->natoms);
	return 0;
}

static void replace_d(double **dst, double *src)
{
	free(*dst);
	*dst = src;
}

/* ---- stdout ------------------------------------------------------------- */

/* Banners of the method sections, as xtb prints them, and our labels. */
static const struct {
	const char *banner;
	const char *label;
} method_banners[] = {
	{"G F N 2 - x T B", "GFN2-xTB"},
	{"G F N 1 - x T B", "GFN1-xTB"},
	{"G F N 0 - x T B", "GFN0-xTB"},
	{"G F N - F F", "GFN-FF"},
};

/* What the stdout parser is in the middle of. */
enum out_state {
	OUT_NONE = 0,
	OUT_FATAL,      /* after "[ERROR] Program stopped", collecting -N- lines */
	OUT_DIPOLE,     /* after "molecular dipole:", waiting for "full:" */
	OUT_DIPOLE_EHT, /* after "dipole moment from electron density (au)" */
	OUT_THERMO_T,   /* after the "T/K  H(0)-H(T)+PV" header, waiting for a row */
	OUT_WALL,       /* after "total:", waiting for "* wall-time:" */
};

static void append_fatal(qf_xtb_outinfo *info, const char *line)
{
	size_t have = strlen(info->fatal_message);
	if (have)
		(void)qf_snprintf(info->fatal_message + have, sizeof(info->fatal_message) - have, "; %s",
		                  line);
	else
		qf_strlcpy(info->fatal_message, line, sizeof(info->fatal_message));
}

/* "-12- source: message" */
static bool fatal_line(const char *s)
{
	if (*s != '-' || s[1] < '0' || s[1] > '9')
		return false;
	s++;
	while (*s >= '0' && *s <= '9')
		s++;
	return s[0] == '-' && s[1] == ' ';
}

/* " * wall-time:     0 d,  0 h,  0 min,  0.034 sec" */
static bool wall_time(char *line, double *out)
{
	char *f[MAX_FIELDS];
	int n = qf_split_ws(line, f, MAX_FIELDS);
	double d, h, mi, s;
	if (n != 10 || strcmp(f[1], "wall-time:") || !number(f[2], &d) || !number(f[4], &h) ||
	    !number(f[6], &mi) || !number(f[8], &s))
		return false;
	*out = d * 86400 + h * 3600 + mi * 60 + s;
	return true;
}

int qf_xtb_parse_stdout(const char *text, qf_result *r, qf_metrics *m, qf_xtb_outinfo *info)
{
	char line[QF_MAX_LINE], work[QF_MAX_LINE];
	bool cut;
	lines it;
	enum out_state st = OUT_NONE;
	int state_lines = 0;
	int last_cycle = -1;
	bool has_zpve = false, has_grrho = false, has_h = false, has_g = false, has_t = false;
	bool has_g_summary = false;
	double zpve = 0, grrho = 0, h = 0, g = 0, t = 0, g_summary = 0;
	double v;

	if (!text)
		return QF_EINVAL;
	lines_init(&it, text);
	while (next_line(&it, line, sizeof(line), &cut)) {
		qf_rstrip(line);
		const char *s = qf_lskip(line);

		/* Inside the error block as well as outside it. */
		if (strstr(s, "XTB REFUSES TO CONTINUE"))
			info->refused = true;

		/* Multi-line blocks first. */
		if (st != OUT_NONE) {
			state_lines++;
			bool done = true;
			switch (st) {
			case OUT_FATAL:
				if (fatal_line(s)) {
					append_fatal(info, s);
					done = false;
				}
				break;
			case OUT_DIPOLE:
				if (starts_with(s, "full:")) {
					qf_strlcpy(work, s, sizeof(work));
					char *f[MAX_FIELDS];
					double x, y, z, tot;
					if (qf_split_ws(work, f, MAX_FIELDS) == 5 && number(f[1], &x) &&
					    number(f[2], &y) && number(f[3], &z) && number(f[4], &tot)) {
						r->has_dipole = true;
						r->dipole[0] = x * AU_TO_DEBYE;
						r->dipole[1] = y * AU_TO_DEBYE;
						r->dipole[2] = z * AU_TO_DEBYE;
						r->dipole_debye = tot;
					}
				} else {
					done = state_lines > 4;
				}
				break;
			case OUT_DIPOLE_EHT:
				/* "     X       Y       Z" then "  0.0000  -0.0000  -0.7288  total (Debye):    1.853" */
				if (strstr(s, "total (Debye):")) {
					qf_strlcpy(work, s, sizeof(work));
					char *f[MAX_FIELDS];
					double x, y, z, tot;
					int n = qf_split_ws(work, f, MAX_FIELDS);
					if (n == 6 && number(f[0], &x) && number(f[1], &y) && number(f[2], &z) &&
					    number(f[5], &tot)) {
						r->has_dipole = true;
						r->dipole[0] = x * AU_TO_DEBYE;
						r->dipole[1] = y * AU_TO_DEBYE;
						r->dipole[2] = z * AU_TO_DEBYE;
						r->dipole_debye = tot;
					}
				} else {
					done = state_lines > 2;
				}
				break;
			case OUT_THERMO_T: {
				qf_strlcpy(work, s, sizeof(work));
				char *f[MAX_FIELDS];
				if (qf_split_ws(work, f, MAX_FIELDS) >= 1 && number(f[0], &v)) {
					has_t = true;
					t = v;
				} else {
					done = state_lines > 2;
				}
				break;
			}
			case OUT_WALL:
				qf_strlcpy(work, s, sizeof(work));
				if (wall_time(work, &v)) {
					if (m)
						m->xtb_wall_time = v;
				} else {
					done = state_lines > 2;
				}
				break;
			case OUT_NONE:
				break;
			}
			if (!done)
				continue;
			st = OUT_NONE;
		}

		if (starts_with(s, "| TOTAL ENERGY") && number_after(s, "TOTAL ENERGY", &v)) {
			r->has_energy = true;
			r->total_energy = v;
		} else if (starts_with(s, "| GRADIENT NORM") && number_after(s, "GRADIENT NORM", &v)) {
			r->has_gradient_norm = true;
			r->gradient_norm = v;
			if (m) {
				m->has_gradient_norm = true;
				m->gradient_norm = v;
			}
		} else if (starts_with(s, "| HOMO-LUMO GAP") && number_after(s, "HOMO-LUMO GAP", &v)) {
			r->has_gap = true;
			r->gap_ev = v;
		} else if (starts_with(s, ":: SCC energy") && number_after(s, "SCC energy", &v)) {
			/* The summary of each SCC; xtbout.json keeps the first one
			 * after an optimisation. */
			r->has_electronic_energy = true;
			r->electronic_energy = v;
		} else if (starts_with(s, "| TOTAL ENTHALPY") && number_after(s, "TOTAL ENTHALPY", &v)) {
			has_h = true;
			h = v;
		} else if (starts_with(s, "| TOTAL FREE ENERGY") &&
		           number_after(s, "TOTAL FREE ENERGY", &v)) {
			has_g = true;
			g = v;
		} else if (starts_with(s, ":: total free energy") &&
		           number_after(s, "total free energy", &v)) {
			has_g_summary = true;
			g_summary = v;
		} else if (starts_with(s, ":: zero point energy") &&
		           number_after(s, "zero point energy", &v)) {
			has_zpve = true;
			zpve = v;
		} else if (starts_with(s, ":: G(RRHO) contrib.") &&
		           number_after(s, "G(RRHO) contrib.", &v)) {
			has_grrho = true;
			grrho = v;
		} else if (strstr(s, "T/K") && strstr(s, "H(0)-H(T)+PV")) {
			st = OUT_THERMO_T;
		} else if (strstr(s, "convergence criteria satisfied after")) {
			info->scc_converged = true;
			int n;
			if (int_after(s, "satisfied after", &n))
				info->scc_iterations = n;
		} else if (strstr(s, "convergence criteria cannot be satisfied within")) {
			info->scc_converged = false;
			info->scc_not_converged = true;
			int n;
			if (int_after(s, "satisfied within", &n))
				info->scc_iterations = n;
		} else if (strstr(s, "GEOMETRY OPTIMIZATION CONVERGED AFTER")) {
			info->opt_converged = true;
			int n;
			if (int_after(s, "CONVERGED AFTER", &n))
				info->opt_cycles = n;
		} else if (strstr(s, "FAILED TO CONVERGE GEOMETRY OPTIMIZATION")) {
			info->opt_converged = false;
			info->opt_not_converged = true;
			int n;
			if (int_after(s, "OPTIMIZATION IN", &n))
				info->opt_cycles = n;
		} else if (starts_with(s, "....") && strstr(s, " CYCLE ")) {
			int n;
			if (int_after(s, " CYCLE ", &n) && n > last_cycle)
				last_cycle = n;
		} else if (strstr(s, "[ERROR] Program stopped due to fatal error")) {
			info->fatal_error = true;
			st = OUT_FATAL;
		} else if (strstr(s, "Hessian on incompletely optimized geometry")) {
			info->hessian_incomplete_opt = true;
		} else if (strstr(s, "recieved SIGTERM") || strstr(s, "received SIGTERM")) {
			info->sigterm_received = true;
		} else if (starts_with(s, "molecular dipole:")) {
			st = OUT_DIPOLE;
		} else if (starts_with(s, "dipole moment from electron density")) {
			st = OUT_DIPOLE_EHT;
		} else if (strcmp(s, "total:") == 0) {
			st = OUT_WALL;
		} else if (starts_with(s, "* xtb version ")) {
			if (m) {
				const char *ver = qf_lskip(s + strlen("* xtb version "));
				size_t k = strcspn(ver, " \t");
				if (k > 0 && k < sizeof(m->xtb_version)) {
					memcpy(m->xtb_version, ver, k);
					m->xtb_version[k] = '\0';
				}
			}
		} else if (*s == '|' && m) {
			for (size_t i = 0; i < sizeof(method_banners) / sizeof(method_banners[0]); i++)
				if (strstr(s, method_banners[i].banner))
					qf_strlcpy(m->method, method_banners[i].label, sizeof(m->method));
		}
		state_lines = 0;
	}

	if (info->opt_cycles < 0 && last_cycle >= 0)
		info->opt_cycles = last_cycle;
	if (m && info->scc_iterations >= 0)
		m->scf_cycles = info->scc_iterations;
	if (!has_g && has_g_summary) {
		has_g = true;
		g = g_summary;
	}
	if (has_zpve && has_grrho && has_h && has_g && has_t) {
		r->has_thermo = true;
		r->zpve = zpve;
		r->g_rrho = grrho;
		r->enthalpy = h;
		r->free_energy = g;
		r->thermo_temperature = t;
	}
	return 0;
}

/* ---- stderr ------------------------------------------------------------- */

void qf_xtb_parse_stderr(const char *text, qf_xtb_outinfo *info)
{
	char line[QF_MAX_LINE];
	bool cut;
	lines it;
	lines_init(&it, text);
	while (next_line(&it, line, sizeof(line), &cut)) {
		const char *s = qf_lskip(qf_rstrip(line));
		if (strcmp(s, "normal termination of xtb") == 0)
			info->normal_termination = true;
		else if (strcmp(s, "abnormal termination of xtb") == 0)
			info->abnormal_termination = true;
		else if (strstr(s, "recieved SIGTERM") || strstr(s, "received SIGTERM"))
			info->sigterm_received = true;
	}
}

/* ---- charges ------------------------------------------------------------ */

/* One partial charge per line, natoms lines:   "   -0.56331856" */
int qf_xtb_parse_charges(const char *text, int natoms, qf_result *r, qf_err *err)
{
	int rc = check_natoms(r, natoms, "charges", err);
	if (rc)
		return rc;
	double *q = calloc((size_t)natoms, sizeof(double));
	if (!q)
		return nomem(err, "charges");
	char line[QF_MAX_LINE];
	bool cut;
	lines it;
	int n = 0;
	lines_init(&it, text);
	while (next_line(&it, line, sizeof(line), &cut)) {
		if (cut) {
			rc = perr(err, "charges", it.no, "the line is too long");
			goto fail;
		}
		if (blank(line))
			continue;
		char *f[2];
		if (qf_split_ws(line, f, 2) != 1) {
			rc = perr(err, "charges", it.no, "expected one number");
			goto fail;
		}
		if (n >= natoms) {
			rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
			                "could not parse charges: more lines than the %d atoms", natoms);
			goto fail;
		}
		if (!number(f[0], &q[n])) {
			rc = perr(err, "charges", it.no, "not a number");
			goto fail;
		}
		n++;
	}
	if (n != natoms) {
		rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
		                "could not parse charges: %d charges for %d atoms", n, natoms);
		goto fail;
	}
	r->natoms = natoms;
	replace_d(&r->charges, q);
	return 0;
fail:
	free(q);
	return rc;
}

/* ---- wbo ---------------------------------------------------------------- */

/* Wiberg bond orders above 0.1, one pair per line, 1-based atoms:
 *   "           1           2  0.92020003491551594     " */
int qf_xtb_parse_wbo(const char *text, int natoms, qf_result *r, qf_err *err)
{
	int rc = check_natoms(r, natoms, "wbo", err);
	if (rc)
		return rc;
	size_t cap = 1;
	for (const char *p = text ? text : ""; *p; p++)
		cap += *p == '\n';
	long maxpairs = (long)natoms * (natoms - 1) / 2;
	if ((long)cap > maxpairs)
		cap = maxpairs > 0 ? (size_t)maxpairs : 1;
	qf_bond *b = calloc(cap, sizeof(qf_bond));
	if (!b)
		return nomem(err, "wbo");
	char line[QF_MAX_LINE];
	bool cut;
	lines it;
	int n = 0;
	lines_init(&it, text);
	while (next_line(&it, line, sizeof(line), &cut)) {
		if (cut) {
			rc = perr(err, "wbo", it.no, "the line is too long");
			goto fail;
		}
		if (blank(line))
			continue;
		char *f[4];
		long i, j;
		double order;
		if (qf_split_ws(line, f, 4) != 3) {
			rc = perr(err, "wbo", it.no, "expected 'atom atom order'");
			goto fail;
		}
		if (!qf_parse_int(f[0], 1, natoms, &i) || !qf_parse_int(f[1], 1, natoms, &j) || i == j) {
			rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
			                "could not parse wbo line %d: atoms must be two different numbers "
			                "from 1 to %d", it.no, natoms);
			goto fail;
		}
		if (!number(f[2], &order)) {
			rc = perr(err, "wbo", it.no, "the bond order is not a number");
			goto fail;
		}
		if ((size_t)n >= cap) {
			rc = perr(err, "wbo", it.no, "more bonds than atom pairs");
			goto fail;
		}
		b[n].i = (int)(i < j ? i : j) - 1;
		b[n].j = (int)(i < j ? j : i) - 1;
		b[n].order = order;
		n++;
	}
	r->natoms = natoms;
	free(r->bonds);
	r->bonds = b;
	r->nbonds = n;
	return 0;
fail:
	free(b);
	return rc;
}

/* ---- XYZ geometry (xtbopt.xyz) ------------------------------------------ */

/* One XYZ record read from it: count, comment, count atom lines. With
 * z/xyz NULL only checks them. Returns 0, 1 at a clean end of text (no
 * record), or an error. */
static int xyz_record(lines *it, const char *file, int *natoms, int *z, double *xyz,
                      char *comment, size_t comment_size, qf_err *err)
{
	char line[QF_MAX_LINE];
	bool cut;
	long n;
	/* the count line (blank lines between records are tolerated) */
	for (;;) {
		if (!next_line(it, line, sizeof(line), &cut))
			return 1;
		if (cut)
			return perr(err, file, it->no, "the line is too long");
		if (!blank(line))
			break;
	}
	if (!qf_parse_int(qf_lskip(line), 1, QF_MAX_ATOMS, &n))
		return perr(err, file, it->no, "expected the number of atoms");
	if (*natoms > 0 && n != *natoms)
		return qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
		                  "could not parse %s line %d: %ld atoms, expected %d", file, it->no, n,
		                  *natoms);
	if (*natoms <= 0)
		return perr(err, file, it->no, "the number of atoms is not known");
	if (!next_line(it, line, sizeof(line), &cut))
		return perr(err, file, it->no + 1, "the comment line is missing");
	if (comment)
		qf_strlcpy(comment, line, comment_size);
	for (int a = 0; a < n; a++) {
		char *f[5];
		double c[3];
		if (!next_line(it, line, sizeof(line), &cut))
			return qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
			                  "could not parse %s: it ends after %d of %ld atoms", file, a, n);
		if (cut)
			return perr(err, file, it->no, "the line is too long");
		if (qf_split_ws(line, f, 5) != 4)
			return perr(err, file, it->no, "expected 'element x y z'");
		int zz = qf_element_from_symbol(f[0]);
		if (zz <= 0)
			return perr(err, file, it->no, "unknown element");
		for (int k = 0; k < 3; k++)
			if (!number(f[k + 1], &c[k]))
				return perr(err, file, it->no, "a coordinate is not a number");
		if (z)
			z[a] = zz;
		if (xyz)
			memcpy(xyz + 3 * a, c, sizeof(c));
	}
	return 0;
}

/* Peek at the atom count of the first record (for natoms <= 0). */
static int xyz_count(const char *text, const char *file, int *natoms, qf_err *err)
{
	char line[QF_MAX_LINE];
	bool cut;
	lines it;
	long n;
	lines_init(&it, text);
	while (next_line(&it, line, sizeof(line), &cut)) {
		if (blank(line))
			continue;
		if (cut || !qf_parse_int(qf_lskip(line), 1, QF_MAX_ATOMS, &n))
			return perr(err, file, it.no, "expected the number of atoms");
		*natoms = (int)n;
		return 0;
	}
	return qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse", "could not parse %s: it is empty", file);
}

int qf_xtb_parse_xyz_geometry(const char *text, int natoms, qf_result *r, qf_err *err)
{
	int rc;
	if (natoms <= 0 && (rc = xyz_count(text, "xtbopt.xyz", &natoms, err)))
		return rc;
	if ((rc = check_natoms(r, natoms, "xtbopt.xyz", err)))
		return rc;
	int *z = calloc((size_t)natoms, sizeof(int));
	double *xyz = calloc(3 * (size_t)natoms, sizeof(double));
	if (!z || !xyz) {
		rc = nomem(err, "xtbopt.xyz");
		goto fail;
	}
	lines it;
	lines_init(&it, text);
	rc = xyz_record(&it, "xtbopt.xyz", &natoms, z, xyz, NULL, 0, err);
	if (rc == 1)
		rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse", "could not parse xtbopt.xyz: it is empty");
	if (rc)
		goto fail;
	char line[QF_MAX_LINE];
	bool cut;
	while (next_line(&it, line, sizeof(line), &cut)) {
		if (!blank(line)) {
			rc = perr(err, "xtbopt.xyz", it.no, "unexpected text after the last atom");
			goto fail;
		}
	}
	r->natoms = natoms;
	free(r->z);
	r->z = z;
	replace_d(&r->geometry, xyz);
	return 0;
fail:
	free(z);
	free(xyz);
	return rc;
}

/* ---- xtbopt.log ----------------------------------------------------------- */

/* The optimisation trajectory: XYZ records whose comment is
 *   " energy: -5.070325128562 gnorm: 0.008098996345 xtb: 6.5.1 (unknown)" */
int qf_xtb_parse_optlog(const char *text, qf_result *r, qf_err *err)
{
	int natoms = 0, rc;
	if ((rc = xyz_count(text, "xtbopt.log", &natoms, err)))
		return rc;
	int cap = 16, n = 0;
	double *e = malloc((size_t)cap * sizeof(double));
	double gnorm = 0;
	bool has_gnorm = false;
	if (!e)
		return nomem(err, "xtbopt.log");
	lines it;
	lines_init(&it, text);
	char comment[QF_MAX_LINE];
	for (;;) {
		int frame_line = it.no + 2;
		rc = xyz_record(&it, "xtbopt.log", &natoms, NULL, NULL, comment, sizeof(comment), err);
		if (rc == 1)
			break;
		if (rc)
			goto fail;
		double v;
		if (!number_after(comment, "energy:", &v)) {
			rc = perr(err, "xtbopt.log", frame_line, "the comment has no 'energy:'");
			goto fail;
		}
		if (n == cap) {
			double *p = realloc(e, (size_t)cap * 2 * sizeof(double));
			if (!p) {
				rc = nomem(err, "xtbopt.log");
				goto fail;
			}
			e = p;
			cap *= 2;
		}
		e[n++] = v;
		has_gnorm = number_after(comment, "gnorm:", &gnorm);
	}
	r->nopt = n;
	replace_d(&r->opt_energies, e);
	if (has_gnorm && !r->has_gradient_norm) {
		r->has_gradient_norm = true;
		r->gradient_norm = gnorm;
	}
	return 0;
fail:
	free(e);
	return rc;
}

/* ---- vibspectrum ---------------------------------------------------------- */

/* $vibrational spectrum
 * #  mode     symmetry     wave number   IR intensity    selection rules
 * #                         cm**(-1)      (km*mol⁻¹)       IR     RAMAN
 *      1                      -0.00         0.00000        -       -
 *      7        a           1540.86       133.37712       YES     YES
 * $end
 * The symmetry column is empty for the translation/rotation modes. */
int qf_xtb_parse_vibspectrum(const char *text, qf_result *r, qf_err *err)
{
	size_t cap = 1;
	for (const char *p = text ? text : ""; *p; p++)
		cap += *p == '\n';
	if (cap > 3 * (size_t)QF_MAX_ATOMS)
		cap = 3 * (size_t)QF_MAX_ATOMS;
	double *freq = calloc(cap, sizeof(double));
	double *ir = calloc(cap, sizeof(double));
	int rc = 0, n = 0;
	bool header = false, end = false;
	if (!freq || !ir) {
		rc = nomem(err, "vibspectrum");
		goto fail;
	}
	char line[QF_MAX_LINE];
	bool cut;
	lines it;
	lines_init(&it, text);
	while (next_line(&it, line, sizeof(line), &cut)) {
		if (cut) {
			rc = perr(err, "vibspectrum", it.no, "the line is too long");
			goto fail;
		}
		const char *s = qf_lskip(qf_rstrip(line));
		if (!*s || *s == '#')
			continue;
		if (end) {
			rc = perr(err, "vibspectrum", it.no, "unexpected text after $end");
			goto fail;
		}
		if (!header) {
			if (!starts_with(s, "$vibrational spectrum")) {
				rc = perr(err, "vibspectrum", it.no, "expected '$vibrational spectrum'");
				goto fail;
			}
			header = true;
			continue;
		}
		if (starts_with(s, "$end")) {
			end = true;
			continue;
		}
		char *f[8];
		long mode;
		int k = qf_split_ws(line, f, 8);
		if (k != 5 && k != 6) {
			rc = perr(err, "vibspectrum", it.no,
			          "expected 'mode [symmetry] wavenumber intensity IR RAMAN'");
			goto fail;
		}
		if (!qf_parse_int(f[0], 1, 3L * QF_MAX_ATOMS, &mode) || mode != n + 1 || (size_t)n >= cap) {
			rc = perr(err, "vibspectrum", it.no, "modes must be numbered 1, 2, 3, ...");
			goto fail;
		}
		if (!number(f[k - 4], &freq[n]) || !number(f[k - 3], &ir[n])) {
			rc = perr(err, "vibspectrum", it.no, "the wave number or intensity is not a number");
			goto fail;
		}
		n++;
	}
	if (!header || !end || n == 0) {
		rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
		                "could not parse vibspectrum: %s",
		                !header ? "it is empty" : n == 0 ? "it has no modes" : "'$end' is missing");
		goto fail;
	}
	if (r->reduced_masses && r->nfreq != n) {
		free(r->reduced_masses);
		r->reduced_masses = NULL;
	}
	r->nfreq = n;
	replace_d(&r->frequencies, freq);
	replace_d(&r->ir_intensities, ir);
	r->n_imaginary = qf_xtb_count_imaginary(r->frequencies, n);
	return 0;
fail:
	free(freq);
	free(ir);
	return rc;
}

/* ---- gradient -------------------------------------------------------------- */

/* Turbomole format, written by --grad (coordinates in Bohr, gradient in
 * Eh/Bohr, Fortran may write D exponents):
 *   $grad
 *     cycle =      1    SCF energy =    -5.07032512856   |dE/dxyz| =  0.008099
 *       0.00000000000000      0.00000000000000      0.22259084021904      O
 *      (natoms coordinate lines, then natoms gradient lines)
 *     -1.4453649948352E-18  -3.7858113423857E-16   3.6377058406331E-03
 *   $end
 * When the file holds several cycles the last one is taken. */
int qf_xtb_parse_gradient(const char *text, int natoms, qf_result *r, qf_err *err)
{
	int rc = check_natoms(r, natoms, "gradient", err);
	if (rc)
		return rc;
	double *g = calloc(3 * (size_t)natoms, sizeof(double));
	if (!g)
		return nomem(err, "gradient");
	char line[QF_MAX_LINE];
	bool cut, header = false, end = false, any = false;
	lines it;
	lines_init(&it, text);
	while (next_line(&it, line, sizeof(line), &cut)) {
		if (cut) {
			rc = perr(err, "gradient", it.no, "the line is too long");
			goto fail;
		}
		const char *s = qf_lskip(qf_rstrip(line));
		if (!*s)
			continue;
		if (end) {
			rc = perr(err, "gradient", it.no, "unexpected text after $end");
			goto fail;
		}
		if (!header) {
			if (strcmp(s, "$grad") != 0) {
				rc = perr(err, "gradient", it.no, "expected '$grad'");
				goto fail;
			}
			header = true;
			continue;
		}
		if (strcmp(s, "$end") == 0) {
			end = true;
			continue;
		}
		if (!starts_with(s, "cycle =")) {
			rc = perr(err, "gradient", it.no, "expected 'cycle = ...'");
			goto fail;
		}
		for (int a = 0; a < 2 * natoms; a++) {
			char *f[5];
			if (!next_line(&it, line, sizeof(line), &cut)) {
				rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse",
				                "could not parse gradient: it ends inside a cycle of %d atoms",
				                natoms);
				goto fail;
			}
			if (cut) {
				rc = perr(err, "gradient", it.no, "the line is too long");
				goto fail;
			}
			int k = qf_split_ws(line, f, 5);
			double c[3];
			bool coord = a < natoms;
			if (k != (coord ? 4 : 3) || !number(f[0], &c[0]) || !number(f[1], &c[1]) ||
			    !number(f[2], &c[2]) || (coord && qf_element_from_symbol(f[3]) <= 0)) {
				rc = perr(err, "gradient", it.no,
				          coord ? "expected 'x y z element'" : "expected three numbers");
				goto fail;
			}
			if (!coord)
				memcpy(g + 3 * (a - natoms), c, sizeof(c));
		}
		any = true;
	}
	if (!header || !end || !any) {
		rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.parse", "could not parse gradient: %s",
		                !header ? "it is empty" : !any ? "it has no cycle" : "'$end' is missing");
		goto fail;
	}
	r->natoms = natoms;
	replace_d(&r->gradient, g);
	return 0;
fail:
	free(g);
	return rc;
}
