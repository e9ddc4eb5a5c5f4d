/* Inside src/notify/: what the channels share. */
#ifndef QF_NOTIFY_INT_H
#define QF_NOTIFY_INT_H

#include <stddef.h>

#include "qf/notify.h"

/* The options every notification transfer has (curl is a CURL *): no
 * signals, no proxy, no redirects, the timeouts, abort polled, the answer
 * counted into *seen and dropped. */
void qf__notify_curl_common(void *curl, const volatile int *abort, size_t *seen);

/* The POST of qf_notify_slack_post to a destination already checked (t):
 * a name is pinned to the checked address (t->resolve, CURLOPT_RESOLVE),
 * and every socket curl opens must be to t->addr and (unless t->test) to
 * no forbidden address, whatever curl resolved: the address connected to
 * is the one checked.
 * Tests call it with targets the check would never make. */
int qf__notify_slack_send(const qf_notify_target *t, const char *url, const char *json,
                          const volatile int *abort, qf_err *err);

#endif
