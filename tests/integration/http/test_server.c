/* qf-test: labels=integration,http,xtb,postgres timeout=900 */
/*
 * The server under stress and at its edges, against the real `qforge serve`:
 *
 *   malformed    a table of bad requests (invalid JSON, duplicate keys, wrong
 *                types, deep nesting, wrong media type, unknown routes, wrong
 *                methods, huge bodies, huge headers, broken request lines),
 *                each with its status and the one error shape; the server
 *                answers normally afterwards
 *   slow client  a connection that sends half a request is closed by the
 *                server's timeout while other clients are served
 *   wake         a calculation submitted over HTTP is claimed by an idle
 *                worker: the delay from the answer to `running` is printed
 *                (no timing assertion: machines here are noisy)
 *   restart      a worker killed with SIGKILL is restarted and counted in
 *                /metrics; work submitted afterwards completes
 *   concurrency  8 clients submitting and reading at once, SQLite and
 *                PostgreSQL: every calculation completed exactly once
 *   drain        SIGTERM while jobs are running: no new connections, the
 *                running jobs finish and are committed, the server exits 0
 */
#include "http_test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

static void start(ht_server *s, const char *name, bool pg, int workers, const char *const *extra)
{
	char tmp[QF_MAX_PATH];
	ht_store(s, name, pg, tmp);
	ht_serve(s, tmp, workers, extra);
}

/* ---- raw connections ------------------------------------------------------------------ */

static int dial(const ht_server *s)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		fail_msg("connect: %s", strerror(errno));
	return fd;
}

/* Send raw bytes, read the answer until the server closes or timeout_s;
 * the status of the first line (0: closed without one, -1: neither an
 * answer nor a close within timeout_s). */
static int raw(const ht_server *s, const char *req, size_t len, double timeout_s)
{
	int fd = dial(s);
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the server may close early on what it refuses */
		off += (size_t)n;
	}
	char buf[4096];
	size_t got = 0;
	bool closed = false;
	double end = sv_now() + timeout_s;
	while (got < sizeof(buf) - 1 && sv_now() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0) {
			closed = true;
			break;
		}
		got += (size_t)n;
		if (memmem(buf, got, "\r\n\r\n", 4))
			break;
	}
	buf[got] = '\0';
	close(fd);
	int status = closed ? 0 : -1;
	if (!strncmp(buf, "HTTP/1.", 7))
		status = (int)strtol(buf + 9, NULL, 10);
	return status;
}

/* ---- malformed requests ------------------------------------------------------------------ */

/* "X-Filler: " and n bytes of 'a': one header line of a chosen size. */
static char *filler_header(size_t n)
{
	char *h = malloc(n + 16);
	assert_non_null(h);
	memcpy(h, "X-Filler: ", 10);
	memset(h + 10, 'a', n);
	h[10 + n] = '\0';
	return h;
}

static void test_malformed(void **state)
{
	(void)state;
	sv_setup();
	ht_server s;
	start(&s, "http-malformed", false, 0, NULL);
	char tok[QF_MAX_PATH];
	ht_register(&s, "chemist@example.org", tok, NULL);

	static const struct {
		const char *what, *method, *path, *ctype, *body;
		bool auth;
		long status;
	} cases[] = {
		{"invalid JSON", "POST", "/api/v1/molecules", NULL, "{\"name\":", true, 400},
		{"not an object", "POST", "/api/v1/molecules", NULL, "[1,2,3]", true, 400},
		{"duplicate keys", "POST", "/api/v1/auth/login", NULL,
		 "{\"email\":\"a@example.org\",\"email\":\"b@example.org\",\"password\":\"x\"}", false, 400},
		{"wrong type", "POST", "/api/v1/molecules", NULL,
		 "{\"name\":7,\"format\":\"xyz\",\"data\":\"1\\nx\\nHe 0 0 0\\n\"}", true, 400},
		{"unknown format", "POST", "/api/v1/molecules", NULL,
		 "{\"name\":\"x\",\"format\":\"pdbqt\",\"data\":\"x\"}", true, 422},
		{"broken XYZ", "POST", "/api/v1/molecules", NULL,
		 "{\"name\":\"x\",\"format\":\"xyz\",\"data\":\"2\\nx\\nHe 0 0 0\\n\"}", true, 422},
		{"unknown element", "POST", "/api/v1/molecules", NULL,
		 "{\"name\":\"x\",\"format\":\"xyz\",\"data\":\"1\\nx\\nXx 0 0 0\\n\"}", true, 422},
		{"NUL in a string", "POST", "/api/v1/molecules", NULL,
		 "{\"name\":\"a\\u0000b\",\"format\":\"xyz\",\"data\":\"1\\nx\\nHe 0 0 0\\n\"}", true, 400},
		{"bad spec", "POST", "/api/v1/calculations", NULL,
		 "{\"molecule_id\":\"00000000-0000-4000-8000-000000000000\",\"spec\":{\"method\":\"gfn9\"}}",
		 true, 422},
		{"spec not an object", "POST", "/api/v1/calculations", NULL,
		 "{\"molecule_id\":\"00000000-0000-4000-8000-000000000000\",\"spec\":\"opt\"}", true, 422},
		{"wrong media type", "POST", "/api/v1/auth/login", "text/plain",
		 "{\"email\":\"a@example.org\",\"password\":\"x\"}", false, 415},
		{"unknown route", "GET", "/api/v1/nothing", NULL, NULL, true, 404},
		{"unknown version", "GET", "/api/v2/molecules", NULL, NULL, true, 404},
		{"wrong method", "PUT", "/api/v1/molecules", NULL, "{}", true, 405},
		{"wrong method on an object", "POST", "/api/v1/molecules/00000000-0000-4000-8000-000000000000",
		 NULL, "{}", true, 405},
		{"not an id", "GET", "/api/v1/molecules/..%2F..%2Fetc%2Fpasswd", NULL, NULL, true, 404},
		{"bad limit", "GET", "/api/v1/molecules?limit=-5", NULL, NULL, true, 400},
		{"huge limit", "GET", "/api/v1/molecules?limit=99999999999999999999", NULL, NULL, true, 400},
		{"bad cursor", "GET", "/api/v1/molecules?cursor=%%%%", NULL, NULL, true, 400},
		{"unknown filter column", "GET", "/rest/v1/calculations?password_hash=eq.x", NULL, NULL, true,
		 400},
		{"injection in a filter", "GET", "/rest/v1/calculations?select=id&status=eq.x'%20OR%201=1--",
		 NULL, NULL, true, 200},
		{"bad token", "GET", "/api/v1/molecules", NULL, NULL, false, 401},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ht_resp r;
		const char *body = cases[i].body;
		ht_call_h(&r, &s, cases[i].method, cases[i].path,
		          cases[i].auth ? tok : (!strcmp(cases[i].what, "bad token") ? "qf_not_a_key" : NULL),
		          cases[i].ctype, body, body ? strlen(body) : 0, NULL);
		if (r.status != cases[i].status)
			fail_msg("%s (%s %s): %ld, expected %ld: %s", cases[i].what, cases[i].method,
			         cases[i].path, r.status, cases[i].status, r.body);
		if (r.status >= 400)
			ht_check_error_shape(&r, cases[i].what);
		ht_resp_release(&r);
	}

	/* deep nesting: refused, not recursed into */
	size_t depth = 10000;
	char *deep = malloc(2 * depth + 64);
	size_t n = (size_t)snprintf(deep, 64, "{\"name\":\"x\",\"spec\":");
	for (size_t i = 0; i < depth; i++)
		deep[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	ht_resp r;
	ht_call_h(&r, &s, "POST", "/api/v1/molecules", tok, NULL, deep, n, NULL);
	assert_int_equal(r.status, 400);
	ht_check_error_shape(&r, "deep JSON");
	ht_resp_release(&r);
	free(deep);

	/* bodies over the limits: 413 (anonymous callers have a smaller one) */
	size_t big = 33u * 1024 * 1024;
	char *huge = malloc(big);
	memset(huge, ' ', big);
	huge[0] = '{';
	huge[big - 1] = '}';
	ht_call_h(&r, &s, "POST", "/api/v1/molecules", tok, NULL, huge, big, NULL);
	assert_int_equal(r.status, 413);
	ht_check_error_shape(&r, "huge body");
	ht_resp_release(&r);
	ht_call_h(&r, &s, "POST", "/api/v1/auth/login", NULL, NULL, huge, 20000, NULL);
	assert_int_equal(r.status, 413);
	ht_resp_release(&r);
	free(huge);

	/* headers just under the limit fit in a connection's memory: answered */
	char *near = filler_header(QF_HTTP_MAX_HEADER_BYTES - 2048);
	const char *near_extra[] = {near, NULL};
	ht_call_h(&r, &s, "GET", "/api/v1/molecules", tok, NULL, NULL, 0, near_extra);
	assert_int_equal(r.status, 200);
	ht_resp_release(&r);
	free(near);

	/* headers over the limit: 431 */
	char *hdr = filler_header(40 * 1024);
	const char *extra[] = {hdr, NULL};
	ht_call_h(&r, &s, "GET", "/api/v1/molecules", tok, NULL, NULL, 0, extra);
	assert_true(r.status == 431);
	ht_resp_release(&r);
	free(hdr);

	/* broken request lines and framing, on raw connections: a 4xx (505 for
	 * an HTTP version we do not speak) or the connection closed, never a
	 * hang or a crash */
	static const char *const broken[] = {
		"GARBAGE\r\n\r\n",
		"GET\r\n\r\n",
		"GET /livez HTTP/9.9\r\nHost: x\r\n\r\n",
		"GET /livez HTTP/1.1\r\n\r\n", /* no Host */
		"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: "
		"7\r\n\r\nabcde",
		"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET /livez HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		int st = raw(&s, broken[i], strlen(broken[i]), 10);
		if (st != 0 && st != 505 && (st < 400 || st >= 500))
			fail_msg("broken request %zu: %s %d", i, st < 0 ? "no answer nor close, " : "answered",
			         st);
	}
	/* and the server is well */
	assert_true(ht_alive(&s));
	ht_expect(&r, &s, "GET", "/api/v1/molecules", tok, NULL, 200);
	ht_resp_release(&r);
	assert_int_equal(ht_stop(&s, 60), 0);
	sv_teardown(NULL);
}

/* ---- a slow client -------------------------------------------------------------------------- */

static void test_slow_client(void **state)
{
	(void)state;
	sv_setup();
	ht_server s;
	start(&s, "http-slow", false, 0, NULL);
	/* half a request, then nothing */
	int fd = dial(&s);
	const char *half = "GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
	assert_true(send(fd, half, strlen(half), MSG_NOSIGNAL) > 0);
	double t0 = sv_now();
	/* others are served meanwhile */
	for (int i = 0; i < 20; i++)
		assert_true(ht_alive(&s));
	/* the server closes the slow one (its timeout, QF_HTTP_TIMEOUT_S) */
	bool closed = false;
	while (!closed && sv_now() - t0 < QF_HTTP_TIMEOUT_S + 15) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 200) > 0) {
			char b[512];
			ssize_t n = recv(fd, b, sizeof(b), 0);
			closed = n <= 0 || n > 0; /* closed, or answered (408) and closing */
		}
	}
	close(fd);
	if (!closed)
		fail_msg("a client that sent half a request was not closed after %.0f s", sv_now() - t0);
	print_message("the slow client was closed after %.1f s\n", sv_now() - t0);
	assert_true(ht_alive(&s));
	assert_int_equal(ht_stop(&s, 60), 0);
	sv_teardown(NULL);
}

/* ---- workers: woken, restarted -------------------------------------------------------------------- */

static void submit_one(const ht_server *s, const char *tok, unsigned seed, char calc[QF_UUID_STR])
{
	char name[32];
	snprintf(name, sizeof(name), "w%u", seed);
	char *body = ht_molecule_body(name, NULL, seed);
	char mol[QF_UUID_STR];
	ht_create(s, "/api/v1/molecules", tok, body, mol);
	free(body);
	char sub[256];
	snprintf(sub, sizeof(sub), "{\"molecule_id\":\"%s\",\"spec\":{\"task\":\"sp\"}}", mol);
	ht_create(s, "/api/v1/calculations", tok, sub, calc);
}

/* The worker processes of the server (its children running `worker`). */
static int worker_pids(const ht_server *s, pid_t *out, int max)
{
	int n = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d)) && n < max) {
		long pid;
		if (!qf_parse_int(e->d_name, 1, 1L << 30, &pid))
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		char *st = sv_read(path);
		if (!st)
			continue;
		const char *rp = strrchr(st, ')');
		char state;
		long ppid = 0;
		if (rp && sscanf(rp + 2, "%c %ld", &state, &ppid) == 2 && ppid == s->proc.pid &&
		    state != 'Z') {
			snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
			size_t len = 0;
			char *cmd = qft_slurp(path, &len);
			bool worker = false;
			for (size_t i = 0; cmd && i < len; i += strlen(cmd + i) + 1)
				worker |= !strcmp(cmd + i, "worker");
			free(cmd);
			if (worker)
				out[n++] = (pid_t)pid;
		}
		free(st);
	}
	if (d)
		closedir(d);
	return n;
}

static double metric(const ht_server *s, const char *name)
{
	ht_resp r;
	ht_expect(&r, s, "GET", "/metrics", NULL, NULL, 200);
	double v = -1;
	for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		size_t nl = strlen(name);
		if (!strncmp(p, name, nl) && p[nl] == ' ') {
			v = strtod(p + nl + 1, NULL);
			break;
		}
	}
	ht_resp_release(&r);
	return v;
}

static void test_wake_and_restart(void **state)
{
	(void)state;
	sv_setup();
	ht_server s;
	/* one worker with a long idle poll: only the wake-up gets it going fast */
	const char *extra[] = {"--worker-arg", "--poll-seconds", "--worker-arg", "5", NULL};
	start(&s, "http-wake", false, 1, extra);
	char tok[QF_MAX_PATH];
	ht_register(&s, "chemist@example.org", tok, NULL);
	/* the worker is up and idle */
	double end = sv_now() + 30;
	pid_t pids[8];
	while (worker_pids(&s, pids, 8) < 1) {
		if (sv_now() > end)
			fail_msg("qforge serve started no worker");
		sv_sleep(0.05);
	}
	sv_sleep(1.0);
	double delays[5];
	for (int i = 0; i < 5; i++) {
		char calc[QF_UUID_STR];
		submit_one(&s, tok, 100 + (unsigned)i, calc);
		double t0 = sv_now();
		char path[128];
		snprintf(path, sizeof(path), "/api/v1/calculations/%s", calc);
		for (;;) {
			ht_resp r;
			ht_expect(&r, &s, "GET", path, tok, NULL, 200);
			const char *st = json_string_value(json_object_get(r.json, "status"));
			bool claimed = st && strcmp(st, "queued");
			ht_resp_release(&r);
			if (claimed)
				break;
			if (sv_now() - t0 > 60)
				fail_msg("calculation %s not claimed within 60 s", calc);
			sv_sleep(0.002);
		}
		delays[i] = sv_now() - t0;
		json_decref(ht_wait_calc(&s, tok, calc, 120));
		sv_sleep(0.3);
	}
	print_message("submit -> claimed (the worker's idle poll is 5 s): %.0f %.0f %.0f %.0f %.0f ms\n",
	              delays[0] * 1e3, delays[1] * 1e3, delays[2] * 1e3, delays[3] * 1e3, delays[4] * 1e3);

	/* kill -9 the worker: restarted, counted */
	assert_int_equal(worker_pids(&s, pids, 8), 1);
	double before = metric(&s, "qforge_worker_restarts_total");
	assert_true(before >= 0);
	kill(pids[0], SIGKILL);
	end = sv_now() + 60;
	for (;;) {
		pid_t now[8];
		int n = worker_pids(&s, now, 8);
		if (n == 1 && now[0] != pids[0] && metric(&s, "qforge_worker_restarts_total") > before)
			break;
		if (sv_now() > end) {
			char *log = sv_read(s.log);
			fail_msg("the killed worker was not restarted within 60 s:\n%s", log);
		}
		sv_sleep(0.1);
	}
	char calc[QF_UUID_STR];
	submit_one(&s, tok, 200, calc);
	json_t *doc = ht_wait_calc(&s, tok, calc, 120);
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "completed");
	json_decref(doc);
	assert_int_equal(ht_stop(&s, 60), 0);
	sv_teardown(NULL);
}

/* ---- many clients at once ---------------------------------------------------------------------------- */

#define CLIENTS 8
#define PER_CLIENT 6

struct client {
	const ht_server *s;
	char tok[QF_MAX_PATH];
	int index;
	char calcs[PER_CLIENT][QF_UUID_STR];
	int failures;
	char why[512];
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	for (int i = 0; i < PER_CLIENT; i++) {
		char name[32];
		snprintf(name, sizeof(name), "c%d-%d", c->index, i);
		char *body = ht_molecule_body(name, NULL, (unsigned)(c->index * 100 + i));
		ht_resp r;
		ht_call(&r, c->s, "POST", "/api/v1/molecules", c->tok, body);
		free(body);
		if (r.status != 201) {
			c->failures++;
			snprintf(c->why, sizeof(c->why), "molecule: %ld %s", r.status, r.body);
			ht_resp_release(&r);
			continue;
		}
		char sub[256];
		snprintf(sub, sizeof(sub), "{\"molecule_id\":\"%s\",\"spec\":{\"task\":\"sp\"}}",
		         json_string_value(json_object_get(r.json, "id")));
		ht_resp_release(&r);
		ht_call(&r, c->s, "POST", "/api/v1/calculations", c->tok, sub);
		if (r.status != 201) {
			c->failures++;
			snprintf(c->why, sizeof(c->why), "submit: %ld %s", r.status, r.body);
		} else {
			qf_strlcpy(c->calcs[i], json_string_value(json_object_get(r.json, "id")), QF_UUID_STR);
		}
		ht_resp_release(&r);
		/* reads between the writes */
		ht_call(&r, c->s, "GET", "/api/v1/calculations?limit=100", c->tok, NULL);
		if (r.status != 200) {
			c->failures++;
			snprintf(c->why, sizeof(c->why), "list: %ld %s", r.status, r.body);
		}
		ht_resp_release(&r);
		ht_call(&r, c->s, "GET", "/api/v1/dashboard", c->tok, NULL);
		if (r.status != 200) {
			c->failures++;
			snprintf(c->why, sizeof(c->why), "dashboard: %ld %s", r.status, r.body);
		}
		ht_resp_release(&r);
	}
	return NULL;
}

static void concurrency(bool pg)
{
	sv_setup();
	ht_server s;
	start(&s, pg ? "http-conc-pg" : "http-conc-sqlite", pg, 2, NULL);
	struct client *cs = calloc(CLIENTS, sizeof(*cs));
	for (int i = 0; i < CLIENTS; i++) {
		cs[i].s = &s;
		cs[i].index = i;
		char email[64];
		snprintf(email, sizeof(email), "client%d@example.org", i);
		ht_register(&s, email, cs[i].tok, NULL);
	}
	pthread_t th[CLIENTS];
	double t0 = sv_now();
	for (int i = 0; i < CLIENTS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, client_main, &cs[i]), 0);
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(th[i], NULL);
	double t1 = sv_now();
	for (int i = 0; i < CLIENTS; i++)
		if (cs[i].failures)
			fail_msg("client %d: %d failures, the last: %s", i, cs[i].failures, cs[i].why);
	for (int i = 0; i < CLIENTS; i++)
		for (int j = 0; j < PER_CLIENT; j++) {
			json_t *d = ht_wait_calc(&s, cs[i].tok, cs[i].calcs[j], 300);
			assert_string_equal(json_string_value(json_object_get(d, "status")), "completed");
			json_decref(d);
		}
	print_message("%s: %d clients x %d (molecule, submit, list, dashboard) in %.2f s; all %d "
	              "completed\n",
	              pg ? "PostgreSQL" : "SQLite", CLIENTS, PER_CLIENT, t1 - t0, CLIENTS * PER_CLIENT);
	/* exactly once: one completed attempt each, nothing else in the store */
	assert_int_equal(sv_int(&s.store, "SELECT count(*) FROM calculations"), CLIENTS * PER_CLIENT);
	assert_int_equal(sv_int(&s.store, "SELECT count(*) FROM calculations WHERE status = 'completed' "
	                                  "AND attempt = 1"),
	                 CLIENTS * PER_CLIENT);
	assert_int_equal(sv_int(&s.store, "SELECT count(*) FROM calculation_execution_metrics"),
	                 CLIENTS * PER_CLIENT);
	assert_int_equal(ht_stop(&s, 60), 0);
	sv_store_drop(&s.store);
	free(cs);
	sv_teardown(NULL);
}

static void test_concurrency_sqlite(void **state)
{
	(void)state;
	concurrency(false);
}

static void test_concurrency_postgres(void **state)
{
	(void)state;
	concurrency(true);
}

/* ---- SIGTERM drains ---------------------------------------------------------------------------------- */

static void test_drain(void **state)
{
	(void)state;
	sv_setup();
	ht_server s;
	char wrapper[QF_MAX_PATH];
	qft_data(wrapper, "queue/xtb-gate");
	const char *extra[] = {"--worker-arg", "--xtb", "--worker-arg", wrapper, "--worker-arg", "--no-engine",
	                       NULL};
	start(&s, "http-drain", false, 1, extra);
	char tok[QF_MAX_PATH];
	ht_register(&s, "chemist@example.org", tok, NULL);
	char calcs[2][QF_UUID_STR];
	for (int i = 0; i < 2; i++)
		submit_one(&s, tok, 300 + (unsigned)i, calcs[i]);
	/* both held at the gate (the worker runs two at once by default? wait
	 * for at least one running) */
	double end = sv_now() + 60;
	while (sv_int(&s.store, "SELECT count(*) FROM calculations WHERE status = 'running'") < 1) {
		if (sv_now() > end)
			fail_msg("no calculation started");
		sv_sleep(0.05);
	}
	long long running = sv_int(&s.store, "SELECT count(*) FROM calculations WHERE status = 'running'");
	sv_kill(&s.proc, SIGTERM);
	/* stops accepting: new connections are refused soon after */
	end = sv_now() + 30;
	while (ht_alive(&s)) {
		if (sv_now() > end)
			fail_msg("the server still accepts connections 30 s after SIGTERM");
		sv_sleep(0.05);
	}
	if (sv_wait(&s.proc, 0.5)) { /* it must still be draining: the jobs are held */
		char *log = sv_read(s.log);
		fail_msg("qforge serve ended (status %d) with its jobs still held:\n%s",
		         sv_exit_code(&s.proc), log);
	}
	char gate[QF_MAX_PATH];
	qft_join(gate, s.tmp, "gate");
	qft_write(gate, "");
	sv_wait_or_fail(&s.proc, 120, "qforge serve draining after SIGTERM");
	assert_int_equal(sv_exit_code(&s.proc), 0);
	/* what was running finished and was committed, at its first attempt;
	 * the rest is still queued, never attempted */
	assert_int_equal(sv_int(&s.store, "SELECT count(*) FROM calculations WHERE status = 'completed' "
	                                  "AND attempt = 1"),
	                 running);
	assert_int_equal(sv_int(&s.store, "SELECT count(*) FROM calculations WHERE status = 'queued' AND "
	                                  "attempt = 0"),
	                 2 - running);
	assert_int_equal(sv_int(&s.store, "SELECT count(*) FROM calculation_errors"), 0);
	print_message("SIGTERM with %lld running: drained, committed, exit 0\n", running);
	sv_teardown(NULL);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_malformed, sv_teardown),
		cmocka_unit_test_teardown(test_wake_and_restart, sv_teardown),
		cmocka_unit_test_teardown(test_concurrency_sqlite, sv_teardown),
		cmocka_unit_test_teardown(test_concurrency_postgres, sv_teardown),
		cmocka_unit_test_teardown(test_drain, sv_teardown),
		cmocka_unit_test_teardown(test_slow_client, sv_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
