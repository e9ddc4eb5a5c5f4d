/* qf-test: labels=unit timeout=120 */
/* The subprocess executor with real processes: exit codes and signals,
 * capture and its cap, timeouts that end in SIGKILL of the whole group,
 * grandchildren, exec failures, cwd, environment, limits, signal reset,
 * no descriptor leaks (child and parent), no zombies. */
#include "qftest.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include "qf/clock.h"
#include "qf/fs.h"
#include "qf/proc.h"
#include "qf/str.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The test process must never be left with a child (zombie or running). */
static void assert_no_children(void)
{
	int status;
	pid_t p = waitpid(-1, &status, WNOHANG);
	if (p != -1 || errno != ECHILD)
		fail_msg("a child process was left behind (waitpid gave %ld)", (long)p);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own descriptor */
}

/* A process is gone when it no longer exists or is a zombie waiting for
 * init. Waits a bounded time for the kernel to deliver the kill. */
static bool pid_gone(pid_t pid)
{
	for (int i = 0; i < 250; i++) {
		if (kill(pid, 0) != 0 && errno == ESRCH)
			return true;
		char path[64], buf[512];
		snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
		FILE *f = fopen(path, "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			buf[n] = '\0';
			const char *rp = strrchr(buf, ')');
			if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'))
				return true;
		}
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return false;
}

static void opts_init(qf_proc_opts *o, const char *const *argv)
{
	memset(o, 0, sizeof(*o));
	o->argv = argv;
	o->kill_grace = -1;
}

static char *run_capture(const char *const *argv, qf_proc_opts *base, qf_proc_result *r,
                         const char *tag)
{
	char dir[QF_MAX_PATH], out[QF_MAX_PATH];
	qft_tmpdir(dir, tag);
	qf_fs_join(out, sizeof(out), dir, "out");
	qf_proc_opts o;
	if (base)
		o = *base;
	else
		opts_init(&o, argv);
	o.argv = argv;
	o.stdout_path = out;
	qf_err e;
	qf_err_init(&e);
	int rc = qf_proc_run(&o, r, &e);
	if (rc)
		fail_msg("running %s failed: %s (%s)", argv[0], e.message, e.code);
	char *text = qft_slurp(out, NULL);
	qf_fs_rm_rf(dir);
	return text;
}

static void test_exit_status(void **state)
{
	(void)state;
	static const char *const a_true[] = {"/bin/true", NULL};
	static const char *const a_path[] = {"true", NULL};
	static const char *const a_false[] = {"/bin/false", NULL};
	static const char *const a_42[] = {"/bin/sh", "-c", "exit 42", NULL};
	static const char *const a_segv[] = {"/bin/sh", "-c", "kill -SEGV $$", NULL};
	static const char *const a_usr1[] = {"/bin/sh", "-c", "kill -USR1 $$", NULL};
	static const struct {
		const char *const *argv;
		int exit_code;
		int term_signal;
	} rows[] = {
		{a_true, 0, 0},  {a_path, 0, 0},         {a_false, 1, 0},
		{a_42, 42, 0},   {a_segv, -1, SIGSEGV},  {a_usr1, -1, SIGUSR1},
	};
	for (size_t i = 0; i < COUNT(rows); i++) {
		qf_proc_opts o;
		opts_init(&o, rows[i].argv);
		qf_proc_result r;
		qf_err e;
		qf_err_init(&e);
		assert_int_equal(qf_proc_run(&o, &r, &e), 0);
		assert_false(qf_err_is_set(&e));
		assert_int_equal(r.exit_code, rows[i].exit_code);
		assert_int_equal(r.term_signal, rows[i].term_signal);
		assert_false(r.timed_out);
		assert_false(r.cancelled);
		assert_true(r.wall_time > 0);
		assert_no_children();
	}
}

static void test_capture_streams(void **state)
{
	(void)state;
	char dir[QF_MAX_PATH], out[QF_MAX_PATH], err_path[QF_MAX_PATH];
	qft_tmpdir(dir, "proc-capture");
	qf_fs_join(out, sizeof(out), dir, "stdout");
	qf_fs_join(err_path, sizeof(err_path), dir, "stderr");
	/* Stale content must be replaced, not appended to. */
	qft_write(out, "stale stale stale stale\n");
	static const char *const argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; echo out2", NULL};
	qf_proc_opts o;
	opts_init(&o, argv);
	o.stdout_path = out;
	o.stderr_path = err_path;
	qf_proc_result r;
	qf_err e;
	qf_err_init(&e);
	assert_int_equal(qf_proc_run(&o, &r, &e), 0);
	assert_int_equal(r.exit_code, 0);
	char *so = qft_slurp(out, NULL);
	char *se = qft_slurp(err_path, NULL);
	assert_string_equal(so, "out\nout2\n");
	assert_string_equal(se, "err\n");
	assert_false(r.stdout_truncated);
	assert_false(r.stderr_truncated);
	free(so);
	free(se);

	/* Discarded streams: nothing to capture, still runs. */
	o.stdout_path = NULL;
	o.stderr_path = NULL;
	assert_int_equal(qf_proc_run(&o, &r, &e), 0);
	assert_int_equal(r.exit_code, 0);
	qf_fs_rm_rf(dir);
	assert_no_children();
}

static void test_capture_cap(void **state)
{
	(void)state;
	/* A writer far past the cap: the file keeps the first cap bytes and a
	 * marker; the pipe is drained to the end, so the writer is not killed
	 * by SIGPIPE and exits 0. */
	static const char *const big[] = {"/bin/sh", "-c",
	                                  "head -c 3000000 /dev/zero | tr '\\0' x; echo done >&2", NULL};
	static const char *const exact[] = {"/bin/sh", "-c", "head -c 1000 /dev/zero | tr '\\0' y", NULL};
	static const struct {
		const char *const *argv;
		bool truncated;
		char fill;
	} rows[] = {{big, true, 'x'}, {exact, false, 'y'}};
	for (size_t i = 0; i < COUNT(rows); i++) {
		char dir[QF_MAX_PATH], out[QF_MAX_PATH], err_path[QF_MAX_PATH];
		qft_tmpdir(dir, "proc-cap");
		qf_fs_join(out, sizeof(out), dir, "stdout");
		qf_fs_join(err_path, sizeof(err_path), dir, "stderr");
		qf_proc_opts o;
		opts_init(&o, rows[i].argv);
		o.stdout_path = out;
		o.stderr_path = err_path;
		o.capture_cap = 1000;
		qf_proc_result r;
		qf_err e;
		qf_err_init(&e);
		assert_int_equal(qf_proc_run(&o, &r, &e), 0);
		assert_int_equal(r.exit_code, 0);
		assert_int_equal(r.term_signal, 0);
		assert_int_equal(r.stdout_truncated, rows[i].truncated);
		assert_false(r.stderr_truncated);
		size_t len;
		char *so = qft_slurp(out, &len);
		for (size_t k = 0; k < 1000; k++)
			if (so[k] != rows[i].fill)
				fail_msg("byte %zu of the capture is %d", k, so[k]);
		if (rows[i].truncated)
			assert_string_equal(so + 1000, "\n[qforge: output truncated at 1000 bytes]\n");
		else
			assert_int_equal(len, 1000);
		free(so);
		if (rows[i].truncated) {
			char *se = qft_slurp(err_path, NULL);
			assert_string_equal(se, "done\n");
			free(se);
		}
		qf_fs_rm_rf(dir);
	}
	assert_no_children();
}

/* Everything that must fail before the program runs, with its code. */
static void test_malformed(void **state)
{
	(void)state;
	char dir[QF_MAX_PATH], plain[QF_MAX_PATH], garbage[QF_MAX_PATH], nointerp[QF_MAX_PATH];
	char missing_dir_out[QF_MAX_PATH], missing_cwd[QF_MAX_PATH], missing_in[QF_MAX_PATH];
	qft_tmpdir(dir, "proc-malformed");
	qf_fs_join(plain, sizeof(plain), dir, "plain.sh");
	qft_write(plain, "#!/bin/sh\necho hi\n");
	assert_int_equal(chmod(plain, 0644), 0);
	qf_fs_join(garbage, sizeof(garbage), dir, "garbage");
	qft_write(garbage, "\x7f" "ELF this is not a program\n");
	assert_int_equal(chmod(garbage, 0755), 0);
	qf_fs_join(nointerp, sizeof(nointerp), dir, "nointerp");
	qft_write(nointerp, "#!/nonexistent/interpreter\n");
	assert_int_equal(chmod(nointerp, 0755), 0);
	qf_fs_join(missing_dir_out, sizeof(missing_dir_out), dir, "no/such/dir/out");
	qf_fs_join(missing_cwd, sizeof(missing_cwd), dir, "no-such-cwd");
	qf_fs_join(missing_in, sizeof(missing_in), dir, "no-such-input");

	static const char *const a_true[] = {"/bin/true", NULL};
	static const char *const a_empty[] = {NULL};
	static const char *const a_blank[] = {"", NULL};
	static const char *const a_noname[] = {"qforge-no-such-program-anywhere", NULL};
	static const char *const a_nopath[] = {"/nonexistent/bin/prog", NULL};
	static const char *const a_dir[] = {"/tmp", NULL};
	const char *const a_plain[] = {plain, NULL};
	const char *const a_garbage[] = {garbage, NULL};
	const char *const a_nointerp[] = {nointerp, NULL};
	static const char *const env_noeq[] = {"QF_NOEQ", NULL};
	static const char *const env_noname[] = {"=value", NULL};

	const struct {
		const char *what;
		bool null_opts;
		const char *const *argv;
		const char *const *env;
		const char *cwd;
		const char *stdin_path;
		const char *stdout_path;
		const char *code;
	} rows[] = {
		{"no options", true, NULL, NULL, NULL, NULL, NULL, "proc.spawn"},
		{"no argv", false, NULL, NULL, NULL, NULL, NULL, "proc.spawn"},
		{"empty argv", false, a_empty, NULL, NULL, NULL, NULL, "proc.spawn"},
		{"blank program", false, a_blank, NULL, NULL, NULL, NULL, "proc.spawn"},
		{"not in PATH", false, a_noname, NULL, NULL, NULL, NULL, "proc.not_found"},
		{"missing path", false, a_nopath, NULL, NULL, NULL, NULL, "proc.not_found"},
		{"a directory", false, a_dir, NULL, NULL, NULL, NULL, "proc.not_found"},
		{"not executable", false, a_plain, NULL, NULL, NULL, NULL, "proc.not_found"},
		{"not a program", false, a_garbage, NULL, NULL, NULL, NULL, "proc.exec"},
		{"missing interpreter", false, a_nointerp, NULL, NULL, NULL, NULL, "proc.exec"},
		{"missing cwd", false, a_true, NULL, missing_cwd, NULL, NULL, "proc.spawn"},
		{"missing stdin", false, a_true, NULL, NULL, missing_in, NULL, "proc.spawn"},
		{"capture dir missing", false, a_true, NULL, NULL, NULL, missing_dir_out, "proc.spawn"},
		{"env without =", false, a_true, env_noeq, NULL, NULL, NULL, "proc.spawn"},
		{"env without name", false, a_true, env_noname, NULL, NULL, NULL, "proc.spawn"},
	};
	int fds_before = count_fds();
	for (size_t i = 0; i < COUNT(rows); i++) {
		qf_proc_opts o;
		opts_init(&o, rows[i].argv);
		o.env = rows[i].env;
		o.cwd = rows[i].cwd;
		o.stdin_path = rows[i].stdin_path;
		o.stdout_path = rows[i].stdout_path;
		qf_proc_result r;
		qf_err e;
		qf_err_init(&e);
		int rc = qf_proc_run(rows[i].null_opts ? NULL : &o, &r, &e);
		if (rc != QF_ESYS || e.category != QF_CAT_SYSTEM || strcmp(e.code, rows[i].code))
			fail_msg("%s: rc %d category %s code '%s' (expected %s): %s", rows[i].what, rc,
			         qf_category_name(e.category), e.code, rows[i].code, e.message);
		assert_true(e.message[0] != '\0');
		assert_int_equal(r.exit_code, -1);
		assert_no_children();
	}
	assert_int_equal(count_fds(), fds_before);
	qf_fs_rm_rf(dir);
}

/* A timeout terminates the group; a program that ignores SIGTERM is killed
 * after the grace; the call does not wait for the 30 s sleep. */
static void test_timeout(void **state)
{
	(void)state;
	static const char *const plain[] = {"/bin/sh", "-c", "exec sleep 30", NULL};
	static const char *const deaf[] = {"/bin/sh", "-c", "trap '' TERM; exec sleep 30", NULL};
	static const char *const deaf_tree[] = {"/bin/sh", "-c", "trap '' TERM; sleep 30; sleep 30", NULL};
	static const struct {
		const char *const *argv;
		int term_signal;
	} rows[] = {{plain, SIGTERM}, {deaf, SIGKILL}, {deaf_tree, SIGKILL}};
	for (size_t i = 0; i < COUNT(rows); i++) {
		qf_proc_opts o;
		opts_init(&o, rows[i].argv);
		o.timeout = 0.3;
		o.kill_grace = 0.3;
		qf_proc_result r;
		qf_err e;
		qf_err_init(&e);
		double t0 = qf_clock_mono();
		assert_int_equal(qf_proc_run(&o, &r, &e), 0);
		double took = qf_clock_mono() - t0;
		assert_true(r.timed_out);
		assert_false(r.cancelled);
		assert_int_equal(r.exit_code, -1);
		assert_int_equal(r.term_signal, rows[i].term_signal);
		if (took > 10)
			fail_msg("row %zu: the call took %.1f s: the group was not killed", i, took);
		assert_true(r.wall_time >= 0.3);
		assert_no_children();
	}
}

static pid_t parse_pid(const char *text)
{
	long v;
	char line[64];
	qf_strlcpy(line, text, sizeof(line));
	qf_rstrip(line);
	if (!qf_parse_int(line, 1, INT_MAX, &v))
		fail_msg("expected a pid, got '%s'", text);
	return (pid_t)v;
}

/* A grandchild sleeping in the background holds the output pipe: after the
 * main child exits (or times out) the group is killed and the call returns. */
static void test_grandchild(void **state)
{
	(void)state;
	static const char *const leave[] = {"/bin/sh", "-c", "sleep 30 & echo $!", NULL};
	static const char *const wait_[] = {"/bin/sh", "-c", "sleep 30 & echo $!; wait", NULL};
	static const struct {
		const char *const *argv;
		double timeout;
		bool timed_out;
	} rows[] = {{leave, 0, false}, {wait_, 0.5, true}};
	for (size_t i = 0; i < COUNT(rows); i++) {
		qf_proc_opts o;
		opts_init(&o, rows[i].argv);
		o.timeout = rows[i].timeout;
		o.kill_grace = 0.3;
		qf_proc_result r;
		double t0 = qf_clock_mono();
		char *out = run_capture(rows[i].argv, &o, &r, "proc-grandchild");
		double took = qf_clock_mono() - t0;
		pid_t g = parse_pid(out);
		free(out);
		assert_int_equal(r.timed_out, rows[i].timed_out);
		if (took > 10)
			fail_msg("row %zu: the call took %.1f s: the grandchild kept it waiting", i, took);
		if (!pid_gone(g))
			fail_msg("row %zu: grandchild %ld survived", i, (long)g);
		assert_no_children();
	}
}

static void test_cancel(void **state)
{
	(void)state;
	static const char *const argv[] = {"/bin/sh", "-c", "exec sleep 30", NULL};
	volatile int flag = 1;
	qf_proc_opts o;
	opts_init(&o, argv);
	o.cancel = &flag;
	o.kill_grace = 0.3;
	qf_proc_result r;
	qf_err e;
	qf_err_init(&e);
	double t0 = qf_clock_mono();
	assert_int_equal(qf_proc_run(&o, &r, &e), 0);
	assert_true(qf_clock_mono() - t0 < 10);
	assert_true(r.cancelled);
	assert_false(r.timed_out);
	assert_int_equal(r.term_signal, SIGTERM);

	/* A flag that stays 0 changes nothing. */
	static const char *const ok[] = {"/bin/true", NULL};
	flag = 0;
	o.argv = ok;
	assert_int_equal(qf_proc_run(&o, &r, &e), 0);
	assert_false(r.cancelled);
	assert_int_equal(r.exit_code, 0);
	assert_no_children();
}

static void test_cwd(void **state)
{
	(void)state;
	char dir[QF_MAX_PATH], real[PATH_MAX];
	qft_tmpdir(dir, "proc-cwd");
	assert_non_null(realpath(dir, real));
	static const char *const argv[] = {"/bin/pwd", "-P", NULL};
	qf_proc_opts o;
	opts_init(&o, argv);
	o.cwd = dir;
	qf_proc_result r;
	char *out = run_capture(argv, &o, &r, "proc-cwd-out");
	qf_rstrip(out);
	assert_string_equal(out, real);
	free(out);
	qf_fs_rm_rf(dir);
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == n && !strncmp(p, line, n))
			return true;
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

static bool has_prefix_line(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *p = text; p && *p;) {
		if (!strncmp(p, prefix, n))
			return true;
		const char *nl = strchr(p, '\n');
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

static void test_env(void **state)
{
	(void)state;
	setenv("QF_TEST_KEEP", "kept", 1);
	setenv("QF_TEST_DROP", "dropped", 1);
	setenv("QF_TEST_OVER", "old", 1);
	static const char *const argv[] = {"/usr/bin/env", NULL};
	static const char *const env[] = {"QF_TEST_A=1", "QF_TEST_B=two words", "QF_TEST_A=3",
	                                  "QF_TEST_OVER=new", "QF_TEST_EMPTY=", NULL};
	static const char *const unset[] = {"QF_TEST_DROP", "HOME", "QF_TEST_NEVER_SET", NULL};
	qf_proc_opts o;
	opts_init(&o, argv);
	o.env = env;
	o.unset = unset;
	qf_proc_result r;
	char *out = run_capture(argv, &o, &r, "proc-env");
	static const struct {
		const char *line;
		bool present;
	} rows[] = {
		{"QF_TEST_KEEP=kept", true}, {"QF_TEST_A=3", true},       {"QF_TEST_A=1", false},
		{"QF_TEST_B=two words", true}, {"QF_TEST_OVER=new", true}, {"QF_TEST_OVER=old", false},
		{"QF_TEST_EMPTY=", true},
	};
	for (size_t i = 0; i < COUNT(rows); i++)
		if (has_line(out, rows[i].line) != rows[i].present)
			fail_msg("'%s' should%s be in the child's environment:\n%s", rows[i].line,
			         rows[i].present ? "" : " not", out);
	assert_false(has_prefix_line(out, "QF_TEST_DROP="));
	assert_false(has_prefix_line(out, "HOME="));
	assert_true(has_prefix_line(out, "PATH="));
	/* Each name once. */
	int n = 0;
	for (const char *p = out; (p = strstr(p, "QF_TEST_A=")); p++)
		n++;
	assert_int_equal(n, 1);
	free(out);
	unsetenv("QF_TEST_KEEP");
	unsetenv("QF_TEST_DROP");
	unsetenv("QF_TEST_OVER");
}

static void rlimit_text(int resource, bool hard, char *out, size_t size)
{
	struct rlimit rl;
	assert_int_equal(getrlimit(resource, &rl), 0);
	rlim_t v = hard ? rl.rlim_max : rl.rlim_cur;
	if (v == RLIM_INFINITY)
		snprintf(out, size, "unlimited");
	else
		snprintf(out, size, "%llu", (unsigned long long)(v / 1024));
}

static void test_limits(void **state)
{
	(void)state;
	static const char *const stack[] = {"/bin/sh", "-c", "ulimit -s", NULL};
	static const char *const as[] = {"/bin/sh", "-c", "ulimit -v", NULL};
	char inherited_stack[64], max_stack[64], inherited_as[64];
	rlimit_text(RLIMIT_STACK, false, inherited_stack, sizeof(inherited_stack));
	rlimit_text(RLIMIT_STACK, true, max_stack, sizeof(max_stack));
	rlimit_text(RLIMIT_AS, false, inherited_as, sizeof(inherited_as));
	static const struct {
		const char *const *argv;
		bool unlimited_stack;
		long memory_mb;
		int expect; /* 0: inherited stack, 1: max stack, 2: inherited AS, 3: 131072 */
	} rows[] = {
		{stack, false, 0, 0}, {stack, true, 0, 1}, {as, false, 0, 2}, {as, false, 128, 3},
	};
	for (size_t i = 0; i < COUNT(rows); i++) {
		qf_proc_opts o;
		opts_init(&o, rows[i].argv);
		o.unlimited_stack = rows[i].unlimited_stack;
		o.memory_mb = rows[i].memory_mb;
		qf_proc_result r;
		char *out = run_capture(rows[i].argv, &o, &r, "proc-limits");
		qf_rstrip(out);
		const char *want = rows[i].expect == 0   ? inherited_stack
		                   : rows[i].expect == 1 ? max_stack
		                   : rows[i].expect == 2 ? inherited_as
		                                         : "131072";
		if (strcmp(out, want))
			fail_msg("row %zu: child reports '%s', expected '%s'", i, out, want);
		free(out);
	}
	/* The stack is unlimited whenever the hard limit allows it (it does in
	 * our CI and on the machines we run xtb on). */
	if (strcmp(max_stack, "unlimited"))
		print_message("note: hard stack limit is %s here, not unlimited\n", max_stack);
}

/* A child allocating more than its address-space limit fails; the same
 * child without the limit succeeds, so the limit is what made it fail. */
static void test_memory_limit(void **state)
{
	(void)state;
	if (!qf_fs_exists("/usr/bin/perl"))
		skip();
	static const char *const argv[] = {"/usr/bin/perl", "-e",
	                                   "my $x = 'a' x 300_000_000; print length($x), qq(\\n);", NULL};
	static const struct {
		long memory_mb;
		bool ok;
	} rows[] = {{0, true}, {128, false}};
	for (size_t i = 0; i < COUNT(rows); i++) {
		qf_proc_opts o;
		opts_init(&o, argv);
		o.memory_mb = rows[i].memory_mb;
		qf_proc_result r;
		char *out = run_capture(argv, &o, &r, "proc-mem");
		if (rows[i].ok) {
			assert_int_equal(r.exit_code, 0);
			assert_string_equal(out, "300000000\n");
			assert_true(r.maxrss_mb > 250);
		} else {
			assert_true(r.exit_code != 0);
			assert_string_equal(out, "");
		}
		free(out);
	}
	assert_no_children();
}

/* The child sees only 0, 1, 2 (plus the directory ls itself opens), even
 * when the parent holds descriptors without close-on-exec. */
static void test_no_fd_leak_child(void **state)
{
	(void)state;
	int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, on purpose */
	assert_true(leak >= 0);
	assert_int_equal(dup2(leak, 100), 100);
	int p[2];
	assert_int_equal(pipe(p), 0); /* no O_CLOEXEC either */
	static const char *const argv[] = {"/bin/ls", "-1", "/proc/self/fd", NULL};
	qf_proc_result r;
	char *out = run_capture(argv, NULL, &r, "proc-fdleak");
	assert_string_equal(out, "0\n1\n2\n3\n");
	free(out);
	close(100);
	close(leak);
	close(p[0]);
	close(p[1]);
}

/* Many runs of every kind leave the parent with the descriptors it had, and
 * no child. */
static void test_no_fd_leak_parent(void **state)
{
	(void)state;
	char dir[QF_MAX_PATH], out[QF_MAX_PATH], err_path[QF_MAX_PATH];
	qft_tmpdir(dir, "proc-parent-fds");
	qf_fs_join(out, sizeof(out), dir, "out");
	qf_fs_join(err_path, sizeof(err_path), dir, "err");
	static const char *const ok[] = {"/bin/sh", "-c", "echo x; echo y >&2", NULL};
	static const char *const missing[] = {"qforge-no-such-program-anywhere", NULL};
	static const char *const slow[] = {"/bin/sh", "-c", "exec sleep 30", NULL};
	static const char *const bg[] = {"/bin/sh", "-c", "sleep 30 &", NULL};
	static const char *const cwd_bad[] = {"/bin/true", NULL};
	int before = count_fds();
	for (int i = 0; i < 40; i++) {
		qf_proc_opts o;
		opts_init(&o, ok);
		o.stdout_path = out;
		o.stderr_path = err_path;
		o.kill_grace = 0.05;
		switch (i % 5) {
		case 1: o.argv = missing; break;
		case 2: o.argv = slow; o.timeout = 0.05; break;
		case 3: o.argv = bg; break;
		case 4: o.argv = cwd_bad; o.cwd = "/nonexistent/dir"; break;
		default: break;
		}
		qf_proc_result r;
		qf_err e;
		qf_err_init(&e);
		int rc = qf_proc_run(&o, &r, &e);
		if ((i % 5 == 1 || i % 5 == 4) != (rc != 0))
			fail_msg("run %d: rc %d (%s)", i, rc, e.message);
		assert_no_children();
	}
	assert_int_equal(count_fds(), before);
	qf_fs_rm_rf(dir);
}

static void test_cpu_and_rss(void **state)
{
	(void)state;
	static const char *const argv[] = {
		"/bin/sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo $i", NULL};
	qf_proc_result r;
	char *out = run_capture(argv, NULL, &r, "proc-cpu");
	assert_string_equal(out, "300000\n");
	free(out);
	assert_int_equal(r.exit_code, 0);
	assert_true(r.cpu_time > 0);
	assert_true(r.maxrss_mb > 0);
	assert_true(r.wall_time > 0);
}

static void test_stdin(void **state)
{
	(void)state;
	char dir[QF_MAX_PATH], in[QF_MAX_PATH];
	qft_tmpdir(dir, "proc-stdin");
	qf_fs_join(in, sizeof(in), dir, "in");
	qft_write(in, "hello\nworld\n");
	static const char *const argv[] = {"/bin/cat", NULL};
	qf_proc_opts o;
	opts_init(&o, argv);
	o.stdin_path = in;
	qf_proc_result r;
	char *out = run_capture(argv, &o, &r, "proc-stdin-out");
	assert_string_equal(out, "hello\nworld\n");
	free(out);
	/* Default: /dev/null, so a reader of stdin ends at once. */
	o.stdin_path = NULL;
	o.timeout = 20;
	out = run_capture(argv, &o, &r, "proc-stdin-null");
	assert_string_equal(out, "");
	assert_false(r.timed_out);
	assert_int_equal(r.exit_code, 0);
	free(out);
	qf_fs_rm_rf(dir);
}

/* Ignored and blocked signals of the parent do not reach the child. */
static void test_signal_reset(void **state)
{
	(void)state;
	struct sigaction ign, old_int, old_pipe;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGPIPE, &ign, &old_pipe);
	sigset_t block, old_mask;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old_mask);

	static const char *const argv[] = {"/bin/grep", "-E", "^(SigIgn|SigBlk):", "/proc/self/status",
	                                   NULL};
	qf_proc_result r;
	char *out = run_capture(argv, NULL, &r, "proc-signals");

	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);

	if (!has_line(out, "SigBlk:\t0000000000000000") || !has_line(out, "SigIgn:\t0000000000000000"))
		fail_msg("the child inherited blocked or ignored signals:\n%s", out);
	free(out);
}

/* The child leads its own process group. */
static void test_process_group(void **state)
{
	(void)state;
	static const char *const argv[] = {"/usr/bin/cut", "-d", " ", "-f1,5", "/proc/self/stat", NULL};
	qf_proc_result r;
	char *out = run_capture(argv, NULL, &r, "proc-pgid");
	long pid = 0, pgid = 0;
	assert_int_equal(sscanf(out, "%ld %ld", &pid, &pgid), 2);
	assert_int_equal(pid, pgid);
	assert_true(pgid != (long)getpgrp());
	free(out);
}

#if defined(__x86_64__)
/* In a forked test process whose kernel "lacks" pidfd_open and close_range
 * (seccomp makes them fail with ENOSYS): the 50 ms tick and the fcntl loop
 * take over. Returns 0, or the line of the first failed check. */
#define CHECK(c) do { if (!(c)) return __LINE__; } while (0)
static int fallback_checks(const char *dir)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pidfd_open, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_close_range, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
	};
	struct sock_fprog prog = {(unsigned short)(sizeof(filter) / sizeof(filter[0])), filter};
	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
	CHECK(syscall(__NR_pidfd_open, getpid(), 0) < 0 && errno == ENOSYS);

	char out[QF_MAX_PATH];
	qf_fs_join(out, sizeof(out), dir, "out");
	qf_proc_result r;
	qf_err e;
	qf_err_init(&e);

	/* Exit status without a pidfd. */
	static const char *const a_42[] = {"/bin/sh", "-c", "exit 42", NULL};
	qf_proc_opts o;
	opts_init(&o, a_42);
	CHECK(qf_proc_run(&o, &r, &e) == 0);
	CHECK(r.exit_code == 42);

	/* Timeout and kill of a TERM-deaf child on the tick. */
	static const char *const deaf[] = {"/bin/sh", "-c", "trap '' TERM; exec sleep 30", NULL};
	opts_init(&o, deaf);
	o.timeout = 0.2;
	o.kill_grace = 0.2;
	double t0 = qf_clock_mono();
	CHECK(qf_proc_run(&o, &r, &e) == 0);
	CHECK(r.timed_out && r.term_signal == SIGKILL);
	CHECK(qf_clock_mono() - t0 < 10);

	/* No descriptor leaks through the fcntl loop. */
	int leak = open("/dev/null", O_RDONLY);
	CHECK(leak >= 0 && dup2(leak, 77) == 77);
	static const char *const ls[] = {"/bin/ls", "-1", "/proc/self/fd", NULL};
	opts_init(&o, ls);
	o.stdout_path = out;
	CHECK(qf_proc_run(&o, &r, &e) == 0);
	char *text = NULL;
	CHECK(qf_fs_read(out, 4096, &text, NULL, &e) == 0);
	int same = !strcmp(text, "0\n1\n2\n3\n");
	free(text);
	CHECK(same);
	return 0;
}
#undef CHECK

static void test_fallbacks(void **state)
{
	(void)state;
	char dir[QF_MAX_PATH];
	qft_tmpdir(dir, "proc-fallback");
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	char failed[QF_MAX_PATH];
	qf_fs_join(failed, sizeof(failed), dir, "failed-line");
	if (pid == 0) {
		int line = fallback_checks(dir);
		if (line) {
			FILE *f = fopen(failed, "w");
			if (f) {
				fprintf(f, "%d", line);
				fclose(f);
			}
		}
		_exit(line ? 1 : 0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0) {
		char *line = qf_fs_exists(failed) ? qft_slurp(failed, NULL) : NULL;
		fail_msg("the check at test_proc.c:%s of the pidfd/close_range fallbacks failed",
		         line ? line : "?");
	}
	qf_fs_rm_rf(dir);
	assert_no_children();
}
#else
static void test_fallbacks(void **state)
{
	(void)state;
	skip();
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_capture_streams),
		cmocka_unit_test(test_capture_cap),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_grandchild),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_cwd),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_memory_limit),
		cmocka_unit_test(test_no_fd_leak_child),
		cmocka_unit_test(test_no_fd_leak_parent),
		cmocka_unit_test(test_cpu_and_rss),
		cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_signal_reset),
		cmocka_unit_test(test_process_group),
		cmocka_unit_test(test_fallbacks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
