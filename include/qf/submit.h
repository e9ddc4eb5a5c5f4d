/*
 * Submitting molecule files as a batch: every record of one or more readers
 * becomes a calculation of one spec in one batch, queued in chunks of
 * QF_RECORD_CHUNK (one store transaction each). A record that cannot be
 * read, or holds a molecule the calculation would refuse (qf_mol_validate
 * with the batch's method and the effective charge, as the runner checks
 * before xtb starts), is reported by its source and record number and the
 * rest is queued. The batch is created with its first molecules, so input
 * holding none leaves no batch behind.
 */
#ifndef QF_SUBMIT_H
#define QF_SUBMIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "qf/embed.h"
#include "qf/err.h"
#include "qf/molio.h"
#include "qf/spec.h"
#include "qf/store.h"

typedef struct qf_submitter qf_submitter;

typedef struct qf_submitter_opts {
	const qf_spec *spec;
	const char *name;        /* batch name (NULL: the first source) */
	const char *source;      /* the batch's source (a path, an upload's file name) */
	const char *org_id;      /* NULL: personal */
	int priority;
	int max_attempts;        /* 0: QF_DEFAULT_MAX_ATTEMPTS */
	bool force;              /* rerun even when an identical result is stored */
	const char *xtb_version; /* reuse results of this version (NULL: none) */
	size_t max_molecules;    /* refuse past this many (quota.batch_molecules); 0: none */
	bool keep_rejected;      /* keep the refused records in the report (for HTTP) */
	/* SMILES records are embedded at each chunk's flush, in parallel child
	 * processes under these limits (include/qf/embed.h; NULL: defaults); one
	 * that fails is refused like an unreadable record. on_embed (may be NULL)
	 * is told the count embedded so far and the count that failed. */
	const qf_embed_limits *embed;
	/* With embed->conformers > 1: every distinct conformer of a SMILES is
	 * queued as its own calculation (the same record; its index and
	 * force-field energy in the molecule's embedding), not only the lowest. */
	bool keep_conformers;
	void (*on_embed)(void *ctx, size_t embedded, size_t failed);
	void *embed_ctx;
} qf_submitter_opts;

int qf_submitter_new(qf_submitter **out, qf_store *store, const qf_actor *a,
                     const qf_submitter_opts *o, qf_err *err);
/* Queue every record of r (source names it in the report). Returns 0, or
 * the error that stopped the submission (the store; the quota): what was
 * queued before stays queued. */
int qf_submitter_add(qf_submitter *s, qf_reader *r, const char *source, qf_err *err);
/* Queue what is waiting. */
int qf_submitter_finish(qf_submitter *s, qf_err *err);
/* The batch id ("" when nothing was queued), counts, and the report:
 * {"batch_id","queued","reused","rejected":n,"rejections":[{"source",
 * "record","code","message"}]} (rejections only with keep_rejected, at most
 * 1000 of them). */
const char *qf_submitter_batch(const qf_submitter *s);
size_t qf_submitter_queued(const qf_submitter *s);
size_t qf_submitter_rejected(const qf_submitter *s);
size_t qf_submitter_reused(const qf_submitter *s);
json_t *qf_submitter_report(const qf_submitter *s);
/* Called for each refused record (may be NULL): the CLI prints them. */
void qf_submitter_on_reject(qf_submitter *s,
                            void (*fn)(void *ctx, const char *source, int record, const qf_err *e),
                            void *ctx);
void qf_submitter_free(qf_submitter *s);

#endif
