/* The audit log, and live events. */
#include "../http_int.h"

/* One's own entries; a platform administrator searches everyone's, by
 * user, action and time (since, until). */
int h_audit_list(qf__req *r)
{
	static const char *const admin_filters[] = {"user_id", "action", NULL};
	static const char *const own_filters[] = {"action", NULL};
	/* read one's own writes: what is queued for the log is written first */
	qf__writer_flush(r->srv->writer);
	if (r->actor.is_admin)
		return qf__list(r, "user_audit_log", admin_filters, "created_at");
	json_t *mine = json_pack("{s:s}", "user_id", r->actor.user_id);
	int rc = qf__list_where(r, "user_audit_log", own_filters, "created_at", mine);
	json_decref(mine);
	return rc;
}

/* Server-Sent Events: the status changes of the caller's calculations and
 * batches (an administrator's: everyone's), as src/http/sse.c sends them.
 * The server glue keeps the connection and reads from the subscriber. */
int h_events(qf__req *r)
{
	qf__sub *sub = NULL;
	int rc = qf__hub_subscribe(r->srv->hub, r, &sub);
	if (rc)
		return rc;
	r->stream = sub;
	r->status = 200;
	return 0;
}
