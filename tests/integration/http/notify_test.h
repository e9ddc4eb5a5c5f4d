/*
 * Shared by the notification tests (test_notify.c, test_notify_smtp.c):
 * preferences, test sends, and waiting for a notification to settle, each
 * answer checked for secrets.
 */
#ifndef NOTIFY_TEST_H
#define NOTIFY_TEST_H

#include "http_test.h"

static inline void nt_put_prefs(const ht_server *s, const char *token, const char *body)
{
	ht_resp r;
	ht_expect(&r, s, "PUT", "/api/v1/preferences", token, body, 200);
	ht_check_no_secrets(&r, "PUT /api/v1/preferences");
	ht_resp_release(&r);
}

/* POST /api/v1/notifications/test: expect_queued rows queued. */
static inline void nt_send_test(const ht_server *s, const char *token, int expect_queued)
{
	ht_resp r;
	ht_expect(&r, s, "POST", "/api/v1/notifications/test", token, NULL, 202);
	assert_int_equal(json_integer_value(json_object_get(r.json, "queued")), expect_queued);
	ht_resp_release(&r);
}

static inline const char *nt_str(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

/* The newest notification of event whose id is not `not_id` (may be NULL),
 * once it is sent or failed (its document). No answer on the way may hold
 * `never` (may be NULL: what a receiver answered, a password). */
static inline json_t *nt_wait_settled(const ht_server *s, const char *token, const char *event,
                                      const char *not_id, double timeout_s, const char *never)
{
	char path[128];
	snprintf(path, sizeof(path), "/api/v1/notifications?event=%s&limit=1", event);
	double end = sv_now() + timeout_s;
	for (;;) {
		ht_resp r;
		ht_expect(&r, s, "GET", path, token, NULL, 200);
		ht_check_no_secrets(&r, "GET /api/v1/notifications");
		if (never && strstr(r.body, never))
			fail_msg("'%s' reached the user: %s", never, r.body);
		json_t *it = json_array_get(json_object_get(r.json, "items"), 0);
		const char *id = json_string_value(json_object_get(it, "id"));
		const char *st = json_string_value(json_object_get(it, "status"));
		if (id && (!not_id || strcmp(id, not_id)) && st &&
		    (!strcmp(st, "sent") || !strcmp(st, "failed"))) {
			json_t *doc = json_incref(it);
			ht_resp_release(&r);
			return doc;
		}
		if (sv_now() > end) {
			char *log = sv_read(s->log);
			fail_msg("no settled %s notification after %.0f s: %s\nserver log:\n%s", event,
			         timeout_s, r.body, log);
		}
		ht_resp_release(&r);
		sv_sleep(0.05);
	}
}

#endif
