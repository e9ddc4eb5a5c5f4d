/*
 * Helpers for the tests over the real xtb 6.5.1 outputs in tests/data/xtb/
 * (made by tests/data/xtb/generate.sh): read a file of a case, its
 * exit_code record, and its input geometry as a molecule.
 */
#ifndef QF_TEST_XTBCASE_H
#define QF_TEST_XTBCASE_H

#include "qftest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf/fs.h"
#include "qf/mol.h"
#include "qf/molio.h"
#include "qf/str.h"

/* tests/data/xtb/<c>/<name> */
static inline char *xc_path(char out[QF_MAX_PATH], const char *c, const char *name)
{
	char rel[QF_MAX_PATH];
	snprintf(rel, sizeof(rel), "xtb/%s%s%s", c, name ? "/" : "", name ? name : "");
	return qft_data(out, rel);
}

/* The file's text (heap), or NULL when the case has no such file. */
static inline char *xc_read(const char *c, const char *name)
{
	char path[QF_MAX_PATH];
	xc_path(path, c, name);
	if (!qf_fs_exists(path))
		return NULL;
	return qft_slurp(path, NULL);
}

/* Like xc_read, but the file must exist. */
static inline char *xc_need(const char *c, const char *name)
{
	char *t = xc_read(c, name);
	if (!t)
		fail_msg("tests/data/xtb/%s/%s is missing: run tests/data/xtb/generate.sh", c, name);
	return t;
}

typedef struct xc_status {
	int exit_code;   /* -1 when a signal ended xtb */
	int signal;      /* that signal, 0 if none */
	int sent_signal; /* a signal generate.sh sent, 0 if none */
} xc_status;

/* Parse the case's exit_code file ("exit_code=N", "signal=S",
 * "sent_signal=S"). */
static inline xc_status xc_exit(const char *c)
{
	char *t = xc_need(c, "exit_code");
	xc_status s = {-2, -2, -2};
	char *save = t;
	for (char *line = t; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *eq = strchr(line, '=');
		long v;
		if (eq && qf_parse_int(eq + 1, -1000, 1000, &v)) {
			*eq = '\0';
			if (!strcmp(line, "exit_code"))
				s.exit_code = (int)v;
			else if (!strcmp(line, "signal"))
				s.signal = (int)v;
			else if (!strcmp(line, "sent_signal"))
				s.sent_signal = (int)v;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(save);
	if (s.exit_code == -2 || s.signal == -2 || s.sent_signal == -2)
		fail_msg("tests/data/xtb/%s/exit_code is incomplete", c);
	return s;
}

/* The input geometry of the case, read with the project's XYZ reader. */
static inline void xc_mol(const char *c, qf_mol *m)
{
	char path[QF_MAX_PATH];
	qf_reader *r = NULL;
	qf_err e;
	qf_err_init(&e);
	if (qf_reader_new_path(&r, xc_path(path, c, "geometry.xyz"), QF_FMT_XYZ, &e))
		fail_msg("%s: %s", path, e.message);
	if (qf_reader_next(r, m, &e) != 1)
		fail_msg("%s: %s", path, e.message);
	qf_reader_free(r);
}

#endif
