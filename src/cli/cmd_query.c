/*
 * qforge query [FILTER] [--order -gap] [--limit N] [--offset N]
 *              [--select COLS] [--view calculations|molecules]
 *              [--format table|csv|json|jsonl] [-o FILE]
 *              [--postgrest QUERY_STRING [--range 0-9] [--prefer count=exact]]
 *              [--store URL] [--user ID]
 *
 * Selects rows of a view (default calculations) with the ASE-style filter
 * (include/qf/query.h), as the local user (or --user), and prints them.
 * --postgrest takes PostgREST's syntax instead (the query string of GET
 * /rest/v1/<view>), with its Range and Prefer headers; with a count asked
 * for, the Content-Range is printed on stderr.
 *
 * Also the option parsing qforge export shares (query_args.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "qf/export.h"
#include "qf/str.h"
#include "query_args.h"

static const char usage[] =
	"usage: qforge query [FILTER] [options]\n"
	"\n"
	"FILTER   ASE-style: mw<300,logp<5,gap>3,status=completed\n"
	"         name op value with op = == != < <= > >= ~ (like, ignoring case, * any run);\n"
	"         a bare name: has a value; ',' '&' 'and': and; '|' 'or': or; '!' 'not'; ( )\n"
	"\n"
	"options:\n"
	"  --order COLS      -gap,mw: '-' for descending (NULLs last)\n"
	"  --limit N         at most N rows; --offset N skips N\n"
	"  --select COLS     the columns (default: the view's main ones; * for all)\n"
	"  --view V          calculations (default) or molecules\n"
	"  --format F        table (default), csv, json, jsonl\n"
	"  -o, --output FILE write there instead of stdout\n"
	"  --postgrest QS    PostgREST syntax instead of FILTER and the options above:\n"
	"                    select=id,gap&mw=lt.300&order=gap.desc&limit=10\n"
	"  --range R         with --postgrest: the Range header (0-9)\n"
	"  --prefer P        with --postgrest: the Prefer header (count=exact)\n"
	"  --store URL       sqlite:PATH or postgresql://USER@HOST/DB\n"
	"  --user ID         act as this user (default: the local user)\n"
	"\n"
	"The columns, their units and aliases are listed in the README (qforge query).\n";

bool query_args_option(query_args *a, int opt, const char *arg)
{
	switch (opt) {
	case 1000: a->order = arg; return true;
	case 1001: a->limit = arg; return true;
	case 1002: a->offset = arg; return true;
	case 1003: a->select = arg; return true;
	case 1004: a->view = arg; return true;
	case 1005: a->postgrest = arg; return true;
	case 1006: a->range = arg; return true;
	case 1007: a->prefer = arg; return true;
	case 1008: a->format = arg; return true;
	case 'o': a->output = arg; return true;
	case 1009: a->store = arg; return true;
	case 1010: a->user = arg; return true;
	case 1011: a->help = true; return true;
	}
	return false;
}

static const struct option options[] = {QUERY_ARGS_OPTIONS, {NULL, 0, NULL, 0}};

int query_args_parse(const char *cmd, int argc, char **argv, query_args *a)
{
	memset(a, 0, sizeof(*a));
	int c;
	optind = 1;
	opterr = 0;
	/* '+': a filter may start with '-'? No: filters start with a name or
	 * '(' or '!', so options may come anywhere. */
	while ((c = getopt_long(argc, argv, ":o:", options, NULL)) != -1) {
		if (c == ':')
			return cli_usage_error(cmd, "option %s needs a value", argv[optind - 1]);
		if (!query_args_option(a, c, optarg))
			return cli_usage_error(cmd, "unknown option %s", argv[optind - 1]);
	}
	if (a->help)
		return -1;
	if (optind < argc)
		a->filter = argv[optind++];
	if (optind < argc)
		return cli_usage_error(cmd, "one FILTER only (quote it): got '%s' too", argv[optind]);
	if (a->postgrest && (a->filter || a->order || a->select || a->limit || a->offset))
		return cli_usage_error(cmd, "--postgrest takes the whole query: give no FILTER, --order, "
		                            "--select, --limit or --offset with it");
	if (!a->postgrest && (a->range || a->prefer))
		return cli_usage_error(cmd, "--range and --prefer go with --postgrest");
	return -1;
}

static int fail_query(const char *cmd, qf_err *e)
{
	fprintf(stderr, "qforge %s: %s (%s, %s)\n", cmd, e->message, qf_category_name(e->category),
	        e->code);
	return qf_err_exit_status(e->category);
}

int query_args_open(const char *cmd, const query_args *a, qf_store **s, qf_actor *actor, qf_query *q)
{
	qf_err err;
	qf_err_init(&err);
	const char *vname = a->view ? a->view : "calculations";
	const qf_qview *v = qf_store_view(vname);
	if (!v)
		return cli_usage_error(cmd, "unknown view '%s': use calculations or molecules", vname);
	qf_query_init(q, v);
	int rc = 0;
	if (a->postgrest) {
		rc = qf_query_parse_postgrest(q, a->postgrest, a->range, a->prefer, &err);
	} else {
		long n = 0;
		if (a->limit && !qf_parse_int(a->limit, 0, INT64_MAX, &n))
			return cli_usage_error(cmd, "--limit takes a whole number >= 0");
		if (a->limit)
			q->limit = n;
		if (a->offset && !qf_parse_int(a->offset, 0, INT64_MAX, &n))
			return cli_usage_error(cmd, "--offset takes a whole number >= 0");
		if (a->offset)
			q->offset = n;
		if (!(rc = qf_query_parse_filter(q, a->filter, &err)) &&
		    !(rc = qf_query_parse_order(q, a->order, &err)))
			rc = qf_query_parse_select(q, a->select, &err);
	}
	if (rc) {
		qf_query_release(q);
		return fail_query(cmd, &err);
	}
	if ((rc = qf_store_open(s, a->store && *a->store ? a->store : qf_store_default_url(), NULL, &err))) {
		qf_query_release(q);
		return cli_fail(&err);
	}
	if (a->user)
		rc = qf_store_actor(*s, a->user, actor, &err);
	else
		*actor = qf_actor_local();
	if (rc) {
		qf_store_close(*s);
		qf_query_release(q);
		return cli_fail(&err);
	}
	return 0;
}

/* ---- output ------------------------------------------------------------------- */

static int write_file(void *ctx, const void *data, size_t len)
{
	return fwrite(data, 1, len, ctx) == len ? 0 : -1;
}

int cmd_query(int argc, char **argv)
{
	query_args a;
	int rc = query_args_parse("query", argc, argv, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(usage, stdout);
		return 0;
	}
	qf_err err;
	qf_err_init(&err);
	qf_export_format f = QF_EXPORT_TABLE;
	if (a.format && (qf_export_format_parse(a.format, &f, &err) ||
	                 (f != QF_EXPORT_TABLE && f != QF_EXPORT_CSV && f != QF_EXPORT_JSON &&
	                  f != QF_EXPORT_JSONL)))
		return cli_usage_error("query", "--format takes table, csv, json or jsonl (qforge export "
		                                "writes the other formats)");
	qf_store *s = NULL;
	qf_actor actor;
	qf_query q;
	if ((rc = query_args_open("query", &a, &s, &actor, &q)))
		return rc;
	FILE *out = stdout;
	if (a.output && !(out = fopen(a.output, "w"))) {
		fprintf(stderr, "qforge query: cannot write %s: %s\n", a.output, strerror(errno));
		qf_store_close(s);
		qf_query_release(&q);
		return qf_err_exit_status(QF_CAT_SYSTEM);
	}
	/* rows through the export writers, without an audit entry: a query is
	 * a read like any listing (exports are recorded) */
	qf_export_opts eo = {.format = f, .write = write_file, .ctx = out};
	qf_export_stats st;
	rc = qf_export_write(s, &actor, &q, &eo, &st, &err);
	if (!rc && q.count == QF_QCOUNT_EXACT) {
		char cr[64];
		qf_query_content_range(&q, st.rows, st.total, cr, sizeof(cr));
		fprintf(stderr, "content-range: %s\n", cr);
	}
	bool to_stdout = out == stdout;
	if (to_stdout)
		fflush(stdout);
	else if (fclose(out) && !rc)
		rc = qf_err_set(&err, QF_CAT_SYSTEM, "export.write", "cannot write %s: %s", a.output,
		                strerror(errno));
	qf_store_close(s);
	qf_query_release(&q);
	return rc ? fail_query("query", &err) : 0;
}
