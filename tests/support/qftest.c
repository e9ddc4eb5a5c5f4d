/* Test support: see qftest.h. */
#include "qftest.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qf/fs.h"
#include "qf/str.h"

extern char **environ;

static const char *tmp_root(void)
{
	const char *t = getenv("QF_TEST_TMP");
	return t && *t ? t : "/tmp/qforge-test";
}

char *qft_tmpdir(char out[QF_MAX_PATH], const char *name)
{
	static int counter;
	snprintf(out, QF_MAX_PATH, "%s/%s.%ld.%d", tmp_root(), name, (long)getpid(), counter++);
	qf_fs_rm_rf(out);
	qf_err e;
	qf_err_init(&e);
	if (qf_fs_mkdir_p(out, false, &e))
		fail_msg("could not create %s: %s", out, e.message);
	return out;
}

char *qft_data(char out[QF_MAX_PATH], const char *rel)
{
	snprintf(out, QF_MAX_PATH, "%s/%s", QF_TEST_DATA, rel);
	return out;
}

char *qft_join(char out[QF_MAX_PATH], const char *dir, const char *name)
{
	if (qf_fs_join(out, QF_MAX_PATH, dir, name))
		fail_msg("path too long: %s/%s", dir, name);
	return out;
}

char *qft_slurp(const char *path, size_t *len)
{
	char *data = NULL;
	qf_err e;
	qf_err_init(&e);
	if (qf_fs_read(path, QF_MAX_INPUT_BYTES, &data, len, &e))
		fail_msg("could not read %s: %s", path, e.message);
	return data;
}

void qft_write(const char *path, const char *text)
{
	qf_err e;
	qf_err_init(&e);
	if (qf_fs_write(path, text, strlen(text), &e))
		fail_msg("could not write %s: %s", path, e.message);
}

static void drain(int fd, char **buf, size_t *len, size_t *alloc, bool *open_)
{
	char tmp[65536];
	ssize_t k = read(fd, tmp, sizeof(tmp));
	if (k <= 0) {
		if (k == 0 || (errno != EINTR && errno != EAGAIN))
			*open_ = false;
		return;
	}
	if (*len + (size_t)k + 1 > *alloc) {
		*alloc = (*len + (size_t)k + 1) * 2;
		*buf = realloc(*buf, *alloc);
		assert_non_null(*buf);
	}
	memcpy(*buf + *len, tmp, (size_t)k);
	*len += (size_t)k;
	(*buf)[*len] = '\0';
}

void qft_run(qft_output *o, const char *const *argv, const char *const *env,
             const char *cwd, double timeout_s)
{
	memset(o, 0, sizeof(*o));
	int po[2], pe[2];
	assert_int_equal(pipe2(po, O_CLOEXEC), 0);
	assert_int_equal(pipe2(pe, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		if (cwd && chdir(cwd))
			_exit(126);
		for (const char *const *e = env; e && *e; e++)
			putenv((char *)*e);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	setpgid(pid, pid);
	close(po[1]);
	close(pe[1]);
	size_t lo = 0, ao = 0, le = 0, ae = 0;
	bool oo = true, oe = true;
	o->out = calloc(1, 1);
	o->err = calloc(1, 1);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bool killed = false;
	while (oo || oe) {
		struct pollfd p[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
		int n = poll(p, 2, 100);
		if (n > 0) {
			if (oo && (p[0].revents & (POLLIN | POLLHUP)))
				drain(po[0], &o->out, &lo, &ao, &oo);
			if (oe && (p[1].revents & (POLLIN | POLLHUP)))
				drain(pe[0], &o->err, &le, &ae, &oe);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double el = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
		if (!killed && el > timeout_s) {
			kill(-pid, SIGKILL);
			killed = true;
		}
		if (killed && el > timeout_s + 5)
			break;
	}
	close(po[0]);
	close(pe[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	if (WIFEXITED(status)) {
		o->exit_code = WEXITSTATUS(status);
	} else {
		o->exit_code = -1;
		o->term_signal = WTERMSIG(status);
	}
	if (killed)
		fail_msg("%s did not finish within %.0f s", argv[0], timeout_s);
}

void qft_output_release(qft_output *o)
{
	free(o->out);
	free(o->err);
	memset(o, 0, sizeof(*o));
}

const char *qft_qforge(void)
{
	return QF_QFORGE_BIN;
}

void qft_assert_close(double a, double b, double tol, const char *what, const char *file, int line)
{
	if (!(fabs(a - b) <= tol)) {
		print_error("%s: %.12g differs from %.12g by %.3g (tolerance %.3g)\n", what, a, b,
		            fabs(a - b), tol);
		_fail(file, line);
	}
}
