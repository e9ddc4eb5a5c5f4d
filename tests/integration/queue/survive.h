/*
 * Shared by the survival tests of the job queue (tests/integration/queue/):
 *
 *   molecules    multi-frame XYZ files of small molecules (water, methane,
 *                ethanol), each frame a slightly different geometry
 *   stores       SQLite in a fresh directory, or a fresh database on a
 *                PostgreSQL server: QF_TEST_PG_URL (scripts/with-postgres), or
 *                a private cluster a test may stop, start again, or run
 *                inside a network namespace (sv_pg)
 *   processes    the real qforge program as a child (a worker running in the
 *                background, optionally as another user or through a prefix
 *                such as `ip netns exec NS`), killed, waited for, its log
 *                read back
 *   read-backs   SQL on either backend, rows as typed JSON
 *   invariants   sv_check_exactly_once: nothing lost, nothing done twice, and
 *                every stored result equal to its job directory's
 *                metadata.json
 *
 * The test process makes itself a child subreaper, so that what a killed
 * worker leaves behind (its engine children, an xtb still running) is
 * reparented to it and reaped by sv_reap_all at the end.
 */
#ifndef SURVIVE_H
#define SURVIVE_H

#include "qftest.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qf/err.h"
#include "qf/fs.h"
#include "qf/str.h"
#include "qf/uuid.h"

extern char **environ;

/* The worker's timers in every test: short, so that leases of killed
 * workers expire and are swept within seconds. */
#define SV_WORKER_TIMERS                                                                     \
	"--lease-seconds", "2", "--heartbeat-seconds", "0.3", "--backoff-base", "0.1",          \
	"--backoff-cap", "1", "--poll-seconds", "0.1"

/* ---- time and processes ----------------------------------------------------- */

static inline double sv_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline void sv_sleep(double s)
{
	if (s <= 0)
		return;
	struct timespec d = {(time_t)s, (long)((s - floor(s)) * 1e9)};
	while (nanosleep(&d, &d) && errno == EINTR) {
	}
}

/* What a failing test leaves behind is undone by sv_teardown (cmocka
 * teardown; also called by the tests themselves at the end): processes we
 * started, PostgreSQL clusters, network namespaces, immutable files. Kept by
 * value: a failed assertion leaves the test's stack behind. */
enum { SV_CLEAN_PROC = 1, SV_CLEAN_PG, SV_CLEAN_NETNS, SV_CLEAN_MUTABLE };

typedef struct sv_cleanup {
	int kind;
	pid_t pid;
	char path[QF_MAX_PATH]; /* PG: the data directory; MUTABLE: the file */
	char bin[QF_MAX_PATH];  /* PG: its binaries */
	char netns[64];         /* PG: its namespace; NETNS: the namespace */
} sv_cleanup;

#define SV_MAX_CLEANUPS 64
static sv_cleanup sv_cleanups[SV_MAX_CLEANUPS];

static inline void sv_defer(const sv_cleanup *c)
{
	for (int i = 0; i < SV_MAX_CLEANUPS; i++)
		if (!sv_cleanups[i].kind) {
			sv_cleanups[i] = *c;
			return;
		}
	fail_msg("too many things to clean up");
}

/* Forget a cleanup (done by its owner): by pid, or by path / netns. */
static inline void sv_undefer(int kind, pid_t pid, const char *key)
{
	for (int i = 0; i < SV_MAX_CLEANUPS; i++) {
		sv_cleanup *c = &sv_cleanups[i];
		if (c->kind != kind)
			continue;
		if ((kind == SV_CLEAN_PROC && c->pid == pid) ||
		    (kind == SV_CLEAN_NETNS && key && !strcmp(c->netns, key)) ||
		    ((kind == SV_CLEAN_PG || kind == SV_CLEAN_MUTABLE) && key && !strcmp(c->path, key)))
			memset(c, 0, sizeof(*c));
	}
}

/* Run a command quietly, without failing the test (cleanup). */
static inline void sv_quietly(const char *const *argv)
{
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
		}
}

static inline void sv_subreaper(bool on)
{
	prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0);
}

/* Once per test: orphans of killed workers come to us. */
static inline void sv_setup(void)
{
	sv_subreaper(true);
	signal(SIGPIPE, SIG_IGN);
}

static inline void sv_reap_all(double grace_s);

/* Undo what is left, newest first. */
static inline int sv_teardown(void **state)
{
	(void)state;
	for (int i = SV_MAX_CLEANUPS - 1; i >= 0; i--) {
		sv_cleanup *c = &sv_cleanups[i];
		switch (c->kind) {
		case SV_CLEAN_PROC:
			kill(c->pid, SIGKILL);
			waitpid(c->pid, NULL, 0);
			break;
		case SV_CLEAN_PG: {
			char pgctl[QF_MAX_PATH + 16];
			snprintf(pgctl, sizeof(pgctl), "%s/pg_ctl", c->bin);
			const char *plain[] = {"runuser", "-u", "postgres", "--", pgctl, "-D", c->path,
			                       "-m", "immediate", "-w", "stop", NULL};
			const char *in_ns[] = {"ip", "netns", "exec", c->netns, "runuser", "-u", "postgres",
			                       "--", pgctl, "-D", c->path, "-m", "immediate", "-w", "stop",
			                       NULL};
			sv_quietly(c->netns[0] ? in_ns : plain);
			break;
		}
		case SV_CLEAN_NETNS: {
			const char *argv[] = {"ip", "netns", "del", c->netns, NULL};
			sv_quietly(argv);
			break;
		}
		case SV_CLEAN_MUTABLE: {
			const char *argv[] = {"chattr", "-i", c->path, NULL};
			sv_quietly(argv);
			break;
		}
		default:
			break;
		}
		memset(c, 0, sizeof(*c));
	}
	sv_reap_all(2);
	return 0;
}

/* Reap every child that has ended (orphans included), without waiting. */
static inline void sv_reap(void)
{
	int st;
	while (waitpid(-1, &st, WNOHANG) > 0) {
	}
}

typedef struct sv_proc {
	pid_t pid;              /* 0: not running */
	char log[QF_MAX_PATH];  /* stdout and stderr */
	bool exited;
	int status;             /* wait status once exited */
} sv_proc;

/* Start argv (argv[0] a path or looked up in PATH) in the background with
 * the test's environment plus env ("K=V", may be NULL), its own process
 * group, stdin /dev/null, stdout and stderr appended to log. as: run as
 * that user (setgid, setgroups, setuid in the child), NULL: as we are. */
static inline void sv_spawn(sv_proc *p, const char *const *argv, const char *const *env,
                            const char *log, const struct passwd *as, const char *cwd)
{
	memset(p, 0, sizeof(*p));
	qf_strlcpy(p->log, log, sizeof(p->log));
	/* the environment, built before fork */
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	for (const char *const *e = env; e && *e; e++)
		k++;
	char **envp = calloc(n + k + 1, sizeof(char *));
	assert_non_null(envp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		bool overridden = false;
		const char *eq = strchr(environ[i], '=');
		size_t klen = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		for (const char *const *e = env; e && *e; e++)
			if (!strncmp(*e, environ[i], klen) && (*e)[klen] == '=')
				overridden = true;
		if (!overridden)
			envp[m++] = environ[i];
	}
	for (const char *const *e = env; e && *e; e++)
		envp[m++] = (char *)*e;
	envp[m] = NULL;
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		fail_msg("could not open %s: %s", log, strerror(errno));
	/* forked by the test's main thread, the child dies with the test: a
	 * test that fails half-way (or is killed by its timeout) leaves no
	 * server or worker running (PR_SET_PDEATHSIG follows the forking
	 * thread, so children of other threads are left as they were) */
	bool main_thread = (pid_t)syscall(SYS_gettid) == getpid();
	pid_t parent = getpid();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (as && (setgroups(0, NULL) || setgid(as->pw_gid) || setuid(as->pw_uid)))
			_exit(125);
		/* after the change of user, which clears it */
		if (main_thread && (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) || getppid() != parent))
			_exit(124);
		if (cwd && chdir(cwd))
			_exit(126);
		if (strchr(argv[0], '/'))
			execve(argv[0], (char *const *)argv, envp);
		else
			execvpe(argv[0], (char *const *)argv, envp);
		_exit(127);
	}
	setpgid(pid, pid);
	close(fd);
	free(envp);
	p->pid = pid;
	sv_defer(&(sv_cleanup){.kind = SV_CLEAN_PROC, .pid = pid});
}

/* Wait up to timeout_s for p to end; true when it has. */
static inline bool sv_wait(sv_proc *p, double timeout_s)
{
	if (p->exited)
		return true;
	double end = sv_now() + timeout_s;
	for (;;) {
		int st;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			p->exited = true;
			p->status = st;
			sv_undefer(SV_CLEAN_PROC, p->pid, NULL);
			return true;
		}
		if (r < 0 && errno != EINTR)
			fail_msg("waitpid(%ld): %s", (long)p->pid, strerror(errno));
		if (sv_now() >= end)
			return false;
		sv_sleep(0.02);
	}
}

static inline void sv_kill(sv_proc *p, int sig)
{
	if (p->pid > 0 && !p->exited)
		kill(p->pid, sig);
}

/* Wait for p, failing the test (after SIGKILL) when it takes longer. */
static inline void sv_wait_or_fail(sv_proc *p, double timeout_s, const char *what)
{
	if (sv_wait(p, timeout_s))
		return;
	sv_kill(p, SIGKILL);
	sv_wait(p, 10);
	char *log = qft_slurp(p->log, NULL);
	print_error("%s log:\n%s\n", what, log);
	free(log);
	fail_msg("%s did not end within %.0f s", what, timeout_s);
}

/* Exit status (0..255), or -signal when it was killed. */
static inline int sv_exit_code(const sv_proc *p)
{
	assert_true(p->exited);
	return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -WTERMSIG(p->status);
}

/* At the end of a test: every descendant still around (orphans of killed
 * workers finishing their calculation) gets up to grace_s to end, then its
 * group is killed; all are reaped. */
static inline void sv_reap_all(double grace_s)
{
	double end = sv_now() + grace_s;
	for (;;) {
		int st;
		pid_t r = waitpid(-1, &st, WNOHANG);
		if (r > 0)
			continue;
		if (r < 0 && errno == ECHILD)
			return;
		if (sv_now() >= end)
			break;
		sv_sleep(0.05);
	}
	/* the stragglers: our own descendants, by process id */
	for (int round = 0; round < 100; round++) {
		pid_t r = waitpid(-1, NULL, WNOHANG);
		if (r < 0)
			return;
		if (r > 0)
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)getpid(), (long)getpid());
		FILE *f = fopen(path, "r");
		long child;
		while (f && fscanf(f, "%ld", &child) == 1)
			kill((pid_t)child, SIGKILL);
		if (f)
			fclose(f);
		sv_sleep(0.05);
	}
}

/* A file's whole text (heap), or an empty string when it is missing. */
static inline char *sv_read(const char *path)
{
	if (!qf_fs_exists(path))
		return strdup("");
	return qft_slurp(path, NULL);
}

/* The number after key in the worker's last stats line in log
 * ("qforge worker: claimed 3, completed 2, ..."), or -1 when absent. */
static inline long sv_stat(const char *log, const char *key)
{
	char *text = sv_read(log);
	const char *line = NULL;
	for (const char *p = text; (p = strstr(p, "qforge worker: claimed ")); p++)
		line = p;
	long v = -1;
	if (line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char buf[512];
		qf_strlcpy(buf, line, len + 1 < sizeof(buf) ? len + 1 : sizeof(buf));
		char pat[64];
		snprintf(pat, sizeof(pat), "%s ", key);
		const char *k = strstr(buf, pat);
		if (k)
			v = strtol(k + strlen(pat), NULL, 10);
	}
	free(text);
	return v;
}

/* Sum of sv_stat over several logs. */
static inline long sv_stat_sum(const char *const *logs, int n, const char *key)
{
	long sum = 0;
	for (int i = 0; i < n; i++) {
		long v = sv_stat(logs[i], key);
		if (v > 0)
			sum += v;
	}
	return sum;
}

/* ---- running qforge in the foreground ------------------------------------------ */

/* qforge args... (NULL-terminated) with extra environment env. */
static inline void sv_qforge(qft_output *o, const char *const *env, const char *const *args)
{
	const char *argv[64];
	int n = 0;
	argv[n++] = qft_qforge();
	for (const char *const *a = args; *a; a++) {
		assert_true(n < 63);
		argv[n++] = *a;
	}
	argv[n] = NULL;
	qft_run(o, argv, env, NULL, 300);
}

static inline void sv_expect_status(const qft_output *o, int status, const char *what)
{
	if (o->exit_code != status)
		fail_msg("%s: exit status %d (signal %d), expected %d\nstdout:\n%s\nstderr:\n%s", what,
		         o->exit_code, o->term_signal, status, o->out, o->err);
}

/* `qforge batch submit PATH --store URL extra...`: the batch id. */
static inline void sv_submit(char id[QF_UUID_STR], const char *url, const char *path,
                             const char *const *extra)
{
	const char *args[40] = {"batch", "submit", path, "--store", url};
	int n = 5;
	for (const char *const *e = extra; e && *e; e++) {
		assert_true(n < 39);
		args[n++] = *e;
	}
	args[n] = NULL;
	qft_output o;
	sv_qforge(&o, NULL, args);
	sv_expect_status(&o, 0, "batch submit");
	size_t len = strcspn(o.out, "\n");
	if (len != QF_UUID_STR - 1)
		fail_msg("batch submit printed no batch id: '%s'", o.out);
	memcpy(id, o.out, len);
	id[len] = '\0';
	assert_true(qf_uuid_valid(id));
	qft_output_release(&o);
}

/* A worker in the background: qforge worker --store URL --jobs-root DIR
 * --concurrency 2 SV_WORKER_TIMERS extra... (NULL-terminated), its output in
 * log. prefix (may be NULL): words before the program (`ip netns exec NS`). */
static inline void sv_worker(sv_proc *p, const char *url, const char *jobs, const char *log,
                             const char *const *extra, const char *const *env,
                             const char *const *prefix, const struct passwd *as)
{
	const char *argv[80];
	int n = 0;
	for (const char *const *w = prefix; w && *w; w++)
		argv[n++] = *w;
	const char *base[] = {qft_qforge(), "worker", "--store", url, "--jobs-root", jobs,
	                      "--concurrency", "2", SV_WORKER_TIMERS, NULL};
	for (const char *const *w = base; *w; w++)
		argv[n++] = *w;
	for (const char *const *w = extra; w && *w; w++) {
		assert_true(n < 79);
		argv[n++] = *w;
	}
	argv[n] = NULL;
	sv_spawn(p, argv, env, log, as, NULL);
}

/* ---- molecules ------------------------------------------------------------------ */

typedef struct sv_atom {
	const char *el;
	double x, y, z;
} sv_atom;

static const sv_atom sv_water[] = {
	{"O", 0.0000, 0.0000, 0.1173}, {"H", 0.0000, 0.7572, -0.4692}, {"H", 0.0000, -0.7572, -0.4692},
};
static const sv_atom sv_methane[] = {
	{"C", 0.0000, 0.0000, 0.0000},   {"H", 0.6291, 0.6291, 0.6291},  {"H", -0.6291, -0.6291, 0.6291},
	{"H", -0.6291, 0.6291, -0.6291}, {"H", 0.6291, -0.6291, -0.6291},
};
static const sv_atom sv_ethanol[] = {
	{"C", -0.0473, -0.5580, 0.0000}, {"C", 1.4366, -0.2345, 0.0000},  {"O", -0.7860, 0.6556, 0.0000},
	{"H", -0.3250, -1.1301, 0.8853}, {"H", -0.3250, -1.1301, -0.8853}, {"H", 1.6812, 0.3334, 0.8885},
	{"H", 1.6812, 0.3334, -0.8885},  {"H", 2.0133, -1.1561, 0.0000},  {"H", -1.7280, 0.4130, 0.0000},
};

static const sv_atom sv_ammonia[] = {
	{"N", 0.0000, 0.0000, 0.0000},    {"H", 0.0000, 0.9377, -0.3816},
	{"H", 0.8121, -0.4689, -0.3816},  {"H", -0.8121, -0.4689, -0.3816},
};
static const sv_atom sv_ethylene[] = {
	{"C", 0.0000, 0.0000, 0.6695},  {"C", 0.0000, 0.0000, -0.6695}, {"H", 0.0000, 0.9289, 1.2321},
	{"H", 0.0000, -0.9289, 1.2321}, {"H", 0.0000, 0.9289, -1.2321}, {"H", 0.0000, -0.9289, -1.2321},
};

/* Atoms of a kind: 'w' water (3), 'a' ammonia (4), 'm' methane (5),
 * 'y' ethylene (6), 'e' ethanol (9). */
static inline const sv_atom *sv_kind(char kind, int *natoms, const char **name)
{
	switch (kind) {
	case 'w': *natoms = 3; *name = "water"; return sv_water;
	case 'a': *natoms = 4; *name = "ammonia"; return sv_ammonia;
	case 'm': *natoms = 5; *name = "methane"; return sv_methane;
	case 'y': *natoms = 6; *name = "ethylene"; return sv_ethylene;
	case 'e': *natoms = 9; *name = "ethanol"; return sv_ethanol;
	default: fail_msg("unknown molecule kind '%c'", kind);
	}
	return NULL;
}

/* n frames into path, kinds cycling through the letters of kinds, each
 * named <kind><i> and displaced at random by up to 0.03 A per coordinate
 * (seeded: the same file every time), so that no two are the same work.
 * Returns the total number of atoms. */
static inline int sv_write_xyz(const char *path, int n, const char *kinds, unsigned seed)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fail_msg("could not write %s: %s", path, strerror(errno));
	unsigned s = seed ? seed : 1;
	int total = 0;
	for (int i = 0; i < n; i++) {
		int na = 0;
		const char *name = "";
		const sv_atom *a = sv_kind(kinds[i % strlen(kinds)], &na, &name);
		fprintf(f, "%d\n%s%d\n", na, name, i);
		for (int k = 0; k < na; k++) {
			double d[3];
			for (int c = 0; c < 3; c++)
				d[c] = ((double)rand_r(&s) / RAND_MAX - 0.5) * 0.06;
			fprintf(f, "%-2s %12.6f %12.6f %12.6f\n", a[k].el, a[k].x + d[0], a[k].y + d[1],
			        a[k].z + d[2]);
		}
		total += na;
	}
	fclose(f);
	return total;
}

/* ---- stores ---------------------------------------------------------------------- */

typedef struct sv_store {
	bool pg;
	char url[QF_MAX_PATH + 32]; /* what qforge gets */
	char dir[QF_MAX_PATH];      /* SQLite: the directory of the file */
	char path[QF_MAX_PATH];     /* SQLite: the file */
	char server[512];           /* PostgreSQL: superuser URL of the server */
	char db[96];                /* PostgreSQL: the database */
} sv_store;

static inline void sv_pg_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static inline PGconn *sv_pg_connect(const char *url)
{
	PGconn *c = PQconnectdb(url);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		char msg[512];
		qf_strlcpy(msg, c ? PQerrorMessage(c) : "out of memory", sizeof(msg));
		PQfinish(c);
		fail_msg("could not connect to %s: %s", url, msg);
	}
	PQsetNoticeProcessor(c, sv_pg_quiet, NULL);
	return c;
}

static inline void sv_pg_exec(const char *url, const char *sql)
{
	PGconn *c = sv_pg_connect(url);
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char msg[512];
		qf_strlcpy(msg, PQresultErrorMessage(r), sizeof(msg));
		PQclear(r);
		PQfinish(c);
		fail_msg("%s: %s", sql, msg);
	}
	PQclear(r);
	PQfinish(c);
}

/* url with its database (the path after the authority) replaced by db. */
static inline void sv_url_with_db(char *out, size_t size, const char *url, const char *db)
{
	const char *auth = strstr(url, "://");
	assert_non_null(auth);
	const char *slash = strchr(auth + 3, '/');
	size_t keep = slash ? (size_t)(slash - url) : strlen(url);
	const char *query = slash ? strchr(slash, '?') : NULL;
	if (qf_snprintf(out, size, "%.*s/%s%s", (int)keep, url, db, query ? query : ""))
		fail_msg("URL too long");
}

/* SQLite in dir (created when missing). */
static inline void sv_store_sqlite(sv_store *s, const char *dir)
{
	memset(s, 0, sizeof(*s));
	qf_strlcpy(s->dir, dir, sizeof(s->dir));
	qft_join(s->path, dir, "qforge.db");
	snprintf(s->url, sizeof(s->url), "sqlite:%s", s->path);
}

/* A fresh database sv_<name>_<pid>_<n> on the PostgreSQL server at
 * server_url (a superuser URL; NULL: $QF_TEST_PG_URL). */
static inline void sv_store_pg(sv_store *s, const char *server_url, const char *name)
{
	static int counter;
	memset(s, 0, sizeof(*s));
	s->pg = true;
	if (!server_url) {
		server_url = getenv("QF_TEST_PG_URL");
		if (!server_url || !*server_url)
			fail_msg("QF_TEST_PG_URL is not set: run the PostgreSQL tests through "
			         "scripts/with-postgres (make test does), e.g. scripts/with-postgres ctest "
			         "--test-dir BUILD -L queue");
	}
	qf_strlcpy(s->server, server_url, sizeof(s->server));
	snprintf(s->db, sizeof(s->db), "sv_%s_%ld_%d", name, (long)getpid(), counter++);
	for (char *p = s->db; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	char sql[256];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", s->db);
	sv_pg_exec(s->server, sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", s->db);
	sv_pg_exec(s->server, sql);
	sv_url_with_db(s->url, sizeof(s->url), s->server, s->db);
}

/* The database is dropped (PostgreSQL; the server must be running); SQLite
 * files stay with the test's temporary directory. */
static inline void sv_store_drop(sv_store *s)
{
	if (s->pg && s->db[0]) {
		char sql[256];
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", s->db);
		sv_pg_exec(s->server, sql);
	}
	memset(s, 0, sizeof(*s));
}

/* Rows of a query as a JSON array of arrays: integers, reals (full
 * precision), booleans (PostgreSQL), strings, null. */
static inline json_t *sv_rows(const sv_store *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline json_t *sv_rows(const sv_store *s, const char *fmt, ...)
{
	char sql[4096];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	assert_true(len > 0 && (size_t)len < sizeof(sql));
	json_t *rows = json_array();
	if (s->pg) {
		PGconn *c = sv_pg_connect(s->url);
		PGresult *r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			char msg[512];
			qf_strlcpy(msg, PQresultErrorMessage(r), sizeof(msg));
			PQclear(r);
			PQfinish(c);
			fail_msg("%s: %s", sql, msg);
		}
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *row = json_array();
			for (int k = 0; k < PQnfields(r); k++) {
				const char *v = PQgetvalue(r, i, k);
				json_t *j;
				if (PQgetisnull(r, i, k))
					j = json_null();
				else if (PQftype(r, k) == 20 || PQftype(r, k) == 21 || PQftype(r, k) == 23)
					j = json_integer(strtoll(v, NULL, 10));
				else if (PQftype(r, k) == 700 || PQftype(r, k) == 701 || PQftype(r, k) == 1700)
					j = json_real(strtod(v, NULL));
				else if (PQftype(r, k) == 16)
					j = json_boolean(v[0] == 't');
				else
					j = json_string(v);
				json_array_append_new(row, j);
			}
			json_array_append_new(rows, row);
		}
		PQclear(r);
		PQfinish(c);
		return rows;
	}
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		fail_msg("could not open %s: %s", s->path, db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_busy_timeout(db, 30000);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		char msg[512];
		qf_strlcpy(msg, sqlite3_errmsg(db), sizeof(msg));
		sqlite3_close(db);
		fail_msg("%s: %s", sql, msg);
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = json_array();
		for (int k = 0; k < sqlite3_column_count(st); k++) {
			json_t *j;
			switch (sqlite3_column_type(st, k)) {
			case SQLITE_INTEGER: j = json_integer(sqlite3_column_int64(st, k)); break;
			case SQLITE_FLOAT: j = json_real(sqlite3_column_double(st, k)); break;
			case SQLITE_NULL: j = json_null(); break;
			default: j = json_string((const char *)sqlite3_column_text(st, k)); break;
			}
			json_array_append_new(row, j ? j : json_null());
		}
		json_array_append_new(rows, row);
	}
	if (rc != SQLITE_DONE) {
		char msg[512];
		qf_strlcpy(msg, sqlite3_errmsg(db), sizeof(msg));
		sqlite3_finalize(st);
		sqlite3_close(db);
		fail_msg("%s: %s", sql, msg);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rows;
}

static inline json_t *sv_cell(json_t *rows, size_t row, size_t col)
{
	return json_array_get(json_array_get(rows, row), col);
}

/* The integer in the first column of the first row (0 when there is none). */
static inline long long sv_int(const sv_store *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline long long sv_int(const sv_store *s, const char *fmt, ...)
{
	char sql[4096];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	assert_true(len > 0 && (size_t)len < sizeof(sql));
	json_t *rows = sv_rows(s, "%s", sql);
	json_t *v = sv_cell(rows, 0, 0);
	long long n = json_is_integer(v) ? json_integer_value(v) : 0;
	json_decref(rows);
	return n;
}

/* Calculations of a batch with a status. */
static inline long long sv_count_status(const sv_store *s, const char *batch, const char *status)
{
	return sv_int(s, "SELECT count(*) FROM calculations WHERE batch_id = '%s' AND status = '%s'",
	              batch, status);
}

/* Whether every calculation of the batch has reached a final state. */
static inline bool sv_batch_done(const sv_store *s, const char *batch)
{
	return sv_int(s,
	              "SELECT count(*) FROM calculations WHERE batch_id = '%s' AND status NOT IN "
	              "('completed', 'failed', 'cancelled')",
	              batch) == 0;
}

/* Print every calculation of the batch that is not completed (for a failing
 * assertion's context). */
static inline void sv_print_unfinished(const sv_store *s, const char *batch)
{
	json_t *rows = sv_rows(s,
	                       "SELECT id, status, attempt, error_category, error_code, error_message "
	                       "FROM calculations WHERE batch_id = '%s' AND status <> 'completed'",
	                       batch);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		char *t = json_dumps(row, JSON_COMPACT);
		print_error("not completed: %s\n", t);
		free(t);
	}
	json_decref(rows);
}

/* ---- the invariants ----------------------------------------------------------------- */

typedef struct sv_outcome {
	long long completed, failed, cancelled;
	long long worker_lost;   /* calculation_errors rows of code queue.worker_lost */
	long long max_attempt;   /* highest attempt of any calculation */
} sv_outcome;

/* Every calculation of the batch (submitted of them) reached a final state,
 * none lost, none done twice, each result as in its job directory:
 *   - the batch has exactly `submitted` calculations (and batches.total says
 *     so), each completed, failed or cancelled;
 *   - no (calculation, attempt) has two calculation_execution_metrics rows,
 *     nor two calculation_errors rows;
 *   - a completed calculation has exactly one attempt that ran and did not
 *     fail (a metrics row without an error row), and it is the calculation's
 *     last attempt; a failed one has none;
 *   - a completed calculation has one atomic_properties row per atom of its
 *     molecule, a total energy, and a job directory whose metadata.json says
 *     completed, with the same id, attempt and total energy (to the bit);
 *   - batch_job_performance counts the same successes and failures.
 * Fills out (may be NULL). */
static inline void sv_check_exactly_once(const sv_store *s, const char *batch, long long submitted,
                                         sv_outcome *out)
{
	sv_outcome o;
	memset(&o, 0, sizeof(o));
	long long n = sv_int(s, "SELECT count(*) FROM calculations WHERE batch_id = '%s'", batch);
	if (n != submitted)
		fail_msg("batch %s: %lld calculations, %lld submitted", batch, n, submitted);
	assert_int_equal(sv_int(s, "SELECT total FROM batches WHERE id = '%s'", batch), submitted);
	o.completed = sv_count_status(s, batch, "completed");
	o.failed = sv_count_status(s, batch, "failed");
	o.cancelled = sv_count_status(s, batch, "cancelled");
	if (o.completed + o.failed + o.cancelled != submitted) {
		sv_print_unfinished(s, batch);
		fail_msg("batch %s: %lld completed + %lld failed + %lld cancelled of %lld", batch,
		         o.completed, o.failed, o.cancelled, submitted);
	}

	/* no attempt recorded twice */
	static const char *const tables[] = {"calculation_execution_metrics", "calculation_errors"};
	for (int t = 0; t < 2; t++) {
		json_t *dup = sv_rows(s,
		                      "SELECT m.calculation_id, m.attempt, count(*) FROM %s m JOIN "
		                      "calculations c ON c.id = m.calculation_id WHERE c.batch_id = '%s' "
		                      "GROUP BY m.calculation_id, m.attempt HAVING count(*) > 1",
		                      tables[t], batch);
		if (json_array_size(dup)) {
			char *text = json_dumps(dup, JSON_COMPACT);
			fail_msg("%s: (calculation, attempt) recorded more than once: %s", tables[t], text);
		}
		json_decref(dup);
	}

	/* one successful attempt per completed calculation, none per failed one */
	json_t *rows = sv_rows(s,
	                       "SELECT c.id, c.status, c.attempt, c.total_energy, c.job_dir, mo.natoms, "
	                       "(SELECT count(*) FROM atomic_properties a WHERE a.calculation_id = c.id), "
	                       "(SELECT count(*) FROM calculation_execution_metrics m WHERE "
	                       " m.calculation_id = c.id AND NOT EXISTS (SELECT 1 FROM calculation_errors "
	                       " e WHERE e.calculation_id = m.calculation_id AND e.attempt = m.attempt)), "
	                       "(SELECT max(m.attempt) FROM calculation_execution_metrics m WHERE "
	                       " m.calculation_id = c.id AND NOT EXISTS (SELECT 1 FROM calculation_errors "
	                       " e WHERE e.calculation_id = m.calculation_id AND e.attempt = m.attempt)) "
	                       "FROM calculations c JOIN molecules mo ON mo.id = c.molecule_id "
	                       "WHERE c.batch_id = '%s' ORDER BY c.id",
	                       batch);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		const char *id = json_string_value(json_array_get(row, 0));
		const char *status = json_string_value(json_array_get(row, 1));
		long long attempt = json_integer_value(json_array_get(row, 2));
		json_t *energy = json_array_get(row, 3);
		const char *dir = json_string_value(json_array_get(row, 4));
		long long natoms = json_integer_value(json_array_get(row, 5));
		long long atoms = json_integer_value(json_array_get(row, 6));
		long long good = json_integer_value(json_array_get(row, 7));
		json_t *good_attempt = json_array_get(row, 8);
		if (attempt > o.max_attempt)
			o.max_attempt = attempt;
		if (strcmp(status, "completed")) {
			if (!strcmp(status, "failed") && good != 0)
				fail_msg("failed calculation %s has %lld attempt(s) that ran without an error", id,
				         good);
			continue;
		}
		if (good != 1)
			fail_msg("completed calculation %s has %lld successful attempts recorded (1 expected)",
			         id, good);
		if (json_integer_value(good_attempt) != attempt)
			fail_msg("completed calculation %s: its successful attempt is %lld, its attempt %lld", id,
			         (long long)json_integer_value(good_attempt), attempt);
		if (atoms != natoms)
			fail_msg("completed calculation %s: %lld atomic_properties rows for %lld atoms", id,
			         atoms, natoms);
		if (!json_is_number(energy))
			fail_msg("completed calculation %s has no total energy", id);
		if (!dir)
			fail_msg("completed calculation %s has no job directory", id);
		char meta[QF_MAX_PATH];
		qft_join(meta, dir, "metadata.json");
		json_error_t jerr;
		json_t *doc = json_load_file(meta, 0, &jerr);
		if (!doc)
			fail_msg("completed calculation %s: %s: %s", id, meta, jerr.text);
		const char *mstatus = json_string_value(json_object_get(doc, "status"));
		const char *mid = json_string_value(json_object_get(doc, "job_id"));
		long long mattempt = json_integer_value(json_object_get(doc, "attempt"));
		json_t *me = json_object_get(json_object_get(doc, "results"), "total_energy_hartree");
		if (!mstatus || strcmp(mstatus, "completed") || !mid || strcmp(mid, id) || mattempt != attempt)
			fail_msg("calculation %s (attempt %lld, completed): its metadata.json says %s, job %s, "
			         "attempt %lld", id, attempt, mstatus ? mstatus : "?", mid ? mid : "?", mattempt);
		if (!json_is_number(me) || json_number_value(me) != json_number_value(energy))
			fail_msg("calculation %s: stored energy %.17g, metadata.json %.17g", id,
			         json_number_value(energy), json_number_value(me));
		json_decref(doc);
	}
	json_decref(rows);

	o.worker_lost = sv_int(s,
	                       "SELECT count(*) FROM calculation_errors e JOIN calculations c ON c.id = "
	                       "e.calculation_id WHERE c.batch_id = '%s' AND e.error_code = "
	                       "'queue.worker_lost'",
	                       batch);
	/* the batch's statistics agree */
	json_t *perf = sv_rows(s,
	                       "SELECT successful_jobs, failed_jobs FROM batch_job_performance WHERE "
	                       "batch_id = '%s'",
	                       batch);
	if (json_array_size(perf) == 1) {
		assert_int_equal(json_integer_value(sv_cell(perf, 0, 0)), o.completed);
		assert_int_equal(json_integer_value(sv_cell(perf, 0, 1)), o.failed);
	} else {
		fail_msg("batch %s has %zu batch_job_performance rows", batch, json_array_size(perf));
	}
	json_decref(perf);
	if (out)
		*out = o;
}

/* ---- a private PostgreSQL cluster ----------------------------------------------------
 * initdb and pg_ctl as the postgres user (tests run as root), optionally
 * inside a network namespace, listening on given addresses and a free port,
 * trust authentication for the given networks. A test that stops its server
 * must not stop the shared one (other tests use it at the same time). */

typedef struct sv_pg {
	char dir[QF_MAX_PATH];   /* owned by postgres: data/, the socket, the log */
	char data[QF_MAX_PATH];
	char logfile[QF_MAX_PATH];
	char bin[QF_MAX_PATH];
	char netns[64];          /* "" : ours */
	char listen[128];        /* listen_addresses */
	int port;
	bool running;
} sv_pg;

static inline void sv_pg_bin(char out[QF_MAX_PATH])
{
	const char *b = getenv("QF_TEST_PG_BIN");
	if (b && *b) {
		qf_strlcpy(out, b, QF_MAX_PATH);
		return;
	}
	static const char *const versions[] = {"15", "16", "17", "14", "13"};
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		snprintf(out, QF_MAX_PATH, "/usr/lib/postgresql/%s/bin", versions[i]);
		char pgctl[QF_MAX_PATH];
		if (qf_fs_join(pgctl, sizeof(pgctl), out, "pg_ctl") == 0 && access(pgctl, X_OK) == 0)
			return;
	}
	fail_msg("PostgreSQL server binaries not found (scripts/install-deps installs them)");
}

/* Run a PostgreSQL program as postgres (in pg->netns when set); returns its
 * exit status, output in o (released by the caller). */
static inline int sv_pg_run(sv_pg *pg, qft_output *o, const char *prog, const char *const *args)
{
	const char *argv[40];
	int n = 0;
	if (pg->netns[0]) {
		argv[n++] = "ip";
		argv[n++] = "netns";
		argv[n++] = "exec";
		argv[n++] = pg->netns;
	}
	argv[n++] = "runuser";
	argv[n++] = "-u";
	argv[n++] = "postgres";
	argv[n++] = "--";
	char path[QF_MAX_PATH];
	qft_join(path, pg->bin, prog);
	argv[n++] = path;
	for (const char *const *a = args; *a; a++) {
		assert_true(n < 39);
		argv[n++] = *a;
	}
	argv[n] = NULL;
	qft_run(o, argv, NULL, "/", 120);
	return o->exit_code;
}

/* initdb a cluster in a fresh directory; hba: extra pg_hba.conf lines
 * (may be NULL). */
static inline void sv_pg_init(sv_pg *pg, const char *name, const char *netns, const char *listen,
                              const char *hba)
{
	memset(pg, 0, sizeof(*pg));
	sv_pg_bin(pg->bin);
	qft_tmpdir(pg->dir, name);
	qft_join(pg->data, pg->dir, "data");
	qft_join(pg->logfile, pg->dir, "server.log");
	qf_strlcpy(pg->netns, netns ? netns : "", sizeof(pg->netns));
	qf_strlcpy(pg->listen, listen, sizeof(pg->listen));
	struct passwd *pw = getpwnam("postgres");
	if (!pw)
		fail_msg("no postgres user (the postgresql package creates it)");
	if (chown(pg->dir, pw->pw_uid, pw->pw_gid) || chmod(pg->dir, 0755))
		fail_msg("could not hand %s to postgres: %s", pg->dir, strerror(errno));
	qft_output o;
	const char *args[] = {"-D", pg->data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
	                      "--locale=C.UTF-8", NULL};
	if (sv_pg_run(pg, &o, "initdb", args))
		fail_msg("initdb failed:\n%s\n%s", o.out, o.err);
	qft_output_release(&o);
	sv_cleanup c = {.kind = SV_CLEAN_PG};
	qf_strlcpy(c.path, pg->data, sizeof(c.path));
	qf_strlcpy(c.bin, pg->bin, sizeof(c.bin));
	qf_strlcpy(c.netns, pg->netns, sizeof(c.netns));
	sv_defer(&c);
	if (hba) {
		char conf[QF_MAX_PATH];
		qft_join(conf, pg->data, "pg_hba.conf");
		FILE *f = fopen(conf, "a");
		assert_non_null(f);
		fprintf(f, "\n# the survival tests\n%s\n", hba);
		fclose(f);
	}
}

/* The server's options: port, socket directory, addresses. */
static inline void sv_pg_opts(const sv_pg *pg, char *out, size_t size)
{
	if (qf_snprintf(out, size,
	                "-p %d -k %s -c listen_addresses='%s' -c fsync=off -c max_connections=100",
	                pg->port, pg->dir, pg->listen))
		fail_msg("server options too long");
}

/* Start the server on pg->port (a free one is picked on the first start). */
static inline void sv_pg_start(sv_pg *pg)
{
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	for (int attempt = 0; attempt < 20; attempt++) {
		if (!pg->port || attempt > 0)
			pg->port = 20000 + (int)(rand_r(&seed) % 40000);
		char opts[QF_MAX_PATH + 256];
		sv_pg_opts(pg, opts, sizeof(opts));
		const char *args[] = {"-D", pg->data, "-l", pg->logfile, "-w", "-t", "60", "-o", opts,
		                      "start", NULL};
		qft_output o;
		/* the server is not an orphan of ours to reap: it goes to init */
		sv_subreaper(false);
		int rc = sv_pg_run(pg, &o, "pg_ctl", args);
		sv_subreaper(true);
		qft_output_release(&o);
		if (rc == 0) {
			pg->running = true;
			return;
		}
	}
	char *log = sv_read(pg->logfile);
	fail_msg("could not start PostgreSQL in %s:\n%s", pg->dir, log);
}

/* Start again on the same port (after sv_pg_stop). */
static inline void sv_pg_restart(sv_pg *pg)
{
	char opts[QF_MAX_PATH + 256];
	sv_pg_opts(pg, opts, sizeof(opts));
	const char *args[] = {"-D", pg->data, "-l", pg->logfile, "-w", "-t", "60", "-o", opts,
	                      "start", NULL};
	for (int attempt = 0; attempt < 10; attempt++) {
		qft_output o;
		sv_subreaper(false);
		int rc = sv_pg_run(pg, &o, "pg_ctl", args);
		sv_subreaper(true);
		qft_output_release(&o);
		if (rc == 0) {
			pg->running = true;
			return;
		}
		sv_sleep(0.5);
	}
	char *log = sv_read(pg->logfile);
	fail_msg("could not start PostgreSQL again in %s:\n%s", pg->dir, log);
}

/* mode: "fast" or "immediate". */
static inline void sv_pg_stop(sv_pg *pg, const char *mode)
{
	if (!pg->running)
		return;
	const char *args[] = {"-D", pg->data, "-m", mode, "-w", "-t", "60", "stop", NULL};
	qft_output o;
	int rc = sv_pg_run(pg, &o, "pg_ctl", args);
	if (rc)
		print_error("pg_ctl stop: %s%s\n", o.out, o.err);
	qft_output_release(&o);
	pg->running = rc != 0;
}

/* Superuser URL of database db through host (an address it listens on). */
static inline void sv_pg_url(const sv_pg *pg, char *out, size_t size, const char *host,
                             const char *db)
{
	if (qf_snprintf(out, size, "postgresql://postgres@%s:%d/%s", host, pg->port, db))
		fail_msg("URL too long");
}

/* Stop (immediately) and remove the cluster. */
static inline void sv_pg_destroy(sv_pg *pg)
{
	if (pg->running)
		sv_pg_stop(pg, "immediate");
	sv_undefer(SV_CLEAN_PG, 0, pg->data);
	if (pg->dir[0])
		qf_fs_rm_rf(pg->dir);
	memset(pg, 0, sizeof(*pg));
}

#endif
