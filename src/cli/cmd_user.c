/*
 * qforge user add [--admin | --role R] [--name NAME] [--store URL] EMAIL
 * qforge user list [--store URL]
 *
 * Accounts made by the operator (registration closed, or the first
 * administrator before the server is opened to anyone). The password is
 * read from standard input (one line; asked for without echo on a
 * terminal), never from the command line, where `ps` would show it.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "qf/auth.h"
#include "qf/limits.h"
#include "qf/store.h"
#include "qf/str.h"

static const char usage[] =
	"usage: qforge user add [options] EMAIL\n"
	"       qforge user list [--store URL]\n"
	"\n"
	"  --admin                  a platform administrator (same as --role admin)\n"
	"  --role R                 admin, researcher (default) or viewer\n"
	"  --name NAME              display name\n"
	"  --store URL              sqlite:PATH or postgresql://... (default $QF_STORE or\n"
	"                           sqlite:var/qforge.db)\n"
	"\n"
	"The password is read from standard input (one line), without echo on a terminal.\n";

enum { OPT_ADMIN = 256, OPT_ROLE, OPT_NAME, OPT_STORE, OPT_HELP };

static const struct option options[] = {
	{"admin", no_argument, NULL, OPT_ADMIN},   {"role", required_argument, NULL, OPT_ROLE},
	{"name", required_argument, NULL, OPT_NAME}, {"store", required_argument, NULL, OPT_STORE},
	{"help", no_argument, NULL, OPT_HELP},     {NULL, 0, NULL, 0},
};

/* One line of standard input into pw (without its newline); false at end of
 * input or when the line is longer than the buffer. */
static bool read_password(char *pw, size_t size)
{
	bool tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	if (tty) {
		fprintf(stderr, "password: ");
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	bool ok = fgets(pw, (int)size, stdin) != NULL;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	size_t n = ok ? strlen(pw) : 0;
	if (ok && n && pw[n - 1] != '\n' && !feof(stdin))
		return false;
	while (n && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
		pw[--n] = '\0';
	return ok;
}

static int user_add(qf_store *st, const char *email, const char *name, const char *role)
{
	char pw[QF_MAX_PASSWORD + 2];
	qf_err err;
	qf_err_init(&err);
	if (!read_password(pw, sizeof(pw)))
		return cli_usage_error("user", "no password on standard input (or longer than %d bytes)",
		                       QF_MAX_PASSWORD);
	char hash[QF_PWHASH_STR];
	int rc = qf_password_check(pw, &err);
	if (!rc)
		rc = qf_password_hash(pw, hash, &err);
	sodium_memzero(pw, sizeof(pw));
	if (rc)
		return cli_fail(&err);
	/* stored as the server stores it (logins look it up so) */
	char lower[321];
	qf_strlcpy(lower, email, sizeof(lower));
	for (char *p = lower; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	json_t *u = NULL;
	rc = qf_store_user_register(st, lower, name, hash, role, false, &u, &err);
	sodium_memzero(hash, sizeof(hash));
	if (rc)
		return cli_fail(&err);
	printf("%s %s %s%s\n", json_string_value(json_object_get(u, "id")),
	       json_string_value(json_object_get(u, "email")), json_string_value(json_object_get(u, "role")),
	       json_is_true(json_object_get(u, "first")) ? " (the first account: administrator)" : "");
	json_decref(u);
	return 0;
}

static int user_list(qf_store *st)
{
	qf_actor sys = qf_actor_system();
	qf_store_filter f = {.order_by = "created_at", .limit = QF_STORE_MAX_LIMIT};
	json_t *rows = NULL;
	qf_err err;
	qf_err_init(&err);
	if (qf_store_list(st, &sys, "users", &f, &rows, &err))
		return cli_fail(&err);
	size_t i;
	json_t *u;
	json_array_foreach(rows, i, u) {
		const char *id = json_string_value(json_object_get(u, "id"));
		if (!strcmp(id, QF_LOCAL_USER_ID))
			continue;
		printf("%s  %-10s %s%s\n", id, json_string_value(json_object_get(u, "role")),
		       json_string_value(json_object_get(u, "email")),
		       json_is_true(json_object_get(u, "disabled")) ? "  (disabled)" : "");
	}
	json_decref(rows);
	return 0;
}

int cmd_user(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? QF_EXIT_USAGE : 0;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "add") && strcmp(sub, "list"))
		return cli_usage_error("user", "unknown subcommand '%s' (add, list)", sub);
	const char *role = "researcher", *name = NULL, *store_url = NULL;
	int c, idx;
	optind = 1;
	opterr = 0;
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, ":", options, &idx)) != -1) {
		switch (c) {
		case OPT_ADMIN: role = "admin"; break;
		case OPT_ROLE: {
			qf_role r;
			if (qf_role_parse(optarg, &r) || r == QF_ROLE_NONE)
				return cli_usage_error("user", "--role is admin, researcher or viewer, not '%s'", optarg);
			role = optarg;
			break;
		}
		case OPT_NAME: name = optarg; break;
		case OPT_STORE: store_url = optarg; break;
		case OPT_HELP: fputs(usage, stdout); return 0;
		case ':':
			return cli_usage_error("user", "option %s needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("user", "unknown option %s", argv[optind - 1]);
		}
	}
	bool add = !strcmp(sub, "add");
	if (add && optind != argc - 1)
		return cli_usage_error("user", "user add takes one e-mail address");
	if (!add && optind != argc)
		return cli_usage_error("user", "unexpected argument '%s'", argv[optind]);
	if (add && (!strchr(argv[optind], '@') || strlen(argv[optind]) > 320))
		return cli_usage_error("user", "'%s' is not an e-mail address", argv[optind]);
	qf_store *st = NULL;
	qf_err err;
	qf_err_init(&err);
	if (qf_store_open(&st, store_url ? store_url : qf_store_default_url(), NULL, &err))
		return cli_fail(&err);
	int status = add ? user_add(st, argv[optind], name, role) : user_list(st);
	qf_store_close(st);
	return status;
}
