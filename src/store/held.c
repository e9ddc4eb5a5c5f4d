/*
 * Jobs held by a group of workers, named by the start of their names
 * (qf_store_held_count, qf_store_release_held): what `qforge slurm status`
 * shows and `qforge slurm cancel` gives back for the workers of one Slurm
 * job array ("slurm:<array job id>_"; include/qf/slurm.h).
 *
 * The running jobs are found by their lease owner ("<worker name>/<slot>");
 * each is then given back exactly as a draining worker gives back its own
 * (qf_store_release: guarded by id, attempt and lease token, queued again
 * with the attempt not counted, no error row; cancelled instead when a
 * cancel was asked for). A job that finished or changed hands between the
 * two steps is left alone.
 */
#include <stdlib.h>
#include <string.h>

#include "qf/str.h"
#include "store_int.h"

#define HELD_MAX_PREFIX 255 /* a worker name is at most 255 bytes (queue.c) */

/* Running jobs whose lease owner starts with prefix: exact, byte for byte
 * (no LIKE, whose wildcards and case rules differ between the backends). */
#define HELD_WHERE                                                                           \
	" FROM calculations WHERE status = 'running' AND lease_owner IS NOT NULL AND "          \
	"substr(lease_owner, 1, length(CAST(? AS text))) = CAST(? AS text)"

static int check_prefix(const char *prefix, qf_err *err)
{
	size_t n = prefix ? strlen(prefix) : 0;
	if (!n || n > HELD_MAX_PREFIX || !qf__text_valid(prefix, n))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.invalid",
		                  "a worker name prefix must be 1 to %d bytes of UTF-8 text",
		                  HELD_MAX_PREFIX);
	return 0;
}

int qf_store_held_count(qf_store *s, const char *prefix, int64_t *n, qf_err *err)
{
	*n = 0;
	int rc = check_prefix(prefix, err);
	if (rc)
		return rc;
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	if ((rc = qf__tx_begin(s, &sys, false, &tx, err)))
		return rc;
	qf__stmt *st;
	if (!(rc = qf__db_prepare(tx.db, "SELECT count(*)" HELD_WHERE, &st, err))) {
		qf__stmt_bind_str(st, 1, prefix);
		qf__stmt_bind_str(st, 2, prefix);
		rc = qf__stmt_step(st, err);
		if (rc == 1) {
			*n = qf__stmt_col_int64(st, 0);
			rc = qf__stmt_done(st, err);
		}
		qf__stmt_finalize(st);
	}
	if (rc) {
		qf__tx_rollback(&tx);
		return rc;
	}
	return qf__tx_commit(&tx, err);
}

/* The leases to give back: (id, attempt, token) of each held job. */
static int list_held(qf_store *s, const char *prefix, qf_claim **out, int *n, qf_err *err)
{
	*out = NULL;
	*n = 0;
	qf_actor sys = qf_actor_system();
	qf__tx tx;
	int rc = qf__tx_begin(s, &sys, false, &tx, err);
	if (rc)
		return rc;
	qf__stmt *st;
	int cap = 0;
	if (!(rc = qf__db_prepare(tx.db, "SELECT id, attempt, lease_token" HELD_WHERE " ORDER BY id",
	                          &st, err))) {
		qf__stmt_bind_str(st, 1, prefix);
		qf__stmt_bind_str(st, 2, prefix);
		while ((rc = qf__stmt_step(st, err)) == 1) {
			if (*n == cap) {
				int ncap = cap ? 2 * cap : 16;
				qf_claim *v = realloc(*out, (size_t)ncap * sizeof(**out));
				if (!v) {
					rc = qf__oom(err);
					break;
				}
				*out = v;
				cap = ncap;
			}
			qf_claim *c = &(*out)[*n];
			qf_claim_init(c);
			const char *id = qf__stmt_col_text(st, 0, NULL);
			const char *token = qf__stmt_col_text(st, 2, NULL);
			qf_strlcpy(c->id, id ? id : "", sizeof(c->id));
			c->attempt = (int)qf__stmt_col_int64(st, 1);
			qf_strlcpy(c->lease_token, token ? token : "", sizeof(c->lease_token));
			(*n)++;
		}
		qf__stmt_finalize(st);
	}
	if (rc) {
		qf__tx_rollback(&tx);
		for (int i = 0; i < *n; i++)
			qf_claim_release(&(*out)[i]);
		free(*out);
		*out = NULL;
		*n = 0;
		return rc;
	}
	return qf__tx_commit(&tx, err);
}

int qf_store_release_held(qf_store *s, const char *prefix, int *released, qf_err *err)
{
	*released = 0;
	int rc = check_prefix(prefix, err);
	if (rc)
		return rc;
	qf_claim *held;
	int n;
	if ((rc = list_held(s, prefix, &held, &n, err)))
		return rc;
	for (int i = 0; i < n && !rc; i++) {
		qf_err e;
		qf_err_init(&e);
		int r = qf_store_release(s, &held[i], &e);
		if (r == 0)
			(*released)++;
		else if (r != QF_ECONFLICT) { /* finished or taken over meanwhile: not ours to give */
			*err = e;
			rc = r;
		}
	}
	for (int i = 0; i < n; i++)
		qf_claim_release(&held[i]);
	free(held);
	return rc;
}
