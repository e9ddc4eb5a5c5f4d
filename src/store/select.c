/*
 * Queries over the views (include/qf/query.h): the views' columns (the
 * allow-list) with where each comes from, the SQL written from a parsed
 * qf_query, and the rows streamed to a callback.
 *
 * The SQL, for the calculations view:
 *
 *   SELECT calculations.id, <columns>
 *   FROM calculations
 *   LEFT JOIN (SELECT id, name, ... FROM molecules WHERE <scope>) m
 *          ON m.id = calculations.molecule_id
 *   LEFT JOIN (SELECT molecule_id, ... FROM molecule_properties_computed
 *              WHERE <scope>) p ON p.molecule_id = calculations.molecule_id
 *   LEFT JOIN (SELECT calculation_id, attempt, ... FROM
 *              calculation_execution_metrics WHERE <scope>) x
 *          ON x.calculation_id = calculations.id AND x.attempt = calculations.attempt
 *   WHERE <scope of calculations> AND (<filter>)
 *   ORDER BY <order> NULLS FIRST|LAST, calculations.id LIMIT ? OFFSET ?
 *
 * Every table is scoped by scope.c for the actor (the joined ones inside
 * their subqueries, which expose no owner column, so the outer scope's
 * unqualified columns are the main table's), so a row of another user never
 * appears, not even as a joined column; both SQLite and PostgreSQL flatten
 * the subqueries into the join. Only the joins a query needs are written.
 * Every value is a bound parameter; names come from the tables below.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qf/query.h"
#include "qf/str.h"
#include "store_int.h"

/* ---- the views ---------------------------------------------------------------- */

/* Where a column comes from: the view's main table, or a join. */
enum { J_MAIN = 0, J_MOL, J_PROPS, J_METRICS, J_N };

typedef struct vcol {
	qf_qcolumn c;
	int join;
	const char *col; /* column of that table */
} vcol;

#define D QF_QCOL_DEFAULT
#define TXT QF_QT_TEXT
#define INT QF_QT_INT
#define REAL QF_QT_REAL
#define BOOL QF_QT_BOOL
#define UUID QF_QT_UUID
#define TIME QF_QT_TIME

/* The descriptors, shared by both views. */
#define DESCRIPTOR_COLUMNS                                                                          \
	{{"molecular_weight_g_mol", "mw molecular_weight", REAL, "g/mol",                              \
	  "molecular weight (RDKit Descriptors.MolWt)", D}, J_PROPS, "molecular_weight"},               \
	{{"logp", "", REAL, NULL, "Crippen logP (Descriptors.MolLogP)", D}, J_PROPS, "logp"},          \
	{{"hydrogen_bond_donors", "hbd", INT, NULL, "H-bond donors (Descriptors.NumHDonors)", D},      \
	 J_PROPS, "hydrogen_bond_donors"},                                                            \
	{{"hydrogen_bond_acceptors", "hba", INT, NULL, "H-bond acceptors (Descriptors.NumHAcceptors)",  \
	  D}, J_PROPS, "hydrogen_bond_acceptors"},                                                     \
	{{"rotatable_bonds", "rotb", INT, NULL, "rotatable bonds (Descriptors.NumRotatableBonds)", D},  \
	 J_PROPS, "rotatable_bonds"},                                                                 \
	{{"topological_polar_surface_area_a2", "tpsa topological_polar_surface_area", REAL, "A^2",      \
	  "topological polar surface area (Descriptors.TPSA)", D}, J_PROPS,                           \
	 "topological_polar_surface_area"},                                                           \
	{{"molar_refractivity_cm3_mol", "mr molar_refractivity", REAL, "cm^3/mol",                      \
	  "Crippen molar refractivity (Descriptors.MolMR)", D}, J_PROPS, "molar_refractivity"},        \
	{{"canonical_smiles", "", TXT, NULL, "RDKit's canonical SMILES", 0}, J_PROPS,                  \
	 "canonical_smiles"},                                                                         \
	{{"descriptor_source", "", TXT, NULL, "what the descriptors were computed from: smiles, "      \
	  "molblock, geometry", 0}, J_PROPS, "descriptor_source"},                                    \
	{{"descriptor_error", "", TXT, NULL, "why a molecule has no descriptors (error code)", 0},      \
	 J_PROPS, "error_code"}

static const vcol calc_cols[] = {
	{{"id", "calculation_id", UUID, NULL, "the calculation (= the job id)", D}, J_MAIN, "id"},
	{{"molecule_id", "", UUID, NULL, "its molecule", 0}, J_MAIN, "molecule_id"},
	{{"batch_id", "", UUID, NULL, "its batch", 0}, J_MAIN, "batch_id"},
	{{"name", "molecule_name", TXT, NULL, "the molecule's name", D}, J_MOL, "name"},
	{{"formula", "", TXT, NULL, "Hill formula", D}, J_MOL, "formula"},
	{{"natoms", "", INT, NULL, "atoms", D}, J_MOL, "natoms"},
	{{"charge", "", INT, "e", "total charge as run", 0}, J_MAIN, "charge"},
	{{"uhf", "", INT, NULL, "unpaired electrons as run", 0}, J_MAIN, "uhf"},
	{{"smiles", "input_smiles", TXT, NULL, "the SMILES the molecule came from", 0}, J_MOL, "smiles"},
	{{"method", "", TXT, NULL, "gfn2, gfn1, gfn0, gfnff", D}, J_MAIN, "method"},
	{{"task", "", TXT, NULL, "sp, opt, hess, ohess", D}, J_MAIN, "task"},
	{{"optimization_level", "level", TXT, NULL, "optimisation level", 0}, J_MAIN,
	 "optimization_level"},
	{{"solvation_model", "", TXT, NULL, "alpb, gbsa or none", 0}, J_MAIN, "solvation_model"},
	{{"solvent", "", TXT, NULL, "solvent", 0}, J_MAIN, "solvent"},
	{{"status", "", TXT, NULL, "queued, running, completed, failed, cancelled", D}, J_MAIN, "status"},
	{{"attempt", "", INT, NULL, "attempts so far", 0}, J_MAIN, "attempt"},
	{{"is_converged", "converged", BOOL, NULL, "SCC and geometry converged", 0}, J_MAIN,
	 "is_converged"},
	{{"xtb_version", "", TXT, NULL, "xtb version", 0}, J_MAIN, "xtb_version"},
	{{"error_category", "", TXT, NULL, "why it failed: validation, timeout, convergence, system, "
	  "unknown", 0}, J_MAIN, "error_category"},
	{{"error_code", "", TXT, NULL, "stable error code", 0}, J_MAIN, "error_code"},
	{{"total_energy_hartree", "energy total_energy", REAL, "Eh", "total energy", D}, J_MAIN,
	 "total_energy"},
	{{"homo_lumo_gap_ev", "gap homo_lumo_gap", REAL, "eV", "HOMO-LUMO gap", D}, J_MAIN,
	 "homo_lumo_gap"},
	{{"dipole_moment_debye", "dipole dipole_moment", REAL, "D", "dipole moment", 0}, J_MAIN,
	 "dipole_moment"},
	{{"gradient_norm_hartree_bohr", "gnorm gradient_norm", REAL, "Eh/Bohr", "final gradient norm",
	  0}, J_MAIN, "gradient_norm"},
	DESCRIPTOR_COLUMNS,
	{{"wall_time_seconds", "wall_time", REAL, "s", "wall time of the attempt", 0}, J_METRICS,
	 "wall_time_seconds"},
	{{"cpu_time_seconds", "cpu_time", REAL, "s", "CPU time of the attempt", 0}, J_METRICS,
	 "cpu_time_seconds"},
	{{"memory_peak_mb", "memory", REAL, "MiB", "peak memory of the attempt", 0}, J_METRICS,
	 "memory_peak_mb"},
	{{"scf_cycles", "scc_cycles", INT, NULL, "SCC iterations (last SCC)", 0}, J_METRICS,
	 "scf_cycles"},
	{{"optimization_cycles", "opt_cycles", INT, NULL, "optimisation cycles", 0}, J_METRICS,
	 "optimization_cycles"},
	{{"created_at", "", TIME, NULL, "when it was submitted", 0}, J_MAIN, "created_at"},
	{{"finished_at", "", TIME, NULL, "when it ended", 0}, J_MAIN, "finished_at"},
};

static const vcol mol_cols[] = {
	{{"id", "molecule_id", UUID, NULL, "the molecule", D}, J_MAIN, "id"},
	{{"name", "molecule_name", TXT, NULL, "name", D}, J_MAIN, "name"},
	{{"formula", "", TXT, NULL, "Hill formula", D}, J_MAIN, "formula"},
	{{"natoms", "", INT, NULL, "atoms", D}, J_MAIN, "natoms"},
	{{"charge", "", INT, "e", "total charge", 0}, J_MAIN, "charge"},
	{{"uhf", "", INT, NULL, "unpaired electrons", 0}, J_MAIN, "uhf"},
	{{"smiles", "input_smiles", TXT, NULL, "the SMILES it came from", 0}, J_MAIN, "smiles"},
	{{"input_format", "", TXT, NULL, "xyz, sdf, smiles", 0}, J_MAIN, "input_format"},
	DESCRIPTOR_COLUMNS,
	{{"created_at", "", TIME, NULL, "when it was first stored", 0}, J_MAIN, "created_at"},
};

struct qf_qview {
	const char *name;
	const char *table; /* main table */
	const vcol *cols;
	int ncols;
	bool atoms;
};

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct qf_qview views[] = {
	{"calculations", "calculations", calc_cols, N(calc_cols), true},
	{"molecules", "molecules", mol_cols, N(mol_cols), false},
};

const qf_qview *qf_store_view(const char *name)
{
	for (int i = 0; name && i < N(views); i++)
		if (!strcmp(views[i].name, name))
			return &views[i];
	return NULL;
}

const char *qf_qview_name(const qf_qview *v)
{
	return v->name;
}

int qf_qview_ncols(const qf_qview *v)
{
	return v->ncols;
}

const qf_qcolumn *qf_qview_column(const qf_qview *v, int i)
{
	return i >= 0 && i < v->ncols ? &v->cols[i].c : NULL;
}

bool qf_qview_has_atoms(const qf_qview *v)
{
	return v->atoms;
}

static bool word_in(const char *list, const char *name, size_t len)
{
	for (const char *p = list; *p;) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if ((size_t)(e - p) == len && len && !memcmp(p, name, len))
			return true;
		p = e;
	}
	return false;
}

int qf_qview_find(const qf_qview *v, const char *name, size_t len)
{
	for (int i = 0; i < v->ncols; i++) {
		const qf_qcolumn *c = &v->cols[i].c;
		if ((strlen(c->name) == len && !memcmp(c->name, name, len)) || word_in(c->aliases, name, len))
			return i;
	}
	return -1;
}

/* ---- SQL ----------------------------------------------------------------------- */

static const char *const join_alias[J_N] = {NULL, "m", "p", "x"};

/* The column expression of view column i. */
static void col_expr(qf__query *sql, const qf_qview *v, int i)
{
	const vcol *c = &v->cols[i];
	if (c->join == J_MAIN)
		qf__query_sql(sql, "%s.\"%s\"", v->table, c->col);
	else
		qf__query_sql(sql, "%s.\"%s\"", join_alias[c->join], c->col);
}

/* The joins q needs (and those asked for besides). */
static void needed_joins(const qf_query *q, const qf_select_cb *cb, bool geometry, bool need[J_N])
{
	const qf_qview *v = q->view;
	memset(need, 0, sizeof(bool) * J_N);
	for (int i = 0; i < qf_query_nselected(q); i++) {
		const qf_qcolumn *c = qf_query_selected(q, i, NULL);
		need[((const vcol *)c)->join] = true; /* c is the first member of its vcol */
	}
	for (int i = 0; cb && i < cb->nextra; i++)
		if (cb->extra[i] >= 0 && cb->extra[i] < v->ncols)
			need[v->cols[cb->extra[i]].join] = true;
	for (int i = 0; i < q->nnodes; i++)
		if (q->nodes[i].kind == QF_QN_COND)
			need[v->cols[q->nodes[i].col].join] = true;
	for (int i = 0; i < q->norder; i++)
		need[v->cols[q->order[i].col].join] = true;
	if (geometry)
		need[J_MOL] = true;
}

static void from_clause(qf__query *sql, const qf_qview *v, const qf_actor *a, const bool need[J_N])
{
	bool calc = !strcmp(v->table, "calculations");
	qf__query_sql(sql, " FROM %s", v->table);
	if (need[J_MOL] && calc) {
		qf__query_sql(sql, " LEFT JOIN (SELECT id, name, formula, natoms, smiles, atomic_numbers, "
		                   "coordinates FROM molecules WHERE ");
		qf__scope_where(sql, qf__catalog_find("molecules"), a, QF__OP_READ);
		qf__query_sql(sql, ") m ON m.id = calculations.molecule_id");
	}
	if (need[J_PROPS]) {
		qf__query_sql(sql, " LEFT JOIN (SELECT molecule_id, molecular_weight, logp, "
		                   "hydrogen_bond_donors, hydrogen_bond_acceptors, rotatable_bonds, "
		                   "topological_polar_surface_area, molar_refractivity, canonical_smiles, "
		                   "descriptor_source, error_code FROM molecule_properties_computed WHERE ");
		qf__scope_where(sql, qf__catalog_find("molecule_properties_computed"), a, QF__OP_READ);
		qf__query_sql(sql, ") p ON p.molecule_id = %s", calc ? "calculations.molecule_id" : "molecules.id");
	}
	if (need[J_METRICS] && calc) {
		qf__query_sql(sql, " LEFT JOIN (SELECT calculation_id, attempt, wall_time_seconds, "
		                   "cpu_time_seconds, memory_peak_mb, scf_cycles, optimization_cycles FROM "
		                   "calculation_execution_metrics WHERE ");
		qf__scope_where(sql, qf__catalog_find("calculation_execution_metrics"), a, QF__OP_READ);
		qf__query_sql(sql, ") x ON x.calculation_id = calculations.id AND x.attempt = "
		                   "calculations.attempt");
	}
}

static void bind_value(qf__query *sql, const qf_qvalue *v)
{
	switch (v->type) {
	case QF_QT_REAL: qf__query_real(sql, v->d); break;
	case QF_QT_INT: qf__query_int(sql, v->i); break;
	case QF_QT_BOOL: qf__query_bool(sql, v->b); break;
	default: qf__query_text(sql, v->s); break;
	}
}

/* A LIKE pattern ('*' or '%': any run, '_': one character) for SQLite's
 * GLOB, which is case-sensitive like PostgreSQL's LIKE (SQLite's LIKE is
 * not): '*' and '?' wildcards, literal '*', '?', '[' in brackets. */
static char *glob_pattern(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *o = out;
	if (!out)
		return NULL;
	for (const char *p = s; *p; p++) {
		if (*p == '*' || *p == '%') {
			*o++ = '*';
		} else if (*p == '_') {
			*o++ = '?';
		} else if (*p == '?' || *p == '[') {
			*o++ = '[';
			*o++ = *p;
			*o++ = ']';
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

static char *like_pattern(const char *s)
{
	char *out = strdup(s);
	for (char *p = out; p && *p; p++)
		if (*p == '*')
			*p = '%';
	return out;
}

static void where_node(qf__query *sql, const qf_query *q, int n)
{
	const qf_qnode *nd = &q->nodes[n];
	if (nd->kind == QF_QN_AND || nd->kind == QF_QN_OR) {
		qf__query_sql(sql, "(");
		for (int c = nd->child, k = 0; c >= 0; c = q->nodes[c].next, k++) {
			if (k)
				qf__query_sql(sql, nd->kind == QF_QN_AND ? " AND " : " OR ");
			where_node(sql, q, c);
		}
		qf__query_sql(sql, ")");
		return;
	}
	if (nd->kind == QF_QN_NOT) {
		qf__query_sql(sql, "(NOT ");
		where_node(sql, q, nd->child);
		qf__query_sql(sql, ")");
		return;
	}
	static const char *const cmp[] = {
		[QF_QOP_EQ] = " = ", [QF_QOP_NEQ] = " <> ", [QF_QOP_LT] = " < ",
		[QF_QOP_LTE] = " <= ", [QF_QOP_GT] = " > ", [QF_QOP_GTE] = " >= ",
	};
	bool pg = sql->dialect == QF__PG;
	qf__query_sql(sql, "(");
	col_expr(sql, q->view, nd->col);
	const qf_qvalue *v = nd->value >= 0 ? &q->values[nd->value] : NULL;
	switch (nd->op) {
	case QF_QOP_EQ:
	case QF_QOP_NEQ:
	case QF_QOP_LT:
	case QF_QOP_LTE:
	case QF_QOP_GT:
	case QF_QOP_GTE:
		qf__query_sql(sql, "%s", cmp[nd->op]);
		bind_value(sql, v);
		break;
	case QF_QOP_LIKE:
		qf__query_sql(sql, pg ? " LIKE " : " GLOB ");
		qf__query_text_take(sql, pg ? like_pattern(v->s) : glob_pattern(v->s));
		break;
	case QF_QOP_ILIKE:
		qf__query_sql(sql, pg ? " ILIKE " : " LIKE ");
		qf__query_text_take(sql, like_pattern(v->s));
		break;
	case QF_QOP_IN:
		qf__query_sql(sql, " IN (");
		for (int i = 0; i < nd->nvalues; i++) {
			if (i)
				qf__query_sql(sql, ", ");
			bind_value(sql, &q->values[nd->value + i]);
		}
		qf__query_sql(sql, ")");
		break;
	case QF_QOP_IS_NULL: qf__query_sql(sql, " IS NULL"); break;
	case QF_QOP_NOT_NULL: qf__query_sql(sql, " IS NOT NULL"); break;
	case QF_QOP_IS_TRUE: qf__query_sql(sql, " IS TRUE"); break;
	case QF_QOP_IS_FALSE: qf__query_sql(sql, " IS FALSE"); break;
	}
	qf__query_sql(sql, ")");
}

static void where_clause(qf__query *sql, const qf_query *q, const qf_actor *a)
{
	qf__query_sql(sql, " WHERE ");
	qf__scope_where(sql, qf__catalog_find(q->view->table), a, QF__OP_READ);
	if (q->root >= 0) {
		qf__query_sql(sql, " AND ");
		where_node(sql, q, q->root);
	}
}

/* Columns of the result: the main id, the selected ones, the extra ones,
 * and with geometry the molecule's atomic numbers and coordinates. */
static int select_sql(qf__query *sql, const qf_query *q, const qf_actor *a, const qf_select_cb *cb,
                      bool geometry)
{
	const qf_qview *v = q->view;
	bool need[J_N];
	needed_joins(q, cb, geometry, need);
	qf__query_sql(sql, "SELECT %s.id", v->table);
	for (int i = 0; i < qf_query_nselected(q); i++) {
		const qf_qcolumn *c = qf_query_selected(q, i, NULL);
		qf__query_sql(sql, ", ");
		col_expr(sql, v, (int)((const vcol *)c - v->cols));
	}
	for (int i = 0; cb && i < cb->nextra; i++) {
		qf__query_sql(sql, ", ");
		col_expr(sql, v, cb->extra[i]);
	}
	if (geometry)
		qf__query_sql(sql, ", m.atomic_numbers, m.coordinates");
	from_clause(sql, v, a, need);
	where_clause(sql, q, a);
	qf__query_sql(sql, " ORDER BY ");
	for (int i = 0; i < q->norder; i++) {
		col_expr(sql, v, q->order[i].col);
		qf__query_sql(sql, " %s NULLS %s, ", q->order[i].desc ? "DESC" : "ASC",
		              q->order[i].nulls_first ? "FIRST" : "LAST");
	}
	qf__query_sql(sql, "%s.id", v->table);
	if (q->limit >= 0) {
		qf__query_sql(sql, " LIMIT ");
		qf__query_int(sql, q->limit);
	} else if (q->offset > 0 && sql->dialect == QF__SQLITE) {
		qf__query_sql(sql, " LIMIT -1");
	}
	if (q->offset > 0) {
		qf__query_sql(sql, " OFFSET ");
		qf__query_int(sql, q->offset);
	}
	return 0;
}

static void count_sql(qf__query *sql, const qf_query *q, const qf_actor *a)
{
	bool need[J_N];
	needed_joins(q, NULL, false, need);
	for (int i = 0; i < J_N; i++) /* only the filter's joins count */
		need[i] = false;
	for (int i = 0; i < q->nnodes; i++)
		if (q->nodes[i].kind == QF_QN_COND)
			need[q->view->cols[q->nodes[i].col].join] = true;
	qf__query_sql(sql, "SELECT count(*)");
	from_clause(sql, q->view, a, need);
	where_clause(sql, q, a);
}

/* ---- rows ---------------------------------------------------------------------- */

typedef struct reader {
	const qf_qview *v;
	int ncols;           /* selected + extra */
	int *colidx;         /* their view columns */
	qf_qcell *cells;
	char (*times)[QF_TIME_STR];
	/* atoms */
	qf__stmt *atoms_st;
	qf__query atoms_q;
	int cap;
	int *z;
	double *xyz, *charge, *force;
} reader;

static void read_cells(reader *r, qf__stmt *st)
{
	for (int i = 0; i < r->ncols; i++) {
		qf_qcell *c = &r->cells[i];
		int k = i + 1;
		memset(c, 0, sizeof(*c));
		if (qf__stmt_col_null(st, k)) {
			c->null = true;
			continue;
		}
		switch (r->v->cols[r->colidx[i]].c.type) {
		case QF_QT_REAL:
			c->d = qf__stmt_col_double(st, k);
			c->null = !isfinite(c->d);
			break;
		case QF_QT_INT: c->i = qf__stmt_col_int64(st, k); break;
		case QF_QT_BOOL: c->b = qf__stmt_col_bool(st, k); break;
		case QF_QT_TIME: {
			const char *s = qf__stmt_col_text(st, k, &c->len);
			if (s && !qf__time_normalize(s, r->times[i])) {
				c->s = r->times[i];
				c->len = strlen(c->s);
			} else {
				c->s = s;
			}
			break;
		}
		default: c->s = qf__stmt_col_text(st, k, &c->len); break;
		}
		if ((r->v->cols[r->colidx[i]].c.type == QF_QT_TEXT || r->v->cols[r->colidx[i]].c.type == QF_QT_UUID ||
		     r->v->cols[r->colidx[i]].c.type == QF_QT_TIME) &&
		    !c->s)
			c->null = true;
	}
}

static int grow_atoms(reader *r, int n, qf_err *err)
{
	if (n <= r->cap)
		return 0;
	int cap = n < 64 ? 64 : n;
	int *z = realloc(r->z, (size_t)cap * sizeof(int));
	if (z)
		r->z = z;
	double *xyz = realloc(r->xyz, (size_t)cap * 3 * sizeof(double));
	if (xyz)
		r->xyz = xyz;
	double *ch = realloc(r->charge, (size_t)cap * sizeof(double));
	if (ch)
		r->charge = ch;
	double *f = realloc(r->force, (size_t)cap * 3 * sizeof(double));
	if (f)
		r->force = f;
	if (!z || !xyz || !ch || !f)
		return qf__oom(err);
	r->cap = cap;
	return 0;
}

static double col_or_nan(qf__stmt *st, int i)
{
	return qf__stmt_col_null(st, i) ? NAN : qf__stmt_col_double(st, i);
}

/* The atoms of calculation id: atomic_properties, else the molecule's
 * geometry (columns gz, gx of the outer row). */
static int read_atoms(reader *r, qf__stmt *outer, int gz, qf_qatoms *out, qf_err *err)
{
	memset(out, 0, sizeof(*out));
	const char *id = qf__stmt_col_text(outer, 0, NULL);
	qf__stmt *st = r->atoms_st;
	qf__stmt_reset(st);
	if (qf__stmt_bind_str(st, 1, id))
		return qf__oom(err);
	int rc = qf__query_rebind(&r->atoms_q, st, 2, err);
	if (rc)
		return rc;
	int n = 0;
	bool charges = false, forces = false;
	while ((rc = qf__stmt_step(st, err)) == 1) {
		if (n >= QF_MAX_ATOMS)
			break;
		if ((rc = grow_atoms(r, n + 1, err)))
			return rc;
		r->z[n] = (int)qf__stmt_col_int64(st, 0);
		for (int k = 0; k < 3; k++) {
			r->xyz[3 * n + k] = qf__stmt_col_double(st, 1 + k);
			r->force[3 * n + k] = col_or_nan(st, 5 + k);
		}
		r->charge[n] = col_or_nan(st, 4);
		charges |= !isnan(r->charge[n]);
		forces |= !isnan(r->force[3 * n]);
		n++;
	}
	if (rc < 0)
		return rc;
	if (n == 0 && gz >= 0 && !qf__stmt_col_null(outer, gz)) {
		size_t lz = 0, lx = 0;
		const char *sz = qf__stmt_col_text(outer, gz, &lz), *sx = qf__stmt_col_text(outer, gz + 1, &lx);
		json_t *jz = sz ? json_loadb(sz, lz, 0, NULL) : NULL, *jx = sx ? json_loadb(sx, lx, 0, NULL) : NULL;
		size_t m = json_array_size(jz);
		if (m && m == json_array_size(jx) && m <= QF_MAX_ATOMS && !(rc = grow_atoms(r, (int)m, err))) {
			for (size_t i = 0; i < m; i++) {
				r->z[i] = (int)json_integer_value(json_array_get(jz, i));
				json_t *p = json_array_get(jx, i);
				for (size_t k = 0; k < 3; k++) {
					r->xyz[3 * i + k] = json_number_value(json_array_get(p, k));
					r->force[3 * i + k] = NAN;
				}
				r->charge[i] = NAN;
			}
			n = (int)m;
		}
		json_decref(jz);
		json_decref(jx);
		if (rc)
			return rc;
	}
	*out = (qf_qatoms){n, r->z, r->xyz, r->charge, r->force, charges, forces};
	return 0;
}

static void reader_release(reader *r)
{
	qf__stmt_finalize(r->atoms_st);
	qf__query_release(&r->atoms_q);
	free(r->colidx);
	free(r->cells);
	free(r->times);
	free(r->z);
	free(r->xyz);
	free(r->charge);
	free(r->force);
}

/* A read transaction for a: SQLite on a connection of its own (WAL lets it
 * read beside the store's connection, which stays free for other callers
 * while a long export streams), PostgreSQL on one of the pool's. */
typedef struct rtx {
	qf__tx tx;
	qf__db *own;
	qf__db *db;
} rtx;

static int rtx_begin(qf_store *s, const qf_actor *a, rtx *t, qf_err *err)
{
	memset(t, 0, sizeof(*t));
	if (s->dialect == QF__SQLITE) {
		if (a->kind == QF_ACTOR_USER && !qf_uuid_valid(a->user_id))
			return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
			                  "the acting user id is not a lowercase UUID");
		int rc = qf__sqlite_open(&t->own, s->target, s->opts.busy_timeout_ms, err);
		/* A stream reads each page once: a small page cache, and a sort
		 * (ORDER BY without an index) spills to temporary files instead
		 * of memory, so memory stays flat whatever the number of rows. */
		if (!rc)
			rc = qf__db_exec(t->own, "PRAGMA cache_size = -2048; PRAGMA temp_store = FILE", err);
		if (!rc && (rc = qf__db_exec(t->own, "BEGIN", err))) {
			qf__db_close(t->own);
			t->own = NULL;
		}
		t->db = t->own;
		return rc;
	}
	int rc = qf__tx_begin(s, a, false, &t->tx, err);
	t->db = t->tx.db;
	return rc;
}

static int rtx_end(rtx *t, bool ok, qf_err *err)
{
	int rc = 0;
	if (t->own) {
		rc = ok ? qf__db_exec(t->own, "COMMIT", err) : 0;
		if (!ok || rc)
			qf__db_exec(t->own, "ROLLBACK", NULL);
		qf__db_close(t->own);
		t->own = NULL;
	} else if (ok) {
		rc = qf__tx_commit(&t->tx, err);
	} else {
		qf__tx_rollback(&t->tx);
	}
	return rc;
}

/* Step the rows of sql (PostgreSQL: through a cursor, chunk by chunk). */
typedef struct rows {
	qf__db *db;
	qf__stmt *st;
	bool cursor;
	int in_chunk;
	qf__stmt *fetch;
} rows;

#define CURSOR "qf_select_rows"

static int rows_open(rows *r, qf__db *db, qf__query *sql, qf_err *err)
{
	memset(r, 0, sizeof(*r));
	r->db = db;
	if (qf__db_dialect(db) == QF__SQLITE)
		return qf__query_prepare(sql, db, &r->st, err);
	/* DECLARE ... CURSOR takes the query's parameters like the query. */
	qf__query dq;
	qf__query_init(&dq, QF__PG);
	qf__query_sql(&dq, "DECLARE " CURSOR " NO SCROLL CURSOR FOR %s", qf_buf_str(&sql->sql));
	memcpy(dq.p, sql->p, sizeof(sql->p[0]) * (size_t)sql->n);
	dq.n = sql->n;
	qf__stmt *st = NULL;
	int rc = qf__query_prepare(&dq, db, &st, err);
	dq.n = 0; /* the params' owned texts stay sql's */
	qf__query_release(&dq);
	if (!rc)
		rc = qf__stmt_done(st, err);
	qf__stmt_finalize(st);
	if (rc)
		return rc;
	r->cursor = true;
	char fetch[64];
	snprintf(fetch, sizeof(fetch), "FETCH FORWARD %d FROM " CURSOR, QF_EXPORT_CHUNK);
	return qf__db_prepare(db, fetch, &r->fetch, err);
}

/* 1: a row in r->st, 0: done, negative: error. */
static int rows_next(rows *r, qf_err *err)
{
	if (!r->cursor)
		return qf__stmt_step(r->st, err);
	if (r->st) {
		int rc = qf__stmt_step(r->st, err);
		if (rc != 0 || r->in_chunk < QF_EXPORT_CHUNK)
			return rc;
	}
	/* the next chunk */
	qf__stmt_reset(r->fetch);
	r->st = r->fetch;
	r->in_chunk = 0;
	int rc = qf__stmt_step(r->st, err);
	return rc;
}

static void rows_close(rows *r)
{
	if (!r->cursor)
		qf__stmt_finalize(r->st);
	qf__stmt_finalize(r->fetch);
	memset(r, 0, sizeof(*r));
}

int qf_store_select(qf_store *s, const qf_actor *a, const qf_query *q, const qf_select_cb *cb,
                    int64_t *nrows, qf_err *err)
{
	if (nrows)
		*nrows = 0;
	if (!q->view)
		return qf_err_set(err, QF_CAT_VALIDATION, "query.resource", "the query names no view");
	if (cb->atoms && !q->view->atoms)
		return qf_err_set(err, QF_CAT_VALIDATION, "query.resource",
		                  "rows of view '%s' have no atoms: export calculations", q->view->name);
	for (int i = 0; i < cb->nextra; i++)
		if (cb->extra[i] < 0 || cb->extra[i] >= q->view->ncols)
			return qf_err_set(err, QF_CAT_SYSTEM, "store.error", "internal: bad extra column");
	reader r;
	memset(&r, 0, sizeof(r));
	r.v = q->view;
	int nsel = qf_query_nselected(q);
	r.ncols = nsel + cb->nextra;
	r.colidx = calloc((size_t)r.ncols + 1, sizeof(int));
	r.cells = calloc((size_t)r.ncols + 1, sizeof(qf_qcell));
	r.times = calloc((size_t)r.ncols + 1, sizeof(*r.times));
	qf__query_init(&r.atoms_q, s->dialect);
	if (!r.colidx || !r.cells || !r.times) {
		reader_release(&r);
		return qf__oom(err);
	}
	for (int i = 0; i < nsel; i++)
		r.colidx[i] = (int)((const vcol *)qf_query_selected(q, i, NULL) - q->view->cols);
	for (int i = 0; i < cb->nextra; i++)
		r.colidx[nsel + i] = cb->extra[i];
	int gz = cb->atoms ? 1 + r.ncols : -1;

	qf__query sql, cnt;
	qf__query_init(&sql, s->dialect);
	qf__query_init(&cnt, s->dialect);
	select_sql(&sql, q, a, cb, cb->atoms);
	if (q->count == QF_QCOUNT_EXACT)
		count_sql(&cnt, q, a);
	if (cb->atoms) {
		qf__query_sql(&r.atoms_q, "SELECT atomic_number, x, y, z, partial_charge, force_x, force_y, "
		                          "force_z FROM atomic_properties WHERE calculation_id = ");
		qf__query_null(&r.atoms_q); /* bound per row */
		qf__query_sql(&r.atoms_q, " AND ");
		qf__scope_where(&r.atoms_q, qf__catalog_find("atomic_properties"), a, QF__OP_READ);
		qf__query_sql(&r.atoms_q, " ORDER BY atom_index");
	}

	rtx t;
	rows rw;
	memset(&rw, 0, sizeof(rw));
	int64_t n = 0, total = -1;
	int rc = rtx_begin(s, a, &t, err);
	if (rc)
		goto out_queries;
	if (q->count == QF_QCOUNT_EXACT) {
		qf__stmt *st = NULL;
		if ((rc = qf__query_run(&cnt, t.db, &st, err)) == 1)
			total = qf__stmt_col_int64(st, 0);
		qf__stmt_finalize(st);
		if (rc < 0)
			goto out_tx;
	}
	if (cb->atoms && (rc = qf__query_prepare(&r.atoms_q, t.db, &r.atoms_st, err)))
		goto out_tx;
	if ((rc = rows_open(&rw, t.db, &sql, err)))
		goto out_tx;
	if (cb->begin && (rc = cb->begin(cb->ctx, total, err)))
		goto out_tx;
	while ((rc = rows_next(&rw, err)) == 1) {
		rw.in_chunk++;
		read_cells(&r, rw.st);
		qf_qatoms atoms, *ap = NULL;
		if (cb->atoms) {
			if ((rc = read_atoms(&r, rw.st, gz, &atoms, err)))
				break;
			ap = &atoms;
		}
		if ((rc = cb->row(cb->ctx, r.cells, ap, err)))
			break;
		n++;
	}
	if (!rc && cb->end)
		rc = cb->end(cb->ctx, n, err);
out_tx:
	rows_close(&rw);
	qf__stmt_finalize(r.atoms_st);
	r.atoms_st = NULL;
	{
		int erc = rtx_end(&t, rc == 0, rc ? NULL : err);
		if (!rc)
			rc = erc;
	}
out_queries:
	qf__query_release(&sql);
	qf__query_release(&cnt);
	reader_release(&r);
	if (nrows)
		*nrows = n;
	return rc < 0 ? rc : rc > 0 ? QF_EINVAL : 0;
}
