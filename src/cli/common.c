/* Helpers shared by the subcommands. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_fail(const qf_err *e)
{
	fprintf(stderr, "qforge: %s (%s, %s)\n", e->message, qf_category_name(e->category), e->code);
	return qf_err_exit_status(e->category);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "qforge %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n'qforge %s --help' lists the options\n", cmd);
	return QF_EXIT_USAGE;
}

const char *cli_jobs_root(const char *given)
{
	if (given && *given)
		return given;
	const char *env = getenv("QF_JOBS_ROOT");
	return env && *env ? env : "var/jobs";
}

bool cli_is_spec_option(const char *name)
{
	static const char *const names[] = {
		"task", "level", "method", "alpb", "gbsa", "charge", "uhf", "etemp",
		"accuracy", "max-scc-iterations", "max-opt-cycles", "timeout", "threads",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

volatile sig_atomic_t cli_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	if (cli_stop < 100)
		cli_stop++;
}

void cli_catch_stop_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}
