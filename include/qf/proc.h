/*
 * Running a program: argv array (never a shell), its own process group,
 * close-on-exec descriptors, resource limits, output captured to files with a
 * size cap, a wall-time limit that terminates then kills the whole group,
 * exec failure reported through a pipe, always reaped.
 *
 * Safe to call from a multi-threaded process: everything the child needs is
 * prepared before fork(); the child only calls async-signal-safe functions.
 */
#ifndef QF_PROC_H
#define QF_PROC_H

#include <stdbool.h>
#include <stddef.h>

#include "qf/err.h"

typedef struct qf_proc_opts {
	const char *const *argv;   /* argv[0]: a path, or a name looked up in PATH */
	const char *const *env;    /* "KEY=VALUE" set on top of the inherited
	                              environment (NULL-terminated; may be NULL) */
	const char *const *unset;  /* variable names removed (may be NULL) */
	const char *cwd;           /* working directory (NULL: inherit) */
	const char *stdin_path;    /* NULL: /dev/null */
	const char *stdout_path;   /* capture file (NULL: discard) */
	const char *stderr_path;   /* capture file (NULL: discard) */
	size_t capture_cap;        /* bytes kept per stream; 0: QF_MAX_CAPTURE_BYTES */
	double timeout;            /* wall-time limit, s; <= 0: none */
	double kill_grace;         /* SIGTERM -> SIGKILL delay, s; < 0: QF_KILL_GRACE_S */
	long memory_mb;            /* RLIMIT_AS, MiB; 0: unlimited (inherit) */
	bool unlimited_stack;      /* RLIMIT_STACK = infinity (xtb needs it) */
	volatile const int *cancel; /* when non-NULL and *cancel becomes non-zero,
	                               the group is terminated like on timeout */
} qf_proc_opts;

typedef struct qf_proc_result {
	int exit_code;        /* exit status, or -1 when ended by a signal */
	int term_signal;      /* the signal that ended it, 0 if none */
	bool timed_out;       /* we ended it because of the time limit */
	bool cancelled;       /* we ended it because *cancel was set */
	double wall_time;     /* s, fork to reap */
	double cpu_time;      /* s, user + system (wait4 rusage) */
	double maxrss_mb;     /* peak resident set, MiB (wait4 rusage) */
	bool stdout_truncated;
	bool stderr_truncated;
} qf_proc_result;

/* Run to the end. Returns 0 when the program was started and reaped,
 * whatever its exit status (look at r); a negative code when it could not
 * be started: QF_ESYS with code "proc.not_found" (program not in PATH or not
 * executable), "proc.exec" (exec failed: errno in the message), "proc.spawn"
 * (fork, pipe, files). */
int qf_proc_run(const qf_proc_opts *o, qf_proc_result *r, qf_err *err);

#endif
