/* Inside src/notify/: what the channels share. */
#ifndef QF_NOTIFY_INT_H
#define QF_NOTIFY_INT_H

#include <stddef.h>

/* The options every notification transfer has (curl is a CURL *): no
 * signals, no proxy, no redirects, the timeouts, abort polled, the answer
 * counted into *seen and dropped. */
void qf__notify_curl_common(void *curl, const volatile int *abort, size_t *seen);

#endif
