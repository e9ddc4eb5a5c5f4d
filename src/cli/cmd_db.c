/*
 * qforge db migrate [--store URL]
 * qforge db purge   [--store URL] [--json]
 *
 * migrate applies the pending numbered migrations (each in its own
 * transaction) and prints how many and the schema version. On PostgreSQL it
 * needs a role that may create tables and roles (the superuser or the schema
 * owner), not the application role.
 *
 * purge deletes rows past retention as of now (qf_clock_now, so
 * QF_FAKE_NOW pins it): idle user sessions, old performance metrics and API
 * usage logs, old audit entries, expired sign-in sessions; never
 * calculations. It prints the rows deleted per table.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "qf/clock.h"
#include "qf/store.h"

static const char usage[] =
	"usage: qforge db migrate [--store URL]\n"
	"       qforge db purge [--store URL] [--json]\n"
	"\n"
	"migrate   apply pending schema migrations (PostgreSQL: connect as the\n"
	"          superuser or the schema owner, not as qforge_app)\n"
	"purge     delete rows past retention: user sessions idle > 7 days,\n"
	"          performance metrics and API usage logs > 90 days, audit log\n"
	"          > 365 days, expired sign-in sessions (never calculations);\n"
	"          prints the rows deleted per table\n"
	"\n"
	"options:\n"
	"  --store URL   sqlite:PATH or postgresql://USER@HOST/DB\n"
	"                (default $QF_STORE, else sqlite:var/qforge.db)\n"
	"  --json        purge: print the counts as one JSON object\n";

enum { OPT_STORE = 256, OPT_JSON, OPT_HELP };

static const struct option options[] = {
	{"store", required_argument, NULL, OPT_STORE},
	{"json", no_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

typedef struct db_args {
	const char *store;
	bool json;
} db_args;

/* Parse the options after "db <sub>"; returns -1 to go on, else an exit
 * status. */
static int parse_args(const char *sub, int argc, char **argv, db_args *a)
{
	memset(a, 0, sizeof(*a));
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (c) {
		case OPT_STORE: a->store = optarg; break;
		case OPT_JSON: a->json = true; break;
		case OPT_HELP: fputs(usage, stdout); return 0;
		case ':':
			return cli_usage_error("db", "option %s needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("db", "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_usage_error("db", "'db %s' takes no arguments (got '%s')", sub, argv[optind]);
	if (a->json && strcmp(sub, "purge"))
		return cli_usage_error("db", "--json is an option of 'db purge'");
	if (!a->store || !*a->store)
		a->store = qf_store_default_url();
	return -1;
}

static int db_migrate(int argc, char **argv)
{
	db_args a;
	int rc = parse_args("migrate", argc, argv, &a);
	if (rc >= 0)
		return rc;
	qf_err err;
	qf_err_init(&err);
	qf_store_opts o = {.no_migrate = true};
	qf_store *s = NULL;
	if (qf_store_open(&s, a.store, &o, &err))
		return cli_fail(&err);
	int applied = 0, version = 0;
	if (qf_store_migrate(s, &applied, &err) || qf_store_schema_version(s, &version, &err)) {
		qf_store_close(s);
		return cli_fail(&err);
	}
	printf("%s store: applied %d migration%s, schema version %d\n", qf_store_backend(s), applied,
	       applied == 1 ? "" : "s", version);
	qf_store_close(s);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int db_purge(int argc, char **argv)
{
	db_args a;
	int rc = parse_args("purge", argc, argv, &a);
	if (rc >= 0)
		return rc;
	qf_err err;
	qf_err_init(&err);
	qf_store *s = NULL;
	if (qf_store_open(&s, a.store, NULL, &err))
		return cli_fail(&err);
	qf_actor sys = qf_actor_system();
	json_t *counts = NULL;
	double now = qf_clock_now();
	if (qf_store_purge(s, &sys, now, &counts, &err)) {
		qf_store_close(s);
		return cli_fail(&err);
	}
	qf_store_close(s);
	if (a.json) {
		char *text = json_dumps(counts, JSON_COMPACT | JSON_SORT_KEYS);
		if (text)
			puts(text);
		free(text);
	} else {
		char when[QF_TIME_STR];
		qf_clock_format(now, when);
		printf("purged rows past retention as of %s:\n", when);
		json_int_t total = 0;
		/* sorted by table name, so the output is stable */
		size_t n = 0;
		const char **keys = calloc(json_object_size(counts) + 1, sizeof(*keys));
		if (!keys) {
			json_decref(counts);
			qf_err_setrc(&err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
			return cli_fail(&err);
		}
		const char *key;
		json_t *v;
		json_object_foreach(counts, key, v)
			keys[n++] = key;
		qsort(keys, n, sizeof(*keys), cmp_names);
		for (size_t i = 0; i < n; i++) {
			json_int_t c = json_integer_value(json_object_get(counts, keys[i]));
			total += c;
			printf("  %-28s %lld\n", keys[i], (long long)c);
		}
		free(keys);
		printf("  %-28s %lld\n", "total", (long long)total);
	}
	json_decref(counts);
	return 0;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} subcommands[] = {
	{"migrate", db_migrate},
	{"purge", db_purge},
};

int cmd_db(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return QF_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 1, argv + 1);
	return cli_usage_error("db", "unknown subcommand '%s': use migrate or purge", argv[1]);
}
