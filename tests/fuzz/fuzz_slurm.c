/*
 * Fuzz target: what qforge slurm takes from its command line and
 * environment, over arbitrary bytes. The input is split at newlines into
 * fields: a time limit, a memory size, a partition list, an account, a job
 * id, a store URL (with or without a password), then extra sbatch and
 * worker arguments. Each is parsed and checked, the worker's store URL made
 * (never holding the password), and the whole script generated. No file is
 * written and no program run. The workers' URL must parse and hold no
 * password.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "qf/slurm.h"

#define FIELDS 12

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16384)
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char *f[FIELDS];
	int n = 0;
	for (char *p = text; n < FIELDS;) {
		f[n++] = p;
		char *nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	for (int i = n; i < FIELDS; i++)
		f[i] = NULL;

	long seconds;
	(void)qf_slurm_time_parse(f[0], &seconds);
	(void)qf_slurm_mem_valid(f[1]);
	(void)qf_slurm_name_valid(f[2], true);
	(void)qf_slurm_name_valid(f[3], false);
	char prefix[64];
	qf_err err;
	qf_err_init(&err);
	(void)qf_slurm_worker_prefix(f[4], prefix, sizeof(prefix), &err);

	char *url = NULL, *password = NULL;
	qf_err_init(&err);
	if (f[5] && qf_slurm_worker_store(f[5], "/nonexistent/pgpass", &url, &password, &err) == 0) {
		/* the workers' URL holds no password, whatever it is */
		if (!strncmp(url, "postgresql://", 13)) {
			char *msg = NULL;
			PQconninfoOption *opts = PQconninfoParse(url, &msg);
			if (!opts)
				abort(); /* what we made must parse */
			for (PQconninfoOption *p = opts; p->keyword; p++)
				if (!strcmp(p->keyword, "password") && p->val && *p->val)
					abort();
			PQconninfoFree(opts);
		}
		qf_slurm_submit_opts o;
		qf_slurm_submit_opts_init(&o);
		o.time_limit = f[0] && *f[0] ? f[0] : NULL;
		o.mem = f[1] && *f[1] ? f[1] : NULL;
		o.partition = f[2] && *f[2] ? f[2] : NULL;
		o.account = f[3] && *f[3] ? f[3] : NULL;
		o.jobs_root = "/scratch/jobs";
		o.output_dir = "/logs";
		o.qforge = "/usr/bin/qforge";
		const char *extra[3] = {f[6], f[7], f[8]};
		const char *wargs[3] = {f[9], f[10], f[11]};
		int ne = 0, nw = 0;
		while (ne < 3 && extra[ne])
			ne++;
		while (nw < 3 && wargs[nw])
			nw++;
		o.sbatch_args = extra;
		o.nsbatch_args = ne;
		o.worker_args = wargs;
		o.nworker_args = nw;
		char *script = NULL;
		qf_err_init(&err);
		if (qf_slurm_script(&o, url, &script, &err) == 0)
			free(script);
	}
	free(url);
	free(password);
	free(text);
	return 0;
}
