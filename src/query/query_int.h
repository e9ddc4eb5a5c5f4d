/*
 * Inside the query layer: building the representation, shared by the two
 * parsers (cli.c: the ASE-style filter; postgrest.c: PostgREST's syntax).
 * Each returns a node / value / column index, or a negative QF_E* code with
 * err filled (validation, a query.* code).
 */
#ifndef QF_QUERY_INT_H
#define QF_QUERY_INT_H

#include "qf/query.h"

int qf__qp_err(qf_err *err, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* At most 63 printable characters of s for a message. */
const char *qf__qp_shown(const char *s, size_t len, char out[80]);
/* The view's column named by len bytes at name (canonical or alias). */
int qf__qp_column(const qf_query *q, const char *name, size_t len, qf_err *err);
/* A value for column col from its text: its index in q->values. */
int qf__qp_value(qf_query *q, int col, const char *s, size_t len, qf_err *err);
/* A condition node (checks that op suits the column's type). */
int qf__qp_cond(qf_query *q, int col, qf_qop op, int value, int nvalues, qf_err *err);
/* An and/or/not node over children (one child of and/or: that child). */
int qf__qp_group(qf_query *q, qf_qkind kind, const int *children, int n, qf_err *err);
/* q->root = q->root AND node. */
int qf__qp_and_root(qf_query *q, int node, qf_err *err);
int qf__qp_add_order(qf_query *q, int col, bool desc, bool nulls_first, qf_err *err);

/* Children one group collects at most (a group of more nests). */
#define QF__QP_MAX_CHILDREN QF_QUERY_MAX_NODES

#endif
