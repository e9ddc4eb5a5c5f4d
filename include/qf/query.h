/*
 * Dataset queries: one representation of a filtered, ordered, paged
 * selection of columns, two syntaxes that parse into it, and its execution
 * in the store, streamed row by row.
 *
 *   ASE style (the CLI):   mw<300,logp<5,gap>3,status=completed
 *                          --order -gap --limit 1000
 *   PostgREST (HTTP):      select=id,gap,energy&mw=lt.300&logp=lt.5
 *                          &order=gap.desc&limit=1000   (+ Range, Prefer)
 *
 * A query reads one view (qf_store_view): "calculations" (a calculation
 * with its molecule, its molecule's descriptors and the metrics of its
 * attempt) or "molecules" (a molecule with its descriptors). Only the
 * view's columns exist (an allow-list; every column has a canonical name
 * with its unit, total_energy_hartree, and shorter aliases, energy): the
 * parsers refuse anything else. Values are typed by their column and travel
 * to the database as bound parameters only; the SQL is written from the
 * representation in the store (src/store/select.c), scoped by the actor
 * exactly like qf_store_list (a row the actor may not see never appears).
 *
 * Every refusal is a validation error (QF_EINVAL, category validation) with
 * one of these stable codes, and a message naming the problem:
 *   query.syntax     malformed text (unbalanced parentheses, a missing value)
 *   query.column     no such column (the message lists where to look)
 *   query.operator   unknown operator, or one the column's type has not
 *   query.value      a value the column's type cannot take
 *   query.select     a malformed or unsupported select list
 *   query.order      a malformed order
 *   query.range      a malformed Range header, limit or offset
 *   query.too_complex  past a limit of include/qf/limits.h
 *   query.resource   no such view
 * An HTTP handler answers them with 400 (PostgREST's own codes are PGRST1xx).
 *
 * For an HTTP handler (GET /rest/v1/<view>?<query string>):
 *
 *   const qf_qview *v = qf_store_view(view);        // NULL: 404
 *   qf_query q;
 *   qf_query_init(&q, v);
 *   rc = qf_query_parse_postgrest(&q, query_string, range_header,
 *                                 prefer_header, &err);   // 400 on error
 *   qf_select_cb cb = {.begin = ..., .row = ..., .end = ..., .ctx = ...};
 *   rc = qf_store_select(store, &actor, &q, &cb, &err);
 *   qf_query_content_range(&q, nrows, total, buf, sizeof buf);
 *   qf_query_release(&q);
 *
 * and include/qf/export.h writes the rows as a PostgREST JSON array, CSV or
 * any export format to a write callback.
 */
#ifndef QF_QUERY_H
#define QF_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qf/err.h"
#include "qf/limits.h"

struct qf_store;
struct qf_actor;

/* ---- views: the columns a query may name ----------------------------------- */

typedef enum qf_qtype {
	QF_QT_TEXT = 0,
	QF_QT_INT,
	QF_QT_REAL,
	QF_QT_BOOL,
	QF_QT_UUID,
	QF_QT_TIME, /* RFC 3339 UTC */
} qf_qtype;

enum {
	QF_QCOL_DEFAULT = 1u << 0, /* in the default selection (no select given) */
};

typedef struct qf_qcolumn {
	const char *name;    /* canonical name, with its unit: total_energy_hartree */
	const char *aliases; /* other accepted names, space-separated: "energy total_energy" */
	qf_qtype type;
	const char *unit;    /* "Eh", "eV", "g/mol", ... or NULL */
	const char *doc;     /* one line for the README and --help */
	unsigned flags;
} qf_qcolumn;

typedef struct qf_qview qf_qview;

/* "calculations" or "molecules"; NULL for anything else. */
const qf_qview *qf_store_view(const char *name);
const char *qf_qview_name(const qf_qview *v);
int qf_qview_ncols(const qf_qview *v);
const qf_qcolumn *qf_qview_column(const qf_qview *v, int i);
/* Column index of a canonical name or an alias (exact, case-sensitive), or -1. */
int qf_qview_find(const qf_qview *v, const char *name, size_t len);
/* Whether rows of v are calculations (which have atoms to export). */
bool qf_qview_has_atoms(const qf_qview *v);

/* ---- the representation ----------------------------------------------------- */

typedef enum qf_qop {
	QF_QOP_EQ = 0,
	QF_QOP_NEQ,
	QF_QOP_LT,
	QF_QOP_LTE,
	QF_QOP_GT,
	QF_QOP_GTE,
	QF_QOP_LIKE,  /* text; '*' and '%' match any run, '_' one character */
	QF_QOP_ILIKE, /* the same, ignoring case */
	QF_QOP_IN,    /* one of values[value .. value + nvalues) */
	QF_QOP_IS_NULL,
	QF_QOP_NOT_NULL,
	QF_QOP_IS_TRUE,
	QF_QOP_IS_FALSE,
} qf_qop;

typedef enum qf_qkind { QF_QN_COND = 0, QF_QN_AND, QF_QN_OR, QF_QN_NOT } qf_qkind;

/* A value typed by its column (text, uuid, time: s, heap, canonical form). */
typedef struct qf_qvalue {
	qf_qtype type;
	int64_t i;
	double d;
	bool b;
	char *s;
} qf_qvalue;

/* A node of the filter tree: a condition on a column, or and/or/not of the
 * children (first child `child`, then each one's `next`; -1 ends). */
typedef struct qf_qnode {
	qf_qkind kind;
	int col;     /* QF_QN_COND: the column */
	qf_qop op;   /* QF_QN_COND */
	int value;   /* QF_QN_COND: first value (-1 for the IS ops) */
	int nvalues;
	int child;
	int next;
} qf_qnode;

typedef struct qf_qsort {
	int col;
	bool desc;
	bool nulls_first;
} qf_qsort;

typedef struct qf_qselect {
	int col;
	char label[64]; /* the key the row carries it under */
} qf_qselect;

typedef enum qf_qcount { QF_QCOUNT_NONE = 0, QF_QCOUNT_EXACT } qf_qcount;

typedef struct qf_query {
	const qf_qview *view;
	int nselect; /* 0: the view's default columns */
	qf_qselect select[QF_QUERY_MAX_SELECT];
	int root;    /* filter tree root, -1: every row */
	int nnodes;
	qf_qnode nodes[QF_QUERY_MAX_NODES];
	int nvalues;
	qf_qvalue values[QF_QUERY_MAX_VALUES];
	int norder;  /* ties are always broken by the row's id */
	qf_qsort order[QF_QUERY_MAX_ORDER];
	int64_t limit;  /* -1: no limit */
	int64_t offset;
	qf_qcount count; /* also count the matching rows (Prefer: count=exact) */
} qf_query;

/* A query of every row of v, default columns, no order, no limit. */
void qf_query_init(qf_query *q, const qf_qview *v);
void qf_query_release(qf_query *q);

/* The ASE-style filter (the CLI). Conditions `name op value` with op one
 * of = == != < <= > >= and ~ (like, ignoring case; * matches any run);
 * a bare name means "is not null" (a boolean column: "is true");
 * `,` `&` `and` join with AND, `|` `or` with OR (AND binds tighter);
 * `!` `not` negate; parentheses group; values are bare words or "quoted"
 * (\" and \\ inside quotes). ANDed to what q already filters. */
int qf_query_parse_filter(qf_query *q, const char *text, qf_err *err);
/* "-gap,mw": columns, a leading '-' for descending (NULLs last). */
int qf_query_parse_order(qf_query *q, const char *text, qf_err *err);
/* "id,gap,e:total_energy_hartree" or "*": the columns, in order, each
 * under its name as written (or label:name). */
int qf_query_parse_select(qf_query *q, const char *text, qf_err *err);

/* A PostgREST request: the URL's query string (without '?', still
 * percent-encoded; NULL or "" for none), the Range header (items, "0-9",
 * "10-"; NULL when absent) and the Prefer header (count=exact | planned |
 * estimated are all counted exactly; other preferences are ignored, as
 * PostgREST does; NULL when absent). Reserved keys: select, order, limit,
 * offset, and, or, not.and, not.or; every other key is a column filter
 * `[not.]op.value` with op eq neq lt lte gt gte like ilike in is.
 * Several filters are ANDed. Without select, every column of the view (as
 * PostgREST answers). Default order as PostgreSQL's (descending:
 * NULLs first) unless .nullsfirst / .nullslast say. */
int qf_query_parse_postgrest(qf_query *q, const char *query_string, const char *range,
                             const char *prefer, qf_err *err);

/* The Content-Range header value for a response of nrows rows at
 * q->offset: first-last/total, e.g. 0-9/42; the total is an asterisk when
 * total < 0 (not counted), and the range is an asterisk when no row. */
int qf_query_content_range(const qf_query *q, int64_t nrows, int64_t total, char *out,
                           size_t size);

/* The column and label of selected column i (the default selection when
 * q->nselect is 0); qf_query_nselected counts them. */
int qf_query_nselected(const qf_query *q);
const qf_qcolumn *qf_query_selected(const qf_query *q, int i, const char **label);

/* ---- running a query (src/store/select.c) ------------------------------------ */

/* One value of a row, typed by its column: NULL, or i / d / b, or the
 * text s (len bytes, valid until the next row; times are canonical RFC
 * 3339 UTC). */
typedef struct qf_qcell {
	bool null;
	int64_t i;
	double d;
	bool b;
	const char *s;
	size_t len;
} qf_qcell;

/* The atoms of a calculation's result (the calculations view, when asked
 * for): final geometry (Angstrom), partial charges (e), forces (Eh/Bohr,
 * minus the gradient); NaN where a value was not produced. From
 * atomic_properties; from the molecule's input geometry when the
 * calculation has none (then charges and forces are NaN). */
typedef struct qf_qatoms {
	int n;
	const int *z;
	const double *xyz;    /* 3n */
	const double *charge; /* n */
	const double *force;  /* 3n */
	bool has_charges, has_forces;
} qf_qatoms;

typedef struct qf_select_cb {
	/* Before the first row: the number of matching rows (ignoring limit
	 * and offset) when q->count asked for it, else -1. May be NULL. */
	int (*begin)(void *ctx, int64_t total, qf_err *err);
	/* Each row: cells of the selected columns in order (qf_query_selected),
	 * atoms when `atoms` was asked for (else NULL). A non-zero return stops
	 * the query and is returned. */
	int (*row)(void *ctx, const qf_qcell *cells, const qf_qatoms *atoms, qf_err *err);
	/* After the last row (not after an error). May be NULL. */
	int (*end)(void *ctx, int64_t nrows, qf_err *err);
	void *ctx;
	bool atoms;
	/* extra columns, by index into the view, fetched after the selected
	 * ones (exporters need some whatever the selection); -1 ends */
	const int *extra;
	int nextra;
} qf_select_cb;

/* Run q for actor a and stream its rows, in one read transaction: memory
 * stays flat whatever the number of rows (SQLite steps one statement on a
 * connection of its own, so the store's connection stays free; PostgreSQL
 * fetches a cursor QF_EXPORT_CHUNK rows at a time). *nrows (may be NULL)
 * gets the rows delivered. */
int qf_store_select(struct qf_store *s, const struct qf_actor *a, const qf_query *q,
                    const qf_select_cb *cb, int64_t *nrows, qf_err *err);

#endif
