/* qf-test: labels=integration,queue,xtb,postgres,netns timeout=300 */
/*
 * Many machines: workers in two network namespaces claim from PostgreSQL
 * running in a third, all on this machine.
 *
 *   ns_db  PostgreSQL 15 (initdb/pg_ctl as postgres inside it), listening on
 *          10.213.1.1 and 10.213.2.1, trust authentication for 10.213.1.0/30
 *          and 10.213.2.0/30
 *   ns_a   10.213.1.2/30, a veth pair to ns_db; a worker "machine-a" with its
 *          own jobs root
 *   ns_b   10.213.2.2/30, a veth pair to ns_db; a worker "machine-b"
 *
 * Names carry the test's pid; every network packet stays inside these
 * namespaces (the test itself reaches the server through its Unix socket).
 * The schema is migrated from ns_a and the batch submitted from ns_b, both
 * over the network. The workers run the xtb program through the gate fixture
 * (tests/data/queue/xtb-gate), which holds their first jobs until each
 * machine has claimed some, so that both take part whatever their start-up
 * times; then the gates open and the batch runs out (--exit-when-idle).
 *
 * Asserted: every job done exactly once (sv_check_exactly_once: each
 * calculation completed once, no (calculation, attempt) twice, energies equal
 * to the metadata.json in the jobs root of the machine that ran it), both
 * workers completed jobs (calculation_execution_metrics.worker), and the
 * claims never overlapped (each successful attempt belongs to one machine,
 * and its job directory exists only on that machine). Everything is torn
 * down (pg_ctl stop, ip netns del) pass or fail.
 */
#include "survive.h"

struct net {
	char ns_db[32], ns_a[32], ns_b[32];
	char veth_da[16], veth_a[16], veth_db[16], veth_b[16];
};

static void ip(const char *const *args)
{
	const char *argv[24] = {"ip"};
	int n = 1;
	for (const char *const *a = args; *a; a++)
		argv[n++] = *a;
	argv[n] = NULL;
	qft_output o;
	qft_run(&o, argv, NULL, NULL, 30);
	if (o.exit_code) {
		char cmd[256] = "";
		for (int i = 0; i < n; i++) {
			qf_strlcpy(cmd + strlen(cmd), argv[i], sizeof(cmd) - strlen(cmd));
			qf_strlcpy(cmd + strlen(cmd), " ", sizeof(cmd) - strlen(cmd));
		}
		fail_msg("%s failed (%d): %s", cmd, o.exit_code, o.err);
	}
	qft_output_release(&o);
}

static void add_ns(const char *name)
{
	sv_cleanup c = {.kind = SV_CLEAN_NETNS};
	qf_strlcpy(c.netns, name, sizeof(c.netns));
	sv_defer(&c);
	ip((const char *[]){"netns", "add", name, NULL});
	ip((const char *[]){"-n", name, "link", "set", "lo", "up", NULL});
}

static void del_ns(const char *name)
{
	ip((const char *[]){"netns", "del", name, NULL});
	sv_undefer(SV_CLEAN_NETNS, 0, name);
}

/* A veth pair between ns_db (address db_addr) and peer_ns (peer_addr). */
static void link_pair(const char *ns_db, const char *dev_db, const char *db_addr, const char *peer_ns,
                      const char *dev_peer, const char *peer_addr)
{
	ip((const char *[]){"-n", ns_db, "link", "add", dev_db, "type", "veth", "peer", "name", dev_peer,
	                    "netns", peer_ns, NULL});
	ip((const char *[]){"-n", ns_db, "addr", "add", db_addr, "dev", dev_db, NULL});
	ip((const char *[]){"-n", peer_ns, "addr", "add", peer_addr, "dev", dev_peer, NULL});
	ip((const char *[]){"-n", ns_db, "link", "set", dev_db, "up", NULL});
	ip((const char *[]){"-n", peer_ns, "link", "set", dev_peer, "up", NULL});
}

/* qforge args... inside namespace ns; fails unless it exits 0. */
static void qforge_in(const char *ns, const char *const *args, qft_output *o)
{
	const char *argv[48] = {"ip", "netns", "exec", ns, qft_qforge()};
	int n = 5;
	for (const char *const *a = args; *a; a++)
		argv[n++] = *a;
	argv[n] = NULL;
	qft_run(o, argv, NULL, NULL, 120);
	if (o->exit_code)
		fail_msg("qforge %s in %s: status %d\n%s\n%s", args[0], ns, o->exit_code, o->out, o->err);
}

/* Jobs running under a worker name. */
static long long running_by(const sv_store *s, const char *batch, const char *name)
{
	return sv_int(s,
	              "SELECT count(*) FROM calculations WHERE batch_id = '%s' AND status = 'running' AND "
	              "lease_owner LIKE '%s/%%'",
	              batch, name);
}

static void test_two_machines(void **state)
{
	(void)state;
	sv_setup();
	struct net n;
	long pid = (long)getpid();
	snprintf(n.ns_db, sizeof(n.ns_db), "qfdb%ld", pid);
	snprintf(n.ns_a, sizeof(n.ns_a), "qfa%ld", pid);
	snprintf(n.ns_b, sizeof(n.ns_b), "qfb%ld", pid);
	snprintf(n.veth_da, sizeof(n.veth_da), "qfda%ld", pid % 10000000);
	snprintf(n.veth_a, sizeof(n.veth_a), "qfva%ld", pid % 10000000);
	snprintf(n.veth_db, sizeof(n.veth_db), "qfdb%ld", pid % 10000000);
	snprintf(n.veth_b, sizeof(n.veth_b), "qfvb%ld", pid % 10000000);
	add_ns(n.ns_db);
	add_ns(n.ns_a);
	add_ns(n.ns_b);
	link_pair(n.ns_db, n.veth_da, "10.213.1.1/30", n.ns_a, n.veth_a, "10.213.1.2/30");
	link_pair(n.ns_db, n.veth_db, "10.213.2.1/30", n.ns_b, n.veth_b, "10.213.2.2/30");

	sv_pg pg;
	sv_pg_init(&pg, "netns-cluster", n.ns_db, "10.213.1.1,10.213.2.1",
	           "host all all 10.213.1.0/30 trust\nhost all all 10.213.2.0/30 trust");
	sv_pg_start(&pg);

	/* the test's own way in: the server's Unix socket */
	char local[QF_MAX_PATH + 96];
	if (qf_snprintf(local, sizeof(local), "postgresql:///postgres?host=%s&port=%d&user=postgres",
	                pg.dir, pg.port))
		fail_msg("URL too long");
	sv_pg_exec(local, "CREATE DATABASE qforge");
	sv_store s;
	memset(&s, 0, sizeof(s));
	s.pg = true;
	if (qf_snprintf(s.url, sizeof(s.url), "postgresql:///qforge?host=%s&port=%d&user=postgres",
	                pg.dir, pg.port))
		fail_msg("URL too long");
	/* the machines' way: over their veth */
	char url_a[128], url_b[128];
	sv_pg_url(&pg, url_a, sizeof(url_a), "10.213.1.1", "qforge");
	sv_pg_url(&pg, url_b, sizeof(url_b), "10.213.2.1", "qforge");

	char tmp[QF_MAX_PATH], mols[QF_MAX_PATH], wrapper[QF_MAX_PATH];
	qft_tmpdir(tmp, "netns");
	qft_join(mols, tmp, "molecules.xyz");
	qft_data(wrapper, "queue/xtb-gate");
	const int njobs = 40;
	sv_write_xyz(mols, njobs, "ew", 29);

	qft_output o;
	qforge_in(n.ns_a, (const char *[]){"db", "migrate", "--store", url_a, NULL}, &o);
	qft_output_release(&o);
	qforge_in(n.ns_b,
	          (const char *[]){"batch", "submit", mols, "--store", url_b, "--task", "opt", "--xtb",
	                           wrapper, NULL},
	          &o);
	char batch[QF_UUID_STR];
	size_t len = strcspn(o.out, "\n");
	assert_int_equal(len, QF_UUID_STR - 1);
	memcpy(batch, o.out, len);
	batch[len] = '\0';
	qft_output_release(&o);

	/* a machine each: its own jobs root (the gate beside it) and name */
	static const char *const names[2] = {"machine-a", "machine-b"};
	const char *nss[2] = {n.ns_a, n.ns_b};
	const char *urls[2] = {url_a, url_b};
	char roots[2][QF_MAX_PATH], jobs[2][QF_MAX_PATH], gates[2][QF_MAX_PATH], logs[2][QF_MAX_PATH];
	sv_proc w[2];
	for (int i = 0; i < 2; i++) {
		qft_join(roots[i], tmp, names[i]);
		qft_join(jobs[i], roots[i], "jobs");
		qft_join(gates[i], roots[i], "gate");
		char name[32];
		snprintf(name, sizeof(name), "%s.log", names[i]);
		qft_join(logs[i], tmp, name);
		const char *prefix[] = {"ip", "netns", "exec", nss[i], NULL};
		const char *extra[] = {"--exit-when-idle", "--xtb", wrapper, "--name", names[i], NULL};
		sv_worker(&w[i], urls[i], jobs[i], logs[i], extra, NULL, prefix, NULL);
	}
	/* both machines hold jobs, then the gates open */
	double end = sv_now() + 90;
	while (running_by(&s, batch, names[0]) == 0 || running_by(&s, batch, names[1]) == 0) {
		for (int i = 0; i < 2; i++)
			if (sv_wait(&w[i], 0)) {
				char *text = sv_read(logs[i]);
				fail_msg("%s ended early (%d):\n%s", names[i], sv_exit_code(&w[i]), text);
			}
		if (sv_now() > end)
			fail_msg("the machines did not both claim jobs");
		sv_sleep(0.05);
	}
	for (int i = 0; i < 2; i++)
		qft_write(gates[i], "open\n");
	for (int i = 0; i < 2; i++) {
		sv_wait_or_fail(&w[i], 180, names[i]);
		if (sv_exit_code(&w[i]) != 0) {
			char *text = sv_read(logs[i]);
			fail_msg("%s ended with status %d:\n%s", names[i], sv_exit_code(&w[i]), text);
		}
	}
	sv_reap_all(5);

	sv_outcome out;
	sv_check_exactly_once(&s, batch, njobs, &out);
	assert_int_equal(out.completed, njobs);
	long long by[2];
	for (int i = 0; i < 2; i++) {
		by[i] = sv_int(&s,
		               "SELECT count(*) FROM calculation_execution_metrics m JOIN calculations c ON "
		               "c.id = m.calculation_id WHERE c.batch_id = '%s' AND m.worker LIKE '%s/%%'",
		               batch, names[i]);
		assert_true(by[i] > 0);
		assert_int_equal(sv_stat(logs[i], "completed"), by[i]);
	}
	print_message("machine-a ran %lld, machine-b %lld of %d\n", by[0], by[1], njobs);
	/* every attempt is one machine's, and nothing else recorded any */
	assert_int_equal(by[0] + by[1],
	                 sv_int(&s,
	                        "SELECT count(*) FROM calculation_execution_metrics m JOIN calculations c "
	                        "ON c.id = m.calculation_id WHERE c.batch_id = '%s'",
	                        batch));
	/* each job's directory on the machine that ran it, and only there */
	json_t *rows = sv_rows(&s,
	                       "SELECT c.id, m.worker FROM calculations c JOIN calculation_execution_metrics "
	                       "m ON m.calculation_id = c.id WHERE c.batch_id = '%s'",
	                       batch);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		const char *id = json_string_value(json_array_get(row, 0));
		const char *worker = json_string_value(json_array_get(row, 1));
		int mine = !strncmp(worker, names[1], strlen(names[1]));
		char dir[QF_MAX_PATH];
		qft_join(dir, jobs[mine], id);
		assert_true(qf_fs_exists(dir));
		qft_join(dir, jobs[1 - mine], id);
		assert_false(qf_fs_exists(dir));
	}
	json_decref(rows);

	sv_pg_destroy(&pg);
	del_ns(n.ns_a);
	del_ns(n.ns_b);
	del_ns(n.ns_db);
	qf_fs_rm_rf(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_two_machines, sv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
