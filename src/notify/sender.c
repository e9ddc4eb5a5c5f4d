/*
 * The sender of qforge serve: a thread of its own drains the store's
 * notification outbox. Nothing else waits for it: workers and requests
 * only write outbox rows; a slow or dead receiver costs this thread its
 * timeouts and nobody else anything.
 *
 * Each pass claims up to QF_NOTIFY_BATCH due rows (a lease: another server
 * sharing a PostgreSQL store skips them; a sender that dies gives them back
 * when it ends), sends them one at a time and settles each:
 *   sent      2xx from the webhook, 250 from the mail server
 *   pending   a failure that may pass (connection, timeout, 5xx, SMTP 4xx)
 *             and tries left: next_attempt_at = now + backoff
 *   failed    a failure that will not pass (refused by the SSRF rules, a
 *             redirect, 4xx, SMTP 5xx, no SMTP server configured) or the
 *             last try: last_error, and a notification_failed entry in the
 *             owner's audit log
 */
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qf/clock.h"
#include "qf/log.h"
#include "qf/notify.h"
#include "qf/str.h"

#define MODULE "notify"

struct qf_notifier {
	qf_notifier_opts o;
	qf_notify_policy policy;
	char smtp_url[1024], smtp_from[330], smtp_ca[QF_MAX_PATH];
	char smtp_user[QF_SMTP_MAX_USER + 1], smtp_password[QF_SMTP_MAX_PASSWORD + 1];
	unsigned char key[QF_SECRET_KEY_BYTES];
	bool have_key;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool woken;
	volatile int stop; /* read by transfers in progress (their abort) */
};

double qf_notify_backoff(double base, int attempts)
{
	if (attempts < 1)
		attempts = 1;
	double d = base * pow(2.0, attempts - 1 > 30 ? 30 : attempts - 1);
	return d > QF_NOTIFY_BACKOFF_MAX_S ? QF_NOTIFY_BACKOFF_MAX_S : d;
}

/* Send one claimed notification; 0 or the failure in err. */
static int send_one(qf_notifier *n, const qf_outbox_item *it, qf_err *err)
{
	char *subject = NULL, *body = NULL;
	int rc = qf_notify_format(it->event, it->payload, &subject, &body, err);
	if (rc)
		return rc;
	if (!strcmp(it->channel, "email")) {
		rc = qf_notify_email_send(&n->o.smtp, it->email ? it->email : "", subject, body, &n->stop,
		                          err);
	} else if (!strcmp(it->channel, "slack")) {
		char *url = NULL;
		if (!it->sealed_webhook || !*it->sealed_webhook)
			rc = qf_err_set(err, QF_CAT_VALIDATION, "notify.unconfigured",
			                "no Slack webhook is set any more");
		else if (!n->have_key)
			rc = qf_err_set(err, QF_CAT_VALIDATION, "notify.unconfigured",
			                "this server has no secret key to open the webhook address with");
		else if (!(url = qf_secret_open(n->key, it->sealed_webhook, err)))
			rc = err->rc ? err->rc : QF_EINVAL;
		if (!rc) {
			json_t *doc = json_pack("{s:s++}", "text", subject, "\n", body);
			char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
			json_decref(doc);
			rc = text ? qf_notify_slack_post(&n->policy, url, text, &n->stop, err)
			          : qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
			free(text);
		}
		if (url) {
			sodium_memzero(url, strlen(url));
			free(url);
		}
	} else {
		rc = qf_err_set(err, QF_CAT_VALIDATION, "notify.channel", "no channel '%s'", it->channel);
	}
	free(subject);
	free(body);
	return rc;
}

/* Record how it went; the time it is due again (0: not). */
static double settle(qf_notifier *n, const qf_outbox_item *it, int rc, const qf_err *why)
{
	qf_outbox_outcome o = QF_OUTBOX_SENT;
	double next = 0;
	int max = n->o.max_attempts;
	if (rc) {
		/* a send cut short by the server stopping is tried again, whatever
		 * the count */
		bool final = why->category == QF_CAT_VALIDATION || (it->attempts >= max && !n->stop);
		o = final ? QF_OUTBOX_FAILED : QF_OUTBOX_RETRY;
		next = qf_clock_now() + qf_notify_backoff(n->o.backoff_base_s, it->attempts);
		if (final)
			qf_log_warn(MODULE, "notification %s (%s to user %s) failed for good after %d tries: %s",
			            it->id, it->channel, it->user_id, it->attempts, why->message);
		else
			qf_log_info(MODULE, "notification %s (%s): try %d of %d failed, again in %.1f s: %s",
			            it->id, it->channel, it->attempts, max, next - qf_clock_now(),
			            why->message);
	}
	char msg[QF_NOTIFY_MAX_ERROR];
	if (rc && it->attempts >= max && why->category != QF_CAT_VALIDATION)
		snprintf(msg, sizeof(msg), "%.400s (gave up after %d tries)", why->message, it->attempts);
	else
		qf_strlcpy(msg, rc ? why->message : "", sizeof(msg));
	qf_err e;
	qf_err_init(&e);
	if (qf_store_outbox_settle(n->o.store, it, o, next, rc ? msg : NULL, &e)) {
		qf_log_warn(MODULE, "cannot record notification %s: %s", it->id, e.message);
		return 0;
	}
	return o == QF_OUTBOX_RETRY ? next : 0;
}

static void wait_for_work(qf_notifier *n, double seconds)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	double t = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + seconds;
	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - floor(t)) * 1e9);
	pthread_mutex_lock(&n->mu);
	while (!n->woken && !n->stop)
		if (pthread_cond_timedwait(&n->cv, &n->mu, &ts))
			break;
	n->woken = false;
	pthread_mutex_unlock(&n->mu);
}

static void *run(void *arg)
{
	qf_notifier *n = arg;
	qf_outbox_item items[QF_NOTIFY_BATCH];
	while (!n->stop) {
		int got = 0;
		qf_err err;
		qf_err_init(&err);
		if (qf_store_outbox_claim(n->o.store, qf_clock_now(), QF_NOTIFY_LEASE_S, QF_NOTIFY_BATCH,
		                          items, &got, &err)) {
			qf_log_warn(MODULE, "cannot read the notification outbox: %s", err.message);
			wait_for_work(n, QF_NOTIFY_POLL_S * 5);
			continue;
		}
		/* the next look: at the poll, or sooner when a retry is due sooner */
		double wake = qf_clock_now() + QF_NOTIFY_POLL_S;
		for (int i = 0; i < got; i++) {
			qf_err why;
			qf_err_init(&why);
			int rc = n->stop ? qf_err_set(&why, QF_CAT_SYSTEM, "notify.stopped",
			                              "the server stopped before sending")
			                 : send_one(n, &items[i], &why);
			double again = settle(n, &items[i], rc, &why);
			if (again > 0 && again < wake)
				wake = again;
			qf_outbox_item_release(&items[i]);
		}
		if (got < QF_NOTIFY_BATCH) {
			double wait = wake - qf_clock_now();
			wait_for_work(n, wait > 0.01 ? wait : 0.01);
		}
	}
	return NULL;
}

int qf_notifier_new(qf_notifier **out, const qf_notifier_opts *o, qf_err *err)
{
	*out = NULL;
	int rc = qf_notify_smtp_check(&o->smtp, err);
	if (rc)
		return rc;
	/* before any thread uses libcurl (the server starts this one early) */
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return qf_err_set(err, QF_CAT_SYSTEM, "notify.curl", "cannot initialise libcurl");
	qf_notifier *n = calloc(1, sizeof(*n));
	if (!n)
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory");
	n->o = *o;
	if (o->policy)
		n->policy = *o->policy;
	else
		qf_notify_policy_init(&n->policy);
	n->o.policy = &n->policy;
	if (o->smtp.url) {
		qf_strlcpy(n->smtp_url, o->smtp.url, sizeof(n->smtp_url));
		qf_strlcpy(n->smtp_from, o->smtp.from, sizeof(n->smtp_from));
		n->o.smtp.url = n->smtp_url;
		n->o.smtp.from = n->smtp_from;
	}
	if (o->smtp.user) {
		qf_strlcpy(n->smtp_user, o->smtp.user, sizeof(n->smtp_user));
		n->o.smtp.user = n->smtp_user;
	}
	if (o->smtp.password) {
		qf_strlcpy(n->smtp_password, o->smtp.password, sizeof(n->smtp_password));
		n->o.smtp.password = n->smtp_password;
	}
	if (o->smtp.ca_file) {
		qf_strlcpy(n->smtp_ca, o->smtp.ca_file, sizeof(n->smtp_ca));
		n->o.smtp.ca_file = n->smtp_ca;
	}
	if (o->secret_key) {
		memcpy(n->key, o->secret_key, sizeof(n->key));
		n->have_key = true;
	}
	n->o.secret_key = NULL;
	if (!(n->o.backoff_base_s > 0))
		n->o.backoff_base_s = QF_NOTIFY_BACKOFF_BASE_S;
	if (n->o.backoff_base_s < QF_NOTIFY_BACKOFF_MIN_S)
		n->o.backoff_base_s = QF_NOTIFY_BACKOFF_MIN_S;
	if (n->o.max_attempts <= 0)
		n->o.max_attempts = QF_NOTIFY_MAX_ATTEMPTS;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	if (pthread_create(&n->thread, NULL, run, n)) {
		pthread_mutex_destroy(&n->mu);
		pthread_cond_destroy(&n->cv);
		sodium_memzero(n->key, sizeof(n->key));
		sodium_memzero(n->smtp_password, sizeof(n->smtp_password));
		free(n);
		return qf_err_set(err, QF_CAT_SYSTEM, "system.thread", "cannot start the notification sender");
	}
	*out = n;
	return 0;
}

void qf_notifier_wake(qf_notifier *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	n->woken = true;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

void qf_notifier_free(qf_notifier *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	n->stop = 1;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	pthread_join(n->thread, NULL);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
	sodium_memzero(n->key, sizeof(n->key));
	sodium_memzero(n->smtp_password, sizeof(n->smtp_password));
	free(n);
}
