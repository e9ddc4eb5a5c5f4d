/*
 * qforge slurm submit | status | cancel: workers as the tasks of a Slurm job
 * array (include/qf/slurm.h). The queue in the store stays the source of
 * truth; Slurm starts the workers where it has room.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "qf/clock.h"
#include "qf/limits.h"
#include "qf/log.h"
#include "qf/slurm.h"
#include "qf/store.h"
#include "qf/str.h"

static const char usage[] =
	"usage: qforge slurm submit [options]\n"
	"       qforge slurm status [JOB_ID...] [--batch ID] [--store URL] [--json]\n"
	"       qforge slurm cancel JOB_ID... | --batch ID [--store URL] [--wait S]\n"
	"\n"
	"Runs workers as the tasks of a Slurm job array: each one `qforge worker\n"
	"--exit-when-idle` claiming calculations from the store until none is left.\n"
	"\n"
	"submit (prints the Slurm job id):\n"
	"  --store URL              the store (default $QF_STORE); its password goes into\n"
	"                           the password file, never into the script\n"
	"  --batch ID               the batch the workers are for (status and cancel find\n"
	"                           the array by it; workers take any queued job)\n"
	"  --workers N              array tasks, one worker each (default 1)\n"
	"  --cpus-per-worker C      CPUs per task (--cpus-per-task; default 1)\n"
	"  --threads-per-job T      threads per calculation (default 1): each worker runs\n"
	"                           C/T calculations at once\n"
	"  --partition P            --account A   --time LIMIT   --mem M\n"
	"                           as sbatch takes them (default: the cluster's)\n"
	"  --sbatch-arg ARG         one more #SBATCH line (repeatable), e.g. --qos=high\n"
	"  --worker-arg ARG         one more `qforge worker` argument (repeatable)\n"
	"  --drain-seconds S        SIGTERM S seconds before the time limit: the worker\n"
	"                           drains, then gives back what still runs (default 120)\n"
	"  --jobs-root DIR|local    job directories on the nodes (default $QF_JOBS_ROOT or\n"
	"                           var/jobs; local: $SLURM_TMPDIR, $TMPDIR or /tmp)\n"
	"  --output-dir DIR         the script and the tasks' logs (default qforge-slurm)\n"
	"  --passfile PATH          where the password goes (default ~/.qforge/pgpass)\n"
	"  --job-name NAME          (default qforge-worker)\n"
	"  --qforge PATH            the program on the nodes (default: this one)\n"
	"  --dry-run                print the script; submit nothing, write nothing\n"
	"\n"
	"status: the arrays' tasks (squeue; sacct when the cluster keeps accounting),\n"
	"  the jobs their workers hold, and the queue's counts (of the batch).\n"
	"cancel: scancel, wait up to --wait seconds (default 60) for the tasks to end,\n"
	"  then give back to the queue whatever their workers still held.\n";

static int fail_usage(const char *fmt, const char *arg)
{
	return cli_usage_error("slurm", fmt, arg);
}

/* Hide a password in the process's own argument (the copy `ps` shows) once
 * it has been read: the user part of a URL's authority and a password=
 * parameter become x's. */
static void scrub_password(char *url)
{
	char *auth = strstr(url, "://");
	if (auth) {
		auth += 3;
		char *at = strchr(auth, '@'), *slash = strchr(auth, '/');
		if (at && (!slash || at < slash)) {
			char *colon = memchr(auth, ':', (size_t)(at - auth));
			if (colon)
				for (char *p = colon + 1; p < at; p++)
					*p = 'x';
		}
	}
	for (char *p = url; (p = strstr(p, "password=")); p += 9) {
		if (p != url && p[-1] != '?' && p[-1] != '&')
			continue;
		for (char *q = p + 9; *q && *q != '&'; q++)
			*q = 'x';
	}
}

/* ---- submit ----------------------------------------------------------------------- */

enum {
	OPT_STORE = 256, OPT_BATCH, OPT_WORKERS, OPT_CPUS, OPT_THREADS, OPT_PARTITION, OPT_ACCOUNT,
	OPT_TIME, OPT_MEM, OPT_SBATCH_ARG, OPT_WORKER_ARG, OPT_DRAIN, OPT_JOBS_ROOT, OPT_OUTPUT_DIR,
	OPT_PASSFILE, OPT_JOB_NAME, OPT_QFORGE, OPT_DRY_RUN, OPT_JSON, OPT_WAIT, OPT_HELP,
};

static const struct option submit_options[] = {
	{"store", required_argument, NULL, OPT_STORE},
	{"batch", required_argument, NULL, OPT_BATCH},
	{"workers", required_argument, NULL, OPT_WORKERS},
	{"cpus-per-worker", required_argument, NULL, OPT_CPUS},
	{"threads-per-job", required_argument, NULL, OPT_THREADS},
	{"partition", required_argument, NULL, OPT_PARTITION},
	{"account", required_argument, NULL, OPT_ACCOUNT},
	{"time", required_argument, NULL, OPT_TIME},
	{"mem", required_argument, NULL, OPT_MEM},
	{"sbatch-arg", required_argument, NULL, OPT_SBATCH_ARG},
	{"worker-arg", required_argument, NULL, OPT_WORKER_ARG},
	{"drain-seconds", required_argument, NULL, OPT_DRAIN},
	{"jobs-root", required_argument, NULL, OPT_JOBS_ROOT},
	{"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
	{"passfile", required_argument, NULL, OPT_PASSFILE},
	{"job-name", required_argument, NULL, OPT_JOB_NAME},
	{"qforge", required_argument, NULL, OPT_QFORGE},
	{"dry-run", no_argument, NULL, OPT_DRY_RUN},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

/* Before submitting: the store answers, the leases of dead workers are
 * swept (what they held is queued again), and there is work. */
static int check_queue(const qf_slurm_submit_opts *o, qf_err *err)
{
	qf_store *s = NULL;
	const char *url = o->store_url ? o->store_url : qf_store_default_url();
	int rc = qf_store_open(&s, url, NULL, err);
	if (rc)
		return rc;
	int requeued = 0, failed = 0;
	if ((rc = qf_store_sweep(s, qf_clock_now(), &requeued, &failed, err)))
		goto out;
	if (requeued || failed)
		fprintf(stderr, "qforge slurm: %d job(s) of lost workers queued again, %d failed\n",
		        requeued, failed);
	qf_actor me = qf_actor_local();
	qf_queue_counts qc;
	if ((rc = qf_store_queue_counts(s, &me, o->batch_id, &qc, err)))
		goto out;
	if (qc.queued == 0)
		rc = qf_err_set(err, QF_CAT_VALIDATION, "slurm.nothing_queued",
		                "nothing is queued%s%s (%lld running, %lld completed): no workers submitted",
		                o->batch_id ? " in batch " : "", o->batch_id ? o->batch_id : "",
		                (long long)qc.running, (long long)qc.completed);
	else if (qc.queued < o->workers)
		fprintf(stderr, "qforge slurm: %lld job(s) queued for %d workers: some will find nothing "
		        "and end at once\n", (long long)qc.queued, o->workers);
	if (!rc && !strncmp(url, "sqlite:", 7))
		fprintf(stderr, "qforge slurm: an SQLite store works when every node sees the same file "
		        "on a local disk (one machine); a cluster wants PostgreSQL\n");
out:
	qf_store_close(s);
	return rc;
}

static int slurm_submit(int argc, char **argv)
{
	qf_slurm_submit_opts o;
	qf_slurm_submit_opts_init(&o);
	o.jobs_root = cli_jobs_root(NULL);
	const char *env_store = getenv("QF_STORE");
	if (env_store && *env_store)
		o.store_url = env_store;
	const char *sbatch_args[QF_SLURM_MAX_EXTRA_ARGS], *worker_args[QF_SLURM_MAX_EXTRA_ARGS];
	char *store_copy = NULL, *store_arg = NULL;
	bool dry_run = false;
	int c, idx;
	long l;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", submit_options, &idx)) != -1) {
		switch (c) {
		case OPT_STORE:
			free(store_copy);
			store_copy = strdup(optarg);
			store_arg = optarg;
			if (!store_copy)
				return fail_usage("%s", "out of memory");
			o.store_url = store_copy;
			break;
		case OPT_BATCH: o.batch_id = optarg; break;
		case OPT_WORKERS:
			if (!qf_parse_int(optarg, 1, QF_SLURM_MAX_WORKERS, &l))
				return fail_usage("--workers needs a number from 1 to %s", "1000");
			o.workers = (int)l;
			break;
		case OPT_CPUS:
			if (!qf_parse_int(optarg, 1, QF_SLURM_MAX_CPUS, &l))
				return fail_usage("--cpus-per-worker needs a number from 1 to %s", "1024");
			o.cpus_per_worker = (int)l;
			break;
		case OPT_THREADS:
			if (!qf_parse_int(optarg, 1, QF_MAX_THREADS, &l))
				return fail_usage("--threads-per-job needs a number from 1 to %s", "64");
			o.threads_per_job = (int)l;
			break;
		case OPT_PARTITION: o.partition = optarg; break;
		case OPT_ACCOUNT: o.account = optarg; break;
		case OPT_TIME: o.time_limit = optarg; break;
		case OPT_MEM: o.mem = optarg; break;
		case OPT_SBATCH_ARG:
			if (o.nsbatch_args == QF_SLURM_MAX_EXTRA_ARGS)
				return fail_usage("at most %s --sbatch-arg", "64");
			sbatch_args[o.nsbatch_args++] = optarg;
			break;
		case OPT_WORKER_ARG:
			if (o.nworker_args == QF_SLURM_MAX_EXTRA_ARGS)
				return fail_usage("at most %s --worker-arg", "64");
			worker_args[o.nworker_args++] = optarg;
			break;
		case OPT_DRAIN:
			if (!qf_parse_int(optarg, 10, 65535, &l))
				return fail_usage("--drain-seconds needs a number from 10 to %s", "65535");
			o.drain_seconds = (int)l;
			break;
		case OPT_JOBS_ROOT: o.jobs_root = optarg; break;
		case OPT_OUTPUT_DIR: o.output_dir = optarg; break;
		case OPT_PASSFILE: o.passfile = optarg; break;
		case OPT_JOB_NAME: o.job_name = optarg; break;
		case OPT_QFORGE: o.qforge = optarg; break;
		case OPT_DRY_RUN: dry_run = true; break;
		case OPT_HELP: fputs(usage, stdout); free(store_copy); return 0;
		case ':':
			free(store_copy);
			return fail_usage("option %s needs a value", argv[optind - 1]);
		default:
			free(store_copy);
			return fail_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (store_arg)
		scrub_password(store_arg);
	if (optind != argc) {
		free(store_copy);
		return fail_usage("unexpected argument '%s'", argv[optind]);
	}
	o.sbatch_args = sbatch_args;
	o.worker_args = worker_args;

	qf_err err;
	qf_err_init(&err);
	int rc;
	if (dry_run) {
		char *url = NULL, *password = NULL, *script = NULL;
		rc = qf_slurm_worker_store(o.store_url, o.passfile, &url, &password, &err);
		if (!rc)
			rc = qf_slurm_script(&o, url, &script, &err);
		if (password) {
			memset(password, 0, strlen(password));
			free(password);
		}
		free(url);
		free(store_copy);
		if (rc)
			return cli_fail(&err);
		fputs(script, stdout);
		free(script);
		return 0;
	}
	if ((rc = qf_slurm_submit_check(&o, &err)) || (rc = check_queue(&o, &err))) {
		free(store_copy);
		return cli_fail(&err);
	}
	char job_id[32];
	rc = qf_slurm_submit(&o, job_id, NULL, &err);
	if (store_copy) {
		memset(store_copy, 0, strlen(store_copy));
		free(store_copy);
	}
	if (rc)
		return cli_fail(&err);
	printf("%s\n", job_id);
	fprintf(stderr, "qforge slurm: job array %s of %d worker(s)%s%s; script %s/%s.sbatch, logs "
	        "%s/%s_<task>.log\n", job_id, o.workers, o.batch_id ? " for batch " : "",
	        o.batch_id ? o.batch_id : "", o.output_dir, job_id, o.output_dir, job_id);
	return 0;
}

/* ---- status and cancel ---------------------------------------------------------------- */

static const struct option status_options[] = {
	{"store", required_argument, NULL, OPT_STORE},
	{"batch", required_argument, NULL, OPT_BATCH},
	{"json", no_argument, NULL, OPT_JSON},
	{"wait", required_argument, NULL, OPT_WAIT},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

struct status_args {
	const char *store_url;
	char *store_copy;
	const char *batch_id;
	bool json;
	double wait_s;
	const char **ids;
	int nids;
};

/* Options of status and cancel (cancel alone takes --wait). */
static int parse_status(int argc, char **argv, bool cancel, struct status_args *a)
{
	memset(a, 0, sizeof(*a));
	a->wait_s = 60;
	const char *env_store = getenv("QF_STORE");
	if (env_store && *env_store)
		a->store_url = env_store;
	int c, idx;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", status_options, &idx)) != -1) {
		switch (c) {
		case OPT_STORE:
			free(a->store_copy);
			if (!(a->store_copy = strdup(optarg)))
				return fail_usage("%s", "out of memory");
			scrub_password(optarg);
			a->store_url = a->store_copy;
			break;
		case OPT_BATCH: a->batch_id = optarg; break;
		case OPT_JSON: a->json = true; break;
		case OPT_WAIT:
			if (!cancel || !qf_parse_double(optarg, &a->wait_s) || a->wait_s < 0 ||
			    a->wait_s > 3600)
				return fail_usage("%s", cancel ? "--wait needs seconds from 0 to 3600"
				                               : "--wait is an option of cancel");
			break;
		case OPT_HELP: fputs(usage, stdout); return -1;
		case ':': return fail_usage("option %s needs a value", argv[optind - 1]);
		default: return fail_usage("unknown option %s", argv[optind - 1]);
		}
	}
	a->ids = (const char **)argv + optind;
	a->nids = argc - optind;
	if (a->nids > QF_SLURM_MAX_EXTRA_ARGS)
		return fail_usage("at most %s job ids at once", "64");
	return 0;
}

static void print_array(const json_t *arr)
{
	const char *id = json_string_value(json_object_get(arr, "job_id"));
	const json_t *name = json_object_get(arr, "name"), *batch = json_object_get(arr, "batch_id");
	const json_t *tasks = json_object_get(arr, "tasks");
	printf("Slurm job %s", id);
	if (json_is_string(name))
		printf(" (%s)", json_string_value(name));
	if (json_is_string(batch))
		printf(", batch %s", json_string_value(batch));
	printf(": %zu task(s) known to squeue", json_array_size(tasks));
	const char *k;
	json_t *v;
	const char *sep = ": ";
	json_object_foreach((json_t *)json_object_get(arr, "states"), k, v) {
		printf("%s%lld %s", sep, (long long)json_integer_value(v), k);
		sep = ", ";
	}
	printf("\n");
	size_t i;
	json_t *t;
	json_array_foreach(tasks, i, t) {
		const json_t *task = json_object_get(t, "task"), *node = json_object_get(t, "node");
		const json_t *reason = json_object_get(t, "reason");
		printf("  %s_%s  %-11s %s%s%s%s\n", id,
		       json_is_string(task) ? json_string_value(task) : "-",
		       json_string_value(json_object_get(t, "state")),
		       json_is_string(node) ? json_string_value(node) : "",
		       json_is_string(reason) && strcmp(json_string_value(reason), "None") ? " (" : "",
		       json_is_string(reason) && strcmp(json_string_value(reason), "None")
		           ? json_string_value(reason) : "",
		       json_is_string(reason) && strcmp(json_string_value(reason), "None") ? ")" : "");
	}
	const json_t *sacct = json_object_get(arr, "sacct");
	if (json_is_array(sacct)) {
		printf("  sacct:\n");
		json_array_foreach(sacct, i, t)
			printf("    %-14s %-11s %-12s exit %s, %s\n", json_string_value(json_object_get(t, "job")),
			       json_string_value(json_object_get(t, "state")),
			       json_is_string(json_object_get(t, "node"))
			           ? json_string_value(json_object_get(t, "node")) : "-",
			       json_string_value(json_object_get(t, "exit_code")),
			       json_string_value(json_object_get(t, "elapsed")));
	} else {
		printf("  sacct: %s\n", json_string_value(json_object_get(arr, "sacct_note")));
	}
	const json_t *held = json_object_get(arr, "held"), *q = json_object_get(arr, "queue");
	if (json_is_integer(held))
		printf("  its workers hold %lld running job(s)\n", (long long)json_integer_value(held));
	if (json_is_object(q))
		printf("  %s: %lld queued (%lld ready), %lld running, %lld completed, %lld failed, "
		       "%lld cancelled\n", json_is_string(batch) ? "batch" : "queue",
		       (long long)json_integer_value(json_object_get(q, "queued")),
		       (long long)json_integer_value(json_object_get(q, "ready")),
		       (long long)json_integer_value(json_object_get(q, "running")),
		       (long long)json_integer_value(json_object_get(q, "completed")),
		       (long long)json_integer_value(json_object_get(q, "failed")),
		       (long long)json_integer_value(json_object_get(q, "cancelled")));
}

static int slurm_status(int argc, char **argv)
{
	struct status_args a;
	int rc = parse_status(argc, argv, false, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	qf_err err;
	qf_err_init(&err);
	qf_store *s = NULL;
	if (qf_store_open(&s, a.store_url ? a.store_url : qf_store_default_url(), NULL, &err)) {
		fprintf(stderr, "qforge slurm: the store is not reachable (%s); Slurm's view only\n",
		        err.message);
		s = NULL;
		qf_err_init(&err);
	}
	free(a.store_copy);
	qf_actor me = qf_actor_local();
	json_t *arrays = NULL;
	rc = qf_slurm_status(s, &me, a.ids, a.nids, a.batch_id, &arrays, &err);
	qf_store_close(s);
	if (rc)
		return cli_fail(&err);
	if (a.json) {
		char *text = json_dumps(arrays, JSON_INDENT(2));
		if (text)
			puts(text);
		free(text);
	} else if (json_array_size(arrays) == 0) {
		printf("no qforge job array known to Slurm%s%s\n", a.batch_id ? " for batch " : "",
		       a.batch_id ? a.batch_id : "");
	} else {
		size_t i;
		json_t *arr;
		json_array_foreach(arrays, i, arr)
			print_array(arr);
	}
	json_decref(arrays);
	return 0;
}

static int slurm_cancel(int argc, char **argv)
{
	struct status_args a;
	int rc = parse_status(argc, argv, true, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (!a.nids && !a.batch_id) {
		free(a.store_copy);
		return fail_usage("%s", "give the Slurm job ids to cancel, or --batch ID");
	}
	qf_err err;
	qf_err_init(&err);
	const char *ids_buf[QF_SLURM_MAX_EXTRA_ARGS];
	char id_text[QF_SLURM_MAX_EXTRA_ARGS][32];
	const char *const *ids = a.ids;
	int n = a.nids;
	if (!n) {
		/* the batch's arrays that Slurm still knows */
		json_t *arrays = NULL;
		if ((rc = qf_slurm_status(NULL, NULL, NULL, 0, a.batch_id, &arrays, &err))) {
			free(a.store_copy);
			return cli_fail(&err);
		}
		size_t i;
		json_t *arr;
		json_array_foreach(arrays, i, arr) {
			if (n == QF_SLURM_MAX_EXTRA_ARGS)
				break;
			qf_strlcpy(id_text[n], json_string_value(json_object_get(arr, "job_id")), 32);
			ids_buf[n] = id_text[n];
			n++;
		}
		json_decref(arrays);
		if (!n) {
			free(a.store_copy);
			qf_err_set(&err, QF_CAT_VALIDATION, "slurm.no_job",
			           "no qforge job array of batch %s is known to Slurm", a.batch_id);
			return cli_fail(&err);
		}
		ids = ids_buf;
	}
	qf_store *s = NULL;
	qf_err serr;
	qf_err_init(&serr);
	if (qf_store_open(&s, a.store_url ? a.store_url : qf_store_default_url(), NULL, &serr)) {
		fprintf(stderr, "qforge slurm: the store is not reachable (%s): the jobs the workers "
		        "held come back when their leases expire\n", serr.message);
		s = NULL;
	}
	free(a.store_copy);
	int released = 0;
	bool ended = false;
	rc = qf_slurm_cancel(s, ids, n, a.wait_s, &released, &ended, &err);
	qf_store_close(s);
	if (rc)
		return cli_fail(&err);
	for (int i = 0; i < n; i++)
		printf("cancelled Slurm job %s\n", ids[i]);
	if (!ended)
		fprintf(stderr, "qforge slurm: some tasks had not ended after %.0f s\n", a.wait_s);
	printf("%d job(s) its workers still held given back to the queue\n", released);
	return 0;
}

/* ---- the command -------------------------------------------------------------------------- */

int cmd_slurm(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? QF_EXIT_USAGE : 0;
	}
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} subs[] = {{"submit", slurm_submit}, {"status", slurm_status}, {"cancel", slurm_cancel}};
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].run(argc - 1, argv + 1);
	return fail_usage("unknown subcommand '%s' (submit, status, cancel)", argv[1]);
}
