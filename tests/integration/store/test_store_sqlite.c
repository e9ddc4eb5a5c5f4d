/* qf-test: labels=integration,store timeout=600 */
/* The store suite (store_suite.inc) against SQLite, in a fresh directory
 * whose var/ the store creates. */
#define QF_SUITE_PG 0
#include "store_suite.inc"
