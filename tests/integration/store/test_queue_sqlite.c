/* qf-test: labels=integration,store timeout=900 */
/* The queue suite (queue_suite.inc) against SQLite, in a fresh directory
 * whose var/ the store creates. */
#define QF_SUITE_PG 0
#include "queue_suite.inc"
