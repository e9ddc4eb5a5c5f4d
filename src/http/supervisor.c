/*
 * The workers of qforge serve: N processes of `qforge worker` (the very
 * same program and code; the server process itself never runs xtb or
 * libxtb), one calculation at a time each, started and watched here.
 *
 *   - each gets a pipe on descriptor 3 (--wake-fd 3): the server writes a
 *     byte after it commits new work, and the worker claims at once instead
 *     of at its next poll;
 *   - each dies with the server (PR_SET_PDEATHSIG: SIGTERM, so it drains;
 *     the signal follows the thread that started it: the server's main
 *     thread, or this supervisor's thread, which ends only when stopping
 *     the workers anyway);
 *   - one that dies is started again after a backoff (1 s, doubling to
 *     QF_WORKER_RESTART_MAX_S; reset once it ran QF_WORKER_HEALTHY_S), logged
 *     and counted (qforge_worker_restarts_total);
 *   - stopping sends SIGTERM (drain: running jobs finish and are committed),
 *     and a second SIGTERM when asked to stop hard (jobs are given back).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http_int.h"
#include "qf/clock.h"
#include "qf/fs.h"
#include "qf/log.h"
#include "qf/str.h"

#define MODULE "serve"
#define WAKE_FD 3
#define MAX_EXTRA 32

typedef struct child {
	pid_t pid;          /* 0: not running */
	int wake;           /* write end of its wake pipe */
	double started;     /* monotonic */
	double restart_at;  /* monotonic, when pid is 0 */
	double backoff;
} child;

struct qf__supervisor {
	qf__supervisor_opts o;
	char program[PATH_MAX];
	char *extra_copy;
	char *extra[MAX_EXTRA];
	int nextra;
	pthread_t thread;
	pthread_mutex_t mu;
	bool stopping, thread_started;
	child *kids;
	int n;
	int64_t restarts;
};

static int spawn(qf__supervisor *s, int i, qf_err *err)
{
	child *k = &s->kids[i];
	int p[2];
	if (pipe2(p, O_CLOEXEC))
		return qf_err_set(err, QF_CAT_SYSTEM, "serve.workers", "cannot make a pipe: %s",
		                  strerror(errno));
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	char name[64];
	snprintf(name, sizeof(name), "serve-%ld-w%d", (long)getpid(), i);
	const char *argv[16 + MAX_EXTRA];
	int a = 0;
	argv[a++] = s->program;
	argv[a++] = "worker";
	argv[a++] = "--store";
	argv[a++] = s->o.store_url;
	argv[a++] = "--jobs-root";
	argv[a++] = s->o.jobs_root ? s->o.jobs_root : "var/jobs";
	argv[a++] = "--concurrency";
	argv[a++] = "1";
	argv[a++] = "--wake-fd";
	argv[a++] = "3";
	argv[a++] = "--quiet";
	for (int e = 0; e < s->nextra; e++)
		argv[a++] = s->extra[e];
	argv[a] = NULL;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return qf_err_set(err, QF_CAT_SYSTEM, "serve.workers", "cannot start a worker: %s",
		                  strerror(e));
	}
	if (pid == 0) {
		/* async-signal-safe calls only */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(0);
		setpgid(0, 0); /* the terminal's ^C goes to the server, which stops us */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (p[0] != WAKE_FD) {
			dup2(p[0], WAKE_FD); /* dup2 clears close-on-exec */
		} else {
			fcntl(WAKE_FD, F_SETFD, 0);
		}
		execv(s->program, (char *const *)argv);
		_exit(127);
	}
	close(p[0]);
	k->pid = pid;
	k->wake = p[1];
	k->started = qf_clock_mono();
	qf_log_info(MODULE, "worker %d started (pid %ld)", i, (long)pid);
	return 0;
}

static void *watch(void *arg)
{
	qf__supervisor *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		if (s->stopping) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		double now = qf_clock_mono();
		for (int i = 0; i < s->n; i++) {
			child *k = &s->kids[i];
			if (k->pid > 0) {
				int status;
				pid_t r = waitpid(k->pid, &status, WNOHANG);
				if (r != k->pid)
					continue;
				double ran = now - k->started;
				if (WIFSIGNALED(status))
					qf_log_warn(MODULE, "worker %d (pid %ld) was killed by signal %d after %.0f s",
					            i, (long)k->pid, WTERMSIG(status), ran);
				else
					qf_log_warn(MODULE, "worker %d (pid %ld) exited with status %d after %.0f s", i,
					            (long)k->pid, WEXITSTATUS(status), ran);
				close(k->wake);
				k->wake = -1;
				k->pid = 0;
				k->backoff = ran >= QF_WORKER_HEALTHY_S || k->backoff <= 0
				                 ? 1.0
				                 : fmin(QF_WORKER_RESTART_MAX_S, 2 * k->backoff);
				k->restart_at = now + k->backoff;
				qf_log_warn(MODULE, "worker %d restarts in %.0f s", i, k->backoff);
			} else if (k->restart_at > 0 && now >= k->restart_at) {
				qf_err err;
				qf_err_init(&err);
				k->restart_at = 0;
				if (spawn(s, i, &err)) {
					qf_log_error(MODULE, "%s", err.message);
					k->backoff = fmin(QF_WORKER_RESTART_MAX_S, 2 * (k->backoff > 0 ? k->backoff : 1));
					k->restart_at = now + k->backoff;
				} else {
					s->restarts++;
				}
			}
		}
		pthread_mutex_unlock(&s->mu);
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int qf__supervisor_start(qf__supervisor **out, const qf__supervisor_opts *o, qf_err *err)
{
	*out = NULL;
	qf__supervisor *s = calloc(1, sizeof(*s));
	if (!s)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	s->o = *o;
	pthread_mutex_init(&s->mu, NULL);
	int rc = 0;
	if (o->qforge_path) {
		qf_strlcpy(s->program, o->qforge_path, sizeof(s->program));
	} else {
		if (qf_fs_self_path(s->program, sizeof(s->program)))
			rc = qf_err_set(err, QF_CAT_SYSTEM, "serve.workers",
			                "cannot find this program to start workers");
	}
	if (!rc && o->extra_args) {
		s->extra_copy = strdup(o->extra_args);
		if (!s->extra_copy)
			rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		else
			s->nextra = qf_split_ws(s->extra_copy, s->extra, MAX_EXTRA);
		if (s->nextra > MAX_EXTRA)
			rc = qf_err_set(err, QF_CAT_VALIDATION, "serve.workers",
			                "at most %d extra worker arguments", MAX_EXTRA);
	}
	s->n = o->workers;
	s->kids = calloc((size_t)s->n, sizeof(child));
	if (!rc && !s->kids)
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	for (int i = 0; !rc && i < s->n; i++) {
		s->kids[i].wake = -1;
		rc = spawn(s, i, err);
	}
	if (!rc) {
		if (pthread_create(&s->thread, NULL, watch, s))
			rc = qf_err_set(err, QF_CAT_SYSTEM, "serve.workers", "cannot start the supervisor");
		else
			s->thread_started = true;
	}
	if (rc) {
		qf__supervisor_stop(s, NULL);
		qf__supervisor_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void qf__supervisor_wake(qf__supervisor *s)
{
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->n; i++)
		if (s->kids[i].wake >= 0) {
			ssize_t w = write(s->kids[i].wake, "w", 1);
			(void)w; /* EAGAIN: a byte is already waiting, which wakes it as well */
		}
	pthread_mutex_unlock(&s->mu);
}

void qf__supervisor_stop(qf__supervisor *s, volatile sig_atomic_t *stop)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	bool first = !s->stopping;
	s->stopping = true;
	pthread_mutex_unlock(&s->mu);
	if (s->thread_started) {
		pthread_join(s->thread, NULL);
		s->thread_started = false;
	}
	(void)first;
	bool hard = !stop;
	for (int i = 0; i < s->n; i++)
		if (s->kids[i].pid > 0) {
			kill(s->kids[i].pid, SIGTERM);
			if (hard)
				kill(s->kids[i].pid, SIGTERM);
		}
	bool sent_hard = hard;
	for (;;) {
		int alive = 0;
		for (int i = 0; i < s->n; i++) {
			child *k = &s->kids[i];
			if (k->pid <= 0)
				continue;
			int status;
			pid_t r = waitpid(k->pid, &status, WNOHANG);
			if (r == k->pid || (r < 0 && errno == ECHILD)) {
				k->pid = 0;
				if (k->wake >= 0)
					close(k->wake);
				k->wake = -1;
				continue;
			}
			alive++;
			if (!sent_hard && stop && *stop >= 2)
				kill(k->pid, SIGTERM);
		}
		if (!sent_hard && stop && *stop >= 2)
			sent_hard = true;
		if (!alive)
			break;
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	qf_log_info(MODULE, "workers stopped");
}

void qf__supervisor_free(qf__supervisor *s)
{
	if (!s)
		return;
	for (int i = 0; s->kids && i < s->n; i++)
		if (s->kids[i].wake >= 0)
			close(s->kids[i].wake);
	free(s->kids);
	free(s->extra_copy);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int qf__supervisor_running(const qf__supervisor *s)
{
	int n = 0;
	pthread_mutex_lock((pthread_mutex_t *)&s->mu);
	for (int i = 0; i < s->n; i++)
		n += s->kids[i].pid > 0;
	pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
	return n;
}

int64_t qf__supervisor_restarts(const qf__supervisor *s)
{
	pthread_mutex_lock((pthread_mutex_t *)&s->mu);
	int64_t n = s->restarts;
	pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
	return n;
}
