/* qf-test: labels=integration,store,postgres timeout=600 */
/* The store suite (store_suite.inc) against PostgreSQL: a fresh database
 * qf_test_<pid> on the server at QF_TEST_PG_URL (scripts/with-postgres;
 * without it the test fails), migrated as the URL's superuser, used as
 * qforge_app under row-level security, dropped at the end. */
#define QF_SUITE_PG 1
#include "store_suite.inc"
