/* Batches: create from an uploaded multi-molecule file, list, status,
 * performance, cancel, retry failed; and the dashboard's aggregates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../http_int.h"
#include "qf/molio.h"
#include "qf/str.h"
#include "qf/submit.h"

/* A boolean form field or JSON member (true, or the string "true"). */
static bool bool_field(const json_t *fields, const char *key)
{
	json_t *v = json_object_get(fields, key);
	return json_is_true(v) || (json_is_string(v) && !strcmp(json_string_value(v), "true"));
}

int h_batches_create(qf__req *r)
{
	const char *data;
	size_t len;
	char filename[256];
	json_t *fields = NULL;
	int rc = qf__req_upload(r, &data, &len, filename, sizeof(filename), &fields);
	static const char *const allowed[] = {"name",  "format",     "org_id",          "spec",
	                                      "priority", "max_attempts", "force", "conformers",
	                                      "keep_conformers", "filename", NULL};
	const char *key;
	json_t *v;
	json_object_foreach(fields, key, v) {
		bool ok = false;
		for (int i = 0; allowed[i] && !ok; i++)
			ok = !strcmp(allowed[i], key);
		if (!ok && !rc)
			rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			              "'%.64s' may not be set on a batch (allowed: name, format, org_id, spec, "
			              "priority, max_attempts, force, conformers, keep_conformers, data/file)",
			              key);
	}
	qf_format fmt = QF_FMT_UNKNOWN;
	if (!rc)
		rc = qf__upload_format(r, fields, filename, &fmt);
	/* the spec: a JSON member, or a form field holding JSON */
	json_t *specj = json_incref(json_object_get(fields, "spec"));
	if (!rc && json_is_string(specj)) {
		json_t *parsed = json_loads(json_string_value(specj), JSON_REJECT_DUPLICATES, NULL);
		json_decref(specj);
		specj = parsed;
		if (!parsed)
			rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "spec.invalid", "'spec' is not JSON");
	}
	qf_spec spec;
	if (!rc)
		rc = qf__spec_of(r, specj, &spec);
	json_decref(specj);
	long priority = 0, attempts = 0;
	if (!rc)
		rc = qf__int_field(r, fields, "priority", -1000000, 1000000, 0, &priority);
	if (!rc)
		rc = qf__int_field(r, fields, "max_attempts", 1, QF_QUEUE_MAX_ATTEMPTS, 0, &attempts);
	/* SMILES: conformers embedded per record, the lowest kept or (with
	 * keep_conformers) each its own calculation. */
	long conformers = 1;
	if (!rc)
		rc = qf__int_field(r, fields, "conformers", 1, QF_MAX_CONFORMERS, 1, &conformers);
	bool keep_conformers = bool_field(fields, "keep_conformers");
	if (!rc && keep_conformers && conformers < 2)
		rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		              "'keep_conformers' needs 'conformers' of 2 or more");
	qf_embed_limits embed = {.conformers = (int)conformers};
	const char *org = json_string_value(json_object_get(fields, "org_id"));
	if (!rc && org && !qf_uuid_valid(org))
		rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		              "'org_id' must be an organisation's id");
	const char *name = json_string_value(json_object_get(fields, "name"));
	if (!rc && name && strlen(name) >= QF_MAX_NAME)
		rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		              "'name' must be shorter than %d bytes", QF_MAX_NAME);
	/* SMILES are embedded while the upload is queued, in bounded child
	 * processes (include/qf/embed.h), by at most QF_HTTP_EMBED_REQUESTS
	 * requests at once. */
	bool embeds = false;
	if (!rc && fmt == QF_FMT_SMILES)
		embeds = !(rc = qf__embed_enter(r));
	qf_reader *reader = NULL;
	qf_submitter *sub = NULL;
	if (!rc && !(rc = qf_reader_new_buf(&reader, fmt, filename[0] ? filename : "<upload>", data, len,
	                                   &r->err))) {
		qf_submitter_opts so = {
			.spec = &spec,
			.name = name ? name : filename[0] ? filename : "upload",
			.source = filename[0] ? filename : "upload",
			.org_id = org,
			.priority = (int)priority,
			.max_attempts = (int)attempts,
			.force = bool_field(fields, "force"),
			.xtb_version = qf__xtb_version(),
			.max_molecules = fmt == QF_FMT_SMILES && QF_HTTP_MAX_SMILES_BATCH < QF_QUOTA_BATCH_MOLECULES
			                     ? QF_HTTP_MAX_SMILES_BATCH
			                     : QF_QUOTA_BATCH_MOLECULES,
			.keep_rejected = true,
			.embed = &embed,
			.keep_conformers = keep_conformers,
		};
		rc = qf_submitter_new(&sub, r->srv->store, &r->actor, &so, &r->err);
		if (!rc)
			rc = qf__check_active_quota(r, 0);
		if (!rc)
			rc = qf__check_storage_quota(r, QF_QUOTA_STORED_PER_BYTE * len);
		if (!rc)
			rc = qf_submitter_add(sub, reader, filename[0] ? filename : "upload", &r->err);
		if (!rc)
			rc = qf_submitter_finish(sub, &r->err);
	}
	if (embeds)
		qf__embed_leave();
	json_t *report = sub ? qf_submitter_report(sub) : NULL;
	bool queued = sub && qf_submitter_batch(sub)[0];
	qf_submitter_free(sub);
	qf_reader_free(reader);
	json_decref(fields);
	if (queued)
		qf__wake_workers(r->srv);
	if (rc) {
		json_decref(report);
		return rc;
	}
	if (!queued) {
		json_t *rej = json_object_get(report, "rejections");
		json_t *first = json_array_get(rej, 0);
		qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "input.empty",
		         first ? "no molecule of the file could be queued; record %lld: %s"
		               : "the file holds no molecule%.0lld%s",
		         (long long)json_integer_value(json_object_get(first, "record")),
		         first ? json_string_value(json_object_get(first, "message")) : "");
		json_decref(report);
		return QF_EINVAL;
	}
	char loc[96];
	snprintf(loc, sizeof(loc), "/api/v1/batches/%s", json_string_value(json_object_get(report, "batch_id")));
	qf__reply_header(r, "Location", loc);
	json_object_set(report, "id", json_object_get(report, "batch_id"));
	return qf__reply_json(r, 201, report);
}

int h_batches_list(qf__req *r)
{
	static const char *const filters[] = {"status", "org_id", NULL};
	return qf__list(r, "batches", filters, "created_at");
}

int h_batches_get(qf__req *r)
{
	const char *id;
	json_t *doc = NULL;
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) ||
	    (rc = qf_store_batch_status(r->srv->store, &r->actor, id, &doc, &r->err)))
		return rc;
	return qf__reply_json(r, 200, doc);
}

int h_batches_performance(qf__req *r)
{
	const char *id;
	json_t *doc = NULL;
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) ||
	    (rc = qf_store_batch_status(r->srv->store, &r->actor, id, &doc, &r->err)))
		return rc;
	json_t *perf = json_incref(json_object_get(doc, "performance"));
	json_decref(doc);
	return qf__reply_json(r, 200, perf ? perf : json_object());
}

int h_batches_cancel(qf__req *r)
{
	const char *id;
	int cancelled = 0, requested = 0, rc;
	if ((rc = qf__req_uuid(r, "id", &id)) ||
	    (rc = qf_store_batch_cancel(r->srv->store, &r->actor, id, &cancelled, &requested, &r->err)))
		return rc;
	return qf__reply_json(r, 200, json_pack("{s:s,s:i,s:i}", "id", id, "cancelled", cancelled,
	                                        "cancel_requested", requested));
}

int h_batches_retry(qf__req *r)
{
	static const char *const allowed[] = {"force", NULL};
	const char *id;
	int requeued = 0, skipped = 0, rc;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = qf__body_only(r, allowed)) ||
	    (rc = qf__check_active_quota(r, 0)) ||
	    (rc = qf_store_batch_retry_failed(r->srv->store, &r->actor, id,
	                                      json_is_true(json_object_get(r->json, "force")), &requeued,
	                                      &skipped, &r->err)))
		return rc;
	if (requeued)
		qf__wake_workers(r->srv);
	return qf__reply_json(r, 200, json_pack("{s:s,s:i,s:i}", "id", id, "requeued", requeued,
	                                        "skipped_validation", skipped));
}

int h_dashboard(qf__req *r)
{
	long window;
	double threshold = 0;
	int rc = qf__req_arg_int(r, "window", 60, 366L * 86400, 86400, &window);
	const char *t = qf__req_arg(r, "threshold");
	if (!rc && t && (!qf_parse_double(t, &threshold) || threshold < 0))
		rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_argument",
		              "query argument 'threshold' must be a number of seconds");
	json_t *doc = NULL;
	if (!rc)
		rc = qf_store_dashboard(r->srv->store, &r->actor, (double)window, threshold,
		                        r->srv->o.slow_factor > 0 ? r->srv->o.slow_factor : 1.5, &doc, &r->err);
	if (rc)
		return rc;
	/* the platform's scheduled retention: when it last ran, what it deleted */
	json_object_set_new(doc, "retention", qf__retention_status(r->srv->retention));
	return qf__reply_json(r, 200, doc);
}
