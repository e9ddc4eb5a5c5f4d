/* Molecules: create from XYZ, SDF or SMILES (text or an uploaded file),
 * list, get, delete. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../http_int.h"
#include "qf/json.h"
#include "qf/hash.h"
#include "qf/job.h"
#include "qf/molio.h"
#include "qf/spec.h"
#include "qf/str.h"

/* The format of an upload: the "format" field, else the file name's
 * extension. */
int qf__upload_format(qf__req *r, const json_t *fields, const char *filename, qf_format *out)
{
	const char *f = json_string_value(json_object_get(fields, "format"));
	*out = QF_FMT_UNKNOWN;
	if (f)
		*out = qf_format_parse(f);
	else if (filename && *filename)
		*out = qf_format_from_path(filename);
	if (*out == QF_FMT_UNKNOWN)
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "input.format",
		                f ? "unknown format '%.32s': use xyz, sdf or smiles"
		                  : "say the format (xyz, sdf or smiles), or upload a file named .xyz, .sdf, "
		                    ".mol or .smi%.0s",
		                f ? f : "");
	return 0;
}

/* The highest atomic number any method has parameters for. */
static int max_z_of_methods(void)
{
	int z = 0;
	for (int m = QF_METHOD_GFN2; m <= QF_METHOD_GFNFF; m++)
		if (qf_method_max_z((qf_method)m) > z)
			z = qf_method_max_z((qf_method)m);
	return z;
}

/* One molecule read from an upload, its text kept; a SMILES embedded as
 * this many conformers, the lowest kept. */
static int read_one(qf__req *r, qf_format fmt, const char *data, size_t len, int conformers,
                    qf_mol *m)
{
	/* A SMILES is embedded in a bounded child process (include/qf/embed.h). */
	int rc = fmt == QF_FMT_SMILES ? qf__embed_enter(r) : 0;
	if (rc)
		return rc;
	rc = qf_mol_parse_conformers(m, fmt, "<request>", data, len, conformers, &r->err);
	if (fmt == QF_FMT_SMILES)
		qf__embed_leave();
	if (rc)
		return rc;
	return qf_mol_validate(m, max_z_of_methods(), m->charge, m->uhf, &r->err);
}

static json_t *mol_row(const qf_mol *m, const char *name, qf_format fmt, const char *text,
                       size_t len, const char *org)
{
	char formula[1024], geo[QF_SHA256_HEX], in_sha[QF_SHA256_HEX];
	qf_mol_formula(m, formula, sizeof(formula));
	qf_job_geometry_hash(m, m->charge, m->uhf, geo);
	qf_sha256_hex(text, len, in_sha);
	json_t *zs = json_array(), *xyz = json_array();
	for (int a = 0; zs && xyz && a < m->natoms; a++) {
		json_array_append_new(zs, json_integer(m->z[a]));
		json_array_append_new(xyz, json_pack("[fff]", m->xyz[3 * a], m->xyz[3 * a + 1], m->xyz[3 * a + 2]));
	}
	char *copy = strndup(text, len);
	json_t *txt = copy ? json_string(copy) : NULL;
	free(copy);
	json_t *row = json_pack("{s:s,s:s,s:i,s:i,s:i,s:o,s:o,s:s,s:s,s:s,s:o}", "name",
	                        name && *name ? name : m->name[0] ? m->name : formula, "formula", formula,
	                        "natoms", m->natoms, "charge", m->charge, "uhf", m->uhf, "atomic_numbers",
	                        zs, "coordinates", xyz, "input_format", qf_format_name(fmt),
	                        "input_sha256", in_sha, "geometry_sha256", geo, "input_text",
	                        txt ? txt : json_null());
	if (row && m->smiles)
		json_object_set_new(row, "smiles", json_string(m->smiles));
	/* how a SMILES was made 3D: seed, conformers, the one kept, stereo left
	 * open (written by the embedding as JSON) */
	json_t *emb = m->embedding ? json_loads(m->embedding, 0, NULL) : NULL;
	if (row && emb)
		json_object_set(row, "embedding", emb);
	json_decref(emb);
	if (row && org)
		json_object_set_new(row, "org_id", json_string(org));
	return row;
}

int qf__mol_from_row(const json_t *row, qf_mol *m, qf_err *err)
{
	qf_mol_init(m);
	json_t *zs = json_object_get(row, "atomic_numbers"), *xyz = json_object_get(row, "coordinates");
	int n = (int)json_array_size(zs);
	if (n < 1 || json_array_size(xyz) != (size_t)n)
		return qf_err_set(err, QF_CAT_SYSTEM, "store.damaged", "a stored molecule has no geometry");
	int rc = qf_mol_resize(m, n, err);
	if (rc)
		return rc;
	for (int a = 0; a < n; a++) {
		m->z[a] = (int)json_integer_value(json_array_get(zs, (size_t)a));
		json_t *p = json_array_get(xyz, (size_t)a);
		for (int d = 0; d < 3; d++)
			m->xyz[3 * a + d] = json_number_value(json_array_get(p, (size_t)d));
	}
	m->charge = (int)json_integer_value(json_object_get(row, "charge"));
	m->uhf = (int)json_integer_value(json_object_get(row, "uhf"));
	const char *name = json_string_value(json_object_get(row, "name"));
	qf_strlcpy(m->name, name ? name : "", sizeof(m->name));
	const char *smi = json_string_value(json_object_get(row, "smiles"));
	if (smi && !(m->smiles = strdup(smi)))
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	/* the embedding description goes on with the molecule into its jobs */
	json_t *emb = json_object_get(row, "embedding");
	if (json_is_object(emb) && !(m->embedding = json_dumps(emb, JSON_COMPACT)))
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	if (json_is_string(emb) && !(m->embedding = strdup(json_string_value(emb))))
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	return 0;
}

/* An organisation named in a body or form: must be a UUID (the store checks
 * that the caller may write there). */
static int org_of(qf__req *r, const json_t *fields, const char **org)
{
	json_t *v = json_object_get(fields, "org_id");
	*org = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !qf_uuid_valid(json_string_value(v)))
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		                "'org_id' must be an organisation's id");
	*org = json_string_value(v);
	return 0;
}

int h_molecules_create(qf__req *r)
{
	const char *data;
	size_t len;
	char filename[256];
	json_t *fields = NULL;
	int rc = qf__req_upload(r, &data, &len, filename, sizeof(filename), &fields);
	if (rc) {
		json_decref(fields);
		return rc;
	}
	static const char *const allowed[] = {"name", "format", "org_id", "filename", "conformers", NULL};
	const char *key;
	json_t *v;
	json_object_foreach(fields, key, v) {
		bool ok = false;
		for (int i = 0; allowed[i] && !ok; i++)
			ok = !strcmp(allowed[i], key);
		/* the message first: key lives in fields */
		if (!ok) {
			rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			              "'%.64s' may not be set on a molecule (allowed: name, format, data, org_id, "
			              "conformers)",
			              key);
			json_decref(fields);
			return rc;
		}
		if (!json_is_string(v) && !json_is_null(v) && strcmp(key, "conformers")) {
			rc = qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
			              "'%.64s' must be a string", key);
			json_decref(fields);
			return rc;
		}
	}
	qf_format fmt;
	const char *org, *name = json_string_value(json_object_get(fields, "name"));
	if ((rc = qf__upload_format(r, fields, filename, &fmt)) || (rc = org_of(r, fields, &org))) {
		json_decref(fields);
		return rc;
	}
	if (name && strlen(name) >= QF_MAX_NAME) {
		json_decref(fields);
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		                "'name' must be shorter than %d bytes", QF_MAX_NAME);
	}
	long conformers = 1;
	if ((rc = qf__int_field(r, fields, "conformers", 1, QF_MAX_CONFORMERS, 1, &conformers))) {
		json_decref(fields);
		return rc;
	}
	if (conformers > 1 && fmt != QF_FMT_SMILES) {
		json_decref(fields);
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.invalid_body",
		                "'conformers' is for SMILES: an XYZ or SDF molecule has its geometry");
	}
	if ((rc = qf__check_storage_quota(r, QF_QUOTA_STORED_PER_BYTE * len))) {
		json_decref(fields);
		return rc;
	}
	qf_mol m;
	qf_mol_init(&m);
	if ((rc = read_one(r, fmt, data, len, (int)conformers, &m))) {
		qf_mol_release(&m);
		json_decref(fields);
		return rc;
	}
	json_t *row = mol_row(&m, name, fmt, data, len, org);
	qf_mol_release(&m);
	if (!row) {
		json_decref(fields);
		return qf__fail(r, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	}
	/* the same geometry (with charge and spin) of the same owner is the
	 * same molecule */
	json_t *where = json_pack("{s:s,s:O}", "owner_id", r->actor.user_id, "geometry_sha256",
	                          json_object_get(row, "geometry_sha256"));
	if (where)
		json_object_set_new(where, "org_id", org ? json_string(org) : json_null());
	json_t *found = NULL, *out = NULL;
	qf_store_filter f = {.where = where, .limit = 1};
	rc = qf_store_list(r->srv->store, &r->actor, "molecules", &f, &found, &r->err);
	json_decref(where);
	json_decref(fields);
	if (rc) {
		json_decref(row);
		return rc;
	}
	int status = 200;
	if (json_array_size(found)) {
		out = json_incref(json_array_get(found, 0));
	} else {
		rc = qf_store_insert(r->srv->store, &r->actor, "molecules", row, &out, &r->err);
		status = 201;
	}
	json_decref(found);
	json_decref(row);
	if (rc)
		return rc;
	char loc[96];
	snprintf(loc, sizeof(loc), "/api/v1/molecules/%s", json_string_value(json_object_get(out, "id")));
	qf__reply_header(r, "Location", loc);
	return qf__reply_json(r, status, qf__public_row("molecules", out));
}

/* A listing: filters from the query, cursor paging, public rows. */
int qf__list(qf__req *r, const char *table, const char *const *filters, const char *time_col)
{
	return qf__list_where(r, table, filters, time_col, NULL);
}

int qf__list_where(qf__req *r, const char *table, const char *const *filters, const char *time_col,
                   const json_t *fixed)
{
	int limit;
	json_t *after = NULL;
	char key[80];
	int rc = qf__req_page(r, &limit, &after, key, sizeof(key));
	if (rc)
		return rc;
	json_t *where = json_object();
	for (size_t i = 0; filters && filters[i]; i++) {
		const char *v = qf__req_arg(r, filters[i]);
		if (v)
			json_object_set_new(where, filters[i], strcmp(v, "null") ? json_string(v) : json_null());
	}
	if (fixed)
		json_object_update(where, (json_t *)fixed);
	double since = 0, until = 0;
	if ((rc = qf__req_arg_time(r, "since", &since)) || (rc = qf__req_arg_time(r, "until", &until))) {
		json_decref(where);
		json_decref(after);
		return rc;
	}
	const char *order = qf__req_arg(r, "order");
	bool desc = true;
	char ocol[64];
	qf_strlcpy(ocol, time_col, sizeof(ocol));
	if (order && *order) {
		desc = order[0] == '-';
		qf_strlcpy(ocol, order + (order[0] == '-' || order[0] == '+'), sizeof(ocol));
	}
	qf_store_filter f = {.where = json_object_size(where) ? where : NULL,
	                     .since = since,
	                     .until = until,
	                     .order_by = ocol,
	                     .descending = desc,
	                     .limit = limit,
	                     .after_value = after,
	                     .after_key = key[0] ? key : NULL,
	                     .raw_json = true};
	/* the rows as JSON text straight from the store, without the columns
	 * qf__public_row removes; the last one's position for the cursor */
	const char *omit[16];
	qf__hidden_columns(table, omit, sizeof(omit) / sizeof(omit[0]));
	qf_buf items;
	qf_buf_init(&items, QF_HTTP_MAX_DOWNLOAD);
	size_t nrows = 0;
	json_t *last = NULL;
	rc = qf_store_list_write(r->srv->store, &r->actor, table, &f, omit, &items, &nrows, &last,
	                         &r->err);
	json_decref(where);
	json_decref(after);
	if (rc) {
		qf_buf_release(&items);
		/* the store's own complaint about a filter is the client's error */
		if (!strcmp(r->err.code, "store.invalid"))
			qf_strlcpy(r->err.code, "http.invalid_argument", sizeof(r->err.code));
		return rc;
	}
	char *next = NULL;
	if ((int)nrows == limit)
		next = qf__page_cursor(last, ocol, "id");
	json_decref(last);
	json_t *raw = qf_json_raw(items.data, items.len);
	qf_buf_release(&items);
	json_t *doc = raw ? json_pack("{s:o,s:s?}", "items", raw, "next_cursor", next) : NULL;
	free(next);
	return qf__reply_json(r, 200, doc);
}

int h_molecules_list(qf__req *r)
{
	static const char *const filters[] = {"org_id", "geometry_sha256", "input_sha256", NULL};
	return qf__list(r, "molecules", filters, "created_at");
}

int h_molecules_get(qf__req *r)
{
	const char *id;
	json_t *row = NULL;
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = qf__get_row(r, "molecules", id, &row)))
		return rc;
	json_t *where = json_pack("{s:s}", "molecule_id", id), *props = NULL;
	qf_store_filter f = {.where = where, .limit = 1};
	if (!qf_store_list(r->srv->store, &r->actor, "molecule_properties_computed", &f, &props, &r->err))
		json_object_set(row, "properties", json_array_size(props) ? json_array_get(props, 0) : json_null());
	json_decref(props);
	int64_t n = 0;
	qf_store_filter cf = {.where = where};
	if (!qf_store_count(r->srv->store, &r->actor, "calculations", &cf, &n, &r->err))
		json_object_set_new(row, "calculations", json_integer(n));
	json_decref(where);
	qf_err_init(&r->err);
	return qf__reply_json(r, 200, qf__public_row("molecules", row));
}

int h_molecules_delete(qf__req *r)
{
	const char *id;
	json_t *row = NULL;
	int rc;
	if ((rc = qf__req_uuid(r, "id", &id)) || (rc = qf__get_row(r, "molecules", id, &row)))
		return rc;
	char owner[QF_UUID_STR] = "";
	const char *o = json_string_value(json_object_get(row, "owner_id"));
	qf_strlcpy(owner, o ? o : r->actor.user_id, sizeof(owner));
	json_decref(row);
	/* work in flight would lose its molecule */
	static const char *const active[] = {"queued", "running"};
	for (int i = 0; i < 2; i++) {
		json_t *where = json_pack("{s:s,s:s}", "molecule_id", id, "status", active[i]);
		qf_store_filter f = {.where = where};
		int64_t n = 0;
		rc = qf_store_count(r->srv->store, &r->actor, "calculations", &f, &n, &r->err);
		json_decref(where);
		if (rc)
			return rc;
		if (n)
			return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "http.conflict",
			                "molecule %s has %lld %s calculation(s): cancel them first", id,
			                (long long)n, active[i]);
	}
	if ((rc = qf_store_delete(r->srv->store, &r->actor, "molecules", id, &r->err))) {
		qf__audit(r, "molecule_delete", "molecules", id, NULL, "denied", r->err.message);
		return rc;
	}
	qf__audit(r, "molecule_delete", "molecules", id, NULL, "success", NULL);
	qf__storage_changed(r->srv, owner);
	qf__writer_flush(r->srv->writer);
	r->status = 204;
	return 0;
}
