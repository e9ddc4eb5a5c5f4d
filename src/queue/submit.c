/* Submitting molecule files as a batch (include/qf/submit.h). */
#include "qf/submit.h"

#include <stdlib.h>
#include <string.h>

#include "qf/embed.h"
#include "qf/job.h"
#include "qf/limits.h"
#include "qf/str.h"

#define MAX_REJECTIONS 1000

struct qf_submitter {
	qf_store *store;
	qf_actor actor;
	qf_submitter_opts o;
	qf_spec spec;
	char *name, *source, *org, *xtb_version;
	char batch_id[QF_UUID_STR];
	qf_submit_item items[QF_RECORD_CHUNK];
	qf_mol mols[QF_RECORD_CHUNK];
	char *texts[QF_RECORD_CHUNK];
	char *sources[QF_RECORD_CHUNK];
	char *smiles[QF_RECORD_CHUNK]; /* the SMILES to embed at flush; NULL: has 3D */
	size_t n;
	/* --keep-conformers: the chunk's conformers after the first, each its
	 * own calculation of the same record (queued with the chunk). */
	qf_mol *xmols;
	qf_submit_item *xitems;
	size_t nx, capx;
	size_t seen, queued, reused, rejected;
	size_t embedded, embed_failed;
	qf_embed_limits embed;
	json_t *rejections;
	void (*on_reject)(void *, const char *, int, const qf_err *);
	void *reject_ctx;
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int qf_submitter_new(qf_submitter **out, qf_store *store, const qf_actor *a,
                     const qf_submitter_opts *o, qf_err *err)
{
	*out = NULL;
	qf_submitter *s = calloc(1, sizeof(*s));
	if (!s)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	s->store = store;
	s->actor = *a;
	s->o = *o;
	s->spec = *o->spec;
	s->o.spec = &s->spec;
	if (o->embed)
		s->embed = *o->embed;
	s->o.embed = &s->embed;
	s->name = dup_or_null(o->name);
	s->source = dup_or_null(o->source);
	s->org = dup_or_null(o->org_id);
	s->xtb_version = dup_or_null(o->xtb_version);
	s->rejections = json_array();
	if ((o->name && !s->name) || (o->source && !s->source) || (o->org_id && !s->org) ||
	    (o->xtb_version && !s->xtb_version) || !s->rejections) {
		qf_submitter_free(s);
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	}
	int rc = qf_spec_validate(&s->spec, err);
	if (rc) {
		qf_submitter_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void qf_submitter_on_reject(qf_submitter *s,
                            void (*fn)(void *ctx, const char *source, int record, const qf_err *e),
                            void *ctx)
{
	s->on_reject = fn;
	s->reject_ctx = ctx;
}

static void clear_chunk(qf_submitter *s)
{
	for (size_t i = 0; i < s->n; i++) {
		qf_mol_release(&s->mols[i]);
		free(s->texts[i]);
		free(s->sources[i]);
		free(s->smiles[i]);
		s->texts[i] = s->sources[i] = s->smiles[i] = NULL;
	}
	s->n = 0;
	for (size_t j = 0; j < s->nx; j++)
		qf_mol_release(&s->xmols[j]);
	s->nx = 0;
}

static void reject(qf_submitter *s, const char *source, int record, const qf_err *e);
static bool refused(const qf_mol *m, const qf_spec *spec, qf_err *err);

/* Item i leaves the chunk (the last one takes its place: order within a
 * chunk does not matter to the store, records keep their numbers). */
static void drop(qf_submitter *s, size_t i)
{
	qf_mol_release(&s->mols[i]);
	free(s->texts[i]);
	free(s->sources[i]);
	free(s->smiles[i]);
	size_t last = --s->n;
	if (i != last) {
		s->mols[i] = s->mols[last];
		s->texts[i] = s->texts[last];
		s->sources[i] = s->sources[last];
		s->smiles[i] = s->smiles[last];
		s->items[i] = s->items[last];
		s->items[i].mol = &s->mols[i];
	}
	s->texts[last] = s->sources[last] = s->smiles[last] = NULL;
	qf_mol_init(&s->mols[last]);
}

struct progress_ctx {
	qf_submitter *s;
	size_t before;
};

static void embed_progress(void *ctx, size_t done, size_t n)
{
	(void)n;
	struct progress_ctx *p = ctx;
	if (p->s->o.on_embed)
		p->s->o.on_embed(p->s->o.embed_ctx, p->before + done, p->s->embed_failed);
}

/* The chunk's SMILES to 3D, in parallel and bounded (include/qf/embed.h);
 * those that fail, or that the run would refuse once they have 3D, are
 * rejected like unreadable records. */
/* Conformers 1.. of the chunk's item i as their own items (see xmols):
 * each a copy of the molecule with that conformer's coordinates, its index
 * and force-field energy in its embedding description. One the run would
 * refuse is rejected like a record. */
static int add_conformers(qf_submitter *s, size_t i, const qf_conformers *c, qf_err *err)
{
	if (c->n < 2)
		return 0;
	if (s->nx + (size_t)c->n > s->capx) {
		size_t cap = s->capx ? s->capx * 2 : 64;
		while (cap < s->nx + (size_t)c->n)
			cap *= 2;
		qf_mol *m = realloc(s->xmols, cap * sizeof(*m));
		if (m)
			s->xmols = m;
		qf_submit_item *it = m ? realloc(s->xitems, cap * sizeof(*it)) : NULL;
		if (!it)
			return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		s->xitems = it;
		s->capx = cap;
	}
	const qf_mol *m0 = &s->mols[i];
	size_t per = 3 * (size_t)m0->natoms;
	for (int k = 1; k < c->n; k++) {
		qf_mol *x = &s->xmols[s->nx];
		qf_mol_init(x);
		char *emb = NULL;
		int rc = qf_mol_copy(x, m0, err);
		if (!rc)
			rc = qf_embedding_of_conformer(m0->embedding, k, c->ff_energy[k], &emb, err);
		if (rc) {
			qf_mol_release(x);
			return rc;
		}
		free(x->embedding);
		x->embedding = emb;
		memcpy(x->xyz, c->xyz + (size_t)k * per, per * sizeof(double));
		qf_err e;
		qf_err_init(&e);
		if (refused(x, &s->spec, &e)) {
			reject(s, s->items[i].source, s->items[i].record, &e);
			qf_mol_release(x);
			continue;
		}
		s->xitems[s->nx] = s->items[i]; /* the same record; .mol set at flush */
		s->nx++;
	}
	return 0;
}

static int embed_chunk(qf_submitter *s, qf_err *err)
{
	size_t idx[QF_RECORD_CHUNK], k = 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->smiles[i])
			idx[k++] = i;
	if (k == 0)
		return 0;
	const char **smi = calloc(k, sizeof(*smi));
	qf_mol **mols = calloc(k, sizeof(*mols));
	qf_err *errs = calloc(k, sizeof(*errs));
	bool *failed = calloc(k, sizeof(*failed));
	qf_conformers *confs = s->o.keep_conformers ? calloc(k, sizeof(*confs)) : NULL;
	int rc = 0;
	if (!smi || !mols || !errs || !failed || (s->o.keep_conformers && !confs)) {
		rc = qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		goto out;
	}
	for (size_t j = 0; j < k; j++) {
		smi[j] = s->smiles[idx[j]];
		mols[j] = &s->mols[idx[j]];
	}
	struct progress_ctx pc = {s, s->embedded + s->embed_failed};
	rc = qf_embed_many(&s->embed, smi, mols, confs, errs, failed, k, embed_progress, &pc, err);
	if (rc)
		goto out;
	/* From the last, so drop() moves only items already looked at (item i
	 * is still in place when its conformers are copied). */
	for (size_t j = k; j-- > 0;) {
		size_t i = idx[j];
		qf_err e;
		qf_err_init(&e);
		if (failed[j]) {
			s->embed_failed++;
			reject(s, s->items[i].source, s->items[i].record, &errs[j]);
			drop(s, i);
			continue;
		}
		s->embedded++;
		if (refused(&s->mols[i], &s->spec, &e)) {
			reject(s, s->items[i].source, s->items[i].record, &e);
			drop(s, i);
		} else if (confs && (rc = add_conformers(s, i, &confs[j], err))) {
			goto out;
		}
	}
out:
	for (size_t j = 0; confs && j < k; j++)
		qf_conformers_release(&confs[j]);
	free(confs);
	free(smi);
	free(mols);
	free(errs);
	free(failed);
	return rc;
}

static int flush(qf_submitter *s, qf_err *err)
{
	int rc = embed_chunk(s, err);
	if (rc) {
		clear_chunk(s);
		return rc;
	}
	if (s->n == 0)
		return 0;
	if (!s->batch_id[0]) {
		const char *name = s->name ? s->name : s->source ? s->source : "batch";
		if ((rc = qf_store_batch_create(s->store, &s->actor, name, &s->spec, s->source, s->org,
		                                s->batch_id, err))) {
			s->batch_id[0] = '\0';
			clear_chunk(s);
			return rc;
		}
	}
	qf_submit_opts so = {
		.org_id = s->org,
		.batch_id = s->batch_id,
		.priority = s->o.priority,
		.max_attempts = s->o.max_attempts,
		.force = s->o.force,
		.xtb_version = s->xtb_version,
	};
	/* The chunk's items, then its extra conformers (one transaction). */
	size_t total = s->n + s->nx;
	qf_submit_item *items = s->items;
	if (s->nx) {
		items = malloc(total * sizeof(*items));
		if (items) {
			memcpy(items, s->items, s->n * sizeof(*items));
			for (size_t j = 0; j < s->nx; j++) {
				items[s->n + j] = s->xitems[j];
				items[s->n + j].mol = &s->xmols[j];
			}
		}
	}
	char(*ids)[QF_UUID_STR] = items ? calloc(total, QF_UUID_STR) : NULL;
	size_t reused = 0;
	rc = ids ? qf_store_submit(s->store, &s->actor, &s->spec, items, total, &so, ids, &reused, err)
	         : qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	free(ids);
	if (items != s->items)
		free(items);
	if (!rc) {
		s->queued += total;
		s->reused += reused;
	}
	clear_chunk(s);
	return rc;
}

static void reject(qf_submitter *s, const char *source, int record, const qf_err *e)
{
	s->rejected++;
	if (s->on_reject)
		s->on_reject(s->reject_ctx, source, record, e);
	if (s->o.keep_rejected && json_array_size(s->rejections) < MAX_REJECTIONS)
		json_array_append_new(s->rejections,
		                      json_pack("{s:s,s:i,s:s,s:s}", "source", source ? source : "", "record",
		                                record, "code", e->code, "message", e->message));
}

/* What the run would refuse (see the header). */
static bool refused(const qf_mol *m, const qf_spec *spec, qf_err *err)
{
	int charge, uhf;
	qf_job_effective_charge(m, spec, &charge, &uhf);
	if (charge < -QF_MAX_ABS_CHARGE || charge > QF_MAX_ABS_CHARGE || uhf < 0 || uhf > QF_MAX_UHF) {
		qf_err_set(err, QF_CAT_VALIDATION, "input.charge",
		           "charge %d / unpaired electrons %d out of range (|charge| <= %d, 0 <= uhf <= %d)",
		           charge, uhf, QF_MAX_ABS_CHARGE, QF_MAX_UHF);
		return true;
	}
	return qf_mol_validate(m, qf_method_max_z(spec->method), charge, uhf, err) != 0;
}

/* The SMILES of a SMILES record (its first field). */
static char *record_smiles(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	const char *q = p;
	while (q < end && *q != ' ' && *q != '\t' && *q != '\n' && *q != '\r')
		q++;
	return strndup(p, (size_t)(q - p));
}

int qf_submitter_add(qf_submitter *s, qf_reader *r, const char *source, qf_err *err)
{
	/* SMILES are checked as read and embedded at flush, in parallel. */
	bool smiles = qf_reader_format(r) == QF_FMT_SMILES;
	if (smiles)
		qf_reader_set_embed(r, false);
	for (;;) {
		qf_mol *m = &s->mols[s->n];
		qf_mol_init(m);
		qf_err e;
		qf_err_init(&e);
		int rc = qf_reader_next(r, m, &e);
		if (rc == 0) {
			qf_mol_release(m);
			return 0;
		}
		if (rc < 0 || (!smiles && refused(m, &s->spec, &e))) {
			reject(s, source, qf_reader_record(r), &e);
			qf_mol_release(m);
			if (rc < 0 && !qf_reader_can_continue(r))
				return 0;
			continue;
		}
		if (s->o.max_molecules && s->seen >= s->o.max_molecules) {
			qf_mol_release(m);
			return qf_err_set(err, QF_CAT_VALIDATION, "quota.batch_molecules",
			                  "a batch may hold at most %zu molecules: split the file", s->o.max_molecules);
		}
		s->seen++;
		size_t len = 0;
		const char *text = qf_reader_record_text(r, &len);
		s->texts[s->n] = malloc(len + 1);
		s->sources[s->n] = dup_or_null(source);
		if (!s->texts[s->n] || (source && !s->sources[s->n])) {
			s->n++;
			clear_chunk(s);
			return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		}
		memcpy(s->texts[s->n], text, len);
		s->texts[s->n][len] = '\0';
		if (smiles && !(s->smiles[s->n] = record_smiles(text, len))) {
			s->n++;
			clear_chunk(s);
			return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		}
		s->items[s->n] = (qf_submit_item){m, s->texts[s->n], len, qf_reader_format(r),
		                                  s->sources[s->n], qf_reader_record(r)};
		s->n++;
		if (s->n == QF_RECORD_CHUNK && (rc = flush(s, err)))
			return rc;
	}
}

int qf_submitter_finish(qf_submitter *s, qf_err *err)
{
	return flush(s, err);
}

const char *qf_submitter_batch(const qf_submitter *s)
{
	return s->batch_id;
}

size_t qf_submitter_queued(const qf_submitter *s)
{
	return s->queued;
}

size_t qf_submitter_rejected(const qf_submitter *s)
{
	return s->rejected;
}

size_t qf_submitter_reused(const qf_submitter *s)
{
	return s->reused;
}

json_t *qf_submitter_report(const qf_submitter *s)
{
	return json_pack("{s:s?,s:I,s:I,s:I,s:O}", "batch_id", s->batch_id[0] ? s->batch_id : NULL,
	                 "queued", (json_int_t)s->queued, "reused", (json_int_t)s->reused, "rejected",
	                 (json_int_t)s->rejected, "rejections", s->rejections);
}

void qf_submitter_free(qf_submitter *s)
{
	if (!s)
		return;
	clear_chunk(s);
	free(s->xmols);
	free(s->xitems);
	free(s->name);
	free(s->source);
	free(s->org);
	free(s->xtb_version);
	json_decref(s->rejections);
	free(s);
}
