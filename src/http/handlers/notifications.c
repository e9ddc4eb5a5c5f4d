/* One's notifications (the outbox, include/qf/store.h): how their delivery
 * went, and a test message on each enabled channel. */
#include "../http_int.h"

/* Newest first unless ?order= says otherwise; filters: status, channel,
 * event. last_error is the platform's account of a failure (never what a
 * receiver answered). */
int h_notify_list(qf__req *r)
{
	static const char *const filters[] = {"status", "channel", "event", NULL};
	json_t *mine = json_pack("{s:s}", "user_id", r->actor.user_id);
	int rc = qf__list_where(r, "notification_outbox", filters, "created_at", mine);
	json_decref(mine);
	return rc;
}

/* 202 with the rows queued; 400 when no channel is enabled (or set up). */
int h_notify_test(qf__req *r)
{
	int queued = 0;
	int rc = qf_store_notify_test(r->srv->store, &r->actor, &queued, &r->err);
	if (rc)
		return rc;
	if (!queued)
		return qf__fail(r, QF_EINVAL, QF_CAT_VALIDATION, "notify.no_channel",
		                "no notification channel is enabled: turn on e-mail or Slack (with a "
		                "webhook address) in the preferences first");
	qf_notifier_wake(r->srv->notifier);
	qf__audit(r, "notification_test", "notification_outbox", NULL,
	          json_pack("{s:i}", "queued", queued), "success", NULL);
	return qf__reply_json(r, 202, json_pack("{s:i}", "queued", queued));
}
