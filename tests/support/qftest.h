/*
 * Test support shared by unit and integration tests (cmocka).
 *
 *   qft_tmpdir(buf, "name")   a fresh empty directory under QF_TEST_TMP
 *   qft_data(buf, "rel")      path under tests/data
 *   qft_slurp(path)           whole file (heap), fails the test when missing
 *   qft_run(...)              run a program (argv), capture stdout/stderr
 */
#ifndef QFTEST_H
#define QFTEST_H

#include <setjmp.h>
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

/* Absolute path of the qforge program under test. */
const char *qft_qforge(void);

/* assert that |a-b| <= tol, printing both on failure. */
#define assert_close(a, b, tol) qft_assert_close((a), (b), (tol), #a, __FILE__, __LINE__)
void qft_assert_close(double a, double b, double tol, const char *what, const char *file, int line);

#endif
