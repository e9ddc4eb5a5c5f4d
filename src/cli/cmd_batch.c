/*
 * qforge batch submit|status|wait|cancel|retry
 *
 *   submit FILE|DIR [spec options] [--name N] [--priority P] [--max-attempts N]
 *                   [--force] [--format F] [--store URL]
 *       queue one calculation per molecule of a multi-molecule XYZ, SDF or
 *       SMILES file, or of every such file in a directory; prints the batch
 *       id. Records that cannot be read, or hold a molecule the calculation
 *       would refuse (overlapping atoms, elements beyond the method, an
 *       impossible charge), are reported by source and record number; the
 *       others are queued.
 *   status ID [--json]    counts, failures by category, batch statistics
 *   wait ID               a progress bar (done/total, rate, ETA, failures by
 *                         category) on a terminal, plain lines otherwise;
 *                         then the statistics
 *   cancel ID             queued jobs cancelled, running ones asked to stop
 *   retry ID --failed     failed jobs queued again (not validation failures,
 *                         unless --force)
 */
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "qf/clock.h"
#include "qf/fs.h"
#include "qf/job.h"
#include "qf/limits.h"
#include "qf/molio.h"
#include "qf/runner.h"
#include "qf/store.h"
#include "qf/str.h"
#include "qf/submit.h"

static const char usage[] =
	"usage: qforge batch submit FILE|DIR [options]   queue the molecules of a file or directory\n"
	"       qforge batch status ID [--json]            counts, failures, statistics\n"
	"       qforge batch wait ID [--timeout S]         follow it to the end\n"
	"       qforge batch cancel ID                     cancel what has not finished\n"
	"       qforge batch retry ID --failed [--force]   queue the failed ones again\n"
	"\n"
	"submit options: the calculation options of 'qforge run' (--task, --level,\n"
	"--method, --alpb/--gbsa, --charge, --uhf, --etemp, --accuracy,\n"
	"--max-scc-iterations, --max-opt-cycles, --timeout, --threads), and\n"
	"  --name NAME            batch name (default: the file or directory name)\n"
	"  --priority N           higher runs first (default 0)\n"
	"  --max-attempts N       attempts per calculation (default 3)\n"
	"  --force                rerun even when an identical result is stored\n"
	"  --format xyz|sdf|smi   input format (default: from each file's extension)\n"
	"  --embed-timeout S      SMILES: seconds to make one 3D structure (default 60)\n"
	"  --embed-memory MB      SMILES: memory of each embedding process (default 2048)\n"
	"  --embed-processes N    SMILES: embedding processes at once (default: the cores)\n"
	"  --conformers N         SMILES: embed N conformers (ETKDGv3, RMSD-pruned, each\n"
	"                         minimised with MMFF94), keep the lowest (default 1)\n"
	"  --keep-conformers      SMILES: queue every distinct conformer as its own\n"
	"                         calculation (its index and MMFF94 energy kept with it)\n"
	"all commands:\n"
	"  --store URL            sqlite:PATH or postgresql://... (default $QF_STORE or\n"
	"                         sqlite:var/qforge.db)\n";

enum {
	OPT_STORE = 256, OPT_NAME, OPT_PRIORITY, OPT_ATTEMPTS, OPT_FORCE, OPT_FORMAT, OPT_JSON,
	OPT_TIMEOUT_WAIT, OPT_FAILED, OPT_XTB, OPT_HELP, OPT_SPEC, OPT_INTERVAL, OPT_EMBED_TIMEOUT,
	OPT_EMBED_MEMORY, OPT_EMBED_PROCESSES, OPT_CONFORMERS, OPT_KEEP_CONFORMERS,
};

static const struct option options[] = {
	{"task", required_argument, NULL, OPT_SPEC},
	{"level", required_argument, NULL, OPT_SPEC},
	{"method", required_argument, NULL, OPT_SPEC},
	{"alpb", required_argument, NULL, OPT_SPEC},
	{"gbsa", required_argument, NULL, OPT_SPEC},
	{"charge", required_argument, NULL, OPT_SPEC},
	{"uhf", required_argument, NULL, OPT_SPEC},
	{"etemp", required_argument, NULL, OPT_SPEC},
	{"accuracy", required_argument, NULL, OPT_SPEC},
	{"max-scc-iterations", required_argument, NULL, OPT_SPEC},
	{"max-opt-cycles", required_argument, NULL, OPT_SPEC},
	{"threads", required_argument, NULL, OPT_SPEC},
	{"timeout", required_argument, NULL, OPT_TIMEOUT_WAIT}, /* spec for submit, wait limit for wait */
	{"store", required_argument, NULL, OPT_STORE},
	{"name", required_argument, NULL, OPT_NAME},
	{"priority", required_argument, NULL, OPT_PRIORITY},
	{"max-attempts", required_argument, NULL, OPT_ATTEMPTS},
	{"force", no_argument, NULL, OPT_FORCE},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"json", no_argument, NULL, OPT_JSON},
	{"failed", no_argument, NULL, OPT_FAILED},
	{"interval", required_argument, NULL, OPT_INTERVAL},
	{"embed-timeout", required_argument, NULL, OPT_EMBED_TIMEOUT},
	{"embed-memory", required_argument, NULL, OPT_EMBED_MEMORY},
	{"embed-processes", required_argument, NULL, OPT_EMBED_PROCESSES},
	{"conformers", required_argument, NULL, OPT_CONFORMERS},
	{"keep-conformers", no_argument, NULL, OPT_KEEP_CONFORMERS},
	{"xtb", required_argument, NULL, OPT_XTB},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

struct batch_args {
	const char *sub;
	const char *target; /* FILE|DIR or ID */
	const char *store_url;
	const char *name;
	const char *xtb;
	qf_spec spec;
	qf_format format;
	int priority;
	int max_attempts;
	bool force;
	bool json;
	bool failed;
	double wait_timeout; /* wait: give up after (0: never) */
	double interval;     /* wait: poll interval */
	qf_embed_limits embed; /* submit: SMILES embedding limits (0: defaults) */
	bool keep_conformers;  /* submit: each conformer its own calculation */
};

static int parse_args(int argc, char **argv, struct batch_args *a)
{
	qf_err err;
	qf_err_init(&err);
	int c, idx;
	long l;
	optind = 2; /* argv[0] "batch"... argv[1] the subcommand */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", options, &idx)) != -1) {
		switch (c) {
		case OPT_SPEC:
			if (qf_spec_set(&a->spec, options[idx].name, optarg, &err))
				return cli_usage_error("batch", "%s", err.message);
			break;
		case OPT_TIMEOUT_WAIT:
			if (!strcmp(a->sub, "wait")) {
				if (!qf_parse_double(optarg, &a->wait_timeout) || a->wait_timeout <= 0)
					return cli_usage_error("batch", "--timeout needs seconds");
			} else if (qf_spec_set(&a->spec, "timeout", optarg, &err)) {
				return cli_usage_error("batch", "%s", err.message);
			}
			break;
		case OPT_STORE: a->store_url = optarg; break;
		case OPT_NAME: a->name = optarg; break;
		case OPT_PRIORITY:
			if (!qf_parse_int(optarg, -1000000, 1000000, &l))
				return cli_usage_error("batch", "--priority needs a whole number");
			a->priority = (int)l;
			break;
		case OPT_ATTEMPTS:
			if (!qf_parse_int(optarg, 1, 100, &l))
				return cli_usage_error("batch", "--max-attempts needs a number from 1 to 100");
			a->max_attempts = (int)l;
			break;
		case OPT_FORCE: a->force = true; break;
		case OPT_FORMAT:
			a->format = qf_format_parse(optarg);
			if (a->format == QF_FMT_UNKNOWN)
				return cli_usage_error("batch", "unknown format '%s': use xyz, sdf or smi", optarg);
			break;
		case OPT_JSON: a->json = true; break;
		case OPT_FAILED: a->failed = true; break;
		case OPT_INTERVAL:
			if (!qf_parse_double(optarg, &a->interval) || a->interval <= 0)
				return cli_usage_error("batch", "--interval needs seconds");
			break;
		case OPT_EMBED_TIMEOUT:
			if (!qf_parse_double(optarg, &a->embed.seconds) || a->embed.seconds <= 0 ||
			    a->embed.seconds > 86400)
				return cli_usage_error("batch", "--embed-timeout needs seconds (at most 86400)");
			break;
		case OPT_EMBED_MEMORY:
			if (!qf_parse_int(optarg, 64, 1L << 20, &l))
				return cli_usage_error("batch", "--embed-memory needs megabytes (64 or more)");
			a->embed.memory_mb = l;
			break;
		case OPT_EMBED_PROCESSES:
			if (!qf_parse_int(optarg, 1, QF_EMBED_MAX_PROCESSES, &l))
				return cli_usage_error("batch", "--embed-processes needs a number from 1 to %d",
				                       QF_EMBED_MAX_PROCESSES);
			a->embed.processes = (int)l;
			break;
		case OPT_CONFORMERS:
			if (!qf_parse_int(optarg, 1, QF_MAX_CONFORMERS, &l))
				return cli_usage_error("batch", "--conformers needs a number from 1 to %d",
				                       QF_MAX_CONFORMERS);
			a->embed.conformers = (int)l;
			break;
		case OPT_KEEP_CONFORMERS: a->keep_conformers = true; break;
		case OPT_XTB: a->xtb = optarg; break;
		case OPT_HELP: fputs(usage, stdout); return 1;
		case ':':
			return cli_usage_error("batch", "option %s needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("batch", "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("batch", optind == argc ? "'batch %s' needs %s" : "'batch %s' takes one %s",
		                       a->sub, strcmp(a->sub, "submit") ? "a batch ID" : "a FILE or DIR");
	a->target = argv[optind];
	if (a->keep_conformers && a->embed.conformers < 2)
		return cli_usage_error("batch", "--keep-conformers needs --conformers N with N of 2 or more");
	if (qf_spec_validate(&a->spec, &err))
		return cli_usage_error("batch", "%s", err.message);
	return 0;
}

static int open_store(const struct batch_args *a, qf_store **s)
{
	qf_err err;
	qf_err_init(&err);
	if (qf_store_open(s, a->store_url ? a->store_url : qf_store_default_url(), NULL, &err))
		return cli_fail(&err);
	return 0;
}

static void print_json(const json_t *doc)
{
	char *t = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
	if (t) {
		puts(t);
		free(t);
	}
}

/* ---- submit ---------------------------------------------------------------- */

/* The records go through qf_submitter (include/qf/submit.h), as an upload
 * to the server does: chunks of QF_RECORD_CHUNK, SMILES embedded in parallel
 * at each flush, refused records reported here by file and record. */
struct submitter {
	qf_submitter *sub;
	size_t unreadable;    /* files that could not be opened */
	double last_progress; /* qf_clock_mono of the last progress line (or the start) */
};

static void print_reject(void *ctx, const char *source, int record, const qf_err *e)
{
	(void)ctx;
	fprintf(stderr, "qforge: %s record %d: %s (%s)\n", source ? source : "?", record, e->message,
	        e->code);
}

/* Embedding progress, at most once a second from the start (so never for a
 * file that embeds within a second). */
static void print_embed(void *ctx, size_t embedded, size_t failed)
{
	struct submitter *s = ctx;
	double t = qf_clock_mono();
	if (t - s->last_progress < 1.0)
		return;
	s->last_progress = t;
	fprintf(stderr, "qforge: SMILES embedded: %zu, failed: %zu\n", embedded, failed);
}

static int submit_file(struct submitter *s, const char *path, qf_format fmt)
{
	qf_err err;
	qf_err_init(&err);
	qf_reader *r = NULL;
	if (qf_reader_new_path(&r, path, fmt, &err)) {
		fprintf(stderr, "qforge: %s (%s)\n", err.message, err.code);
		s->unreadable++;
		return 0;
	}
	int rc = qf_submitter_add(s->sub, r, path, &err);
	qf_reader_free(r);
	return rc ? cli_fail(&err) : 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The molecule files of a directory (by extension, or all regular files when
 * --format names the format), in name order. */
static int submit_dir(struct submitter *s, const char *dir, qf_format fmt)
{
	DIR *d = opendir(dir);
	if (!d) {
		qf_err err;
		qf_err_set(&err, QF_CAT_VALIDATION, "input.unreadable", "could not open directory %s", dir);
		return cli_fail(&err);
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (fmt == QF_FMT_UNKNOWN && qf_format_from_path(e->d_name) == QF_FMT_UNKNOWN)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **p = realloc(names, cap * sizeof(*p));
			if (!p)
				break;
			names = p;
		}
		names[n] = strdup(e->d_name);
		if (names[n])
			n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		char path[QF_MAX_PATH];
		struct stat st;
		if (qf_fs_join(path, sizeof(path), dir, names[i]) || stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		rc = submit_file(s, path, fmt);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (n == 0)
		fprintf(stderr, "qforge: %s holds no .xyz, .sdf, .mol or .smi files\n", dir);
	return rc;
}

static const char *base_name(const char *path)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	const char *p = path + n;
	while (p > path && p[-1] != '/')
		p--;
	return p;
}

static int batch_submit(struct batch_args *a)
{
	qf_store *store = NULL;
	int rc = open_store(a, &store);
	if (rc)
		return rc;
	qf_err err;
	qf_err_init(&err);
	struct stat st;
	if (stat(a->target, &st)) {
		qf_err_set(&err, QF_CAT_VALIDATION, "input.not_found", "no such file or directory: %s",
		           a->target);
		qf_store_close(store);
		return cli_fail(&err);
	}
	/* Identical work is done once: reuse needs the xtb version results were
	 * made with; without xtb here there is no reuse. */
	char xtb_version[32];
	if (qf_xtb_version(a->xtb, xtb_version, sizeof(xtb_version), &err))
		xtb_version[0] = '\0';
	char name[QF_MAX_NAME], source[QF_MAX_PATH];
	qf_strlcpy(name, a->name ? a->name : base_name(a->target), sizeof(name));
	if (!realpath(a->target, source))
		qf_strlcpy(source, a->target, sizeof(source));
	struct submitter s = {.last_progress = qf_clock_mono()};
	qf_submitter_opts so = {
		.spec = &a->spec,
		.name = name,
		.source = source,
		.priority = a->priority,
		.max_attempts = a->max_attempts,
		.force = a->force,
		.xtb_version = xtb_version[0] ? xtb_version : NULL,
		.embed = &a->embed,
		.keep_conformers = a->keep_conformers,
		.on_embed = print_embed,
		.embed_ctx = &s,
	};
	qf_actor actor = qf_actor_local();
	rc = qf_submitter_new(&s.sub, store, &actor, &so, &err);
	if (rc) {
		qf_store_close(store);
		return cli_fail(&err);
	}
	qf_submitter_on_reject(s.sub, print_reject, &s);
	rc = S_ISDIR(st.st_mode) ? submit_dir(&s, a->target, a->format)
	                         : submit_file(&s, a->target, a->format);
	if (!rc && qf_submitter_finish(s.sub, &err))
		rc = cli_fail(&err);
	size_t queued = qf_submitter_queued(s.sub), reused = qf_submitter_reused(s.sub);
	size_t unreadable = s.unreadable + qf_submitter_rejected(s.sub);
	char batch_id[QF_UUID_STR];
	qf_strlcpy(batch_id, qf_submitter_batch(s.sub), sizeof(batch_id));
	qf_submitter_free(s.sub);
	qf_store_close(store);
	if (rc)
		return rc;
	if (queued == 0) {
		qf_err_set(&err, QF_CAT_VALIDATION, "input.empty",
		           "no molecule of %s could be queued%s: no batch was created", a->target,
		           unreadable ? " (see above)" : "");
		return cli_fail(&err);
	}
	if (a->json) {
		json_t *doc = json_pack("{s:s,s:s,s:I,s:I,s:I}", "batch_id", batch_id, "name", name,
		                        "submitted", (json_int_t)queued, "reused", (json_int_t)reused,
		                        "unreadable", (json_int_t)unreadable);
		print_json(doc);
		json_decref(doc);
	} else {
		printf("%s\n", batch_id);
	}
	fprintf(stderr, "qforge: batch %s '%s': %zu calculation(s) queued", batch_id, name, queued);
	if (reused)
		fprintf(stderr, ", %zu of them already done (identical stored results reused)", reused);
	if (unreadable)
		fprintf(stderr, "; %zu record(s) could not be read or were refused (see above)",
		        unreadable);
	fprintf(stderr, "\n");
	return 0;
}

/* ---- status ------------------------------------------------------------------ */

static json_int_t count_of(const json_t *doc, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(doc, "counts"), key));
}

static double num(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* "convergence 2, timeout 1" into out. */
static void failures_text(const json_t *doc, char *out, size_t size)
{
	out[0] = '\0';
	const json_t *by = json_object_get(json_object_get(doc, "failures"), "by_category");
	const char *k;
	json_t *v;
	size_t used = 0;
	json_object_foreach((json_t *)by, k, v) {
		int n = snprintf(out + used, size - used, "%s%s %lld", used ? ", " : "", k,
		                 (long long)json_integer_value(v));
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}

static void print_status(const json_t *doc)
{
	const json_t *b = json_object_get(doc, "batch");
	const json_t *p = json_object_get(doc, "performance");
	printf("batch %s '%s'  %s\n", json_string_value(json_object_get(b, "id")),
	       json_string_value(json_object_get(b, "name")),
	       json_string_value(json_object_get(b, "status")));
	printf("  calculations    %lld: %lld completed, %lld failed, %lld cancelled, %lld running, "
	       "%lld queued\n",
	       (long long)count_of(doc, "total"), (long long)count_of(doc, "completed"),
	       (long long)count_of(doc, "failed"), (long long)count_of(doc, "cancelled"),
	       (long long)count_of(doc, "running"), (long long)count_of(doc, "queued"));
	char fails[512];
	failures_text(doc, fails, sizeof(fails));
	if (fails[0]) {
		printf("  failures        %s\n", fails);
		const json_t *codes = json_object_get(json_object_get(doc, "failures"), "by_code");
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)codes, k, v)
			printf("                    %-28s %lld\n", k, (long long)json_integer_value(v));
	}
	if (json_is_object(p)) {
		const char *start = json_string_value(json_object_get(p, "execution_start_time"));
		const char *end = json_string_value(json_object_get(p, "execution_end_time"));
		if (start)
			printf("  ran             %s .. %s (%.1f s)\n", start, end ? end : "now",
			       num(p, "total_execution_time_seconds"));
		double avg = num(p, "average_job_time_seconds");
		if (!isnan(avg))
			printf("  job time        min %.3f s, average %.3f s, max %.3f s\n",
			       num(p, "min_job_time_seconds"), avg, num(p, "max_job_time_seconds"));
		double mem = num(p, "average_memory_mb"), cpu = num(p, "total_cpu_time_hours");
		if (!isnan(mem))
			printf("  resources       average memory peak %.1f MB, CPU %.4f h\n", mem, cpu);
		double eff = num(p, "parallelization_efficiency");
		if (!isnan(eff))
			printf("  parallelisation efficiency %.2f\n", eff);
	}
}

static int batch_status(struct batch_args *a)
{
	qf_store *s = NULL;
	int rc = open_store(a, &s);
	if (rc)
		return rc;
	qf_actor me = qf_actor_local();
	json_t *doc = NULL;
	qf_err err;
	qf_err_init(&err);
	rc = qf_store_batch_status(s, &me, a->target, &doc, &err);
	qf_store_close(s);
	if (rc)
		return cli_fail(&err);
	if (a->json)
		print_json(doc);
	else
		print_status(doc);
	json_decref(doc);
	return 0;
}

/* ---- wait ---------------------------------------------------------------------- */

static void format_duration(double s, char *out, size_t size)
{
	if (!(s >= 0) || s > 1e7) {
		qf_strlcpy(out, "?", size);
		return;
	}
	long t = lround(s);
	if (t >= 3600)
		snprintf(out, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, size, "%ld:%02ld", t / 60, t % 60);
}

/* The exit status of a finished batch: 0 when everything completed, else
 * that of the category with most failures; when nothing failed but some
 * calculations were cancelled, that of a system error (a worker records a
 * cancellation as system, queue.cancelled): the results are not all there. */
static int batch_exit_status(const json_t *doc)
{
	const json_t *by = json_object_get(json_object_get(doc, "failures"), "by_category");
	const char *k, *worst = NULL;
	json_t *v;
	json_int_t most = 0;
	json_object_foreach((json_t *)by, k, v) {
		if (json_integer_value(v) > most) {
			most = json_integer_value(v);
			worst = k;
		}
	}
	if (worst)
		return qf_err_exit_status(qf_category_parse(worst) ? qf_category_parse(worst) : QF_CAT_UNKNOWN);
	if (count_of(doc, "cancelled") > 0)
		return qf_err_exit_status(QF_CAT_SYSTEM);
	return 0;
}

static int batch_wait(struct batch_args *a)
{
	qf_store *s = NULL;
	int rc = open_store(a, &s);
	if (rc)
		return rc;
	qf_actor me = qf_actor_local();
	bool tty = isatty(STDOUT_FILENO);
	double interval = a->interval > 0 ? a->interval : (tty ? 0.5 : 2.0);
	double t0 = qf_clock_mono();
	json_int_t done0 = -1, last_done = -1;
	double last_line = 0;
	json_t *doc = NULL;
	qf_err err;
	for (;;) {
		qf_err_init(&err);
		json_decref(doc);
		doc = NULL;
		if ((rc = qf_store_batch_status(s, &me, a->target, &doc, &err))) {
			if (err.category == QF_CAT_SYSTEM) {
				/* the store may come back: keep waiting, say so */
				fprintf(stderr, "\nqforge: %s; still waiting\n", err.message);
				usleep((useconds_t)(interval * 4e6));
				continue;
			}
			break;
		}
		json_int_t total = count_of(doc, "total");
		json_int_t done = count_of(doc, "completed") + count_of(doc, "failed") +
		                  count_of(doc, "cancelled");
		double now = qf_clock_mono();
		if (done0 < 0)
			done0 = done;
		double rate = now > t0 + 0.5 ? (double)(done - done0) / (now - t0) : 0;
		char eta[32], fails[256];
		format_duration(rate > 0 ? (double)(total - done) / rate : -1, eta, sizeof(eta));
		failures_text(doc, fails, sizeof(fails));
		bool finished = total > 0 ? done >= total : count_of(doc, "queued") + count_of(doc, "running") == 0;
		if (tty) {
			int width = 30;
			int filled = total > 0 ? (int)((double)done / (double)total * width) : width;
			char bar[64];
			for (int i = 0; i < width; i++)
				bar[i] = i < filled ? '#' : '.';
			bar[width] = '\0';
			printf("\r[%s] %lld/%lld  %.1f/s  ETA %s  failed %lld%s%s%s\033[K", bar, (long long)done,
			       (long long)total, rate, eta, (long long)count_of(doc, "failed"),
			       fails[0] ? " (" : "", fails, fails[0] ? ")" : "");
			fflush(stdout);
		} else if (done != last_done && (now - last_line >= 5 || finished || last_done < 0)) {
			printf("batch %s: %lld/%lld done (%lld completed, %lld failed), %.1f/s, ETA %s%s%s\n",
			       a->target, (long long)done, (long long)total, (long long)count_of(doc, "completed"),
			       (long long)count_of(doc, "failed"), rate, eta, fails[0] ? ", failures: " : "", fails);
			fflush(stdout);
			last_line = now;
			last_done = done;
		}
		if (finished)
			break;
		if (a->wait_timeout > 0 && now - t0 > a->wait_timeout) {
			if (tty)
				printf("\n");
			qf_store_close(s);
			json_decref(doc);
			fprintf(stderr, "qforge: batch %s not finished after %.0f s\n", a->target, a->wait_timeout);
			return qf_err_exit_status(QF_CAT_TIMEOUT);
		}
		usleep((useconds_t)(interval * 1e6));
	}
	qf_store_close(s);
	if (rc) {
		json_decref(doc);
		return cli_fail(&err);
	}
	if (tty)
		printf("\n");
	print_status(doc);
	int status = batch_exit_status(doc);
	json_decref(doc);
	return status;
}

/* ---- cancel, retry --------------------------------------------------------------- */

static int batch_cancel(struct batch_args *a)
{
	qf_store *s = NULL;
	int rc = open_store(a, &s);
	if (rc)
		return rc;
	qf_actor me = qf_actor_local();
	int cancelled = 0, requested = 0;
	qf_err err;
	qf_err_init(&err);
	rc = qf_store_batch_cancel(s, &me, a->target, &cancelled, &requested, &err);
	qf_store_close(s);
	if (rc)
		return cli_fail(&err);
	printf("batch %s: %d queued calculation(s) cancelled, %d running one(s) asked to stop\n",
	       a->target, cancelled, requested);
	return 0;
}

static int batch_retry(struct batch_args *a)
{
	if (!a->failed)
		return cli_usage_error("batch", "'batch retry' needs --failed (the only kind it retries)");
	qf_store *s = NULL;
	int rc = open_store(a, &s);
	if (rc)
		return rc;
	qf_actor me = qf_actor_local();
	int requeued = 0, skipped = 0;
	qf_err err;
	qf_err_init(&err);
	rc = qf_store_batch_retry_failed(s, &me, a->target, a->force, &requeued, &skipped, &err);
	qf_store_close(s);
	if (rc)
		return cli_fail(&err);
	printf("batch %s: %d failed calculation(s) queued again", a->target, requeued);
	if (skipped)
		printf(", %d skipped (validation failures would fail again; --force retries them)", skipped);
	printf("\n");
	return 0;
}

int cmd_batch(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct batch_args *a);
	} subs[] = {
		{"submit", batch_submit}, {"status", batch_status}, {"wait", batch_wait},
		{"cancel", batch_cancel}, {"retry", batch_retry},
	};
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? QF_EXIT_USAGE : 0;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(argv[1], subs[i].name))
			continue;
		struct batch_args a;
		memset(&a, 0, sizeof(a));
		a.sub = subs[i].name;
		qf_spec_init(&a.spec);
		const char *env_xtb = getenv("QF_XTB");
		a.xtb = env_xtb && *env_xtb ? env_xtb : NULL;
		int rc = parse_args(argc, argv, &a);
		if (rc)
			return rc == 1 ? 0 : rc;
		return subs[i].run(&a);
	}
	return cli_usage_error("batch", "unknown subcommand '%s': submit, status, wait, cancel or retry",
	                       argv[1]);
}
