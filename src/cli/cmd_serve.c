/*
 * qforge serve [--port 8080] [--bind 127.0.0.1] [--store URL] [--workers N] ...
 *
 * The HTTP API and the web app in front of the store, with a supervised
 * pool of workers (include/qf/http.h) and the scheduled retention (an
 * hourly qforge db purge on a thread of its own). SIGTERM or SIGINT: stop accepting,
 * finish the requests under way, drain the workers; a second one stops
 * their running jobs and gives them back to the queue.
 */
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "qf/fs.h"
#include "qf/http.h"
#include "qf/log.h"
#include "qf/store.h"
#include "qf/str.h"

static const char usage[] =
	"usage: qforge serve [options]\n"
	"\n"
	"Serves the JSON API (/api/v1/), the web app, /metrics, /livez and /readyz,\n"
	"and runs workers that claim what is submitted.\n"
	"\n"
	"  --port N                 port to listen on (default 8080; 0: any free port)\n"
	"  --bind ADDR              address to listen on (default 127.0.0.1; 0.0.0.0 or ::\n"
	"                           for every interface)\n"
	"  --store URL              sqlite:PATH or postgresql://... (default $QF_STORE or\n"
	"                           sqlite:var/qforge.db)\n"
	"  --workers N              worker processes (default: the number of cores;\n"
	"                           0: an API-only node)\n"
	"  --worker-arg ARG         one more argument for each worker (repeatable), e.g.\n"
	"                           --worker-arg --concurrency --worker-arg 1\n"
	"  --registration MODE      who may register after the first account (which becomes\n"
	"                           the administrator): open (default), closed, invite\n"
	"  --threads N              request threads (default: the number of cores)\n"
	"  --jobs-root DIR          the workers' job directories (default $QF_JOBS_ROOT or\n"
	"                           var/jobs)\n"
	"  --web-root DIR           the built web app (default: web/dist)\n"
	"  --secret-key FILE        key that seals secrets at rest (default var/secret.key,\n"
	"                           created mode 0600 when missing; never in the database)\n"
	"  --secure-cookies         mark cookies Secure (when served behind TLS)\n"
	"  --retention-interval S   run the retention (what qforge db purge does: sessions\n"
	"                           idle 7 days, metrics and usage logs 90 days, audit 1\n"
	"                           year) every S seconds (default 3600; 0: never)\n"
	"  --port-file FILE         write the port listened on to FILE\n"
	"  --quiet                  no start-up banner\n"
	"\n"
	"Notifications (users choose them in their preferences):\n"
	"  --smtp-url URL           the mail server, smtp://HOST[:PORT] (default: no e-mail)\n"
	"  --smtp-from ADDR         the sender address of notification e-mails\n"
	"  --smtp-tls MODE          none, starttls (default) or tls (implicit, smtps)\n"
	"  --smtp-user USER         log in to the mail server as USER (SMTP AUTH; needs\n"
	"                           --smtp-tls starttls or tls)\n"
	"  --smtp-password-file FILE  the password of --smtp-user: FILE's first line\n"
	"  --smtp-ca-file FILE      trust the CAs in FILE (PEM) for the mail server's\n"
	"                           certificate (default: the system's)\n"
	"  --notify-allow HOST[:PORT]  let Slack webhooks also go to https://HOST:PORT\n"
	"                           (repeatable; default: hooks.slack.com:443 only; private,\n"
	"                           loopback and link-local addresses stay refused)\n"
	"  --notify-backoff SECONDS wait before the first retry of a failed send, doubling\n"
	"                           after each (default 30, at least 0.1)\n"
	"  --notify-attempts N      tries before a notification fails for good (default 8)\n"
	"  --notify-test-port PORT  tests only: also allow plain http to 127.0.0.1:PORT and\n"
	"                           [::1]:PORT (a receiver the test started)\n";

enum {
	OPT_PORT = 256, OPT_BIND, OPT_STORE, OPT_WORKERS, OPT_WORKER_ARG, OPT_REGISTRATION,
	OPT_THREADS, OPT_JOBS_ROOT, OPT_WEB_ROOT, OPT_SECRET, OPT_SECURE, OPT_PORT_FILE, OPT_QUIET,
	OPT_SMTP_URL, OPT_SMTP_FROM, OPT_SMTP_TLS, OPT_SMTP_USER, OPT_SMTP_PASSWORD_FILE,
	OPT_SMTP_CA_FILE, OPT_NOTIFY_ALLOW, OPT_NOTIFY_BACKOFF,
	OPT_NOTIFY_ATTEMPTS, OPT_NOTIFY_TEST_PORT, OPT_RETENTION, OPT_HELP,
};

static const struct option options[] = {
	{"port", required_argument, NULL, OPT_PORT},
	{"bind", required_argument, NULL, OPT_BIND},
	{"store", required_argument, NULL, OPT_STORE},
	{"workers", required_argument, NULL, OPT_WORKERS},
	{"worker-arg", required_argument, NULL, OPT_WORKER_ARG},
	{"registration", required_argument, NULL, OPT_REGISTRATION},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"jobs-root", required_argument, NULL, OPT_JOBS_ROOT},
	{"web-root", required_argument, NULL, OPT_WEB_ROOT},
	{"secret-key", required_argument, NULL, OPT_SECRET},
	{"secure-cookies", no_argument, NULL, OPT_SECURE},
	{"retention-interval", required_argument, NULL, OPT_RETENTION},
	{"port-file", required_argument, NULL, OPT_PORT_FILE},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{"smtp-url", required_argument, NULL, OPT_SMTP_URL},
	{"smtp-from", required_argument, NULL, OPT_SMTP_FROM},
	{"smtp-tls", required_argument, NULL, OPT_SMTP_TLS},
	{"smtp-user", required_argument, NULL, OPT_SMTP_USER},
	{"smtp-password-file", required_argument, NULL, OPT_SMTP_PASSWORD_FILE},
	{"smtp-ca-file", required_argument, NULL, OPT_SMTP_CA_FILE},
	{"notify-allow", required_argument, NULL, OPT_NOTIFY_ALLOW},
	{"notify-backoff", required_argument, NULL, OPT_NOTIFY_BACKOFF},
	{"notify-attempts", required_argument, NULL, OPT_NOTIFY_ATTEMPTS},
	{"notify-test-port", required_argument, NULL, OPT_NOTIFY_TEST_PORT},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

/* The SMTP password: the first line of path (a file only the operator can
 * read; never an argument, which every local user sees in ps). */
static int read_password(const char *path, char *out, size_t size, qf_err *err)
{
	char *data = NULL;
	size_t len = 0;
	int rc = qf_fs_read(path, QF_SMTP_MAX_PASSWORD + 2, &data, &len, err);
	if (rc) {
		char why[sizeof(err->message)];
		qf_strlcpy(why, err->message, sizeof(why));
		return qf_err_set(err, QF_CAT_VALIDATION, "notify.smtp",
		                  "cannot read --smtp-password-file %s: %s", path, why);
	}
	size_t n = strcspn(data, "\r\n");
	if (n >= size || memchr(data, '\0', n))
		rc = qf_err_set(err, QF_CAT_VALIDATION, "notify.smtp",
		                "--smtp-password-file %s: the password is one line of at most %d bytes",
		                path, QF_SMTP_MAX_PASSWORD);
	else {
		memcpy(out, data, n);
		out[n] = '\0';
	}
	sodium_memzero(data, len);
	free(data);
	return rc;
}

/* How to get in: the first visitor registers the administrator, else one
 * logs in (or an administrator makes the account). */
static void banner(const qf_server_opts *o, int port, const char *store_url)
{
	const char *host = o->bind;
	if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::"))
		host = "127.0.0.1";
	bool v6 = strchr(host, ':') != NULL;
	int64_t users = -1;
	qf_store *st = NULL;
	qf_err e;
	qf_err_init(&e);
	if (!qf_store_open(&st, store_url, NULL, &e)) {
		qf_actor sys = qf_actor_system();
		qf_store_filter f = {0};
		if (qf_store_count(st, &sys, "users", &f, &users, &e))
			users = -1;
		qf_store_close(st);
	}
	printf("Quantum Forge is serving at http://%s%s%s:%d/\n", v6 ? "[" : "", host, v6 ? "]" : "", port);
	printf("  store: %s; workers: %d; registration: %s\n", store_url,
	       o->workers < 0 ? (int)sysconf(_SC_NPROCESSORS_ONLN) : o->workers,
	       o->registration == QF_REG_OPEN     ? "open"
	       : o->registration == QF_REG_CLOSED ? "closed"
	                                          : "by invitation");
	/* the built-in local user (qforge run --store) is not an account */
	if (users >= 0 && users <= 1)
		printf("  No account yet: open the address above and register; the first account is the\n"
		       "  administrator (or: qforge user add --admin EMAIL --store %s).\n", store_url);
	else
		printf("  Log in there with your e-mail address and password; scripts send\n"
		       "  'Authorization: Bearer <token>' (POST /api/v1/auth/login, or an API key).\n");
	printf("  API: /api/v1/openapi.json; stop with Ctrl-C (SIGTERM drains the workers).\n");
	fflush(stdout);
}

int cmd_serve(int argc, char **argv)
{
	qf_server_opts o;
	qf_server_opts_init(&o);
	o.jobs_root = cli_jobs_root(NULL);
	char worker_args[4096] = "";
	qf_notify_policy policy;
	qf_notify_policy_init(&policy);
	o.notify_policy = &policy;
	o.smtp.tls = QF_SMTP_STARTTLS;
	const char *password_file = NULL;
	char password[QF_SMTP_MAX_PASSWORD + 1];
	qf_err err;
	qf_err_init(&err);
	double d;
	int c, idx, rc;
	long l;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", options, &idx)) != -1) {
		switch (c) {
		case OPT_PORT:
			if (!qf_parse_int(optarg, 0, 65535, &l))
				return cli_usage_error("serve", "--port needs a number from 0 to 65535");
			o.port = (int)l;
			break;
		case OPT_BIND: o.bind = optarg; break;
		case OPT_STORE: o.store_url = optarg; break;
		case OPT_WORKERS:
			if (!qf_parse_int(optarg, 0, 256, &l))
				return cli_usage_error("serve", "--workers needs a number from 0 to 256");
			o.workers = (int)l;
			break;
		case OPT_WORKER_ARG: {
			if (!*optarg || strpbrk(optarg, " \t\n"))
				return cli_usage_error("serve", "--worker-arg takes one word, without blanks: '%s'",
				                       optarg);
			size_t n = strlen(worker_args);
			if (n + strlen(optarg) + 2 > sizeof(worker_args))
				return cli_usage_error("serve", "too many --worker-arg");
			snprintf(worker_args + n, sizeof(worker_args) - n, "%s%s", n ? " " : "", optarg);
			break;
		}
		case OPT_REGISTRATION:
			if (!strcmp(optarg, "open"))
				o.registration = QF_REG_OPEN;
			else if (!strcmp(optarg, "closed"))
				o.registration = QF_REG_CLOSED;
			else if (!strcmp(optarg, "invite"))
				o.registration = QF_REG_INVITE;
			else
				return cli_usage_error("serve", "--registration is open, closed or invite, not '%s'",
				                       optarg);
			break;
		case OPT_THREADS:
			if (!qf_parse_int(optarg, 1, 256, &l))
				return cli_usage_error("serve", "--threads needs a number from 1 to 256");
			o.threads = (int)l;
			break;
		case OPT_JOBS_ROOT: o.jobs_root = optarg; break;
		case OPT_WEB_ROOT: o.web_root = optarg; break;
		case OPT_SECRET: o.secret_key_file = optarg; break;
		case OPT_SECURE: o.secure_cookies = true; break;
		case OPT_RETENTION:
			if (!qf_parse_int(optarg, 0, 366L * 86400, &l))
				return cli_usage_error("serve", "--retention-interval needs seconds from 0 (never) "
				                                "to 31622400 (a year)");
			o.retention_interval = l ? (double)l : -1;
			break;
		case OPT_PORT_FILE: o.port_file = optarg; break;
		case OPT_QUIET: o.quiet = true; break;
		case OPT_SMTP_URL: o.smtp.url = optarg; break;
		case OPT_SMTP_FROM: o.smtp.from = optarg; break;
		case OPT_SMTP_TLS:
			if (qf_smtp_tls_parse(optarg, &o.smtp.tls))
				return cli_usage_error("serve", "--smtp-tls is none, starttls or tls, not '%s'",
				                       optarg);
			break;
		case OPT_SMTP_USER: o.smtp.user = optarg; break;
		case OPT_SMTP_PASSWORD_FILE: password_file = optarg; break;
		case OPT_SMTP_CA_FILE: o.smtp.ca_file = optarg; break;
		case OPT_NOTIFY_ALLOW:
			if (qf_notify_policy_allow(&policy, optarg, &err))
				return cli_usage_error("serve", "--notify-allow: %s", err.message);
			break;
		case OPT_NOTIFY_BACKOFF:
			if (!qf_parse_double(optarg, &d) || d < QF_NOTIFY_BACKOFF_MIN_S ||
			    d > QF_NOTIFY_BACKOFF_MAX_S)
				return cli_usage_error("serve", "--notify-backoff needs seconds from %g to %g",
				                       QF_NOTIFY_BACKOFF_MIN_S, QF_NOTIFY_BACKOFF_MAX_S);
			o.notify_backoff_s = d;
			break;
		case OPT_NOTIFY_ATTEMPTS:
			if (!qf_parse_int(optarg, 1, 100, &l))
				return cli_usage_error("serve", "--notify-attempts needs a number from 1 to 100");
			o.notify_max_attempts = (int)l;
			break;
		case OPT_NOTIFY_TEST_PORT:
			if (!qf_parse_int(optarg, 1, 65535, &l) ||
			    qf_notify_policy_allow_test(&policy, (int)l, &err))
				return cli_usage_error("serve", "--notify-test-port needs a port from 1 to 65535 "
				                                "(given at most twice)");
			break;
		case OPT_HELP: fputs(usage, stdout); return 0;
		case ':':
			return cli_usage_error("serve", "option %s needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("serve", "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
	if (worker_args[0])
		o.worker_args = worker_args;
	const char *store_url = o.store_url ? o.store_url : qf_store_default_url();
	o.store_url = store_url;
	if (qf_log_get_level() < QF_LOG_INFO)
		qf_log_set_level(QF_LOG_INFO);

	cli_catch_stop_signals();
	signal(SIGPIPE, SIG_IGN);

	if (password_file) {
		if (read_password(password_file, password, sizeof(password), &err))
			return cli_usage_error("serve", "%s", err.message);
		o.smtp.password = password;
	}
	if (o.smtp.url && qf_notify_smtp_check(&o.smtp, &err)) {
		sodium_memzero(password, sizeof(password));
		return cli_usage_error("serve", "%s", err.message);
	}
	qf_server *s = NULL;
	rc = qf_server_new(&s, &o, &err);
	/* the notifier keeps its own copy */
	sodium_memzero(password, sizeof(password));
	if (rc)
		return cli_fail(&err);
	if (!o.quiet)
		banner(&o, qf_server_port(s), store_url);
	rc = qf_server_run(s, &cli_stop, &err);
	qf_server_free(s);
	if (rc)
		return cli_fail(&err);
	fprintf(stderr, "qforge serve: stopped\n");
	return 0;
}
