/*
 * Test support shared by unit and integration tests (cmocka).
 *
 *   qft_tmpdir(buf, "name")   a fresh empty directory under QF_TEST_TMP
 *   qft_data(buf, "rel")      path under tests/data
 *   qft_slurp(path)           whole file (heap), fails the test when missing
 *   qft_run(...)              run a program (argv), capture stdout/stderr
 *   qft_listen(...)           a TCP listener on 127.0.0.1 or [::1] whose
 *                             thread hands each connection to a callback
 */
#ifndef QFTEST_H
#define QFTEST_H

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qf/limits.h"

/* Fresh directory QF_TEST_TMP/<name>.<pid>.<n>; returns out. */
char *qft_tmpdir(char out[QF_MAX_PATH], const char *name);
char *qft_data(char out[QF_MAX_PATH], const char *rel);
/* dir/name into out; fails the test when it does not fit. */
char *qft_join(char out[QF_MAX_PATH], const char *dir, const char *name);
char *qft_slurp(const char *path, size_t *len);
void qft_write(const char *path, const char *text);

typedef struct qft_output {
	int exit_code;   /* -1 when signalled */
	int term_signal;
	char *out;       /* stdout (heap, NUL-terminated) */
	char *err;       /* stderr */
} qft_output;

/* Run argv (NULL-terminated; argv[0] looked up in PATH when it has no '/'),
 * with extra environment entries env ("K=V", NULL-terminated, may be NULL),
 * in cwd (may be NULL), for at most timeout_s seconds (killed after). */
void qft_run(qft_output *o, const char *const *argv, const char *const *env,
             const char *cwd, double timeout_s);
void qft_output_release(qft_output *o);

/* Path of the xtb program (fails the test when it is not installed). */
const char *qft_xtb_path(void);

struct qf_mol;
/* Read the one molecule of an XYZ file under tests/data into m (initialised
 * here); fails the test on error. */
void qft_load_xyz(struct qf_mol *m, const char *rel);
/* A straight-chain alkane CnH(2n+2), all-trans zig-zag in the xy plane:
 * C-C 1.54 A, C-H 1.09 A, tetrahedral angles. Deterministic: a large
 * molecule of any size for tests. */
void qft_alkane(struct qf_mol *m, int n);

/* A listener on a free port of a loopback address. Its one thread polls
 * for connections (every 50 ms, so that qft_listen_stop is quick) and calls
 * serve(arg, fd) for each, one at a time, with 5 s receive and send
 * timeouts on fd (nothing waits for ever); fd is closed after. */
typedef void (*qft_serve_fn)(void *arg, int fd);
typedef struct qft_listener {
	int fd;
	int port;
	pthread_t thread;
	atomic_int stop;
	qft_serve_fn serve;
	void *arg;
} qft_listener;

/* Listen on 127.0.0.1 (v6: [::1]); false (and l->fd -1) when this machine
 * has no IPv6 loopback; a failure on 127.0.0.1 fails the test. */
bool qft_listen(qft_listener *l, bool v6, qft_serve_fn serve, void *arg);
/* Stop the thread and close the listener (nothing when it never started). */
void qft_listen_stop(qft_listener *l);

/* Absolute path of the qforge program under test. */
const char *qft_qforge(void);

/* assert that |a-b| <= tol, printing both on failure. */
#define assert_close(a, b, tol) qft_assert_close((a), (b), (tol), #a, __FILE__, __LINE__)
void qft_assert_close(double a, double b, double tol, const char *what, const char *file, int line);

#endif
