/*
 * Slurm: the sbatch script for a job array of workers, its submission, the
 * array's status and its cancellation. See include/qf/slurm.h; the README's
 * "Slurm" section shows the script.
 *
 * The Slurm programs (sbatch, squeue, sacct, scancel) run as subprocesses:
 * argv arrays (never a shell), a time limit each, output captured with a cap
 * (qf_proc_run). They find the cluster as they always do (SLURM_CONF or
 * /etc/slurm); nothing here reads Slurm's configuration.
 */
#include "qf/slurm.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qf/buf.h"
#include "qf/clock.h"
#include "qf/fs.h"
#include "qf/limits.h"
#include "qf/log.h"
#include "qf/proc.h"
#include "qf/str.h"
#include "qf/uuid.h"

#define MODULE "slurm"

/* The comment every array of ours carries ("qforge" or "qforge:batch=ID"):
 * how status and cancel find them in squeue. */
#define COMMENT_TAG "qforge"
#define COMMENT_BATCH "qforge:batch="

static int opt_err(qf_err *err, const char *fmt, const char *what)
{
	return qf_err_set(err, QF_CAT_VALIDATION, "slurm.option", fmt, what);
}

static int oom(qf_err *err)
{
	return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
}

/* ---- where a worker runs ------------------------------------------------------- */

/* A decimal number of at most 10 digits (Slurm ids are 32-bit). */
static bool parse_id(const char *s, int64_t *out)
{
	if (!s || !*s || strlen(s) > 10)
		return false;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	*out = strtoll(s, NULL, 10);
	return *out <= UINT32_MAX;
}

void qf_slurm_placement_from_env(qf_job_placement *p)
{
	memset(p, 0, sizeof(*p));
	p->slurm_array_task_id = -1;
	const char *array = getenv("SLURM_ARRAY_JOB_ID"), *job = getenv("SLURM_JOB_ID");
	int64_t id = 0, task = 0;
	if (!parse_id(array && *array ? array : job, &id) || id <= 0)
		return;
	p->slurm_job_id = id;
	if (array && *array && parse_id(getenv("SLURM_ARRAY_TASK_ID"), &task) && task <= INT32_MAX)
		p->slurm_array_task_id = (int)task;
	const char *node = getenv("SLURMD_NODENAME");
	if (node)
		qf_strlcpy(p->node, node, sizeof(p->node));
}

int qf_slurm_worker_prefix(const char *job_id, char *out, size_t size, qf_err *err)
{
	char buf[32];
	int64_t a = 0, t = 0;
	if (job_id && strlen(job_id) < sizeof(buf)) {
		qf_strlcpy(buf, job_id, sizeof(buf));
		char *us = strchr(buf, '_');
		if (us)
			*us = '\0';
		if (parse_id(buf, &a) && (!us || parse_id(us + 1, &t)) &&
		    !(us ? qf_snprintf(out, size, "slurm:%" PRId64 "_%" PRId64 "@", a, t)
		         : qf_snprintf(out, size, "slurm:%" PRId64 "_", a)))
			return 0;
	}
	return qf_err_set(err, QF_CAT_VALIDATION, "slurm.job_id",
	                  "'%s' is not a Slurm job id: give an array's id (1234) or one of its tasks "
	                  "(1234_5)", job_id ? job_id : "");
}

/* ---- what sbatch accepts --------------------------------------------------------- */

/* Split s at seps into at most max numeric fields; false when a field is
 * empty or not digits. */
static int number_fields(const char *s, char sep, long *v, int max)
{
	int n = 0;
	const char *p = s;
	for (;;) {
		if (n == max || !isdigit((unsigned char)*p))
			return -1;
		long x = 0;
		while (isdigit((unsigned char)*p)) {
			if (x > 100000000)
				return -1;
			x = x * 10 + (*p++ - '0');
		}
		v[n++] = x;
		if (!*p)
			return n;
		if (*p != sep)
			return -1;
		p++;
	}
}

bool qf_slurm_time_parse(const char *s, long *seconds)
{
	if (!s || !*s || strlen(s) > 32)
		return false;
	if (qf_streq_ci(s, "UNLIMITED") || qf_streq_ci(s, "INFINITE")) {
		*seconds = -1;
		return true;
	}
	long days = 0, f[3] = {0};
	const char *rest = s;
	const char *dash = strchr(s, '-');
	if (dash) {
		long d[1];
		char head[16];
		size_t len = (size_t)(dash - s);
		if (len == 0 || len >= sizeof(head))
			return false;
		memcpy(head, s, len);
		head[len] = '\0';
		if (number_fields(head, ':', d, 1) != 1)
			return false;
		days = d[0];
		rest = dash + 1;
	}
	int n = number_fields(rest, ':', f, 3);
	long t;
	if (dash) {
		/* D-H, D-H:M, D-H:M:S */
		if (n < 1)
			return false;
		t = days * 86400 + f[0] * 3600 + (n > 1 ? f[1] * 60 : 0) + (n > 2 ? f[2] : 0);
	} else if (n == 1) {
		t = f[0] * 60; /* minutes */
	} else if (n == 2) {
		t = f[0] * 60 + f[1]; /* minutes:seconds */
	} else if (n == 3) {
		t = f[0] * 3600 + f[1] * 60 + f[2];
	} else {
		return false;
	}
	*seconds = t > 0 ? t : -1; /* Slurm: a limit of 0 is no limit */
	return true;
}

bool qf_slurm_mem_valid(const char *s)
{
	if (!s || !*s || strlen(s) > 16)
		return false;
	const char *p = s;
	while (isdigit((unsigned char)*p))
		p++;
	if (p == s)
		return false;
	if (!*p)
		return true;
	return strchr("KkMmGgTt", *p) && !p[1];
}

bool qf_slurm_name_valid(const char *s, bool list)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > QF_SLURM_MAX_NAME)
		return false;
	for (const char *p = s; *p; p++) {
		if (isalnum((unsigned char)*p) || strchr("._+-", *p))
			continue;
		if (list && *p == ',' && p != s && p[1] && p[1] != ',')
			continue;
		return false;
	}
	return true;
}

/* An extra #SBATCH argument: one option (it starts with '-'), printable
 * ASCII without blanks, quotes, backslashes or '#' (sbatch reads #SBATCH
 * lines with rules of its own; these need none of them). Options that would
 * undo what the script relies on are refused. */
static int check_sbatch_arg(const char *a, qf_err *err)
{
	size_t n = strlen(a);
	if (n < 2 || n > QF_SLURM_MAX_ARG_BYTES || a[0] != '-')
		return opt_err(err, "--sbatch-arg '%s' must be one sbatch option, such as --qos=high", a);
	for (const char *p = a; *p; p++)
		if (*p <= ' ' || *p > '~' || strchr("\"'\\#`$", *p))
			return opt_err(err,
			               "--sbatch-arg '%s': an option without blanks, quotes, backslashes, "
			               "'#', '$' or '`' (write --opt=value)", a);
	static const char *const refused[] = {"--array", "--signal", "--wrap", "--parsable",
	                                      "--test-only"};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		size_t k = strlen(refused[i]);
		if (!strncmp(a, refused[i], k) && (a[k] == '\0' || a[k] == '='))
			return opt_err(err, "--sbatch-arg '%s': qforge sets this itself (see --workers, "
			               "--drain-seconds)", a);
	}
	if (a[1] == 'a' || (a[1] == 's' && a[2] == '\0'))
		return opt_err(err, "--sbatch-arg '%s': qforge sets the array and the signal itself", a);
	return 0;
}

/* ---- options ------------------------------------------------------------------------ */

void qf_slurm_submit_opts_init(qf_slurm_submit_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->workers = 1;
	o->cpus_per_worker = 1;
	o->threads_per_job = 1;
	o->drain_seconds = QF_SLURM_DRAIN_S;
	o->job_name = "qforge-worker";
	o->jobs_root = "var/jobs";
	o->output_dir = "qforge-slurm";
}

int qf_slurm_submit_check(const qf_slurm_submit_opts *o, qf_err *err)
{
	if (o->workers < 1 || o->workers > QF_SLURM_MAX_WORKERS)
		return qf_err_set(err, QF_CAT_VALIDATION, "slurm.option",
		                  "--workers must be from 1 to %d", QF_SLURM_MAX_WORKERS);
	if (o->cpus_per_worker < 1 || o->cpus_per_worker > QF_SLURM_MAX_CPUS)
		return qf_err_set(err, QF_CAT_VALIDATION, "slurm.option",
		                  "--cpus-per-worker must be from 1 to %d", QF_SLURM_MAX_CPUS);
	if (o->threads_per_job < 1 || o->threads_per_job > QF_MAX_THREADS ||
	    o->cpus_per_worker % o->threads_per_job)
		return qf_err_set(err, QF_CAT_VALIDATION, "slurm.option",
		                  "--threads-per-job must divide --cpus-per-worker (%d) and be at most %d",
		                  o->cpus_per_worker, QF_MAX_THREADS);
	if (o->partition && !qf_slurm_name_valid(o->partition, true))
		return opt_err(err, "--partition '%s': 1 to 64 of A-Z a-z 0-9 . _ + - (a list: "
		               "commas between)", o->partition);
	if (o->account && !qf_slurm_name_valid(o->account, false))
		return opt_err(err, "--account '%s': 1 to 64 of A-Z a-z 0-9 . _ + -", o->account);
	if (!o->job_name || !qf_slurm_name_valid(o->job_name, false))
		return opt_err(err, "--job-name '%s': 1 to 64 of A-Z a-z 0-9 . _ + -",
		               o->job_name ? o->job_name : "");
	if (o->mem && !qf_slurm_mem_valid(o->mem))
		return opt_err(err, "--mem '%s': a number of MiB, or with K, M, G or T (4G)", o->mem);
	long limit = -1;
	if (o->time_limit && !qf_slurm_time_parse(o->time_limit, &limit))
		return opt_err(err,
		               "--time '%s': one of Slurm's forms: MINUTES, MM:SS, HH:MM:SS, D-HH, "
		               "D-HH:MM, D-HH:MM:SS, UNLIMITED", o->time_limit);
	if (o->drain_seconds < 10 || o->drain_seconds > 65535)
		return qf_err_set(err, QF_CAT_VALIDATION, "slurm.option",
		                  "--drain-seconds must be from 10 to 65535 (Slurm's --signal)");
	if (limit > 0 && o->drain_seconds >= limit)
		return qf_err_set(err, QF_CAT_VALIDATION, "slurm.option",
		                  "--drain-seconds %d is not shorter than --time %s (%ld s): the workers "
		                  "would drain as soon as they start",
		                  o->drain_seconds, o->time_limit, limit);
	if (o->batch_id && !qf_uuid_valid(o->batch_id))
		return opt_err(err, "--batch '%s' is not a batch id (a UUID)", o->batch_id);
	if (!o->jobs_root || !*o->jobs_root || !o->output_dir || !*o->output_dir)
		return opt_err(err, "%s", "--jobs-root and --output-dir need a directory");
	if (o->nsbatch_args > QF_SLURM_MAX_EXTRA_ARGS || o->nworker_args > QF_SLURM_MAX_EXTRA_ARGS)
		return qf_err_set(err, QF_CAT_VALIDATION, "slurm.option",
		                  "at most %d --sbatch-arg and %d --worker-arg", QF_SLURM_MAX_EXTRA_ARGS,
		                  QF_SLURM_MAX_EXTRA_ARGS);
	int rc;
	for (int i = 0; i < o->nsbatch_args; i++)
		if ((rc = check_sbatch_arg(o->sbatch_args[i], err)))
			return rc;
	for (int i = 0; i < o->nworker_args; i++) {
		const char *a = o->worker_args[i];
		size_t n = strlen(a);
		if (n > QF_SLURM_MAX_ARG_BYTES || strchr(a, '\n') || strchr(a, '\r'))
			return opt_err(err, "--worker-arg '%s': one line of at most 1024 bytes", a);
	}
	return 0;
}

/* ---- paths ---------------------------------------------------------------------------- */

/* path made absolute against the working directory (heap). */
static char *absolute(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char cwd[QF_MAX_PATH];
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	qf_buf b;
	qf_buf_init(&b, QF_MAX_PATH);
	const char *p = path;
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	if (qf_buf_printf(&b, "%s/%s", strcmp(cwd, "/") ? cwd : "", !strcmp(p, ".") ? "" : p)) {
		qf_buf_release(&b);
		return NULL;
	}
	char *s = qf_buf_detach(&b, NULL);
	size_t n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

static int default_passfile(char *out, size_t size, qf_err *err)
{
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home || !*home || qf_snprintf(out, size, "%s/.qforge/pgpass", home))
		return opt_err(err, "%s", "no home directory for the password file: give --passfile");
	return 0;
}

/* ---- the store URL ---------------------------------------------------------------------- */

static int url_put(qf_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
		if (isalnum(*p) || strchr("-._~", *p))
			rc = qf_buf_append(b, p, 1);
		else
			rc = qf_buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	}
	return rc;
}

/* A host that fits in the URL's authority: one name or IPv4 address (an
 * IPv6 address goes in brackets); lists and socket directories go in the
 * query instead. */
static bool plain_host(const char *h)
{
	if (!h || !*h || h[0] == '/' || strchr(h, ',') || strchr(h, '@') || strchr(h, '['))
		return false;
	for (const char *p = h; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-_:", *p))
			return false;
	return true;
}

static bool plain_port(const char *p)
{
	if (!p || !*p || strlen(p) > 5)
		return false;
	for (; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

static const char *opt_val(const PQconninfoOption *opts, const char *key)
{
	for (const PQconninfoOption *o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, key))
			return o->val && *o->val ? o->val : NULL;
	return NULL;
}

static int parse_pg_url(const char *url, PQconninfoOption **opts, qf_err *err)
{
	char *msg = NULL;
	*opts = PQconninfoParse(url, &msg);
	if (!*opts) {
		char m[256];
		qf_strlcpy(m, msg ? msg : "out of memory", sizeof(m));
		qf_rstrip(m);
		PQfreemem(msg);
		/* the message never repeats the URL (it may hold a password) */
		return qf_err_set(err, QF_CAT_VALIDATION, "store.url", "the store URL is malformed: %s", m);
	}
	return 0;
}

int qf_slurm_worker_store(const char *url, const char *passfile, char **worker_url,
                          char **password, qf_err *err)
{
	*worker_url = NULL;
	*password = NULL;
	if (!url || !*url)
		url = qf_store_default_url();
	if (!strncmp(url, "sqlite:", 7)) {
		if (!url[7])
			return qf_err_set(err, QF_CAT_VALIDATION, "store.url", "store URL '%s' names no file", url);
		char *path = absolute(url + 7);
		if (!path)
			return oom(err);
		qf_buf b;
		qf_buf_init(&b, QF_MAX_PATH + 16);
		int rc = qf_buf_printf(&b, "sqlite:%s", path);
		free(path);
		if (rc) {
			qf_buf_release(&b);
			return qf_err_set(err, QF_CAT_VALIDATION, "store.url", "store path too long");
		}
		*worker_url = qf_buf_detach(&b, NULL);
		return 0;
	}
	if (strncmp(url, "postgresql://", 13) && strncmp(url, "postgres://", 11))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.url",
		                  "unknown store URL: use sqlite:PATH or postgresql://USER@HOST/DB");
	PQconninfoOption *opts;
	int rc = parse_pg_url(url, &opts, err);
	if (rc)
		return rc;
	const char *pw = opt_val(opts, "password");
	const char *env_pw = getenv("PGPASSWORD");
	if (!pw && env_pw && *env_pw)
		pw = env_pw;
	const char *host = opt_val(opts, "host"), *port = opt_val(opts, "port");
	const char *user = opt_val(opts, "user"), *db = opt_val(opts, "dbname");
	for (const char *p = port; p && *p; p++)
		if (!isdigit((unsigned char)*p) && *p != ',') {
			PQconninfoFree(opts);
			return qf_err_set(err, QF_CAT_VALIDATION, "store.url",
			                  "the store URL's port must be a number");
		}
	bool authority = (!host || plain_host(host)) && (!port || plain_port(port));
	qf_buf b;
	qf_buf_init(&b, 8192);
	rc = qf_buf_puts(&b, "postgresql://");
	if (authority) {
		if (user && !rc && !(rc = url_put(&b, user)))
			rc = qf_buf_puts(&b, "@");
		if (host && !rc)
			rc = strchr(host, ':') ? qf_buf_printf(&b, "[%s]", host) : qf_buf_puts(&b, host);
		if (port && !rc)
			rc = qf_buf_printf(&b, ":%s", port);
	}
	if (!rc)
		rc = qf_buf_puts(&b, "/");
	if (db && !rc)
		rc = url_put(&b, db);
	/* everything else the URL said, as query parameters */
	char sep = '?';
	for (const PQconninfoOption *o = opts; o->keyword && !rc; o++) {
		if (!o->val || !*o->val || !strcmp(o->keyword, "password") || !strcmp(o->keyword, "dbname") ||
		    (authority && (!strcmp(o->keyword, "user") || !strcmp(o->keyword, "host") ||
		                   !strcmp(o->keyword, "port"))) ||
		    (pw && !strcmp(o->keyword, "passfile")))
			continue;
		if (!(rc = qf_buf_printf(&b, "%c%s=", sep, o->keyword)))
			rc = url_put(&b, o->val);
		sep = '&';
	}
	char pf[QF_MAX_PATH];
	if (pw && !rc) {
		if (passfile && *passfile) {
			char *abs = absolute(passfile);
			if (!abs || qf_strlcpy(pf, abs, sizeof(pf)) >= sizeof(pf))
				rc = QF_EINVAL;
			free(abs);
		} else if ((rc = default_passfile(pf, sizeof(pf), err))) {
			qf_buf_release(&b);
			PQconninfoFree(opts);
			return rc;
		}
		if (!rc && !(rc = qf_buf_printf(&b, "%cpassfile=", sep)))
			rc = url_put(&b, pf);
	}
	if (!rc && pw && !(*password = strdup(pw)))
		rc = QF_ENOMEM;
	PQconninfoFree(opts);
	if (rc) {
		qf_buf_release(&b);
		free(*password);
		*password = NULL;
		return qf_err_set(err, QF_CAT_VALIDATION, "store.url", "the store URL is too long");
	}
	*worker_url = qf_buf_detach(&b, NULL);
	return 0;
}

/* ---- the password file ------------------------------------------------------------------- */

/* One field of a libpq password file line: ':' and '\' escaped; '*' when
 * the connection does not pin it down (no value, a list of hosts, a socket
 * directory), which matches anything. */
static int pass_field(qf_buf *b, const char *v, bool wildcard)
{
	if (wildcard || !v || !*v)
		return qf_buf_puts(b, "*:");
	int rc = 0;
	for (const char *p = v; *p && !rc; p++)
		rc = (*p == ':' || *p == '\\') ? qf_buf_printf(b, "\\%c", *p) : qf_buf_append(b, p, 1);
	return rc ? rc : qf_buf_puts(b, ":");
}

/* Write data to path atomically, readable by its owner only from the first
 * byte (a temporary file created 0600 and exclusive, then renamed). */
static int write_private(const char *path, const char *data, size_t len, qf_err *err)
{
	char tmp[QF_MAX_PATH];
	if (qf_snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()))
		return qf_err_set(err, QF_CAT_SYSTEM, "system.path", "path too long: %s", path);
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "could not create %s: %s", tmp,
		                  strerror(errno));
	size_t off = 0;
	int e = 0;
	while (off < len) {
		ssize_t k = write(fd, data + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			e = errno ? errno : EIO;
			break;
		}
		off += (size_t)k;
	}
	if (!e && fsync(fd))
		e = errno;
	if (close(fd) && !e)
		e = errno;
	if (!e && rename(tmp, path))
		e = errno;
	if (e) {
		unlink(tmp);
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "could not write %s: %s", path, strerror(e));
	}
	return 0;
}

int qf_slurm_passfile_put(const char *path, const char *url, const char *password, qf_err *err)
{
	if (!password || strchr(password, '\n') || strchr(password, '\r'))
		return qf_err_set(err, QF_CAT_VALIDATION, "store.url",
		                  "the store password cannot go into a password file (it has a line break)");
	PQconninfoOption *opts;
	int rc = parse_pg_url(url, &opts, err);
	if (rc)
		return rc;
	const char *host = opt_val(opts, "host"), *port = opt_val(opts, "port");
	qf_buf line;
	qf_buf_init(&line, 8192);
	rc = pass_field(&line, host, !host || host[0] == '/' || strchr(host, ','));
	if (!rc)
		rc = pass_field(&line, port, port && strchr(port, ','));
	if (!rc)
		rc = pass_field(&line, opt_val(opts, "dbname"), false);
	if (!rc)
		rc = pass_field(&line, opt_val(opts, "user"), false);
	PQconninfoFree(opts);
	size_t key_len = line.len; /* "host:port:db:user:" names the line */
	if (!rc) {
		for (const char *p = password; *p && !rc; p++)
			rc = (*p == ':' || *p == '\\') ? qf_buf_printf(&line, "\\%c", *p)
			                               : qf_buf_append(&line, p, 1);
	}
	if (!rc)
		rc = qf_buf_puts(&line, "\n");
	if (rc) {
		qf_buf_release(&line);
		return qf_err_set(err, QF_CAT_VALIDATION, "store.url", "the store URL is too long");
	}

	/* the directory: the user's alone when we make it */
	char dir[QF_MAX_PATH];
	qf_strlcpy(dir, path, sizeof(dir));
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if ((rc = qf_fs_mkdir_p(dir, true, err))) {
			qf_buf_release(&line);
			return rc;
		}
	}
	/* the lines already there, but the one for this connection */
	qf_buf out;
	qf_buf_init(&out, QF_SLURM_MAX_PASSFILE_BYTES);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077)) {
			qf_buf_release(&line);
			qf_buf_release(&out);
			return qf_err_set(err, QF_CAT_VALIDATION, "slurm.passfile",
			                  "password file %s must be a regular file of yours that nobody else "
			                  "may read (chmod 600 it), or give --passfile", path);
		}
		char *text = NULL;
		size_t len = 0;
		if ((rc = qf_fs_read(path, QF_SLURM_MAX_PASSFILE_BYTES, &text, &len, err))) {
			qf_buf_release(&line);
			qf_buf_release(&out);
			return rc;
		}
		for (char *p = text; p < text + len && !rc;) {
			char *eol = memchr(p, '\n', (size_t)(text + len - p));
			size_t n = eol ? (size_t)(eol - p) : (size_t)(text + len - p);
			bool same = n >= key_len && !memcmp(p, qf_buf_str(&line), key_len);
			if (!same && n > 0) {
				rc = qf_buf_append(&out, p, n);
				if (!rc)
					rc = qf_buf_puts(&out, "\n");
			}
			p += n + 1;
		}
		if (text)
			memset(text, 0, len);
		free(text);
	} else if (errno != ENOENT) {
		qf_buf_release(&line);
		qf_buf_release(&out);
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "could not read %s: %s", path,
		                  strerror(errno));
	}
	if (!rc)
		rc = qf_buf_append(&out, qf_buf_str(&line), line.len);
	if (line.data)
		memset(line.data, 0, line.len);
	qf_buf_release(&line);
	if (rc) {
		qf_buf_release(&out);
		return qf_err_set(err, QF_CAT_VALIDATION, "slurm.passfile", "password file %s is too large",
		                  path);
	}
	rc = write_private(path, qf_buf_str(&out), out.len, err);
	if (out.data)
		memset(out.data, 0, out.len);
	qf_buf_release(&out);
	return rc;
}

/* ---- the script ---------------------------------------------------------------------------- */

/* s in single quotes for the shell ('\'' for each quote inside). */
static int shq(qf_buf *b, const char *s)
{
	int rc = qf_buf_puts(b, "'");
	for (const char *p = s; *p && !rc; p++)
		rc = *p == '\'' ? qf_buf_puts(b, "'\\''") : qf_buf_append(b, p, 1);
	return rc ? rc : qf_buf_puts(b, "'");
}

int qf_slurm_script(const qf_slurm_submit_opts *o, const char *worker_url, char **out,
                    qf_err *err)
{
	*out = NULL;
	int rc = qf_slurm_submit_check(o, err);
	if (rc)
		return rc;
	char self[QF_MAX_PATH];
	char *qforge = o->qforge ? absolute(o->qforge) : (qf_fs_self_path(self, sizeof(self)) ? NULL : strdup(self));
	bool local = !strcmp(o->jobs_root, "local");
	char *jobs = local ? NULL : absolute(o->jobs_root);
	char *outdir = absolute(o->output_dir);
	if (!qforge || (!local && !jobs) || !outdir) {
		free(qforge);
		free(jobs);
		free(outdir);
		return qf_err_set(err, QF_CAT_SYSTEM, "system.path",
		                  "could not make the program, jobs root or output directory absolute");
	}
	/* the log path goes unquoted into #SBATCH: refuse what would need quotes */
	for (const char *p = outdir; *p; p++)
		if (*p <= ' ' || strchr("\"'\\#%", *p)) {
			rc = opt_err(err, "--output-dir '%s': a path without blanks, quotes, '#' or '%%'",
			             outdir);
			goto out;
		}
	int concurrency = o->cpus_per_worker / o->threads_per_job;
	int hard_after = o->drain_seconds - (o->drain_seconds / 2 < 30 ? o->drain_seconds / 2 : 30);
	char when[QF_TIME_STR];
	qf_clock_format(qf_clock_now(), when);

	qf_buf b;
	qf_buf_init(&b, QF_SLURM_MAX_SCRIPT_BYTES);
	rc = qf_buf_printf(&b,
		"#!/bin/bash\n"
		"# Quantum Forge workers as a Slurm job array, written by\n"
		"# `qforge slurm submit` (qforge %s, %s).\n"
		"# Each task runs one `qforge worker --exit-when-idle`: it claims\n"
		"# calculations from the store until none is left. The queue in the store\n"
		"# decides what runs; Slurm decides where and when.\n",
		QF_VERSION, when);
	rc = rc ? rc : qf_buf_printf(&b, "#SBATCH --job-name=%s\n", o->job_name);
	rc = rc ? rc : qf_buf_printf(&b, "#SBATCH --array=0-%d\n", o->workers - 1);
	rc = rc ? rc : qf_buf_puts(&b, "#SBATCH --nodes=1\n#SBATCH --ntasks=1\n");
	rc = rc ? rc : qf_buf_printf(&b, "#SBATCH --cpus-per-task=%d\n", o->cpus_per_worker);
	if (o->time_limit && !rc)
		rc = qf_buf_printf(&b, "#SBATCH --time=%s\n", o->time_limit);
	if (o->mem && !rc)
		rc = qf_buf_printf(&b, "#SBATCH --mem=%s\n", o->mem);
	if (o->partition && !rc)
		rc = qf_buf_printf(&b, "#SBATCH --partition=%s\n", o->partition);
	if (o->account && !rc)
		rc = qf_buf_printf(&b, "#SBATCH --account=%s\n", o->account);
	rc = rc ? rc : qf_buf_printf(&b, "#SBATCH --signal=B:TERM@%d\n", o->drain_seconds);
	rc = rc ? rc : qf_buf_printf(&b, "#SBATCH --output=%s/%%A_%%a.log\n", outdir);
	if (!rc)
		rc = o->batch_id ? qf_buf_printf(&b, "#SBATCH --comment=" COMMENT_BATCH "%s\n", o->batch_id)
		                 : qf_buf_puts(&b, "#SBATCH --comment=" COMMENT_TAG "\n");
	for (int i = 0; i < o->nsbatch_args && !rc; i++)
		rc = qf_buf_printf(&b, "#SBATCH %s\n", o->sbatch_args[i]);

	rc = rc ? rc : qf_buf_puts(&b,
		"\n# The store, without its password: that is in the password file the URL\n"
		"# names (readable by its owner only), or PGPASSFILE, ~/.pgpass or\n"
		"# PGSERVICEFILE provide it.\n"
		"export QF_STORE=");
	rc = rc ? rc : shq(&b, worker_url);
	rc = rc ? rc : qf_buf_printf(&b,
		"\n# %d calculation(s) at once, %d thread(s) each.\n"
		"export OMP_NUM_THREADS=%d OPENBLAS_NUM_THREADS=%d\n",
		concurrency, o->threads_per_job, o->threads_per_job, o->threads_per_job);
	if (local)
		rc = rc ? rc : qf_buf_puts(&b,
			"# Job directories on the node's own scratch (they stay there; the results\n"
			"# reach the store).\n"
			"jobs_root=\"${SLURM_TMPDIR:-${TMPDIR:-/tmp}}/qforge-jobs\"\n");
	else {
		rc = rc ? rc : qf_buf_puts(&b, "# Job directories.\njobs_root=");
		rc = rc ? rc : shq(&b, jobs);
		rc = rc ? rc : qf_buf_puts(&b, "\n");
	}
	rc = rc ? rc : qf_buf_puts(&b,
		"# The worker's name in the store: its Slurm job, array task and node.\n"
		"name=\"slurm:${SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}_${SLURM_ARRAY_TASK_ID:-0}"
		"@${SLURMD_NODENAME:-$(hostname -s)}:$$\"\n\n");
	rc = rc ? rc : shq(&b, qforge);
	rc = rc ? rc : qf_buf_printf(&b,
		" worker --exit-when-idle --store \"$QF_STORE\" --concurrency %d \\\n"
		"\t--jobs-root \"$jobs_root\" --name \"$name\"", concurrency);
	for (int i = 0; i < o->nworker_args && !rc; i++) {
		rc = qf_buf_puts(&b, " ");
		rc = rc ? rc : shq(&b, o->worker_args[i]);
	}
	rc = rc ? rc : qf_buf_printf(&b,
		" &\n"
		"worker=$!\n"
		"\n"
		"# Slurm sends SIGTERM to this shell %d s before the time limit (--signal\n"
		"# above): the worker drains (it claims nothing more; what runs finishes and\n"
		"# is committed). %d s later, before the limit, a second SIGTERM stops it:\n"
		"# what still runs goes back to the queue, its attempt not counted, for\n"
		"# another worker. scancel and the time limit itself signal every process\n"
		"# of the job: the worker then stops at once the same way. A worker killed\n"
		"# before it could give its jobs back (SIGKILL, KillWait after the SIGTERM)\n"
		"# leaves them to the lease sweep of the workers that remain.\n"
		"stopper=\n"
		"drain() {\n"
		"\tkill -TERM \"$worker\" 2>/dev/null\n"
		"\tif [ -z \"$stopper\" ]; then\n"
		"\t\t{ sleep %d; kill -TERM \"$worker\" 2>/dev/null; } &\n"
		"\t\tstopper=$!\n"
		"\tfi\n"
		"}\n"
		"trap drain TERM\n"
		"while :; do\n"
		"\twait \"$worker\"\n"
		"\tstatus=$?\n"
		"\t# a status above 128 with the worker still there: the trap interrupted wait\n"
		"\tkill -0 \"$worker\" 2>/dev/null || break\n"
		"done\n"
		"if [ \"$status\" -gt 128 ]; then\n"
		"\twait \"$worker\" 2>/dev/null\n"
		"\ts=$?\n"
		"\t[ \"$s\" -ne 127 ] && status=$s\n"
		"fi\n"
		"[ -n \"$stopper\" ] && kill \"$stopper\" 2>/dev/null\n"
		"exit \"$status\"\n",
		o->drain_seconds, hard_after, hard_after);
	if (rc) {
		qf_buf_release(&b);
		rc = qf_err_set(err, QF_CAT_VALIDATION, "slurm.option",
		                "the script would be larger than %ld bytes", QF_SLURM_MAX_SCRIPT_BYTES);
		goto out;
	}
	*out = qf_buf_detach(&b, NULL);
out:
	free(qforge);
	free(jobs);
	free(outdir);
	return rc;
}

/* ---- running the Slurm programs ------------------------------------------------------------ */

typedef struct tool_out {
	int exit_code;   /* -1: ended by a signal or the time limit */
	char *out, *err; /* heap, NUL-terminated (may be "") */
} tool_out;

static void tool_out_release(tool_out *t)
{
	free(t->out);
	free(t->err);
	memset(t, 0, sizeof(*t));
}

/* Run a Slurm program, its output captured into a private scratch
 * directory. unset: variables its environment goes without (NULL). A
 * program that is not installed is system / slurm.not_found. */
static int run_tool(const char *const *argv, const char *const *unset, tool_out *t, qf_err *err)
{
	memset(t, 0, sizeof(*t));
	char dir[] = "/tmp/qforge-slurm-tool.XXXXXX";
	if (!mkdtemp(dir))
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "could not create a scratch directory: %s",
		                  strerror(errno));
	char out[sizeof(dir) + 8], errp[sizeof(dir) + 8];
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(errp, sizeof(errp), "%s/err", dir);
	qf_proc_opts po = {.argv = argv, .unset = unset, .stdout_path = out, .stderr_path = errp,
	                   .capture_cap = QF_SLURM_MAX_OUTPUT_BYTES, .timeout = QF_SLURM_TOOL_TIMEOUT_S,
	                   .kill_grace = -1};
	qf_proc_result r;
	int rc = qf_proc_run(&po, &r, err);
	if (rc) {
		if (!strcmp(err->code, "proc.not_found"))
			rc = qf_err_set(err, QF_CAT_SYSTEM, "slurm.not_found",
			                "%s not found: Slurm's client programs are needed (Debian: slurm-client)",
			                argv[0]);
	} else {
		size_t len;
		qf_err e2;
		qf_err_init(&e2);
		if (qf_fs_read(out, QF_SLURM_MAX_OUTPUT_BYTES + 1, &t->out, &len, &e2))
			t->out = strdup("");
		if (qf_fs_read(errp, QF_SLURM_MAX_OUTPUT_BYTES + 1, &t->err, &len, &e2))
			t->err = strdup("");
		t->exit_code = r.timed_out ? -1 : r.exit_code;
		if (!t->out || !t->err) {
			tool_out_release(t);
			rc = oom(err);
		} else if (r.timed_out) {
			rc = qf_err_set(err, QF_CAT_SYSTEM, "slurm.timeout", "%s did not answer within %.0f s",
			                argv[0], QF_SLURM_TOOL_TIMEOUT_S);
			tool_out_release(t);
		}
	}
	unlink(out);
	unlink(errp);
	rmdir(dir);
	return rc;
}

/* The first line of a program's error output, for a message. */
static void first_line(const char *text, char *out, size_t size)
{
	const char *p = qf_lskip(text ? text : "");
	size_t n = strcspn(p, "\n");
	if (n >= size)
		n = size - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	qf_rstrip(out);
}

/* Slurm could not be reached (as opposed to: it refused the request). */
static bool unreachable(const char *text)
{
	static const char *const signs[] = {"Unable to contact", "Socket timed out",
	                                    "Connection refused", "Zero Bytes were transmitted",
	                                    "Communication connection failure", "munge",
	                                    "Unable to establish"};
	for (size_t i = 0; i < sizeof(signs) / sizeof(signs[0]); i++)
		if (strstr(text, signs[i]))
			return true;
	return false;
}

/* ---- submit ------------------------------------------------------------------------------- */

int qf_slurm_submit(const qf_slurm_submit_opts *o, char job_id[32], char **script, qf_err *err)
{
	job_id[0] = '\0';
	if (script)
		*script = NULL;
	char *url = NULL, *password = NULL, *text = NULL, *outdir = NULL;
	int rc = qf_slurm_submit_check(o, err);
	if (rc)
		return rc;
	if ((rc = qf_slurm_worker_store(o->store_url, o->passfile, &url, &password, err)))
		return rc;
	if ((rc = qf_slurm_script(o, url, &text, err)))
		goto out;
	if (password) {
		/* the passfile named in the worker URL, from its passfile= */
		PQconninfoOption *opts;
		if ((rc = parse_pg_url(url, &opts, err)))
			goto out;
		char pf[QF_MAX_PATH];
		qf_strlcpy(pf, opt_val(opts, "passfile") ? opt_val(opts, "passfile") : "", sizeof(pf));
		PQconninfoFree(opts);
		if ((rc = qf_slurm_passfile_put(pf, url, password, err)))
			goto out;
	}
	if (!(outdir = absolute(o->output_dir))) {
		rc = oom(err);
		goto out;
	}
	if ((rc = qf_fs_mkdir_p(outdir, false, err)))
		goto out;
	char path[QF_MAX_PATH], final[QF_MAX_PATH];
	if (qf_snprintf(path, sizeof(path), "%s/submit-%ld.sbatch", outdir, (long)getpid())) {
		rc = opt_err(err, "--output-dir '%s' is too long", outdir);
		goto out;
	}
	if ((rc = qf_fs_write_atomic(path, text, strlen(text), err)))
		goto out;
	/* sbatch exports this environment to the job (--export=ALL): not the
	 * password, nor a store URL that may hold one */
	static const char *const unset[] = {"PGPASSWORD", "QF_STORE", NULL};
	const char *argv[] = {"sbatch", "--parsable", path, NULL};
	tool_out t;
	if ((rc = run_tool(argv, unset, &t, err))) {
		unlink(path);
		goto out;
	}
	char first[512];
	if (t.exit_code != 0) {
		first_line(t.err[0] ? t.err : t.out, first, sizeof(first));
		bool down = unreachable(t.err);
		rc = qf_err_set(err, down ? QF_CAT_SYSTEM : QF_CAT_VALIDATION, "slurm.sbatch",
		                "sbatch refused the job: %s", first[0] ? first : "(no message)");
		tool_out_release(&t);
		unlink(path);
		goto out;
	}
	/* --parsable: "<job id>[;<cluster>]" */
	first_line(t.out, first, sizeof(first));
	first[strcspn(first, ";")] = '\0';
	int64_t id;
	if (!parse_id(first, &id)) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "slurm.sbatch", "sbatch printed no job id: '%s'", first);
		tool_out_release(&t);
		unlink(path);
		goto out;
	}
	tool_out_release(&t);
	snprintf(job_id, 32, "%" PRId64, id);
	if (!qf_snprintf(final, sizeof(final), "%s/%s.sbatch", outdir, job_id) && rename(path, final))
		qf_log_warn(MODULE, "could not rename %s to %s: %s", path, final, strerror(errno));
	if (script) {
		*script = text;
		text = NULL;
	}
out:
	if (password) {
		memset(password, 0, strlen(password));
		free(password);
	}
	free(url);
	free(text);
	free(outdir);
	return rc;
}

/* ---- status --------------------------------------------------------------------------------- */

/* Fields of one squeue line: "%F|%K|%T|%N|%r|%k|%j" (array job id, task,
 * state, node, reason, comment, name: the name last, since it may hold '|';
 * our comments never do). */
enum { SQ_JOB, SQ_TASK, SQ_STATE, SQ_NODE, SQ_REASON, SQ_COMMENT, SQ_NAME, SQ_FIELDS };
#define SQ_FORMAT "%F|%K|%T|%N|%r|%k|%j"

static int split_bar(char *line, char **f, int max)
{
	int n = 0;
	f[n++] = line;
	for (char *p = line; *p && n < max; p++)
		if (*p == '|') {
			*p = '\0';
			f[n++] = p + 1;
		}
	return n;
}

static json_t *str_or_null(const char *s)
{
	return s && *s && strcmp(s, "(null)") && strcmp(s, "N/A") ? json_string(s) : json_null();
}

/* The array object for job id in arrays (created when missing). */
static json_t *array_for(json_t *arrays, const char *id, const char *name, const char *comment)
{
	size_t i;
	json_t *a;
	json_array_foreach(arrays, i, a) {
		if (!strcmp(json_string_value(json_object_get(a, "job_id")), id))
			return a;
	}
	const char *batch = NULL;
	if (comment && !strncmp(comment, COMMENT_BATCH, strlen(COMMENT_BATCH)))
		batch = comment + strlen(COMMENT_BATCH);
	a = json_pack("{s:s,s:o,s:o,s:[],s:{}}", "job_id", id, "name", str_or_null(name), "batch_id",
	              batch && qf_uuid_valid(batch) ? json_string(batch) : json_null(), "tasks",
	              "states");
	if (a)
		json_array_append_new(arrays, a);
	return a;
}

/* squeue's view: every task of the given jobs, or of this user's qforge
 * arrays (of one batch), in all states Slurm still remembers. */
static int squeue_arrays(const char *const *ids, int n, const char *batch_id, json_t *arrays,
                         qf_err *err)
{
	qf_buf idlist;
	qf_buf_init(&idlist, 64 * (size_t)(n + 1));
	for (int i = 0; i < n; i++) {
		char prefix[64];
		int rc = qf_slurm_worker_prefix(ids[i], prefix, sizeof(prefix), err);
		if (rc) {
			qf_buf_release(&idlist);
			return rc;
		}
		qf_buf_printf(&idlist, "%s%s", i ? "," : "", ids[i]);
	}
	struct passwd *pw = getpwuid(getuid());
	char user[128];
	qf_strlcpy(user, pw ? pw->pw_name : "", sizeof(user));
	const char *argv[12];
	int k = 0;
	argv[k++] = "squeue";
	argv[k++] = "--noheader";
	argv[k++] = "--array";
	argv[k++] = "--states=all";
	argv[k++] = "--format=" SQ_FORMAT;
	if (n) {
		argv[k++] = "--jobs";
		argv[k++] = qf_buf_str(&idlist);
	} else {
		argv[k++] = "--user";
		argv[k++] = user;
	}
	argv[k] = NULL;
	tool_out t;
	int rc = run_tool(argv, NULL, &t, err);
	qf_buf_release(&idlist);
	if (rc)
		return rc;
	if (t.exit_code != 0) {
		char first[512];
		first_line(t.err, first, sizeof(first));
		/* jobs Slurm no longer knows: nothing to show from squeue */
		if (!n || !strstr(first, "Invalid job id")) {
			tool_out_release(&t);
			return qf_err_set(err, QF_CAT_SYSTEM, "slurm.squeue", "squeue failed: %s",
			                  first[0] ? first : "(no message)");
		}
		t.out[0] = '\0';
	}
	for (char *line = t.out, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *f[SQ_FIELDS];
		if (split_bar(line, f, SQ_FIELDS) != SQ_FIELDS)
			continue;
		const char *comment = f[SQ_COMMENT];
		if (!n) {
			if (strncmp(comment, COMMENT_TAG, strlen(COMMENT_TAG)))
				continue;
			if (batch_id && (strncmp(comment, COMMENT_BATCH, strlen(COMMENT_BATCH)) ||
			                 strcmp(comment + strlen(COMMENT_BATCH), batch_id)))
				continue;
		}
		json_t *a = array_for(arrays, f[SQ_JOB], f[SQ_NAME], comment);
		if (!a)
			continue;
		json_array_append_new(json_object_get(a, "tasks"),
		                      json_pack("{s:o,s:s,s:o,s:o}", "task", str_or_null(f[SQ_TASK]),
		                                "state", f[SQ_STATE], "node", str_or_null(f[SQ_NODE]),
		                                "reason", str_or_null(f[SQ_REASON])));
		json_t *states = json_object_get(a, "states");
		json_t *c = json_object_get(states, f[SQ_STATE]);
		json_object_set_new(states, f[SQ_STATE],
		                    json_integer(c ? json_integer_value(c) + 1 : 1));
	}
	tool_out_release(&t);
	/* jobs asked for that squeue no longer lists */
	for (int i = 0; i < n; i++) {
		char id[32];
		qf_strlcpy(id, ids[i], sizeof(id));
		id[strcspn(id, "_")] = '\0';
		array_for(arrays, id, NULL, NULL);
	}
	return 0;
}

/* sacct's view of a job's tasks (finished ones too), when the cluster keeps
 * accounting; else why not. */
static void sacct_tasks(json_t *a)
{
	const char *id = json_string_value(json_object_get(a, "job_id"));
	const char *argv[] = {"sacct", "--noheader", "--parsable2", "--allocations", "--jobs", id,
	                      "--format=JobID,State,NodeList,ExitCode,Elapsed", NULL};
	tool_out t;
	qf_err err;
	qf_err_init(&err);
	if (run_tool(argv, NULL, &t, &err)) {
		json_object_set_new(a, "sacct", json_null());
		json_object_set_new(a, "sacct_note", json_string(err.message));
		return;
	}
	if (t.exit_code != 0) {
		char first[512];
		first_line(t.err[0] ? t.err : t.out, first, sizeof(first));
		json_object_set_new(a, "sacct", json_null());
		json_object_set_new(a, "sacct_note", json_string(first[0] ? first : "sacct failed"));
		tool_out_release(&t);
		return;
	}
	json_t *rows = json_array();
	for (char *line = t.out, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *f[5];
		if (split_bar(line, f, 5) != 5)
			continue;
		json_array_append_new(rows, json_pack("{s:s,s:s,s:o,s:s,s:s}", "job", f[0], "state", f[1],
		                                      "node", str_or_null(f[2]), "exit_code", f[3],
		                                      "elapsed", f[4]));
	}
	tool_out_release(&t);
	json_object_set_new(a, "sacct", rows);
	json_object_set_new(a, "sacct_note", json_null());
}

static json_t *counts_json(const qf_queue_counts *c)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "queued", (json_int_t)c->queued, "ready",
	                 (json_int_t)c->ready, "running", (json_int_t)c->running, "completed",
	                 (json_int_t)c->completed, "failed", (json_int_t)c->failed, "cancelled",
	                 (json_int_t)c->cancelled);
}

int qf_slurm_status(qf_store *store, const qf_actor *a, const char *const *ids, int n,
                    const char *batch_id, json_t **out, qf_err *err)
{
	*out = NULL;
	if (batch_id && !qf_uuid_valid(batch_id))
		return opt_err(err, "--batch '%s' is not a batch id (a UUID)", batch_id);
	json_t *arrays = json_array();
	if (!arrays)
		return oom(err);
	int rc = squeue_arrays(ids, n, batch_id, arrays, err);
	size_t i;
	json_t *arr;
	json_array_foreach(arrays, i, arr) {
		if (rc)
			break;
		sacct_tasks(arr);
		json_object_set_new(arr, "held", json_null());
		json_object_set_new(arr, "queue", json_null());
		if (!store)
			continue;
		char prefix[64];
		int64_t held = 0;
		if ((rc = qf_slurm_worker_prefix(json_string_value(json_object_get(arr, "job_id")), prefix,
		                                 sizeof(prefix), err)) ||
		    (rc = qf_store_held_count(store, prefix, &held, err)))
			break;
		json_object_set_new(arr, "held", json_integer(held));
		const char *b = batch_id ? batch_id : json_string_value(json_object_get(arr, "batch_id"));
		qf_queue_counts qc;
		if ((rc = qf_store_queue_counts(store, a, b, &qc, err)))
			break;
		json_object_set_new(arr, "queue", counts_json(&qc));
	}
	if (rc) {
		json_decref(arrays);
		return rc;
	}
	*out = arrays;
	return 0;
}

/* ---- cancel --------------------------------------------------------------------------------- */

/* Whether any task of the jobs is still pending, running or ending. */
static int any_alive(const char *ids, bool *alive, qf_err *err)
{
	const char *argv[] = {"squeue", "--noheader", "--array", "--jobs", ids,
	                      "--states=PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING,RESIZING,"
	                      "REQUEUED,REQUEUE_HOLD,REQUEUE_FED,SIGNALING,STAGE_OUT,STOPPED",
	                      "--format=%i", NULL};
	tool_out t;
	int rc = run_tool(argv, NULL, &t, err);
	if (rc)
		return rc;
	*alive = t.exit_code == 0 && qf_lskip(t.out)[0] != '\0';
	if (t.exit_code != 0 && !strstr(t.err, "Invalid job id")) {
		char first[512];
		first_line(t.err, first, sizeof(first));
		rc = qf_err_set(err, QF_CAT_SYSTEM, "slurm.squeue", "squeue failed: %s", first);
	}
	tool_out_release(&t);
	return rc;
}

int qf_slurm_cancel(qf_store *store, const char *const *ids, int n, double wait_s,
                    int *released, bool *ended, qf_err *err)
{
	*released = 0;
	*ended = false;
	if (n < 1)
		return opt_err(err, "%s", "no Slurm job to cancel");
	qf_buf list;
	qf_buf_init(&list, 64 * (size_t)(n + 1));
	char prefix[64];
	int rc = 0;
	for (int i = 0; i < n && !rc; i++)
		if (!(rc = qf_slurm_worker_prefix(ids[i], prefix, sizeof(prefix), err)))
			rc = qf_buf_printf(&list, "%s%s", i ? "," : "", ids[i]) ? oom(err) : 0;
	if (rc) {
		qf_buf_release(&list);
		return rc;
	}
	const char **argv = calloc((size_t)n + 2, sizeof(*argv));
	if (!argv) {
		qf_buf_release(&list);
		return oom(err);
	}
	argv[0] = "scancel";
	for (int i = 0; i < n; i++)
		argv[i + 1] = ids[i];
	tool_out t;
	rc = run_tool(argv, NULL, &t, err);
	free(argv);
	if (rc) {
		qf_buf_release(&list);
		return rc;
	}
	if (t.exit_code != 0 && !strstr(t.err, "Invalid job id") && !strstr(t.err, "already completed")) {
		char first[512];
		first_line(t.err, first, sizeof(first));
		rc = qf_err_set(err, unreachable(t.err) ? QF_CAT_SYSTEM : QF_CAT_VALIDATION, "slurm.scancel",
		                "scancel failed: %s", first[0] ? first : "(no message)");
		tool_out_release(&t);
		qf_buf_release(&list);
		return rc;
	}
	tool_out_release(&t);
	/* The workers stop (SIGTERM: each gives back what it runs); wait for
	 * their tasks to end, so that what is left held is really abandoned. */
	double until = qf_clock_mono() + wait_s;
	for (;;) {
		bool alive = false;
		if ((rc = any_alive(qf_buf_str(&list), &alive, err)))
			break;
		if (!alive) {
			*ended = true;
			break;
		}
		if (qf_clock_mono() >= until)
			break;
		struct timespec d = {0, 250 * 1000 * 1000};
		nanosleep(&d, NULL);
	}
	qf_buf_release(&list);
	if (rc || !store)
		return rc;
	for (int i = 0; i < n && !rc; i++) {
		int k = 0;
		if (!(rc = qf_slurm_worker_prefix(ids[i], prefix, sizeof(prefix), err)) &&
		    !(rc = qf_store_release_held(store, prefix, &k, err)))
			*released += k;
	}
	return rc;
}
