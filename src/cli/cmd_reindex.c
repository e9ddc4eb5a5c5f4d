/*
 * qforge reindex [JOBS_ROOT] [--store URL]
 *
 * Rebuilds the store from job directories (DESIGN.md, invariant 1: the job
 * directory's metadata.json is the record; the database can be rebuilt from
 * it). Every JOBS_ROOT/<job id>/metadata.json is read and recorded with
 * qf_store_record_jobs, QF_RECORD_CHUNK jobs per transaction. The owner is
 * the local user, recorded by the system, unless the metadata names another
 * ("owner_id", and "org_id" for an organisation): such jobs are recorded as
 * that user, under that user's rights (a metadata file cannot put rows into
 * an organisation its owner may not write to).
 *
 * A job whose calculation row already holds the same status and attempt is
 * counted unchanged and not written again (the store would not change it
 * either): running reindex twice changes nothing. A directory that cannot
 * be read is reported with its path and the reason, and the rest goes on.
 *
 * Exit status: 0 when every job directory was recorded or unchanged, 10
 * when some could not be read (each is listed), the error's status when the
 * store fails (nothing of the failing chunk is recorded).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "qf/fs.h"
#include "qf/job.h"
#include "qf/store.h"
#include "qf/str.h"

static const char usage[] =
	"usage: qforge reindex [JOBS_ROOT] [--store URL]\n"
	"\n"
	"Records every finished job under JOBS_ROOT (default $QF_JOBS_ROOT or\n"
	"var/jobs) in the store, from its metadata.json. Jobs already recorded as\n"
	"they are are left alone, so running it again changes nothing.\n"
	"\n"
	"options:\n"
	"  --store URL   sqlite:PATH or postgresql://USER@HOST/DB\n"
	"                (default $QF_STORE, else sqlite:var/qforge.db)\n"
	"\n"
	"exit status: 0 all recorded or unchanged, 10 some job directories could\n"
	"not be read (listed on stderr), 13 the store failed\n";

enum { OPT_STORE = 256, OPT_HELP };

static const struct option options[] = {
	{"store", required_argument, NULL, OPT_STORE},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

/* A loaded job and whose it is. */
typedef struct rjob {
	qf_job job;
	char owner[QF_UUID_STR];
	char org[QF_UUID_STR]; /* "" when personal */
	qf_actor actor;        /* who records it */
} rjob;

typedef struct reindex {
	qf_store *s;
	qf_actor sys;
	rjob *chunk; /* QF_RECORD_CHUNK of them */
	size_t n;    /* jobs waiting in chunk */
	long recorded, unchanged, unreadable;
	int first_unreadable_status;
} reindex;

/* An optional UUID key of the metadata ("" when absent or null). */
static int uuid_key(const json_t *doc, const char *key, char out[QF_UUID_STR], qf_err *err)
{
	out[0] = '\0';
	json_t *v = json_object_get(doc, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !qf_uuid_valid(json_string_value(v)))
		return qf_err_set(err, QF_CAT_VALIDATION, "metadata.invalid",
		                  "metadata: %s is not a UUID", key);
	qf_strlcpy(out, json_string_value(v), QF_UUID_STR);
	return 0;
}

/* Load dir/metadata.json into r. The job id must be the directory's name
 * (a copied directory does not speak for another job). The recorded
 * directory is the metadata's when it is this directory, else dir. */
static int load_job(rjob *r, const char *dir, const char *name, qf_err *err)
{
	char path[QF_MAX_PATH];
	if (qf_fs_join(path, sizeof(path), dir, QF_METADATA_FILE))
		return qf_err_set(err, QF_CAT_VALIDATION, "metadata.path", "path too long: %s", dir);
	json_t *doc = NULL;
	int rc = qf_job_read_metadata(dir, &doc, err);
	if (rc)
		return rc;
	rc = qf_job_from_json(&r->job, doc, err);
	if (!rc)
		rc = uuid_key(doc, "owner_id", r->owner, err);
	if (!rc)
		rc = uuid_key(doc, "org_id", r->org, err);
	json_decref(doc);
	if (rc) {
		qf_err_prefix(err, "%s", path);
		return rc;
	}
	if (!r->owner[0])
		qf_strlcpy(r->owner, QF_LOCAL_USER_ID, sizeof(r->owner));
	if (strcmp(r->job.id, name))
		return qf_err_set(err, QF_CAT_VALIDATION, "metadata.job_id",
		                  "%s names job %s but its directory is %s: move it to its own "
		                  "directory or remove it",
		                  path, r->job.id, name);
	struct stat here, there;
	if (!r->job.dir[0] || stat(r->job.dir, &there) || stat(dir, &here) ||
	    here.st_dev != there.st_dev || here.st_ino != there.st_ino)
		qf_strlcpy(r->job.dir, dir, sizeof(r->job.dir));
	return 0;
}

static bool same_text(const json_t *row, const char *key, const char *want)
{
	json_t *v = json_object_get(row, key);
	if (!want || !*want)
		return !v || json_is_null(v);
	return json_is_string(v) && !strcmp(json_string_value(v), want);
}

/* Whether the store already holds this job as it is. */
static int is_unchanged(reindex *x, const rjob *r, bool *unchanged, qf_err *err)
{
	*unchanged = false;
	json_t *row = NULL;
	int rc = qf_store_get(x->s, &x->sys, "calculations", r->job.id, &row, err);
	if (rc == QF_ENOENT) {
		qf_err_init(err);
		return 0;
	}
	if (rc)
		return rc;
	json_t *attempt = json_object_get(row, "attempt");
	*unchanged = same_text(row, "status", qf_job_status_name(r->job.status)) &&
	             json_is_integer(attempt) && json_integer_value(attempt) == r->job.attempt;
	json_decref(row);
	return 0;
}

/* A job directory left out: kind is "unreadable" or "not recorded". */
static void report_unreadable(reindex *x, const char *kind, const qf_err *e)
{
	fprintf(stderr, "qforge reindex: %s: %s (%s)\n", kind, e->message, e->code);
	x->unreadable++;
	if (!x->first_unreadable_status)
		x->first_unreadable_status = qf_err_exit_status(e->category);
}

/* Record the waiting jobs in one transaction. */
static int flush(reindex *x, qf_err *err)
{
	if (!x->n)
		return 0;
	const qf_job *jobs[QF_RECORD_CHUNK];
	for (size_t i = 0; i < x->n; i++)
		jobs[i] = &x->chunk[i].job;
	const qf_actor *a = &x->chunk[0].actor;
	qf_record_opts o = {.org_id = x->chunk[0].org[0] ? x->chunk[0].org : NULL};
	int rc = qf_store_record_jobs(x->s, a, jobs, x->n, &o, err);
	if (rc == 0) {
		x->recorded += (long)x->n;
	} else if (err->category == QF_CAT_VALIDATION) {
		/* The store refused a job (say, into an organisation its owner may
		 * not write to): record the others one by one, report the refused. */
		rc = 0;
		qf_err_init(err);
		for (size_t i = 0; i < x->n && !rc; i++) {
			qf_err e;
			qf_err_init(&e);
			int r1 = qf_store_record_jobs(x->s, a, &jobs[i], 1, &o, &e);
			if (r1 == 0) {
				x->recorded++;
			} else if (e.category == QF_CAT_VALIDATION) {
				qf_err_prefix(&e, "%s", jobs[i]->dir);
				report_unreadable(x, "not recorded", &e);
			} else {
				*err = e;
				rc = r1;
			}
		}
	}
	for (size_t i = 0; i < x->n; i++)
		qf_job_release(&x->chunk[i].job);
	x->n = 0;
	return rc;
}

/* One directory entry of the jobs root. */
static int visit(reindex *x, const char *root, const char *name, qf_err *err)
{
	char dir[QF_MAX_PATH];
	if (qf_fs_join(dir, sizeof(dir), root, name)) {
		qf_err e;
		qf_err_init(&e);
		qf_err_set(&e, QF_CAT_VALIDATION, "metadata.path", "path too long: %s/%s", root, name);
		report_unreadable(x, "unreadable", &e);
		return 0;
	}
	struct stat st;
	if (lstat(dir, &st) || !S_ISDIR(st.st_mode))
		return 0; /* not a job directory (a stray file, a lock) */

	rjob *r = &x->chunk[x->n];
	qf_job_init(&r->job);
	r->owner[0] = r->org[0] = '\0';
	qf_err e;
	qf_err_init(&e);
	if (load_job(r, dir, name, &e)) {
		qf_job_release(&r->job);
		report_unreadable(x, "unreadable", &e);
		return 0;
	}
	/* the local user's jobs are recorded by the system; others' as their owner */
	int rc;
	if (!strcmp(r->owner, QF_LOCAL_USER_ID)) {
		r->actor = x->sys;
	} else if ((rc = qf_store_actor(x->s, r->owner, &r->actor, &e))) {
		qf_job_release(&r->job);
		if (e.category != QF_CAT_VALIDATION) {
			*err = e;
			return rc;
		}
		qf_err_init(&e);
		qf_err_set(&e, QF_CAT_VALIDATION, "reindex.owner",
		           "%s/%s: its owner %s is not a user of this store: create the user first",
		           dir, QF_METADATA_FILE, r->owner);
		report_unreadable(x, "unreadable", &e);
		return 0;
	}
	bool unchanged = false;
	rc = is_unchanged(x, r, &unchanged, err);
	if (rc || unchanged) {
		qf_job_release(&r->job);
		if (!rc)
			x->unchanged++;
		return rc;
	}
	/* a chunk holds one owner and organisation: record_jobs takes them once */
	if (x->n > 0 && (strcmp(r->owner, x->chunk[0].owner) || strcmp(r->org, x->chunk[0].org))) {
		rjob moved = *r;
		if ((rc = flush(x, err))) {
			qf_job_release(&moved.job);
			return rc;
		}
		x->chunk[0] = moved;
	}
	x->n++;
	return x->n == QF_RECORD_CHUNK ? flush(x, err) : 0;
}

static int skip_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int cmd_reindex(int argc, char **argv)
{
	const char *store_url = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (c) {
		case OPT_STORE: store_url = optarg; break;
		case OPT_HELP: fputs(usage, stdout); return 0;
		case ':':
			return cli_usage_error("reindex", "option %s needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("reindex", "unknown option %s", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("reindex", "give one JOBS_ROOT (got %d)", argc - optind);
	const char *root = cli_jobs_root(optind < argc ? argv[optind] : NULL);
	if (!store_url || !*store_url)
		store_url = qf_store_default_url();

	qf_err err;
	qf_err_init(&err);
	struct dirent **names = NULL;
	int nnames = scandir(root, &names, skip_dots, alphasort);
	if (nnames < 0) {
		qf_err_set(&err, QF_CAT_VALIDATION, "reindex.root",
		           "could not read the jobs root %s: %s; give the directory that holds the job "
		           "directories", root, strerror(errno));
		return cli_fail(&err);
	}

	reindex x = {.sys = qf_actor_system()};
	int status = 0;
	x.chunk = calloc(QF_RECORD_CHUNK, sizeof(*x.chunk));
	if (!x.chunk) {
		qf_err_setrc(&err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
		status = cli_fail(&err);
		goto out_names;
	}
	if (qf_store_open(&x.s, store_url, NULL, &err)) {
		status = cli_fail(&err);
		goto out_chunk;
	}
	int rc = 0;
	for (int i = 0; i < nnames && !rc; i++)
		rc = visit(&x, root, names[i]->d_name, &err);
	if (!rc)
		rc = flush(&x, &err);
	else
		for (size_t i = 0; i < x.n; i++)
			qf_job_release(&x.chunk[i].job);
	printf("reindex %s: %ld recorded, %ld unchanged, %ld unreadable\n", root, x.recorded,
	       x.unchanged, x.unreadable);
	if (rc)
		status = cli_fail(&err);
	else if (x.unreadable)
		status = x.first_unreadable_status;
	qf_store_close(x.s);
out_chunk:
	free(x.chunk);
out_names:
	for (int i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	return status;
}
