/*
 * Errors: filled where they happen, reported once at the boundary.
 *
 * An action returns 0 or a negative QF_E* code and, on failure, fills the
 * caller's qf_err with the category, a stable code string (for example
 * "xtb.scc_not_converged"), a message for the user, and whether a user must
 * act. The CLI turns the category into an exit status (qf_err_exit_status);
 * the HTTP layer (later) into a status code.
 */
#ifndef QF_ERR_H
#define QF_ERR_H

#include <stdbool.h>
#include <stddef.h>

#include "qf/limits.h"

typedef enum qf_category {
	QF_CAT_NONE = 0,
	QF_CAT_VALIDATION,  /* the input or the spec is wrong: never retried */
	QF_CAT_TIMEOUT,     /* the wall-time limit was hit */
	QF_CAT_CONVERGENCE, /* SCC or geometry did not converge */
	QF_CAT_SYSTEM,      /* the machine: xtb missing, killed, disk, database */
	QF_CAT_UNKNOWN,     /* xtb failed in a way we do not recognise */
} qf_category;

/* Return codes of actions. One per category, plus the plumbing ones. */
enum {
	QF_OK = 0,
	QF_EINVAL = -1,   /* validation */
	QF_ETIMEOUT = -2, /* timeout */
	QF_ECONV = -3,    /* convergence */
	QF_ESYS = -4,     /* system */
	QF_EUNKNOWN = -5, /* unknown */
	QF_ENOMEM = -6,   /* allocation failed (category system) */
	QF_ENOENT = -7,   /* a looked-up thing does not exist (category validation) */
	QF_ECONFLICT = -8, /* a guarded state change lost its race (category system) */
};

typedef struct qf_err {
	int rc;                    /* the negative QF_E* code returned */
	qf_category category;
	char code[64];             /* stable, e.g. "input.parity" */
	char message[QF_MAX_ERR_MSG];
	bool user_action;          /* must a user change something? */
	char detail[QF_ERR_TAIL_BYTES]; /* stderr tail etc.; operator detail */
} qf_err;

void qf_err_init(qf_err *e);
bool qf_err_is_set(const qf_err *e);

/* Fill e (which may be NULL) and return the matching negative code.
 * The message is printf-formatted and should be lowercase, name the thing
 * and say what to do. The category decides rc and the default user_action
 * (validation: yes; others: no). */
int qf_err_set(qf_err *e, qf_category cat, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Same, with an explicit return code (QF_ENOMEM, QF_ENOENT, QF_ECONFLICT). */
int qf_err_setrc(qf_err *e, int rc, qf_category cat, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Prefix the existing message: "<prefix>: <message>". */
void qf_err_prefix(qf_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copy a text into e->detail (keeping the tail when it is too long). */
void qf_err_detail(qf_err *e, const char *text, size_t len);

const char *qf_category_name(qf_category c);
/* Parse a category name; QF_CAT_NONE when not known. */
qf_category qf_category_parse(const char *s);
int qf_category_rc(qf_category c);

/* Process exit status for a category: 0 none, 10 validation, 11 timeout,
 * 12 convergence, 13 system, 14 unknown. 2 is kept for usage errors. */
int qf_err_exit_status(qf_category c);

#define QF_EXIT_USAGE 2

#endif
