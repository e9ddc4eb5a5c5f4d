/*
 * qforge worker [--store URL] [--concurrency N] [--exit-when-idle] ...
 *
 * Claims jobs from the store and runs them until stopped (SIGTERM or SIGINT:
 * finish the running jobs and exit; a second one: stop them and give them
 * back) or, with --exit-when-idle, until no job is left.
 */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "qf/log.h"
#include "qf/queue.h"
#include "qf/str.h"

static const char usage[] =
	"usage: qforge worker [options]\n"
	"\n"
	"Claims calculations from the store and runs them.\n"
	"\n"
	"  --store URL              sqlite:PATH or postgresql://... (default $QF_STORE or\n"
	"                           sqlite:var/qforge.db)\n"
	"  --concurrency N          calculations at once (default: the number of cores)\n"
	"  --exit-when-idle         return once no job is queued or running\n"
	"  --jobs-root DIR          job directories (default $QF_JOBS_ROOT or var/jobs)\n"
	"  --lease-seconds S        lease of a claimed job (default 60)\n"
	"  --heartbeat-seconds S    lease renewal interval (default lease/6)\n"
	"  --poll-seconds S         idle claim interval (default 1)\n"
	"  --max-attempts N         attempts per calculation (default 3)\n"
	"  --backoff-base S         first delay after a system error (default 5)\n"
	"  --backoff-cap S          longest such delay (default 300)\n"
	"  --no-engine              run singlepoints through the xtb program as well\n"
	"  --xtb PROGRAM            the xtb program (default $QF_XTB or xtb)\n"
	"  --name NAME              worker name in the store (default host:pid)\n"
	"  --quiet                  no line per job on stderr\n"
	"  --wake-fd N              claim at once when a byte arrives on descriptor N\n"
	"                           (qforge serve wakes its workers so after a submission)\n";

enum {
	OPT_STORE = 256, OPT_CONCURRENCY, OPT_IDLE, OPT_JOBS_ROOT, OPT_LEASE, OPT_HEARTBEAT,
	OPT_POLL, OPT_ATTEMPTS, OPT_BACKOFF_BASE, OPT_BACKOFF_CAP, OPT_NO_ENGINE, OPT_XTB,
	OPT_NAME, OPT_QUIET, OPT_HELP, OPT_WAKE_FD,
};

static const struct option options[] = {
	{"store", required_argument, NULL, OPT_STORE},
	{"concurrency", required_argument, NULL, OPT_CONCURRENCY},
	{"exit-when-idle", no_argument, NULL, OPT_IDLE},
	{"jobs-root", required_argument, NULL, OPT_JOBS_ROOT},
	{"lease-seconds", required_argument, NULL, OPT_LEASE},
	{"heartbeat-seconds", required_argument, NULL, OPT_HEARTBEAT},
	{"poll-seconds", required_argument, NULL, OPT_POLL},
	{"max-attempts", required_argument, NULL, OPT_ATTEMPTS},
	{"backoff-base", required_argument, NULL, OPT_BACKOFF_BASE},
	{"backoff-cap", required_argument, NULL, OPT_BACKOFF_CAP},
	{"no-engine", no_argument, NULL, OPT_NO_ENGINE},
	{"xtb", required_argument, NULL, OPT_XTB},
	{"name", required_argument, NULL, OPT_NAME},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{"wake-fd", required_argument, NULL, OPT_WAKE_FD},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static bool positive(const char *s, double *out)
{
	return qf_parse_double(s, out) && *out > 0;
}

int cmd_worker(int argc, char **argv)
{
	qf_worker_opts o;
	qf_worker_opts_init(&o);
	o.jobs_root = cli_jobs_root(NULL);
	const char *env_xtb = getenv("QF_XTB");
	if (env_xtb && *env_xtb)
		o.xtb.xtb = env_xtb;
	int c, idx;
	long l;
	double d;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", options, &idx)) != -1) {
		switch (c) {
		case OPT_STORE: o.store_url = optarg; break;
		case OPT_CONCURRENCY:
			if (!qf_parse_int(optarg, 1, 1024, &l))
				return cli_usage_error("worker", "--concurrency needs a number from 1 to 1024");
			o.concurrency = (int)l;
			break;
		case OPT_IDLE: o.exit_when_idle = true; break;
		case OPT_JOBS_ROOT: o.jobs_root = optarg; break;
		case OPT_LEASE:
			if (!positive(optarg, &o.lease_seconds))
				return cli_usage_error("worker", "--lease-seconds needs a positive number");
			break;
		case OPT_HEARTBEAT:
			if (!positive(optarg, &o.heartbeat_seconds))
				return cli_usage_error("worker", "--heartbeat-seconds needs a positive number");
			break;
		case OPT_POLL:
			if (!positive(optarg, &o.poll_seconds))
				return cli_usage_error("worker", "--poll-seconds needs a positive number");
			break;
		case OPT_ATTEMPTS:
			if (!qf_parse_int(optarg, 1, 100, &l))
				return cli_usage_error("worker", "--max-attempts needs a number from 1 to 100");
			o.retry.max_attempts = (int)l;
			break;
		case OPT_BACKOFF_BASE:
			if (!qf_parse_double(optarg, &d) || d < 0)
				return cli_usage_error("worker", "--backoff-base needs seconds (0 or more)");
			o.retry.backoff_base = d;
			break;
		case OPT_BACKOFF_CAP:
			if (!qf_parse_double(optarg, &d) || d < 0)
				return cli_usage_error("worker", "--backoff-cap needs seconds (0 or more)");
			o.retry.backoff_cap = d;
			break;
		case OPT_NO_ENGINE: o.no_engine = true; break;
		case OPT_XTB: o.xtb.xtb = optarg; break;
		case OPT_NAME: o.name = optarg; break;
		case OPT_QUIET: o.quiet = true; break;
		case OPT_WAKE_FD: {
			long fd;
			if (!qf_parse_int(optarg, 0, 1 << 20, &fd) || fcntl((int)fd, F_GETFD) < 0)
				return cli_usage_error("worker", "--wake-fd needs an open descriptor number, got '%s'",
				                       optarg);
			o.wake_fd = (int)fd;
			break;
		}
		case OPT_HELP: fputs(usage, stdout); return 0;
		case ':':
			return cli_usage_error("worker", "option %s needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("worker", "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_usage_error("worker", "unexpected argument '%s'", argv[optind]);
	if (o.heartbeat_seconds >= o.lease_seconds)
		return cli_usage_error("worker", "--heartbeat-seconds must be shorter than the lease");
	if (!o.quiet && qf_log_get_level() < QF_LOG_INFO)
		qf_log_set_level(QF_LOG_INFO);

	cli_catch_stop_signals();

	qf_worker_stats st;
	qf_err err;
	qf_err_init(&err);
	int rc = qf_worker_run(&o, &cli_stop, &st, &err);
	fprintf(stderr,
	        "qforge worker: claimed %lld, completed %lld, failed %lld, retried %lld, cancelled %lld, "
	        "released %lld, stale %lld, synced %lld (engine %lld, xtb program %lld); store errors %lld\n",
	        (long long)st.claimed, (long long)st.completed, (long long)st.failed,
	        (long long)st.retried, (long long)st.cancelled, (long long)st.released,
	        (long long)st.stale, (long long)st.synced, (long long)st.engine_runs,
	        (long long)st.cli_runs, (long long)st.store_errors);
	if (rc)
		return cli_fail(&err);
	return 0;
}
