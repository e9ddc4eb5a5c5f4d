/* qf-test: labels=integration,store,postgres timeout=900 */
/* The queue suite (queue_suite.inc) against PostgreSQL: a fresh database
 * qf_queue_<pid> on the server at QF_TEST_PG_URL (scripts/with-postgres;
 * without it the test fails), migrated as the URL's superuser, used as
 * qforge_app under row-level security, dropped at the end. */
#define QF_SUITE_PG 1
#include "queue_suite.inc"
