/* qf-test: labels=integration,slurm timeout=300 skip_return_code=77 resource_lock=slurm */
/*
 * The sbatch script against a real sbatch (scripts/with-slurm: partitions
 * `debug`, the default, and `short`, 10 minutes at most; one node of 2 CPUs).
 *
 * A table of options (partition, account, time, memory, CPUs, extra
 * --sbatch-arg): `qforge slurm submit --dry-run` writes the script, which
 * must carry the options as #SBATCH lines, and `sbatch --test-only` must
 * accept it exactly when the row says Slurm would run it. Options qforge
 * refuses itself are refused by sbatch too (the same option given to
 * `sbatch --test-only --wrap`), except where the table says qforge is
 * stricter on purpose (#SBATCH lines cannot carry blanks or '#').
 *
 * Then the command line's malformed cases (each with its exit status and
 * message), a real submit that sbatch refuses (an unknown partition: exit
 * 10 with sbatch's reason, no script left behind), a submit with nothing
 * queued, and status / cancel of jobs Slurm does not know.
 */
#include "slurm_test.h"

#include <dirent.h>

#define MAX_OPTS 12

struct row {
	const char *what;
	const char *opts[MAX_OPTS]; /* qforge slurm submit options */
	bool qforge_ok;             /* qforge writes a script */
	bool sbatch_ok;             /* sbatch --test-only accepts it (or the raw option) */
	const char *lines[4];       /* #SBATCH lines the script has */
	const char *raw;            /* refused by qforge: the same option for sbatch */
};

static const struct row rows[] = {
	{"default partition", {NULL}, true, true, {"#SBATCH --array=0-0", "#SBATCH --cpus-per-task=1"}, NULL},
	{"partition", {"--partition", "debug"}, true, true, {"#SBATCH --partition=debug"}, NULL},
	{"partition with a time", {"--partition", "short", "--time", "5"}, true, true,
	 {"#SBATCH --partition=short", "#SBATCH --time=5"}, NULL},
	{"partition list", {"--partition", "debug,short"}, true, true, {"#SBATCH --partition=debug,short"}, NULL},
	{"unknown partition", {"--partition", "nosuch"}, true, false, {"#SBATCH --partition=nosuch"}, NULL},
	{"account", {"--account", "chem"}, true, true, {"#SBATCH --account=chem"}, NULL},
	{"time in days", {"--time", "1-00:00:00"}, true, true, {"#SBATCH --time=1-00:00:00"}, NULL},
	{"time 0 (no limit)", {"--time", "0"}, true, true, {"#SBATCH --time=0"}, NULL},
	{"time unlimited", {"--time", "UNLIMITED"}, true, true, {"#SBATCH --time=UNLIMITED"}, NULL},
	{"memory", {"--mem", "1G"}, true, true, {"#SBATCH --mem=1G"}, NULL},
	{"more memory than the node", {"--mem", "100000G"}, true, false, {"#SBATCH --mem=100000G"}, NULL},
	{"two CPUs, three workers", {"--cpus-per-worker", "2", "--workers", "3"}, true, true,
	 {"#SBATCH --cpus-per-task=2", "#SBATCH --array=0-2"}, NULL},
	{"more CPUs than the node", {"--cpus-per-worker", "3"}, true, false, {"#SBATCH --cpus-per-task=3"}, NULL},
	{"qos", {"--sbatch-arg=--qos=normal"}, true, true, {"#SBATCH --qos=normal"}, NULL},
	{"constraint no node has", {"--sbatch-arg=--constraint=gpu"}, true, false,
	 {"#SBATCH --constraint=gpu"}, NULL},
	{"exclusive", {"--sbatch-arg=--exclusive"}, true, true, {"#SBATCH --exclusive"}, NULL},
	{"nice", {"--sbatch-arg=--nice=10"}, true, true, {"#SBATCH --nice=10"}, NULL},
	{"begin later", {"--sbatch-arg=--begin=now+60"}, true, true, {"#SBATCH --begin=now+60"}, NULL},
	{"unknown sbatch option", {"--sbatch-arg=--nonsense"}, true, false, {"#SBATCH --nonsense"}, NULL},
	{"gres nobody has", {"--sbatch-arg=--gres=gpu:1"}, true, false, {"#SBATCH --gres=gpu:1"}, NULL},
	{"a thousand workers", {"--workers", "1000"}, true, true, {"#SBATCH --array=0-999"}, NULL},
	{"everything",
	 {"--partition", "debug", "--account", "chem", "--time", "00:30:00", "--mem", "512M",
	  "--sbatch-arg=--nice=5", "--workers", "2"},
	 true, true,
	 {"#SBATCH --partition=debug\n#SBATCH --account=chem", "#SBATCH --time=00:30:00",
	  "#SBATCH --mem=512M", "#SBATCH --nice=5"}, NULL},
	/* refused by qforge, and by sbatch */
	{"time with four fields", {"--time", "1:2:3:4"}, false, false, {NULL}, "--time=1:2:3:4"},
	{"time not a time", {"--time", "abc"}, false, false, {NULL}, "--time=abc"},
	{"memory unit", {"--mem", "4X"}, false, false, {NULL}, "--mem=4X"},
	{"negative memory", {"--mem", "-1"}, false, false, {NULL}, "--mem=-1"},
	{"partition with a blank", {"--partition", "a b"}, false, false, {NULL}, "--partition=a b"},
	/* refused by qforge, stricter than sbatch on purpose */
	{"account with ';' (stricter)", {"--account", "ch;em"}, false, true, {NULL}, "--account=ch;em"},
	{"comment with a blank (stricter)", {"--sbatch-arg=--comment=a b"}, false, true, {NULL},
	 "--comment=a b"},
	{"job name with '#' (stricter)", {"--sbatch-arg=--job-name=x#y"}, false, true, {NULL},
	 "--job-name=x#y"},
};

/* sbatch --test-only on argv's last element (a script) or with --wrap. */
static bool sbatch_accepts(const char *const *argv, char **why)
{
	qft_output o;
	qft_run(&o, argv, NULL, NULL, 120);
	bool ok = o.exit_code == 0 && strstr(o.err, "to start at");
	*why = strdup(o.err);
	qft_output_release(&o);
	return ok;
}

static void test_option_table(void **state)
{
	(void)state;
	char tmp[QF_MAX_PATH], script[QF_MAX_PATH];
	qft_tmpdir(tmp, "slurm-script");
	qft_join(script, tmp, "job.sbatch");
	char store[QF_MAX_PATH + 32];
	snprintf(store, sizeof(store), "sqlite:%s/qforge.db", tmp);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		const char *args[MAX_OPTS + 8] = {"submit", "--dry-run", "--store", store, "--output-dir", tmp};
		int n = 6;
		for (int k = 0; k < MAX_OPTS && r->opts[k]; k++)
			args[n++] = r->opts[k];
		args[n] = NULL;
		qft_output o;
		st_slurm(&o, NULL, args);
		if (!r->qforge_ok) {
			if (o.exit_code == 0)
				fail_msg("%s: qforge wrote a script:\n%s", r->what, o.out);
			assert_true(o.exit_code == QF_EXIT_USAGE || o.exit_code == 10);
			assert_non_null(strstr(o.err, "qforge"));
			const char *raw[] = {"sbatch", "--test-only", r->raw, "--wrap=true", NULL};
			char *why;
			bool ok = sbatch_accepts(raw, &why);
			print_message("%-34s qforge refuses (%.*s) | sbatch %s %s\n", r->what,
			              (int)strcspn(o.err, "\n"), o.err, ok ? "accepts" : "refuses", r->raw);
			if (ok != r->sbatch_ok)
				fail_msg("%s: sbatch %s %s: %s", r->what, ok ? "accepts" : "refuses", r->raw, why);
			free(why);
			qft_output_release(&o);
			continue;
		}
		if (o.exit_code != 0)
			fail_msg("%s: qforge refused: %s", r->what, o.err);
		for (int k = 0; k < 4 && r->lines[k]; k++) {
			char line[256];
			snprintf(line, sizeof(line), "%s\n", r->lines[k]);
			if (!strstr(o.out, line))
				fail_msg("%s: the script lacks '%s':\n%s", r->what, r->lines[k], o.out);
		}
		qft_write(script, o.out);
		qft_output_release(&o);
		const char *argv[] = {"sbatch", "--test-only", script, NULL};
		char *why;
		bool ok = sbatch_accepts(argv, &why);
		char first[200];
		snprintf(first, sizeof(first), "%.*s", (int)strcspn(why, "\n"), why);
		print_message("%-34s qforge writes it     | sbatch --test-only %s: %s\n", r->what,
		              ok ? "accepts" : "refuses", first);
		if (ok != r->sbatch_ok)
			fail_msg("%s: sbatch --test-only %s the script (%s)", r->what,
			         ok ? "accepts" : "refuses", why);
		free(why);
	}
	qf_fs_rm_rf(tmp);
}

/* Malformed command lines: the status and a message naming the problem;
 * nothing submitted. */
static void test_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *args[8];
		int status;
		const char *says;
	} cases[] = {
		{{"submit", "--workers", "0"}, 2, "--workers needs a number"},
		{{"submit", "--workers", "many"}, 2, "--workers needs a number"},
		{{"submit", "--workers", "1001"}, 2, "--workers needs a number"},
		{{"submit", "--cpus-per-worker", "0"}, 2, "--cpus-per-worker"},
		{{"submit", "--threads-per-job", "2"}, 10, "--threads-per-job must divide"},
		{{"submit", "--drain-seconds", "5"}, 2, "--drain-seconds"},
		{{"submit", "--time", "2", "--drain-seconds", "120"}, 10, "would drain as soon as"},
		{{"submit", "--batch", "not-a-uuid"}, 10, "is not a batch id"},
		{{"submit", "--time"}, 2, "needs a value"},
		{{"submit", "--bogus"}, 2, "unknown option --bogus"},
		{{"submit", "extra"}, 2, "unexpected argument"},
		{{"submit", "--store", "mysql://x"}, 10, "unknown store URL"},
		{{"submit", "--store", "postgresql://u:topsecret@h:port/d"}, 10, "port must be a number"},
		{{"submit", "--sbatch-arg=--array=1-3"}, 10, "qforge sets"},
		{{"submit", "--sbatch-arg=qos"}, 10, "must be one sbatch option"},
		{{"submit", "--output-dir", "/tmp/a b"}, 10, "--output-dir"},
		{{"status", "x1"}, 10, "is not a Slurm job id"},
		{{"status", "--wait", "3"}, 2, "--wait is an option of cancel"},
		{{"cancel"}, 2, "give the Slurm job ids"},
		{{"cancel", "12;rm"}, 10, "is not a Slurm job id"},
		{{"launch"}, 2, "unknown subcommand"},
	};
	char tmp[QF_MAX_PATH];
	qft_tmpdir(tmp, "slurm-malformed");
	char store[QF_MAX_PATH + 32];
	snprintf(store, sizeof(store), "sqlite:%s/qforge.db", tmp);
	const char *env[] = {NULL, NULL};
	char qs[QF_MAX_PATH + 64];
	snprintf(qs, sizeof(qs), "QF_STORE=%s", store);
	env[0] = qs;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[12];
		int n = 0;
		args[n++] = cases[i].args[0];
		if (!strcmp(args[0], "submit")) {
			/* before the case's own options: a later --output-dir wins */
			args[n++] = "--dry-run";
			args[n++] = "--output-dir";
			args[n++] = tmp;
		}
		for (int k = 1; k < 8 && cases[i].args[k]; k++)
			args[n++] = cases[i].args[k];
		args[n] = NULL;
		qft_output o;
		st_slurm(&o, env, args);
		if (o.exit_code != cases[i].status || !strstr(o.err, cases[i].says))
			fail_msg("qforge slurm %s ...: status %d, stderr '%s'; expected %d and '%s'", args[0],
			         o.exit_code, o.err, cases[i].status, cases[i].says);
		/* a password given on the command line is never repeated */
		assert_null(strstr(o.err, "topsecret"));
		assert_null(strstr(o.out, "topsecret"));
		qft_output_release(&o);
	}
	/* nothing reached Slurm */
	const char *argv[] = {"squeue", "--noheader", "--states=all", "--format=%i", NULL};
	char *q = st_tool(argv);
	assert_string_equal(q, "");
	free(q);
	qf_fs_rm_rf(tmp);
}

/* A real submit sbatch refuses, one with nothing to do, and status and
 * cancel of jobs Slurm does not know. */
static void test_refusals(void **state)
{
	(void)state;
	sv_setup();
	char tmp[QF_MAX_PATH], mols[QF_MAX_PATH], out[QF_MAX_PATH];
	qft_tmpdir(tmp, "slurm-refusals");
	qft_join(mols, tmp, "molecules.xyz");
	qft_join(out, tmp, "slurm");
	sv_store s;
	sv_store_sqlite(&s, tmp);

	/* nothing queued */
	const char *args0[8] = {"submit", "--store", s.url, "--output-dir", out, NULL};
	qft_output o;
	/* the store must exist first: migrate it */
	const char *migrate[] = {"db", "migrate", "--store", s.url, NULL};
	sv_qforge(&o, NULL, migrate);
	sv_expect_status(&o, 0, "db migrate");
	qft_output_release(&o);
	st_slurm(&o, NULL, args0);
	if (o.exit_code != 10 || !strstr(o.err, "nothing is queued"))
		fail_msg("submit with an empty queue: %d '%s'", o.exit_code, o.err);
	qft_output_release(&o);

	sv_write_xyz(mols, 3, "w", 5);
	char batch[QF_UUID_STR];
	sv_submit(batch, s.url, mols, NULL);
	const char *args[] = {"submit", "--store", s.url, "--batch", batch, "--output-dir", out,
	                      "--partition", "nosuch", NULL};
	st_slurm(&o, NULL, args);
	print_message("unknown partition: status %d, %s", o.exit_code, o.err);
	if (o.exit_code != 10 || !strstr(o.err, "sbatch refused the job") ||
	    !strstr(o.err, "nvalid partition"))
		fail_msg("submit to an unknown partition: %d '%s'", o.exit_code, o.err);
	assert_string_equal(o.out, "");
	qft_output_release(&o);
	/* no script left behind, nothing queued in Slurm, the batch untouched */
	DIR *d = opendir(out);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				fail_msg("left in %s: %s", out, e->d_name);
		closedir(d);
	}
	const char *sq[] = {"squeue", "--noheader", "--states=all", "--format=%i", NULL};
	char *q = st_tool(sq);
	assert_string_equal(q, "");
	free(q);
	assert_int_equal(sv_count_status(&s, batch, "queued"), 3);

	/* a job Slurm does not know: status shows nothing of it; cancel says so */
	const char *status[] = {"status", "999999", "--store", s.url, "--json", NULL};
	st_slurm(&o, NULL, status);
	sv_expect_status(&o, 0, "slurm status 999999");
	json_t *doc = json_loads(o.out, 0, NULL);
	assert_true(json_is_array(doc));
	assert_int_equal(json_array_size(doc), 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(doc, 0), "tasks")), 0);
	json_decref(doc);
	qft_output_release(&o);
	const char *cancel[] = {"cancel", "--batch", batch, "--store", s.url, NULL};
	st_slurm(&o, NULL, cancel);
	if (o.exit_code != 10 || !strstr(o.err, "no qforge job array of batch"))
		fail_msg("cancel of a batch without arrays: %d '%s'", o.exit_code, o.err);
	qft_output_release(&o);
	qf_fs_rm_rf(tmp);
}

int main(int argc, char **argv)
{
	st_enter(argc, argv);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_option_table),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test_teardown(test_refusals, sv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
