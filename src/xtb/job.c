/* A job and its directory: see include/qf/job.h. */
#include "qf/job.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qf/buf.h"
#include "qf/clock.h"
#include "qf/fs.h"
#include "qf/log.h"
#include "qf/str.h"

static const char *const status_names[] = {
	[QF_JOB_QUEUED] = "queued",
	[QF_JOB_RUNNING] = "running",
	[QF_JOB_COMPLETED] = "completed",
	[QF_JOB_FAILED] = "failed",
	[QF_JOB_CANCELLED] = "cancelled",
};

const char *qf_job_status_name(qf_job_status s)
{
	return (unsigned)s < sizeof(status_names) / sizeof(status_names[0]) ? status_names[s] : "?";
}

int qf_job_status_parse(const char *s, qf_job_status *out)
{
	for (unsigned i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (s && !strcmp(s, status_names[i])) {
			*out = (qf_job_status)i;
			return 0;
		}
	return QF_EINVAL;
}

void qf_job_init(qf_job *j)
{
	memset(j, 0, sizeof(*j));
	j->placement.slurm_array_task_id = -1;
	qf_mol_init(&j->mol);
	qf_spec_init(&j->spec);
	qf_result_init(&j->result);
	qf_metrics_init(&j->metrics);
	qf_err_init(&j->error);
	j->attempt = 1;
}

void qf_job_release(qf_job *j)
{
	qf_mol_release(&j->mol);
	qf_result_release(&j->result);
	qf_job_init(j);
}

void qf_job_effective_charge(const qf_mol *mol, const qf_spec *spec, int *charge, int *uhf)
{
	*charge = spec->has_charge ? spec->charge : mol->charge;
	*uhf = spec->has_uhf ? spec->uhf : mol->uhf;
}

void qf_job_geometry_hash(const qf_mol *mol, int charge, int uhf, char out[QF_SHA256_HEX])
{
	char *xyz = qf_mol_to_xyz(mol, "");
	qf_buf b;
	qf_buf_init(&b, QF_MAX_INPUT_BYTES);
	if (xyz)
		qf_buf_puts(&b, xyz);
	qf_buf_printf(&b, "charge %d uhf %d\n", charge, uhf);
	qf_sha256_hex(qf_buf_str(&b), b.len, out);
	qf_buf_release(&b);
	free(xyz);
}

static const char *input_ext(qf_format f)
{
	switch (f) {
	case QF_FMT_XYZ: return "xyz";
	case QF_FMT_SDF: return "sdf";
	case QF_FMT_SMILES: return "smi";
	default: return "txt";
	}
}

/* ---- metadata ----------------------------------------------------------- */

static json_t *time_or_null(double t)
{
	if (t <= 0)
		return json_null();
	char s[QF_TIME_STR];
	qf_clock_format(t, s);
	return json_string(s);
}

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *error_json(const qf_err *e)
{
	if (!qf_err_is_set(e))
		return json_null();
	return json_pack("{s:s,s:s,s:s,s:b,s:o}", "category", qf_category_name(e->category), "code",
	                 e->code, "message", e->message, "user_action", e->user_action,
	                 "stderr_tail", str_or_null(e->detail));
}

static json_t *molecule_json(const qf_job *j)
{
	const qf_mol *m = &j->mol;
	char formula[256];
	qf_mol_formula(m, formula, sizeof(formula));
	json_t *zs = json_array();
	json_t *xyz = json_array();
	for (int i = 0; i < m->natoms; i++) {
		json_array_append_new(zs, json_integer(m->z[i]));
		json_array_append_new(xyz, json_pack("[fff]", m->xyz[3 * i], m->xyz[3 * i + 1],
		                                     m->xyz[3 * i + 2]));
	}
	json_error_t je;
	json_t *emb = m->embedding ? json_loads(m->embedding, 0, &je) : NULL;
	return json_pack("{s:s,s:i,s:i,s:i,s:o,s:o,s:o,s:s,s:o}", "formula", formula, "natoms",
	                 m->natoms, "charge", m->charge, "uhf", m->uhf, "smiles",
	                 str_or_null(m->smiles), "atomic_numbers", zs, "coordinates_angstrom", xyz,
	                 "geometry_sha256", j->geometry_sha256, "embedding",
	                 emb ? emb : json_null());
}

/* "slurm": {"job_id", "array_task_id", "node"}, or null outside Slurm. */
static json_t *placement_json(const qf_job_placement *p)
{
	if (p->slurm_job_id <= 0)
		return json_null();
	return json_pack("{s:I,s:o,s:o}", "job_id", (json_int_t)p->slurm_job_id, "array_task_id",
	                 p->slurm_array_task_id >= 0 ? json_integer(p->slurm_array_task_id)
	                                             : json_null(),
	                 "node", str_or_null(p->node));
}

/* The "slurm" key read back (absent or null: not under Slurm). */
static int placement_from_json(qf_job_placement *p, const json_t *v)
{
	p->slurm_job_id = 0;
	p->slurm_array_task_id = -1;
	p->node[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	json_t *id = json_object_get(v, "job_id"), *task = json_object_get(v, "array_task_id");
	json_t *node = json_object_get(v, "node");
	if (!json_is_object(v) || !json_is_integer(id) || json_integer_value(id) <= 0 ||
	    (task && !json_is_null(task) &&
	     (!json_is_integer(task) || json_integer_value(task) < 0 ||
	      json_integer_value(task) > INT32_MAX)) ||
	    (node && !json_is_null(node) && !json_is_string(node)))
		return QF_EINVAL;
	p->slurm_job_id = (int64_t)json_integer_value(id);
	if (json_is_integer(task))
		p->slurm_array_task_id = (int)json_integer_value(task);
	if (json_is_string(node))
		qf_strlcpy(p->node, json_string_value(node), sizeof(p->node));
	return 0;
}

json_t *qf_job_to_json(const qf_job *j)
{
	json_t *doc = json_object();
	json_object_set_new(doc, "schema", json_integer(QF_METADATA_SCHEMA));
	json_object_set_new(doc, "status", json_string(qf_job_status_name(j->status)));
	json_object_set_new(doc, "job_id", json_string(j->id));
	json_object_set_new(doc, "name", json_string(j->name));
	json_object_set_new(doc, "attempt", json_integer(j->attempt));
	json_object_set_new(doc, "input",
	                    json_pack("{s:s,s:s,s:s,s:o,s:o}", "file", j->input_file, "format",
	                              qf_format_name(j->input_format), "sha256", j->input_sha256,
	                              "source", str_or_null(j->source), "record",
	                              j->record > 0 ? json_integer(j->record) : json_null()));
	json_object_set_new(doc, "molecule", molecule_json(j));
	json_object_set_new(doc, "spec", qf_spec_to_json(&j->spec));
	json_object_set_new(doc, "results", qf_result_to_json(&j->result));
	json_object_set_new(doc, "metrics", qf_metrics_to_json(&j->metrics));
	json_object_set_new(doc, "error", error_json(&j->error));
	json_object_set_new(doc, "timestamps",
	                    json_pack("{s:o,s:o,s:o}", "created_at", time_or_null(j->created_at),
	                              "started_at", time_or_null(j->started_at), "finished_at",
	                              time_or_null(j->finished_at)));
	json_object_set_new(doc, "slurm", placement_json(&j->placement));
	json_object_set_new(doc, "job_dir", json_string(j->dir));
	json_object_set_new(doc, "qforge_version", json_string(QF_VERSION));
	return doc;
}

json_t *qf_job_input_error_json(const char *source, int record, const qf_err *e)
{
	return json_pack("{s:i,s:s,s:n,s:n,s:{s:o,s:o},s:o}", "schema", QF_METADATA_SCHEMA, "status",
	                 "failed", "job_id", "name", "input", "source", str_or_null(source), "record",
	                 record > 0 ? json_integer(record) : json_null(), "error", error_json(e));
}

int qf_job_write_metadata(const qf_job *j, qf_err *err)
{
	char path[QF_MAX_PATH];
	if (qf_fs_join(path, sizeof(path), j->dir, QF_METADATA_FILE))
		return qf_err_set(err, QF_CAT_SYSTEM, "system.path", "job directory path too long");
	json_t *doc = qf_job_to_json(j);
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
	json_decref(doc);
	if (!text)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "could not encode metadata");
	size_t n = strlen(text);
	/* a trailing newline, for people who cat it */
	char *nl = realloc(text, n + 2);
	if (!nl) {
		free(text);
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "could not encode metadata");
	}
	nl[n] = '\n';
	nl[n + 1] = '\0';
	int rc = qf_fs_write_atomic(path, nl, n + 1, err);
	free(nl);
	return rc;
}

/* ---- running ------------------------------------------------------------ */

/* Move an earlier attempt's directory aside: <dir> -> <dir>.attempt-<n>,
 * n being the attempt recorded in its metadata (or the first free number). */
static int move_aside(const char *dir, qf_err *err)
{
	if (!qf_fs_exists(dir))
		return 0;
	qf_job old;
	qf_job_init(&old);
	qf_err lerr;
	qf_err_init(&lerr);
	int n = qf_job_load(&old, dir, &lerr) == 0 ? old.attempt : 0;
	qf_job_release(&old);
	char to[QF_MAX_PATH];
	for (int k = n > 0 ? n : 1; k < n + 1000; k++) {
		if (qf_snprintf(to, sizeof(to), "%s.attempt-%d", dir, k))
			return qf_err_set(err, QF_CAT_SYSTEM, "system.path", "path too long: %s", dir);
		if (!qf_fs_exists(to)) {
			if (rename(dir, to))
				return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "could not move %s aside: %s",
				                  dir, strerror(errno));
			return 0;
		}
	}
	return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "too many earlier attempts beside %s", dir);
}

static int cli_exec(void *ctx, const qf_mol *mol, const qf_spec *spec, int charge, int uhf,
                    const char *dir, qf_result *r, qf_metrics *m, qf_err *err)
{
	return qf_xtb_run(mol, spec, charge, uhf, dir, ctx, r, m, err);
}

int qf_job_run(qf_job *j, const char *jobs_root, const qf_job_input *in, const qf_spec *spec,
               const qf_job_opts *o)
{
	static const qf_job_opts defaults = {0};
	if (!o)
		o = &defaults;
	int rc;
	qf_err *err = &j->error;
	const qf_mol *mol = in->mol;
	qf_err_init(err);
	j->created_at = qf_clock_now();
	if (o->id)
		qf_strlcpy(j->id, o->id, sizeof(j->id));
	else
		qf_uuid_v7(j->id);
	j->attempt = o->attempt > 0 ? o->attempt : 1;
	if (o->placement)
		j->placement = *o->placement;
	j->status = QF_JOB_RUNNING;
	j->spec = *spec;
	j->input_format = in->format;
	j->record = in->record;
	qf_strlcpy(j->source, in->source ? in->source : "", sizeof(j->source));
	qf_strlcpy(j->name, mol->name, sizeof(j->name));
	snprintf(j->input_file, sizeof(j->input_file), "input.%s", input_ext(in->format));
	qf_sha256_hex(in->text ? in->text : "", in->text ? in->len : 0, j->input_sha256);

	if ((rc = qf_mol_copy(&j->mol, mol, err)))
		goto out;
	int charge, uhf;
	qf_job_effective_charge(mol, spec, &charge, &uhf);
	j->mol.charge = charge;
	j->mol.uhf = uhf;
	qf_job_geometry_hash(&j->mol, charge, uhf, j->geometry_sha256);

	if (qf_snprintf(j->dir, sizeof(j->dir), "%s/%s", jobs_root, j->id)) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "system.path", "jobs root path too long: %s", jobs_root);
		goto out;
	}
	if ((rc = qf_fs_mkdir_p(jobs_root, false, err)) || (rc = move_aside(j->dir, err)) ||
	    (rc = qf_fs_mkdir_p(j->dir, false, err)))
		goto out;
	j->started_at = qf_clock_now();
	if (o->exec)
		rc = o->exec(o->exec_ctx, &j->mol, spec, charge, uhf, j->dir, &j->result, &j->metrics, err);
	else
		rc = cli_exec((void *)o->xtb, &j->mol, spec, charge, uhf, j->dir, &j->result,
		              &j->metrics, err);
	j->finished_at = qf_clock_now();
	j->status = rc ? QF_JOB_FAILED : QF_JOB_COMPLETED;

	/* The input as given goes in after the run: the runner insists on an
	 * empty directory (stale files change xtb's results). */
	char path[QF_MAX_PATH];
	qf_err ierr;
	qf_err_init(&ierr);
	if (in->text && (qf_fs_join(path, sizeof(path), j->dir, j->input_file) ||
	                 qf_fs_write(path, in->text, in->len, &ierr))) {
		if (!rc) {
			*err = ierr;
			rc = ierr.rc ? ierr.rc : QF_ESYS;
			j->status = QF_JOB_FAILED;
		}
	}

	qf_err werr;
	qf_err_init(&werr);
	if (qf_job_write_metadata(j, &werr)) {
		/* The calculation may have succeeded, but nothing records it. */
		*err = werr;
		j->status = QF_JOB_FAILED;
		return werr.rc;
	}
	return rc;

out:
	j->finished_at = qf_clock_now();
	j->status = QF_JOB_FAILED;
	return rc;
}

/* ---- loading ------------------------------------------------------------ */

static int load_err(qf_err *err, const char *what)
{
	return qf_err_set(err, QF_CAT_VALIDATION, "metadata.invalid", "metadata: %s", what);
}

static double time_field(const json_t *o, const char *key)
{
	double t = 0;
	json_t *v = json_object_get(o, key);
	if (json_is_string(v))
		qf_clock_parse(json_string_value(v), &t);
	return t;
}

int qf_job_from_json(qf_job *j, const json_t *doc, qf_err *err)
{
	int rc;
	qf_job_release(j);
	const char *id = NULL, *name = NULL, *status = NULL;
	json_t *input = NULL, *molecule = NULL, *spec = NULL, *results = NULL, *metrics = NULL;
	json_t *error = NULL, *ts = NULL;
	int schema = 0;
	if (json_unpack((json_t *)doc, "{s:i,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s?o,s:o}", "schema",
	                &schema, "status", &status, "job_id", &id, "name", &name, "input", &input,
	                "molecule", &molecule, "spec", &spec, "results", &results, "metrics",
	                &metrics, "error", &error, "timestamps", &ts))
		return load_err(err, "missing or mistyped top-level keys");
	if (schema != QF_METADATA_SCHEMA)
		return load_err(err, "unknown schema version");
	if (!qf_uuid_valid(id))
		return load_err(err, "job_id is not a UUID");
	qf_strlcpy(j->id, id, sizeof(j->id));
	qf_strlcpy(j->name, name, sizeof(j->name));
	if (qf_job_status_parse(status, &j->status))
		return load_err(err, "unknown status");
	json_t *att = json_object_get(doc, "attempt");
	j->attempt = json_is_integer(att) ? (int)json_integer_value(att) : 1;
	json_t *dir = json_object_get(doc, "job_dir");
	if (json_is_string(dir))
		qf_strlcpy(j->dir, json_string_value(dir), sizeof(j->dir));

	const char *file = NULL, *format = NULL, *sha = NULL;
	json_t *source = NULL, *record = NULL;
	if (json_unpack(input, "{s:s,s:s,s:s,s?o,s?o}", "file", &file, "format", &format, "sha256",
	                &sha, "source", &source, "record", &record))
		return load_err(err, "input is incomplete");
	qf_strlcpy(j->input_file, file, sizeof(j->input_file));
	j->input_format = qf_format_parse(format);
	qf_strlcpy(j->input_sha256, sha, sizeof(j->input_sha256));
	if (json_is_string(source))
		qf_strlcpy(j->source, json_string_value(source), sizeof(j->source));
	j->record = json_is_integer(record) ? (int)json_integer_value(record) : 0;

	json_t *zs = NULL, *xyz = NULL, *smiles = NULL, *embedding = NULL;
	const char *gsha = NULL;
	int natoms = 0, charge = 0, uhf = 0;
	if (json_unpack(molecule, "{s:i,s:i,s:i,s:o,s:o,s?o,s:s,s?o}", "natoms", &natoms, "charge",
	                &charge, "uhf", &uhf, "atomic_numbers", &zs, "coordinates_angstrom", &xyz,
	                "smiles", &smiles, "geometry_sha256", &gsha, "embedding", &embedding) ||
	    !json_is_array(zs) || !json_is_array(xyz) || (int)json_array_size(zs) != natoms ||
	    (int)json_array_size(xyz) != natoms || natoms < 0 || natoms > QF_MAX_ATOMS)
		return load_err(err, "molecule is incomplete");
	if ((rc = qf_mol_resize(&j->mol, natoms, err)))
		return rc;
	for (int i = 0; i < natoms; i++) {
		json_t *z = json_array_get(zs, (size_t)i);
		if (!json_is_integer(z) ||
		    json_unpack(json_array_get(xyz, (size_t)i), "[FFF]", &j->mol.xyz[3 * i],
		                &j->mol.xyz[3 * i + 1], &j->mol.xyz[3 * i + 2]))
			return load_err(err, "molecule coordinates are malformed");
		j->mol.z[i] = (int)json_integer_value(z);
	}
	j->mol.charge = charge;
	j->mol.uhf = uhf;
	qf_strlcpy(j->mol.name, name, sizeof(j->mol.name));
	if (json_is_string(smiles) && !(j->mol.smiles = strdup(json_string_value(smiles))))
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	if (json_is_object(embedding) &&
	    !(j->mol.embedding = json_dumps(embedding, JSON_COMPACT | JSON_REAL_PRECISION(17))))
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	qf_strlcpy(j->geometry_sha256, gsha, sizeof(j->geometry_sha256));

	if ((rc = qf_spec_from_json(&j->spec, spec, err)))
		return rc;
	if ((rc = qf_result_from_json(&j->result, results, err)))
		return rc;
	if ((rc = qf_metrics_from_json(&j->metrics, metrics, err)))
		return rc;
	if (json_is_object(error)) {
		const char *cat = NULL, *code = NULL, *msg = NULL;
		int ua = 0;
		json_t *tail = NULL;
		if (json_unpack(error, "{s:s,s:s,s:s,s?b,s?o}", "category", &cat, "code", &code,
		                "message", &msg, "user_action", &ua, "stderr_tail", &tail))
			return load_err(err, "error is incomplete");
		qf_category c = qf_category_parse(cat);
		qf_err_set(&j->error, c == QF_CAT_NONE ? QF_CAT_UNKNOWN : c, code, "%s", msg);
		j->error.user_action = ua;
		if (json_is_string(tail))
			qf_err_detail(&j->error, json_string_value(tail), strlen(json_string_value(tail)));
	}
	if (placement_from_json(&j->placement, json_object_get(doc, "slurm")))
		return load_err(err, "slurm must be null or {job_id, array_task_id, node}");
	j->created_at = time_field(ts, "created_at");
	j->started_at = time_field(ts, "started_at");
	j->finished_at = time_field(ts, "finished_at");
	return 0;
}

int qf_job_read_metadata(const char *dir, json_t **doc, qf_err *err)
{
	char path[QF_MAX_PATH];
	if (qf_fs_join(path, sizeof(path), dir, QF_METADATA_FILE))
		return qf_err_set(err, QF_CAT_SYSTEM, "system.path", "path too long: %s", dir);
	char *text = NULL;
	size_t len = 0;
	int rc = qf_fs_read(path, QF_MAX_INPUT_BYTES, &text, &len, err);
	if (rc)
		return rc;
	json_error_t jerr;
	*doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!*doc)
		return qf_err_set(err, QF_CAT_VALIDATION, "metadata.invalid",
		                  "could not parse %s line %d: %s", path, jerr.line, jerr.text);
	return 0;
}

int qf_job_load(qf_job *j, const char *dir, qf_err *err)
{
	json_t *doc = NULL;
	int rc = qf_job_read_metadata(dir, &doc, err);
	if (rc)
		return rc;
	rc = qf_job_from_json(j, doc, err);
	json_decref(doc);
	if (rc == 0 && !j->dir[0])
		qf_strlcpy(j->dir, dir, sizeof(j->dir));
	if (rc)
		qf_err_prefix(err, "%s/%s", dir, QF_METADATA_FILE);
	return rc;
}
