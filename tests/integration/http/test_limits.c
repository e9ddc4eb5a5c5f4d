/* qf-test: labels=integration,http,postgres timeout=300 */
/*
 * Who may register and how fast anyone may call, over real HTTP against
 * `qforge serve`:
 *  - --registration closed: the first account (the admin) registers, the
 *    next is refused with 403 auth.registration_closed;
 *  - --registration invite: without a code refused (403, the message asks
 *    for an invitation); an admin's invitation registers with the role it
 *    names, once; a made-up code and a used one are refused (403
 *    auth.invalid_invite);
 *  - the request rate: an API key with rate_limit_per_minute 5 gets its
 *    sixth request answered 429 http.rate_limited with a Retry-After of
 *    whole seconds, while the same user's session token is not limited by
 *    the key's bucket; anonymous callers are limited per address
 *    (QF_RATE_ANON_PER_MIN);
 *  - connections per address (QF_HTTP_MAX_PER_IP): with that many idle
 *    connections open from 127.0.0.1 the next one from there gets no
 *    answer, one from 127.0.0.2 does, and after they close 127.0.0.1 is
 *    served again;
 *  - the usage log: the requests made appear in api_usage_logs with their
 *    method, endpoint, status and user;
 *  - the active-jobs quota (users.max_concurrent_jobs 3, no workers): three
 *    submissions are queued, the fourth is refused with 429
 *    quota.active_jobs, a submission of two molecules at once when one slot
 *    is left too; after a cancel the next submission is queued at once (a
 *    refusal is decided on a fresh count, never on the server's remembered
 *    one, QF_QUOTA_RECOUNT_SECONDS);
 *  - the storage quota (users.storage_quota_mb 0.002, on SQLite and on
 *    PostgreSQL): water molecules are created until one is refused with 413
 *    quota.storage, which stores nothing; after a delete the next one is
 *    created at once; a batch upload past the quota is refused the same way
 *    and stores no molecule; with the quota lifted the same upload is
 *    accepted.
 */
#include "http_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "qf/limits.h"

static void serve(ht_server *s, const char *name, const char *registration)
{
	char tmp[QF_MAX_PATH];
	ht_store(s, name, false, tmp);
	const char *extra[] = {"--registration", registration, NULL};
	ht_serve(s, tmp, 0, extra);
}

static void register_expect(const ht_server *s, const char *email, const char *code, long status,
                            const char *err_code, ht_resp *out)
{
	char body[1024];
	if (code)
		snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"invite_code\":\"%s\"}",
		         email, HT_PASSWORD, code);
	else
		snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, HT_PASSWORD);
	ht_call(out, s, "POST", "/api/v1/auth/register", NULL, body);
	if (out->status != status || (err_code && strcmp(ht_error_code(out), err_code)))
		fail_msg("register %s (code %s): %ld %s, expected %ld %s", email, code ? code : "none",
		         out->status, out->body, status, err_code ? err_code : "");
	if (err_code)
		ht_check_error_shape(out, email);
}

static void test_registration_closed(void **state)
{
	(void)state;
	sv_setup();
	ht_server s;
	serve(&s, "limits-closed", "closed");
	ht_resp r;
	register_expect(&s, "first@example.org", NULL, 201, NULL, &r);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "user"), "role")),
	                    "admin");
	ht_resp_release(&r);
	register_expect(&s, "second@example.org", NULL, 403, "auth.registration_closed", &r);
	ht_resp_release(&r);
	assert_int_equal(ht_stop(&s, 30), 0);
}

static void test_registration_invite(void **state)
{
	(void)state;
	sv_setup();
	ht_server s;
	serve(&s, "limits-invite", "invite");
	ht_resp r;
	register_expect(&s, "admin@example.org", NULL, 201, NULL, &r);
	char admin[QF_MAX_PATH];
	qf_strlcpy(admin, json_string_value(json_object_get(r.json, "token")), sizeof(admin));
	ht_resp_release(&r);
	register_expect(&s, "guest@example.org", NULL, 403, "auth.registration_closed", &r);
	assert_non_null(strstr(r.body, "invitation"));
	ht_resp_release(&r);
	register_expect(&s, "guest@example.org", "qfi_made_up_code", 403, "auth.invalid_invite", &r);
	ht_resp_release(&r);
	ht_expect(&r, &s, "POST", "/api/v1/invites", admin, "{\"role\":\"viewer\"}", 201);
	char code[256];
	qf_strlcpy(code, json_string_value(json_object_get(r.json, "code")), sizeof(code));
	assert_true(!strncmp(code, "qfi_", 4));
	ht_resp_release(&r);
	register_expect(&s, "guest@example.org", code, 201, NULL, &r);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "user"), "role")),
	                    "viewer");
	ht_resp_release(&r);
	register_expect(&s, "other@example.org", code, 403, "auth.invalid_invite", &r); /* used */
	ht_resp_release(&r);
	assert_int_equal(ht_stop(&s, 30), 0);
}

/* The Retry-After header of r: whole seconds, at least 1 (-1: absent). */
static long retry_after(const ht_resp *r)
{
	char v[64];
	long n = -1;
	if (!ht_header(r, "Retry-After", v, sizeof(v)) || !qf_parse_int(v, 1, 3600, &n))
		return -1;
	return n;
}

/* An idle TCP connection from local address src to the server. */
static int connect_from(const ht_server *s, const char *src)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, src, &a.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
	inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&d, sizeof(d)), 0);
	return fd;
}

static bool answered_from(const ht_server *s, const char *src)
{
	return ht_alive_from(s, src, 3);
}

static void test_rates_connections_usage(void **state)
{
	(void)state;
	sv_setup();
	ht_server s;
	serve(&s, "limits-rate", "open");
	char token[QF_MAX_PATH], uid[QF_UUID_STR];
	ht_register(&s, "caller@example.org", token, uid);
	ht_resp r;
	ht_expect(&r, &s, "POST", "/api/v1/api-keys", token, "{\"name\":\"slow\"}", 201);
	char key[QF_MAX_PATH], kid[QF_UUID_STR];
	const char *k = json_string_value(json_object_get(r.json, "key"));
	if (!k)
		k = json_string_value(json_object_get(r.json, "token"));
	assert_non_null(k);
	qf_strlcpy(key, k, sizeof(key));
	qf_strlcpy(kid, json_string_value(json_object_get(r.json, "id")), sizeof(kid));
	ht_resp_release(&r);
	json_decref(sv_rows(&s.store, "UPDATE api_keys SET rate_limit_per_minute = 5 WHERE id = '%s' RETURNING 1", kid));

	/* the key: 5 a minute, the sixth refused with Retry-After */
	for (int i = 0; i < 5; i++) {
		ht_expect(&r, &s, "GET", "/api/v1/molecules", key, NULL, 200);
		ht_resp_release(&r);
	}
	ht_call(&r, &s, "GET", "/api/v1/molecules", key, NULL);
	if (r.status != 429 || strcmp(ht_error_code(&r), "http.rate_limited"))
		fail_msg("sixth request of a 5/min key: %ld %s", r.status, r.body);
	ht_check_error_shape(&r, "rate limited");
	long ra = retry_after(&r);
	print_message("key at its limit: 429, Retry-After %ld s\n", ra);
	assert_true(ra >= 1 && ra <= 60);
	ht_resp_release(&r);
	/* the user's session has its own bucket */
	ht_expect(&r, &s, "GET", "/api/v1/molecules", token, NULL, 200);
	ht_resp_release(&r);

	/* anonymous: per address */
	int ok = 0, limited = -1;
	for (int i = 0; i < QF_RATE_ANON_PER_MIN + 40 && limited < 0; i++) {
		ht_call(&r, &s, "GET", "/api/v1/openapi.json", NULL, NULL);
		if (r.status == 200)
			ok++;
		else if (r.status == 429) {
			limited = i;
			assert_true(retry_after(&r) >= 1);
			assert_string_equal(ht_error_code(&r), "http.rate_limited");
		} else
			fail_msg("openapi.json: %ld", r.status);
		ht_resp_release(&r);
	}
	print_message("anonymous: %d answered, then 429 (limit %d a minute)\n", ok, QF_RATE_ANON_PER_MIN);
	assert_true(limited >= 0);
	/* the start-up probes and the registration came from the same address */
	assert_true(ok >= QF_RATE_ANON_PER_MIN - 10 && ok <= QF_RATE_ANON_PER_MIN + 10);
	/* a signed-in caller is not held by that address's anonymous bucket */
	ht_expect(&r, &s, "GET", "/api/v1/molecules", token, NULL, 200);
	ht_resp_release(&r);

	/* connections per address */
	int fds[QF_HTTP_MAX_PER_IP];
	for (int i = 0; i < QF_HTTP_MAX_PER_IP; i++)
		fds[i] = connect_from(&s, "127.0.0.1");
	sv_sleep(0.3);
	bool over = answered_from(&s, "127.0.0.1");
	bool other = answered_from(&s, "127.0.0.2");
	for (int i = 0; i < QF_HTTP_MAX_PER_IP; i++)
		close(fds[i]);
	print_message("%d idle connections from 127.0.0.1: one more %s; from 127.0.0.2 %s\n",
	              QF_HTTP_MAX_PER_IP, over ? "answered" : "refused", other ? "answered" : "refused");
	assert_false(over);
	assert_true(other);
	bool again = false;
	for (int i = 0; i < 50 && !again; i++) {
		sv_sleep(0.1);
		again = answered_from(&s, "127.0.0.1");
	}
	assert_true(again);

	/* the usage log: the key's requests and the refusal, by this user (its
	 * writer is off the request path: wait, bounded, until all are there) */
	json_t *rows = NULL;
	size_t n = 0, n429 = 0, n200 = 0;
	double end = sv_now() + 10;
	for (;;) {
		rows = sv_rows(&s.store,
		               "SELECT method, endpoint, status_code, response_time_ms FROM api_usage_logs "
		               "WHERE user_id = '%s' AND endpoint LIKE '/api/v1/molecules%%' ORDER BY id",
		               uid);
		n = json_array_size(rows);
		n429 = n200 = 0;
		for (size_t i = 0; i < n; i++) {
			json_t *row = json_array_get(rows, i);
			assert_string_equal(json_string_value(json_array_get(row, 0)), "GET");
			long st = (long)json_integer_value(json_array_get(row, 2));
			assert_true(json_integer_value(json_array_get(row, 3)) >= 0);
			n429 += st == 429;
			n200 += st == 200;
		}
		if ((n200 >= 7 && n429 >= 1) || sv_now() > end)
			break;
		json_decref(rows);
		sv_sleep(0.2);
	}
	json_decref(rows);
	print_message("usage log: %zu rows for the user's /api/v1/molecules (%zu 200, %zu 429)\n", n, n200, n429);
	assert_true(n200 >= 7);
	assert_int_equal((int)n429, 1);
	assert_int_equal(ht_stop(&s, 30), 0);
}

static void submit_expect(const ht_server *s, const char *token, const char *body, long status,
                          char id[QF_UUID_STR])
{
	ht_resp r;
	ht_call(&r, s, "POST", "/api/v1/calculations", token, body);
	if (r.status != status)
		fail_msg("submit %s: %ld, expected %ld: %s", body, r.status, status, r.body);
	if (status == 429) {
		assert_string_equal(ht_error_code(&r), "quota.active_jobs");
		ht_check_error_shape(&r, "quota");
	} else if (id) {
		const char *v = json_string_value(json_object_get(r.json, "id"));
		if (!v)
			fail_msg("submit answered no id: %s", r.body);
		qf_strlcpy(id, v, QF_UUID_STR);
	}
	ht_resp_release(&r);
}

static void test_active_jobs_quota(void **state)
{
	(void)state;
	sv_setup();
	ht_server s;
	serve(&s, "limits-quota", "open");
	char token[QF_MAX_PATH], uid[QF_UUID_STR];
	ht_register(&s, "busy@example.org", token, uid);
	json_decref(sv_rows(&s.store, "UPDATE users SET max_concurrent_jobs = 3 WHERE id = '%s' RETURNING 1", uid));
	char m1[QF_UUID_STR], m2[QF_UUID_STR], body[256];
	char *mb = ht_molecule_body("w1", NULL, 1);
	ht_create(&s, "/api/v1/molecules", token, mb, m1);
	free(mb);
	mb = ht_molecule_body("w2", NULL, 2);
	ht_create(&s, "/api/v1/molecules", token, mb, m2);
	free(mb);
	snprintf(body, sizeof(body), "{\"molecule_id\":\"%s\",\"spec\":{\"task\":\"sp\"},\"force\":true}", m1);
	char first[QF_UUID_STR];
	submit_expect(&s, token, body, 201, first);
	submit_expect(&s, token, body, 201, NULL);
	char both[256];
	snprintf(both, sizeof(both),
	         "{\"molecule_ids\":[\"%s\",\"%s\"],\"spec\":{\"task\":\"sp\"},\"force\":true}", m1, m2);
	submit_expect(&s, token, both, 429, NULL);
	submit_expect(&s, token, body, 201, NULL);
	submit_expect(&s, token, body, 429, NULL);
	/* a cancel frees a slot, seen by the very next submission */
	char path[128];
	snprintf(path, sizeof(path), "/api/v1/calculations/%s/cancel", first);
	ht_resp r;
	ht_expect(&r, &s, "POST", path, token, NULL, 200);
	ht_resp_release(&r);
	submit_expect(&s, token, body, 201, NULL);
	submit_expect(&s, token, body, 429, NULL);
	long long queued = sv_int(&s.store, "SELECT count(*) FROM calculations WHERE owner_id = '%s' AND "
	                          "status IN ('queued', 'running')", uid);
	assert_int_equal((int)queued, 3);
	assert_int_equal(ht_stop(&s, 30), 0);
}

static long long molecules_of(const ht_server *s, const char *uid)
{
	return sv_int(&s->store, "SELECT count(*) FROM molecules WHERE owner_id = '%s'", uid);
}

static void storage_quota(bool pg)
{
	sv_setup();
	ht_server s;
	char tmp[QF_MAX_PATH];
	ht_store(&s, pg ? "limits-storage-pg" : "limits-storage", pg, tmp);
	const char *extra[] = {"--registration", "open", NULL};
	ht_serve(&s, tmp, 0, extra);
	char token[QF_MAX_PATH], uid[QF_UUID_STR];
	ht_register(&s, "full@example.org", token, uid);
	json_decref(sv_rows(&s.store, "UPDATE users SET storage_quota_mb = 0.002 WHERE id = '%s' RETURNING 1", uid));
	int created = 0;
	bool refused = false;
	char ids[40][QF_UUID_STR];
	for (int i = 0; i < 40 && !refused; i++) {
		char name[32];
		snprintf(name, sizeof(name), "w%d", i);
		char *mb = ht_molecule_body(name, NULL, (unsigned)i);
		ht_resp r;
		ht_call(&r, &s, "POST", "/api/v1/molecules", token, mb);
		free(mb);
		if (r.status == 201) {
			qf_strlcpy(ids[created++], json_string_value(json_object_get(r.json, "id")), QF_UUID_STR);
		} else if (r.status == 413) {
			assert_string_equal(ht_error_code(&r), "quota.storage");
			ht_check_error_shape(&r, "storage quota");
			refused = true;
		} else {
			fail_msg("molecule %d: %ld %s", i, r.status, r.body);
		}
		ht_resp_release(&r);
	}
	long long bytes = sv_int(&s.store, pg ? "SELECT sum(octet_length(coordinates::text) + "
	                                        "octet_length(atomic_numbers::text) + "
	                                        "octet_length(input_text)) FROM molecules"
	                                      : "SELECT sum(length(coordinates) + length(atomic_numbers) "
	                                        "+ length(input_text)) FROM molecules");
	print_message("%s: %d molecules (%lld bytes) within 0.002 MiB (2097 bytes), then refused\n",
	              pg ? "postgresql" : "sqlite", created, bytes);
	assert_true(refused);
	assert_true(created >= 1);
	assert_int_equal((int)molecules_of(&s, uid), created);
	/* at most one molecule past the quota (the estimate before a recount) */
	assert_true(bytes <= 2097 + bytes / created);
	/* deletes free room, seen by the very next molecule */
	ht_resp r;
	for (int i = 0; i < created; i++) {
		char path[64 + QF_UUID_STR];
		snprintf(path, sizeof(path), "/api/v1/molecules/%.36s", ids[i]);
		ht_call(&r, &s, "DELETE", path, token, NULL);
		if (r.status != 200 && r.status != 204)
			fail_msg("delete: %ld %s", r.status, r.body);
		ht_resp_release(&r);
	}
	char *mb = ht_molecule_body("again", NULL, 777);
	ht_expect(&r, &s, "POST", "/api/v1/molecules", token, mb, 201);
	free(mb);
	ht_resp_release(&r);
	long long before = molecules_of(&s, uid);
	/* an upload of twenty more */
	char upload[4096] = "";
	size_t off = 0;
	for (int i = 0; i < 20; i++)
		off += (size_t)snprintf(upload + off, sizeof(upload) - off,
		                        "3\\nb%d\\nO 0.0 0.0 %.4f\\nH 0.0 0.7572 -0.4692\\nH 0.0 -0.7572 -0.4692\\n",
		                        i, 0.2 + 0.0001 * i);
	char *body = NULL;
	if (asprintf(&body, "{\"name\":\"b\",\"format\":\"xyz\",\"data\":\"%s\",\"spec\":{\"task\":\"sp\"}}",
	             upload) < 0)
		fail_msg("out of memory");
	ht_call(&r, &s, "POST", "/api/v1/batches", token, body);
	if (r.status != 413 || strcmp(ht_error_code(&r), "quota.storage"))
		fail_msg("batch past the quota: %ld %s", r.status, r.body);
	ht_resp_release(&r);
	assert_int_equal((int)molecules_of(&s, uid), (int)before);
	json_decref(sv_rows(&s.store, "UPDATE users SET storage_quota_mb = NULL WHERE id = '%s' RETURNING 1", uid));
	ht_expect(&r, &s, "POST", "/api/v1/batches", token, body, 201);
	ht_resp_release(&r);
	free(body);
	assert_int_equal((int)molecules_of(&s, uid), (int)before + 20);
	assert_int_equal(ht_stop(&s, 30), 0);
}

static void test_storage_quota_sqlite(void **state)
{
	(void)state;
	storage_quota(false);
}

static void test_storage_quota_pg(void **state)
{
	(void)state;
	storage_quota(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registration_closed),
		cmocka_unit_test(test_registration_invite),
		cmocka_unit_test(test_rates_connections_usage),
		cmocka_unit_test(test_active_jobs_quota),
		cmocka_unit_test(test_storage_quota_sqlite),
		cmocka_unit_test(test_storage_quota_pg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
