/*
 * The query parsers (include/qf/query.h): the ASE-style filter of the CLI
 * and PostgREST's syntax parse into one representation, shown here as an
 * s-expression over canonical column names, so that the two syntaxes of
 * the same question give the same tree. Tables of malformed inputs and
 * injection attempts: each refused with its stable code (category
 * validation), none reaching the store.
 */
#include "qftest.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "qf/query.h"
#include "qf/str.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void put(char *out, size_t size, const char *s)
{
	size_t n = strlen(out);
	snprintf(out + n, size - n, "%s", s);
}

static void value_text(const qf_query *q, int v, char *out, size_t size)
{
	const qf_qvalue *x = &q->values[v];
	char b[1200];
	switch (x->type) {
	case QF_QT_REAL: snprintf(b, sizeof(b), "%g", x->d); break;
	case QF_QT_INT: snprintf(b, sizeof(b), "%" PRId64, x->i); break;
	case QF_QT_BOOL: snprintf(b, sizeof(b), "%s", x->b ? "true" : "false"); break;
	default: snprintf(b, sizeof(b), "'%s'", x->s); break;
	}
	put(out, size, b);
}

static void node_text(const qf_query *q, int n, char *out, size_t size)
{
	static const char *const ops[] = {"=", "!=", "<", "<=", ">", ">=", "like", "ilike", "in",
	                                  "null", "notnull", "true", "false"};
	const qf_qnode *nd = &q->nodes[n];
	if (nd->kind != QF_QN_COND) {
		put(out, size, nd->kind == QF_QN_AND ? "(and" : nd->kind == QF_QN_OR ? "(or" : "(not");
		for (int c = nd->child; c >= 0; c = q->nodes[c].next) {
			put(out, size, " ");
			node_text(q, c, out, size);
		}
		put(out, size, ")");
		return;
	}
	put(out, size, "(");
	put(out, size, ops[nd->op]);
	put(out, size, " ");
	put(out, size, qf_qview_column(q->view, nd->col)->name);
	for (int i = 0; i < nd->nvalues; i++) {
		put(out, size, " ");
		value_text(q, nd->value + i, out, size);
	}
	put(out, size, ")");
}

/* The whole query: filter | order | limit offset count | select. */
static void query_text(const qf_query *q, char *out, size_t size)
{
	out[0] = '\0';
	if (q->root >= 0)
		node_text(q, q->root, out, size);
	else
		put(out, size, "*");
	if (q->norder) {
		put(out, size, " |");
		for (int i = 0; i < q->norder; i++) {
			char b[128];
			snprintf(b, sizeof(b), " %s%s%s", q->order[i].desc ? "-" : "+",
			         qf_qview_column(q->view, q->order[i].col)->name,
			         q->order[i].nulls_first ? "^" : "");
			put(out, size, b);
		}
	}
	if (q->limit >= 0 || q->offset || q->count) {
		char b[96];
		snprintf(b, sizeof(b), " | %" PRId64 " %" PRId64 "%s", q->limit, q->offset,
		         q->count ? " count" : "");
		put(out, size, b);
	}
	if (q->nselect == qf_qview_ncols(q->view)) {
		put(out, size, " | *"); /* every column (PostgREST without select) */
	} else if (q->nselect) {
		put(out, size, " |");
		for (int i = 0; i < q->nselect; i++) {
			put(out, size, " ");
			put(out, size, q->select[i].label);
			put(out, size, "=");
			put(out, size, qf_qview_column(q->view, q->select[i].col)->name);
		}
	}
}

typedef struct ok_case {
	const char *view;
	const char *cli, *order;          /* ASE-style filter, --order */
	const char *qs, *range, *prefer;  /* PostgREST (when qs) */
	const char *want;
} ok_case;

static const ok_case oks[] = {
	/* the seed's use case 4.4, both ways: one representation */
	{"calculations", "mw<300,logp<5,gap>3,status=completed", "-gap", NULL, NULL, NULL,
	 "(and (< molecular_weight_g_mol 300) (< logp 5) (> homo_lumo_gap_ev 3) (= status 'completed')) | "
	 "-homo_lumo_gap_ev"},
	{"calculations", NULL, NULL, "mw=lt.300&logp=lt.5&gap=gt.3&status=eq.completed&order=gap.desc.nullslast",
	 NULL, NULL,
	 "(and (and (and (< molecular_weight_g_mol 300) (< logp 5)) (> homo_lumo_gap_ev 3)) (= status "
	 "'completed')) | -homo_lumo_gap_ev"},
	{"calculations", NULL, NULL,
	 "select=id,gap,energy&mw=lt.300&logp=lt.5&order=gap.desc&limit=1000", NULL, NULL,
	 "(and (< molecular_weight_g_mol 300) (< logp 5)) | -homo_lumo_gap_ev^ | 1000 0 | id=id "
	 "gap=homo_lumo_gap_ev energy=total_energy_hartree"},
	/* precedence: and binds tighter than or; not; parentheses */
	{"calculations", "a_b", NULL, NULL, NULL, NULL, NULL}, /* placeholder: unknown column (skipped) */
	{"calculations", "natoms>10 | mw<=200 & !is_converged", NULL, NULL, NULL, NULL,
	 "(or (> natoms 10) (and (<= molecular_weight_g_mol 200) (not (true is_converged))))"},
	{"calculations", "not (natoms>10 or charge!=0) and method==gfn2", NULL, NULL, NULL, NULL,
	 "(and (not (or (> natoms 10) (!= charge 0))) (= method 'gfn2'))"},
	{"calculations", NULL, NULL, "not.or=(natoms.gt.10,charge.neq.0)&method=eq.gfn2", NULL, NULL,
	 "(and (not (or (> natoms 10) (!= charge 0))) (= method 'gfn2'))"},
	{"calculations", NULL, NULL, "or=(mw.lt.300,and(logp.gt.1,tpsa.lte.90),name.not.is.null)", NULL,
	 NULL,
	 "(or (< molecular_weight_g_mol 300) (and (> logp 1) (<= topological_polar_surface_area_a2 90)) "
	 "(not (null name)))"},
	/* bare names; quoted values; like */
	{"calculations", "error_code,is_converged", NULL, NULL, NULL, NULL,
	 "(and (notnull error_code) (true is_converged))"},
	{"calculations", "name=\"a, \\\"b\\\" (c)\",name~*ol*", NULL, NULL, NULL, NULL,
	 "(and (= name 'a, \"b\" (c)') (ilike name '*ol*'))"},
	{"calculations", NULL, NULL, "name=like.*ol*&formula=ilike.c%25", NULL, NULL,
	 "(and (like name '%ol%') (ilike formula 'c%'))"},
	/* in lists, quoting, is */
	{"calculations", NULL, NULL, "status=in.(completed,failed)&name=in.(\"a,b\",c)", NULL, NULL,
	 "(and (in status 'completed' 'failed') (in name 'a,b' 'c'))"},
	{"calculations", NULL, NULL, "gap=not.is.null&is_converged=is.true&batch_id=is.null", NULL, NULL,
	 "(and (and (not (null homo_lumo_gap_ev)) (true is_converged)) (null batch_id))"},
	/* percent-decoding, '+' as a blank, a value holding '=' and ',' */
	{"calculations", NULL, NULL, "name=eq.caffeine+%28anhydrous%29&formula=eq.a=b,c", NULL, NULL,
	 "(and (= name 'caffeine (anhydrous)') (= formula 'a=b,c'))"},
	/* times, uuids, dates */
	{"calculations", "created_at>=2026-01-31,finished_at<2026-02-01T12:00:00Z", NULL, NULL, NULL, NULL,
	 "(and (>= created_at '2026-01-31T00:00:00.000Z') (< finished_at '2026-02-01T12:00:00.000Z'))"},
	{"calculations", NULL, NULL, "id=eq.01a24ba0-8553-7055-8a49-3c2ea89b6bb6", NULL, NULL,
	 "(= id '01a24ba0-8553-7055-8a49-3c2ea89b6bb6')"},
	/* paging: limit, offset, Range, Prefer */
	{"calculations", NULL, NULL, "limit=10&offset=20", NULL, NULL, "* | 10 20"},
	{"calculations", NULL, NULL, "", "0-9", "count=exact", "* | 10 0 count"},
	{"calculations", NULL, NULL, "", "items=5-", "return=minimal, count=planned", "* | -1 5 count"},
	{"calculations", NULL, NULL, "limit=3", "10-19", NULL, "* | 3 10"},
	{"calculations", NULL, NULL, "offset=5", "10-19", NULL, "* | 5 15"},
	/* order */
	{"calculations", "", "-gap,mw,+natoms", NULL, NULL, NULL,
	 "* | -homo_lumo_gap_ev +molecular_weight_g_mol +natoms"},
	{"calculations", NULL, NULL, "order=mw.nullsfirst,gap.desc.nullslast,natoms.asc", NULL, NULL,
	 "* | +molecular_weight_g_mol^ -homo_lumo_gap_ev +natoms"},
	/* select: labels, * */
	{"molecules", NULL, NULL, "select=id,w:mw,smiles&hbd=lte.5", NULL, NULL,
	 "(<= hydrogen_bond_donors 5) | id=id w=molecular_weight_g_mol smiles=smiles"},
	/* an empty filter selects everything */
	{"calculations", "   ", NULL, NULL, NULL, NULL, "*"},
};

static void test_ok(void **state)
{
	(void)state;
	char got[4096];
	for (size_t i = 0; i < COUNT(oks); i++) {
		const ok_case *c = &oks[i];
		if (!c->want)
			continue;
		qf_query q;
		qf_query_init(&q, qf_store_view(c->view));
		qf_err e;
		qf_err_init(&e);
		int rc = c->qs ? qf_query_parse_postgrest(&q, c->qs, c->range, c->prefer, &e)
		               : qf_query_parse_filter(&q, c->cli, &e);
		if (!rc && !c->qs)
			rc = qf_query_parse_order(&q, c->order, &e);
		if (rc)
			fail_msg("case %zu (%s): refused: %s %s", i, c->qs ? c->qs : c->cli, e.code, e.message);
		query_text(&q, got, sizeof(got));
		/* PostgREST without select: every column */
		char want[4096];
		snprintf(want, sizeof(want), "%s%s", c->want, c->qs && !strstr(c->qs, "select=") ? " | *" : "");
		if (strcmp(got, want))
			fail_msg("case %zu (%s):\n got  %s\n want %s", i, c->qs ? c->qs : c->cli, got, want);
		qf_query_release(&q);
	}
}

typedef struct bad_case {
	int syntax; /* 0 CLI filter, 1 PostgREST, 2 order, 3 select */
	const char *text, *range;
	const char *code;
	const char *message_has;
} bad_case;

static const bad_case bads[] = {
	/* unknown columns, including tables' real but unlisted columns and
	 * other tables' columns */
	{0, "nonsense<3", NULL, "query.column", "unknown column 'nonsense'"},
	{0, "owner_id=x", NULL, "query.column", "owner_id"},
	{0, "lease_token=abc", NULL, "query.column", "lease_token"},
	{1, "password_hash=eq.x", NULL, "query.column", "password_hash"},
	{1, "select=id,key_hash", NULL, "query.column", "key_hash"},
	/* injection attempts: never SQL, always refused or a plain value */
	{0, "mw<300;DROP TABLE calculations", NULL, "query.value", "takes a number"},
	{0, "mw<300)--", NULL, "query.syntax", "unbalanced ')'"},
	{0, "\"mw\"<3", NULL, "query.syntax", "column name"},
	{1, "mw=lt.300;DROP%20TABLE%20x", NULL, "query.value", "takes a number"},
	{1, "mw%3Bdrop=lt.3", NULL, "query.column", "mw;drop"},
	{1, "select=id,(select 1)", NULL, "query.select", "not supported"},
	{1, "select=id,a b", NULL, "query.select", "malformed"},
	{1, "select=id::text", NULL, "query.select", "casts"},
	{1, "select=molecule(*)", NULL, "query.select", "embedded"},
	{1, "order=gap;desc", NULL, "query.column", "gap;desc"},
	{1, "order=gap.sideways", NULL, "query.order", "sideways"},
	{1, "natoms=eq.1%20OR%201=1", NULL, "query.value", "takes an integer"},
	{1, "id=eq.1'%20or%20'1'='1", NULL, "query.value", "UUID"},
	/* malformed */
	{0, "mw<", NULL, "query.syntax", "value is missing"},
	{0, "(mw<3", NULL, "query.syntax", "')' is missing"},
	{0, "mw 3", NULL, "query.syntax", "expected"},
	{0, "mw!3", NULL, "query.syntax", "'!'"},
	{0, "name=\"open", NULL, "query.syntax", "unterminated"},
	{0, "is_converged>true", NULL, "query.operator", "cannot be compared"},
	{0, "natoms~3", NULL, "query.operator", "like"},
	{0, "natoms=3.5", NULL, "query.value", "integer"},
	{0, "mw<nan", NULL, "query.value", "number"},
	{0, "created_at>yesterday", NULL, "query.value", "RFC 3339"},
	{0, "is_converged=maybe", NULL, "query.value", "true or false"},
	{0, "name=\"a\x01b\"", NULL, "query.value", "control"},
	{0, "name=\xff\xfe", NULL, "query.value", "UTF-8"},
	{1, "mw=300", NULL, "query.syntax", "operator and a value"},
	{1, "mw=approx.300", NULL, "query.operator", "approx"},
	{1, "name=fts.x", NULL, "query.operator", "fts"},
	{1, "mw", NULL, "query.syntax", "no value"},
	{1, "name=in.a,b", NULL, "query.syntax", "parentheses"},
	{1, "name=in.(a,b", NULL, "query.syntax", "')' is missing"},
	{1, "name=in.()", NULL, "query.value", "at least one"},
	{1, "gap=is.maybe", NULL, "query.value", "'is' takes"},
	{1, "or=mw.lt.3", NULL, "query.syntax", "parentheses"},
	{1, "or=(mw.lt.3", NULL, "query.syntax", "expected"},
	{1, "or=(mw.lt.3)x", NULL, "query.syntax", "after the closing"},
	{1, "and=(mw)", NULL, "query.syntax", "logic tree item"},
	{1, "name=eq.%zz", NULL, "query.syntax", "percent"},
	{1, "name=eq.%00", NULL, "query.syntax", "NUL"},
	{1, "limit=-1", NULL, "query.range", "limit"},
	{1, "offset=ten", NULL, "query.range", "offset"},
	{1, "columns=a", NULL, "query.syntax", "writes"},
	{1, "", "9-0", "query.range", "ends before"},
	{1, "", "a-b", "query.range", "Range"},
	{1, "", "10", "query.range", "Range"},
	{2, "gap;", NULL, "query.order", "malformed order"},
	{2, "--gap", NULL, "query.order", "malformed order"},
	{3, "id,,gap", NULL, "query.select", "empty"},
	{3, "x:", NULL, "query.select", "malformed"},
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < COUNT(bads); i++) {
		const bad_case *c = &bads[i];
		qf_query q;
		qf_query_init(&q, qf_store_view("calculations"));
		qf_err e;
		qf_err_init(&e);
		int rc;
		switch (c->syntax) {
		case 0: rc = qf_query_parse_filter(&q, c->text, &e); break;
		case 1: rc = qf_query_parse_postgrest(&q, c->text, c->range, NULL, &e); break;
		case 2: rc = qf_query_parse_order(&q, c->text, &e); break;
		default: rc = qf_query_parse_select(&q, c->text, &e); break;
		}
		if (rc != QF_EINVAL || e.category != QF_CAT_VALIDATION || strcmp(e.code, c->code) ||
		    !strstr(e.message, c->message_has))
			fail_msg("case %zu (%s): want %s with '%s', got rc %d %s: %s", i, c->text, c->code,
			         c->message_has, rc, e.code, e.message);
		qf_query_release(&q);
	}
}

/* Limits: length, depth, nodes, values. */
static void test_limits(void **state)
{
	(void)state;
	static char text[QF_QUERY_MAX_TEXT * 2];
	struct {
		int syntax;
		const char *unit, *open, *close;
		int times;
	} cases[] = {
		{0, "(", "", "natoms>1", 40},                   /* depth */
		{0, "natoms>1,", "", "natoms>1", 200},          /* nodes */
		{1, "and(", "or=(", "natoms.gt.1", 40},         /* depth */
		{1, "1,", "natoms=in.(", "1)", 200},            /* values */
		{0, "x", "name=\"", "\"", QF_QUERY_MAX_VALUE_TEXT + 5}, /* value length */
		{0, "        ", "", "natoms>1", QF_QUERY_MAX_TEXT}, /* text length */
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		text[0] = '\0';
		put(text, sizeof(text), cases[i].open);
		for (int k = 0; k < cases[i].times && strlen(text) + 20 < sizeof(text); k++)
			put(text, sizeof(text), cases[i].unit);
		put(text, sizeof(text), cases[i].close);
		qf_query q;
		qf_query_init(&q, qf_store_view("calculations"));
		qf_err e;
		qf_err_init(&e);
		int rc = cases[i].syntax ? qf_query_parse_postgrest(&q, text, NULL, NULL, &e)
		                         : qf_query_parse_filter(&q, text, &e);
		if (rc != QF_EINVAL || (strcmp(e.code, "query.too_complex") && strcmp(e.code, "query.value") &&
		                        strcmp(e.code, "query.syntax")))
			fail_msg("limit case %zu: want a refusal, got %d %s %s", i, rc, e.code, e.message);
		qf_query_release(&q);
	}
}

static void test_content_range(void **state)
{
	(void)state;
	qf_query q;
	qf_query_init(&q, qf_store_view("calculations"));
	char b[64];
	q.offset = 10;
	qf_query_content_range(&q, 5, 42, b, sizeof(b));
	assert_string_equal(b, "10-14/42");
	qf_query_content_range(&q, 5, -1, b, sizeof(b));
	assert_string_equal(b, "10-14/*");
	qf_query_content_range(&q, 0, 7, b, sizeof(b));
	assert_string_equal(b, "*/7");
	/* default selections and views */
	assert_null(qf_store_view("users"));
	assert_true(qf_query_nselected(&q) > 5);
	const char *label;
	assert_string_equal(qf_query_selected(&q, 0, &label)->name, "id");
	assert_int_equal(qf_qview_find(q.view, "gap", 3), qf_qview_find(q.view, "homo_lumo_gap_ev", 16));
	qf_query_release(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_content_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
