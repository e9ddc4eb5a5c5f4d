/* What qforge query and qforge export share: the options that make a query
 * (src/cli/cmd_query.c), the store and the actor. */
#ifndef QF_CLI_QUERY_ARGS_H
#define QF_CLI_QUERY_ARGS_H

#include <stdbool.h>

#include "qf/query.h"
#include "qf/store.h"

typedef struct query_args {
	const char *filter;   /* the ASE-style filter (positional) */
	const char *postgrest; /* --postgrest QUERY_STRING instead */
	const char *range, *prefer;
	const char *order, *select, *view;
	const char *limit, *offset;
	const char *format, *output;
	const char *store, *user;
	bool help;
} query_args;

/* The option table entries both commands accept, and their handling:
 * returns true when opt was one of them (optarg consumed). */
bool query_args_option(query_args *a, int opt, const char *optarg);
/* getopt_long long options, terminated by the caller's. */
#define QUERY_ARGS_OPTIONS                                                                          \
	{"order", required_argument, NULL, 1000}, {"limit", required_argument, NULL, 1001},             \
	{"offset", required_argument, NULL, 1002}, {"select", required_argument, NULL, 1003},          \
	{"view", required_argument, NULL, 1004}, {"postgrest", required_argument, NULL, 1005},         \
	{"range", required_argument, NULL, 1006}, {"prefer", required_argument, NULL, 1007},           \
	{"format", required_argument, NULL, 1008}, {"output", required_argument, NULL, 'o'},          \
	{"store", required_argument, NULL, 1009}, {"user", required_argument, NULL, 1010},             \
	{"help", no_argument, NULL, 1011}

/* Parse argv into a (one positional FILTER at most); an exit status on a
 * usage error, -1 to go on. */
int query_args_parse(const char *cmd, int argc, char **argv, query_args *a);
/* Open the store, make the actor (--user, else the local user) and the
 * query. 0, or an exit status (the message printed). */
int query_args_open(const char *cmd, const query_args *a, qf_store **s, qf_actor *actor,
                    qf_query *q);

#endif
