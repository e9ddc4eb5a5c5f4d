/* Test support: see qftest.h. */
#include "qftest.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qf/fs.h"
#include "qf/molio.h"
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

const char *qft_xtb_path(void)
{
	static char path[QF_MAX_PATH];
	if (!path[0] && !qf_fs_which("xtb", path, sizeof(path)))
		fail_msg("xtb is not installed: run scripts/install-deps");
	return path;
}

void qft_load_xyz(qf_mol *m, const char *rel)
{
	char path[QF_MAX_PATH];
	size_t len;
	char *text = qft_slurp(qft_data(path, rel), &len);
	qf_err e;
	qf_err_init(&e);
	qf_mol_init(m);
	if (qf_mol_parse(m, QF_FMT_XYZ, path, text, len, &e))
		fail_msg("could not read %s: %s", path, e.message);
	free(text);
}

void qft_alkane(qf_mol *m, int n)
{
	const double half = 109.5 / 2 * M_PI / 180;
	const double dx = 1.54 * sin(half), dy = 1.54 * cos(half) / 2;
	const double hy = 1.09 * cos(half), hz = 1.09 * sin(half);
	qf_err e;
	qf_err_init(&e);
	qf_mol_init(m);
	assert_int_equal(qf_mol_resize(m, 3 * n + 2, &e), 0);
	int a = 0;
	for (int i = 0; i < n; i++) {
		double s = i % 2 ? -1 : 1, x = i * dx, y = s * dy;
		const double at[3][4] = {{6, x, y, 0}, {1, x, y + s * hy, hz}, {1, x, y + s * hy, -hz}};
		for (int k = 0; k < 3; k++, a++) {
			m->z[a] = (int)at[k][0];
			for (int c = 0; c < 3; c++)
				m->xyz[3 * a + c] = at[k][c + 1];
		}
	}
	double s_end = (n - 1) % 2 ? -1 : 1;
	const double ends[2][3] = {{-hz, dy + hy, 0}, {(n - 1) * dx + hz, s_end * (dy + hy), 0}};
	for (int k = 0; k < 2; k++, a++) {
		m->z[a] = 1;
		for (int c = 0; c < 3; c++)
			m->xyz[3 * a + c] = ends[k][c];
	}
	snprintf(m->name, sizeof(m->name), "C%dH%d", n, 2 * n + 2);
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

/* ---- listeners ------------------------------------------------------------------- */

static void *listen_main(void *arg)
{
	qft_listener *l = arg;
	while (!atomic_load(&l->stop)) {
		struct pollfd p = {.fd = l->fd, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		int c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		struct timeval tv = {5, 0};
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		l->serve(l->arg, c);
		close(c);
	}
	return NULL;
}

bool qft_listen(qft_listener *l, bool v6, qft_serve_fn serve, void *arg)
{
	memset(l, 0, sizeof(*l));
	l->serve = serve;
	l->arg = arg;
	l->fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(l->fd >= 0);
	int one = 1;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	if (v6) {
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	if (bind(l->fd, (struct sockaddr *)&ss, len) || listen(l->fd, 16)) {
		if (!v6)
			fail_msg("cannot listen on 127.0.0.1: %s", strerror(errno));
		close(l->fd);
		l->fd = -1;
		return false;
	}
	getsockname(l->fd, (struct sockaddr *)&ss, &len);
	l->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                   : ((struct sockaddr_in *)&ss)->sin_port);
	assert_int_equal(pthread_create(&l->thread, NULL, listen_main, l), 0);
	return true;
}

void qft_listen_stop(qft_listener *l)
{
	if (l->fd < 0)
		return;
	atomic_store(&l->stop, 1);
	pthread_join(l->thread, NULL);
	close(l->fd);
	l->fd = -1;
}
