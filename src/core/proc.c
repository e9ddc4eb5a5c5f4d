/* Running a program: see include/qf/proc.h.
 *
 * The shape follows libuv (src/unix/process.c) and git (run-command.c):
 * everything the child needs -- the resolved path, the complete envp, the
 * descriptors, the limits, the signal action -- is prepared before fork();
 * the child only makes async-signal-safe calls and reports a failure before
 * or at execve() through a close-on-exec pipe. The parent copies the output
 * pipes into the capture files, waits on a pidfd (or a 50 ms tick) with the
 * timeout, terminates and then kills the whole process group, and reaps the
 * child with wait4() for its resource usage.
 */
#include "qf/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qf/clock.h"
#include "qf/fs.h"
#include "qf/limits.h"
#include "qf/log.h"
#include "qf/str.h"

extern char **environ;

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Poll tick when no pidfd is available or a cancel flag must be watched. */
#define TICK_MS 50

/* Descriptors the close-on-exec fallback loop walks when RLIMIT_NOFILE is
 * unlimited (close_range() is missing only on kernels before 5.11). */
#define FALLBACK_MAX_FD 65536

/* Where the child failed; sent with errno through the report pipe. */
enum child_stage { STAGE_DUP = 1, STAGE_CWD, STAGE_RLIMIT, STAGE_EXEC };

struct child_report {
	int stage;
	int err;
};

/* Everything the child uses, computed in the parent. */
struct plan {
	const char *path;
	char *const *argv;
	char *const *envp;
	const char *cwd;
	int fd[3];     /* the child's stdin, stdout, stderr, as numbered in the parent */
	int report_fd; /* write end of the report pipe (close-on-exec) */
	bool set_stack;
	struct rlimit stack;
	bool set_as;
	struct rlimit as;
	int max_fd;    /* bound of the close-on-exec fallback loop */
	struct sigaction dfl;
};

/* One captured output stream, seen from the parent. */
struct stream {
	const char *path; /* capture file, NULL: discarded in the child */
	int pipe;         /* read end, -1 when closed or unused */
	int file;         /* capture file, -1 when none */
	size_t cap;
	size_t kept;      /* bytes written to the file */
	bool truncated;
	bool write_failed;
	char last;        /* last byte written (for the marker's newline) */
};

/* ---- child (async-signal-safe only) ------------------------------------ */

static void child_fail(int fd, int stage, int e) __attribute__((noreturn));
static void child_fail(int fd, int stage, int e)
{
	struct child_report rep = {stage, e};
	ssize_t k;
	do {
		k = write(fd, &rep, sizeof(rep));
	} while (k < 0 && errno == EINTR);
	_exit(127);
}

static void child_run(const struct plan *p) __attribute__((noreturn));
static void child_run(const struct plan *p)
{
	int report = p->report_fd;
	int fd[3] = {p->fd[0], p->fd[1], p->fd[2]};

	/* Own process group, so that a timeout reaches every descendant. The
	 * parent makes the same call: whichever runs first wins the race. */
	setpgid(0, 0);

	/* Move descriptors that sit on 0..2 but belong elsewhere above 2, so
	 * that one dup2() cannot clobber another's source. */
	if (report < 3) {
		report = fcntl(report, F_DUPFD_CLOEXEC, 3);
		if (report < 0)
			_exit(127);
	}
	for (int i = 0; i < 3; i++) {
		if (fd[i] < 3 && fd[i] != i) {
			fd[i] = fcntl(fd[i], F_DUPFD_CLOEXEC, 3);
			if (fd[i] < 0)
				child_fail(report, STAGE_DUP, errno);
		}
	}
	for (int i = 0; i < 3; i++) {
		if (fd[i] == i) {
			if (fcntl(i, F_SETFD, 0) < 0) /* dup2(i, i) would keep close-on-exec */
				child_fail(report, STAGE_DUP, errno);
		} else if (dup2(fd[i], i) < 0) {
			child_fail(report, STAGE_DUP, errno);
		}
	}

	/* Nothing but 0, 1, 2 survives execve(): descriptors another thread
	 * opened without O_CLOEXEC included. Marking (not closing) keeps the
	 * report pipe open until the exec itself. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
		for (int f = 3; f < p->max_fd; f++) {
			int fl = fcntl(f, F_GETFD);
			if (fl >= 0 && !(fl & FD_CLOEXEC))
				fcntl(f, F_SETFD, fl | FD_CLOEXEC);
		}
	}

	if (p->cwd && chdir(p->cwd) != 0)
		child_fail(report, STAGE_CWD, errno);
	if (p->set_stack && setrlimit(RLIMIT_STACK, &p->stack) != 0)
		child_fail(report, STAGE_RLIMIT, errno);
	if (p->set_as && setrlimit(RLIMIT_AS, &p->as) != 0)
		child_fail(report, STAGE_RLIMIT, errno);

	/* Ignored signals survive execve(); handlers of the parent must not run
	 * here. SIGKILL and SIGSTOP refuse. glibc's sigaction() also refuses its
	 * internal signals (32 and 33), which an ancestor may still have left
	 * ignored (seen under make in CI): those go to the kernel directly, with
	 * its own struct (handler, flags, restorer, mask), SIG_DFL needing no
	 * restorer. */
	for (int s = 1; s < NSIG; s++) {
		if (sigaction(s, &p->dfl, NULL) != 0 && s != SIGKILL && s != SIGSTOP) {
			struct {
				void *handler;
				unsigned long flags;
				void *restorer;
				unsigned long mask;
			} kdfl = {SIG_DFL, 0, NULL, 0};
			syscall(SYS_rt_sigaction, s, &kdfl, NULL, sizeof(kdfl.mask));
		}
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	execve(p->path, p->argv, p->envp);
	child_fail(report, STAGE_EXEC, errno);
}

/* ---- parent ------------------------------------------------------------ */

static size_t env_name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');
	return eq ? (size_t)(eq - entry) : strlen(entry);
}

static bool env_has_name(const char *const *list, const char *name, size_t n)
{
	for (const char *const *p = list; p && *p; p++)
		if (env_name_len(*p) == n && !strncmp(*p, name, n))
			return true;
	return false;
}

/* The child's complete environment: the inherited one minus o->unset, with
 * o->env on top (a later entry of o->env wins over an earlier one). The
 * strings are not copied; the array is heap (free()). */
static int build_envp(const qf_proc_opts *o, char ***out, qf_err *err)
{
	size_t n = 0, extra = 0;
	for (char **e = environ; e && *e; e++)
		n++;
	for (const char *const *e = o->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || eq == *e)
			return qf_err_set(err, QF_CAT_SYSTEM, "proc.spawn",
			                  "environment entry '%s' is not KEY=VALUE: fix the caller", *e);
		extra++;
	}
	char **envp = calloc(n + extra + 1, sizeof(*envp));
	if (!envp)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "proc.spawn",
		                    "out of memory building the environment of a child process");
	size_t k = 0;
	for (char **e = environ; e && *e && k < n; e++) {
		size_t len = env_name_len(*e);
		if (env_has_name(o->unset, *e, len) || env_has_name(o->env, *e, len))
			continue;
		envp[k++] = *e;
	}
	for (const char *const *e = o->env; e && *e; e++) {
		size_t len = env_name_len(*e);
		if (env_has_name(e + 1, *e, len))
			continue;
		envp[k++] = (char *)*e;
	}
	envp[k] = NULL;
	*out = envp;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t k = write(fd, p, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

/* Keep the first s->cap bytes in the capture file, drop the rest. */
static void stream_keep(struct stream *s, const char *data, size_t len)
{
	size_t room = s->cap - s->kept;
	size_t n = len < room ? len : room;
	if (n < len)
		s->truncated = true;
	if (!n || s->file < 0 || s->write_failed)
		return;
	if (write_all(s->file, data, n)) {
		s->write_failed = true;
		qf_log_warn("proc", "could not write capture file %s: %s; the rest of this output is lost",
		            s->path, strerror(errno));
		return;
	}
	s->kept += n;
	s->last = data[n - 1];
}

/* Read what the pipe holds (non-blocking); close it at EOF. */
static void stream_read(struct stream *s)
{
	char buf[65536];
	/* Bounded, so that a fast writer cannot keep us from the timeout. */
	for (int round = 0; round < 16; round++) {
		ssize_t k = read(s->pipe, buf, sizeof(buf));
		if (k > 0) {
			stream_keep(s, buf, (size_t)k);
			if ((size_t)k < sizeof(buf))
				return;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			return;
		close_fd(&s->pipe); /* EOF, or an error we cannot recover from */
		return;
	}
}

static void stream_mark_truncated(struct stream *s)
{
	if (!s->truncated || s->file < 0 || s->write_failed)
		return;
	char marker[96];
	snprintf(marker, sizeof(marker), "%s[qforge: output truncated at %zu bytes]\n",
	         s->kept && s->last != '\n' ? "\n" : "", s->cap);
	if (write_all(s->file, marker, strlen(marker)))
		qf_log_warn("proc", "could not write capture file %s: %s", s->path, strerror(errno));
}

static int ms_until(double t, double now)
{
	double ms = ceil((t - now) * 1000.0);
	if (ms <= 0)
		return 0;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int min_wait(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* Has the child exited? Leaves it unreaped (a zombie keeps its pid, and so
 * its process group id, from being reused until we kill the group). */
static bool child_exited(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno != EINTR; /* ECHILD: nothing left to wait for */
	return si.si_pid == pid;
}

static void signal_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) != 0 && errno == ESRCH)
		kill(pid, sig);
}

/* Read both pipes for at most `bound` seconds or until both are at EOF. */
static void drain(struct stream *s, double bound)
{
	double end = qf_clock_mono() + bound;
	while (s[0].pipe >= 0 || s[1].pipe >= 0) {
		struct pollfd pfd[2];
		int n = 0;
		int which[2];
		for (int i = 0; i < 2; i++) {
			if (s[i].pipe >= 0) {
				pfd[n] = (struct pollfd){.fd = s[i].pipe, .events = POLLIN};
				which[n++] = i;
			}
		}
		double now = qf_clock_mono();
		if (now >= end)
			break;
		int k = poll(pfd, (nfds_t)n, ms_until(end, now));
		if (k < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n && k > 0; i++)
			if (pfd[i].revents)
				stream_read(&s[which[i]]);
	}
	for (int i = 0; i < 2; i++)
		if (s[i].pipe >= 0) {
			qf_log_warn("proc", "a descendant outside the process group still holds the %s pipe; "
			            "its remaining output is dropped", i ? "stderr" : "stdout");
			close_fd(&s[i].pipe);
		}
}

/* The report of a child that failed before its program ran, as an error. */
static int report_error(const struct child_report *rep, const qf_proc_opts *o, const char *path,
                        qf_err *err)
{
	const char *what = strerror(rep->err);
	switch (rep->stage) {
	case STAGE_CWD:
		return qf_err_set(err, QF_CAT_SYSTEM, "proc.spawn",
		                  "could not enter working directory %s for %s: %s", o->cwd, path, what);
	case STAGE_RLIMIT:
		return qf_err_set(err, QF_CAT_SYSTEM, "proc.spawn",
		                  "could not set resource limits for %s: %s", path, what);
	case STAGE_EXEC:
		return qf_err_set(err, QF_CAT_SYSTEM, "proc.exec",
		                  "could not execute %s: %s; check that it is a program for this machine",
		                  path, what);
	default:
		return qf_err_set(err, QF_CAT_SYSTEM, "proc.spawn",
		                  "could not set up the descriptors of %s: %s", path, what);
	}
}

static int open_capture(struct stream *s, const char *path, size_t cap, int *child_fd, qf_err *err)
{
	s->path = path;
	s->cap = cap;
	if (!path) {
		*child_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (*child_fd < 0)
			return qf_err_set(err, QF_CAT_SYSTEM, "proc.spawn", "could not open /dev/null: %s",
			                  strerror(errno));
		return 0;
	}
	s->file = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (s->file < 0)
		return qf_err_set(err, QF_CAT_SYSTEM, "proc.spawn",
		                  "could not create capture file %s: %s", path, strerror(errno));
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return qf_err_set(err, QF_CAT_SYSTEM, "proc.spawn", "could not create a pipe: %s",
		                  strerror(errno));
	s->pipe = p[0];
	*child_fd = p[1];
	int fl = fcntl(s->pipe, F_GETFL);
	if (fl < 0 || fcntl(s->pipe, F_SETFL, fl | O_NONBLOCK) < 0)
		return qf_err_set(err, QF_CAT_SYSTEM, "proc.spawn", "could not set up a pipe: %s",
		                  strerror(errno));
	return 0;
}

/* Limits for the child, computed here so the child only calls setrlimit. */
static void plan_limits(struct plan *p, const qf_proc_opts *o)
{
	struct rlimit cur;
	if (o->unlimited_stack && getrlimit(RLIMIT_STACK, &cur) == 0) {
		p->set_stack = true;
		/* Unprivileged processes cannot go above the hard limit. */
		p->stack.rlim_cur = cur.rlim_max;
		p->stack.rlim_max = cur.rlim_max;
	}
	if (o->memory_mb > 0 && getrlimit(RLIMIT_AS, &cur) == 0) {
		rlim_t want = (rlim_t)o->memory_mb * 1024 * 1024;
		if (cur.rlim_max != RLIM_INFINITY && cur.rlim_max < want)
			want = cur.rlim_max;
		p->set_as = true;
		p->as.rlim_cur = want;
		p->as.rlim_max = want;
	}
	p->max_fd = FALLBACK_MAX_FD;
	if (getrlimit(RLIMIT_NOFILE, &cur) == 0 && cur.rlim_cur != RLIM_INFINITY &&
	    cur.rlim_cur < (rlim_t)FALLBACK_MAX_FD)
		p->max_fd = (int)cur.rlim_cur;
}

int qf_proc_run(const qf_proc_opts *o, qf_proc_result *r, qf_err *err)
{
	qf_proc_result local;
	if (!r)
		r = &local;
	memset(r, 0, sizeof(*r));
	r->exit_code = -1;
	if (!o || !o->argv || !o->argv[0] || !o->argv[0][0])
		return qf_err_set(err, QF_CAT_SYSTEM, "proc.spawn",
		                  "no program to run: argv[0] is missing; fix the caller");

	char path[QF_MAX_PATH];
	if (!qf_fs_which(o->argv[0], path, sizeof(path)))
		return qf_err_set(err, QF_CAT_SYSTEM, "proc.not_found",
		                  "program %s was not found in PATH or is not an executable file: "
		                  "install it or give its full path", o->argv[0]);

	int rc = 0;
	char **envp = NULL;
	struct plan plan;
	memset(&plan, 0, sizeof(plan));
	plan.fd[0] = plan.fd[1] = plan.fd[2] = -1;
	int report[2] = {-1, -1};
	int pidfd = -1;
	size_t cap = o->capture_cap ? o->capture_cap : (size_t)QF_MAX_CAPTURE_BYTES;
	struct stream s[2] = {{.pipe = -1, .file = -1}, {.pipe = -1, .file = -1}};

	rc = build_envp(o, &envp, err);
	if (rc)
		return rc;

	const char *in = o->stdin_path ? o->stdin_path : "/dev/null";
	plan.fd[0] = open(in, O_RDONLY | O_CLOEXEC);
	if (plan.fd[0] < 0) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "proc.spawn", "could not open %s as standard input: %s",
		                in, strerror(errno));
		goto out_fds;
	}
	rc = open_capture(&s[0], o->stdout_path, cap, &plan.fd[1], err);
	if (rc)
		goto out_fds;
	rc = open_capture(&s[1], o->stderr_path, cap, &plan.fd[2], err);
	if (rc)
		goto out_fds;
	if (pipe2(report, O_CLOEXEC) != 0) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "proc.spawn", "could not create a pipe: %s",
		                strerror(errno));
		goto out_fds;
	}

	plan.path = path;
	plan.argv = (char *const *)o->argv;
	plan.envp = envp;
	plan.cwd = o->cwd;
	plan.report_fd = report[1];
	plan_limits(&plan, o);
	plan.dfl.sa_handler = SIG_DFL;
	sigemptyset(&plan.dfl.sa_mask);

	/* All signals blocked across fork(): no handler of ours may run in the
	 * child before it has reset the dispositions. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	double t0 = qf_clock_mono();
	pid_t pid = fork();
	if (pid == 0)
		child_run(&plan);
	int fork_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "proc.spawn", "could not start %s: fork failed: %s",
		                path, strerror(fork_errno));
		goto out_fds;
	}
	setpgid(pid, pid); /* EACCES once the child has exec'd: it did it itself */

	for (int i = 0; i < 3; i++)
		close_fd(&plan.fd[i]);
	close_fd(&report[1]);

	/* EOF: execve() succeeded (the pipe is close-on-exec). A report: the
	 * child failed before its program ran and is exiting with 127. */
	struct child_report rep;
	ssize_t k;
	do {
		k = read(report[0], &rep, sizeof(rep));
	} while (k < 0 && errno == EINTR);
	close_fd(&report[0]);
	if (k > 0) {
		if (k != (ssize_t)sizeof(rep))
			rep = (struct child_report){STAGE_DUP, EIO};
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
		}
		rc = report_error(&rep, o, path, err);
		goto out_fds;
	}

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	double deadline = o->timeout > 0 ? t0 + o->timeout : 0;
	double grace = o->kill_grace < 0 ? QF_KILL_GRACE_S : o->kill_grace;
	double kill_at = 0;
	bool termed = false, killed = false;
	for (;;) {
		struct pollfd pfd[3];
		int which[3];
		int n = 0;
		for (int i = 0; i < 2; i++) {
			if (s[i].pipe >= 0) {
				pfd[n] = (struct pollfd){.fd = s[i].pipe, .events = POLLIN};
				which[n++] = i;
			}
		}
		if (pidfd >= 0) {
			pfd[n] = (struct pollfd){.fd = pidfd, .events = POLLIN};
			which[n++] = 2;
		}
		double now = qf_clock_mono();
		int wait_ms = -1;
		if (!termed && deadline > 0)
			wait_ms = ms_until(deadline, now);
		if (termed && !killed)
			wait_ms = min_wait(wait_ms, ms_until(kill_at, now));
		if (pidfd < 0 || o->cancel)
			wait_ms = min_wait(wait_ms, TICK_MS);
		int ready = poll(pfd, (nfds_t)n, wait_ms);
		if (ready < 0 && errno != EINTR) {
			qf_log_warn("proc", "poll failed while running %s: %s", path, strerror(errno));
			close_fd(&pidfd); /* go on ticking */
		}
		bool woke = false;
		for (int i = 0; i < n && ready > 0; i++) {
			if (!pfd[i].revents)
				continue;
			if (which[i] == 2)
				woke = true;
			else
				stream_read(&s[which[i]]);
		}
		if (child_exited(pid))
			break;
		if (woke) {
			/* The pidfd said "exited" before waitid could see it: rare; fall
			 * back to ticking rather than spinning on a ready descriptor. */
			close_fd(&pidfd);
		}
		now = qf_clock_mono();
		if (!termed) {
			bool cancel = o->cancel && *o->cancel;
			if (cancel || (deadline > 0 && now >= deadline)) {
				if (cancel)
					r->cancelled = true;
				else
					r->timed_out = true;
				signal_group(pid, SIGTERM);
				termed = true;
				kill_at = now + grace;
			}
		}
		/* xtb deadlocks on SIGTERM now and then: the kill always follows. */
		if (termed && !killed && now >= kill_at) {
			signal_group(pid, SIGKILL);
			killed = true;
		}
	}

	/* The child is a zombie, so its pid still names the group: no descendant
	 * survives it holding our pipes or the machine. */
	kill(-pid, SIGKILL);
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	int status = 0;
	pid_t got;
	do {
		got = wait4(pid, &status, 0, &ru);
	} while (got < 0 && errno == EINTR);
	r->wall_time = qf_clock_mono() - t0;
	if (got == pid) {
		if (WIFEXITED(status)) {
			r->exit_code = WEXITSTATUS(status);
		} else if (WIFSIGNALED(status)) {
			r->exit_code = -1;
			r->term_signal = WTERMSIG(status);
		}
		r->cpu_time = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
		              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
		r->maxrss_mb = (double)ru.ru_maxrss / 1024.0;
	} else {
		qf_log_warn("proc", "could not reap %s (pid %ld): %s; is SIGCHLD ignored?", path,
		            (long)pid, strerror(errno));
	}

	drain(s, QF_PROC_DRAIN_S);
	for (int i = 0; i < 2; i++)
		stream_mark_truncated(&s[i]);
	r->stdout_truncated = s[0].truncated;
	r->stderr_truncated = s[1].truncated;
	rc = 0;

out_fds:
	close_fd(&pidfd);
	close_fd(&report[0]);
	close_fd(&report[1]);
	for (int i = 0; i < 3; i++)
		close_fd(&plan.fd[i]);
	for (int i = 0; i < 2; i++) {
		close_fd(&s[i].pipe);
		close_fd(&s[i].file);
	}
	free(envp);
	return rc;
}
