/* The qforge command table and what subcommands share. */
#ifndef QF_CLI_H
#define QF_CLI_H

#include <signal.h>
#include <stdbool.h>

#include "qf/err.h"
#include "qf/spec.h"

typedef struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} cli_command;

int cmd_run(int argc, char **argv);
int cmd_db(int argc, char **argv);
int cmd_reindex(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_batch(int argc, char **argv);
int cmd_slurm(int argc, char **argv);
int cmd_engine(int argc, char **argv); /* hidden: summary NULL */
int cmd_embed(int argc, char **argv);  /* hidden */
int cmd_props(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_user(int argc, char **argv);

/* Print "qforge: <message>" to stderr and return the exit status for e. */
int cli_fail(const qf_err *e);
/* Print a usage error and return QF_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* SIGTERM and SIGINT count up cli_stop (a long-running command's stop
 * request: 1 drain, 2 stop now). */
extern volatile sig_atomic_t cli_stop;
void cli_catch_stop_signals(void);

/* Default jobs root: $QF_JOBS_ROOT or var/jobs. */
const char *cli_jobs_root(const char *given);

/* Spec options shared by every command that submits work: the long options
 * "task", "level", "method", "alpb", "gbsa", "charge", "uhf", "etemp",
 * "accuracy", "max-scc-iterations", "max-opt-cycles", "timeout", "threads".
 * Returns true when name is one of them. */
bool cli_is_spec_option(const char *name);

#endif
