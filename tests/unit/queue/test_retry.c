/* The retry policy: per category, remedies, backoff bounds, the cap. */
#include "qftest.h"

#include <string.h>

#include "qf/queue.h"

static qf_claim claim(int attempt, int errors)
{
	qf_claim c;
	memset(&c, 0, sizeof(c));
	qf_spec_init(&c.spec);
	c.attempt = attempt;
	c.errors = errors;
	c.max_attempts = 3;
	return c;
}

static qf_err error(qf_category cat, const char *code)
{
	qf_err e;
	qf_err_init(&e);
	qf_err_set(&e, cat, code, "%s", code);
	return e;
}

static void test_table(void **state)
{
	(void)state;
	qf_retry_policy p;
	qf_retry_policy_init(&p);
	static const struct {
		const char *what;
		qf_category cat;
		const char *code;
		int attempt, errors;
		int prior_same; /* earlier failures of the same category */
		bool retry;
		double delay_min, delay_max;
	} rows[] = {
		{"validation never", QF_CAT_VALIDATION, "input.parity", 1, 0, 0, false, 0, 0},
		{"xtb refused never", QF_CAT_VALIDATION, "xtb.refused", 1, 0, 0, false, 0, 0},
		{"first timeout", QF_CAT_TIMEOUT, "xtb.timeout", 1, 0, 0, true, 0, 0},
		{"second timeout", QF_CAT_TIMEOUT, "xtb.timeout", 2, 1, 1, false, 0, 0},
		{"scc first", QF_CAT_CONVERGENCE, "xtb.scc_not_converged", 1, 0, 0, true, 0, 0},
		{"scc second", QF_CAT_CONVERGENCE, "xtb.scc_not_converged", 2, 1, 1, true, 0, 0},
		{"opt", QF_CAT_CONVERGENCE, "xtb.opt_not_converged", 1, 0, 0, true, 0, 0},
		{"system first: 2.5..5 s", QF_CAT_SYSTEM, "xtb.killed", 1, 0, 0, true, 2.5, 5.0},
		{"system second: 5..10 s", QF_CAT_SYSTEM, "xtb.killed", 2, 1, 1, true, 5.0, 10.0},
		{"unknown backs off", QF_CAT_UNKNOWN, "xtb.failed", 1, 0, 0, true, 2.5, 5.0},
		{"last attempt", QF_CAT_SYSTEM, "xtb.killed", 3, 2, 2, false, 0, 0},
		{"history shows the cap (timed out 3 times)", QF_CAT_SYSTEM, "xtb.killed", 1, 3, 0, false, 0, 0},
		{"history one short of the cap", QF_CAT_CONVERGENCE, "xtb.opt_not_converged", 1, 2, 0, false, 0, 0},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		qf_claim c = claim(rows[i].attempt, rows[i].errors);
		c.errors_by_category[rows[i].cat] = rows[i].prior_same;
		qf_err e = error(rows[i].cat, rows[i].code);
		qf_retry r;
		qf_retry_decide(&p, &c, &e, NULL, &r);
		if (r.retry != rows[i].retry)
			fail_msg("%s: retry %d, expected %d (%s)", rows[i].what, r.retry, rows[i].retry, r.remedy);
		if (r.delay < rows[i].delay_min || r.delay > rows[i].delay_max)
			fail_msg("%s: delay %g not in [%g, %g]", rows[i].what, r.delay, rows[i].delay_min,
			         rows[i].delay_max);
		assert_true(r.remedy[0] != '\0');
	}
}

static void test_remedies(void **state)
{
	(void)state;
	qf_retry_policy p;
	qf_retry_policy_init(&p);
	qf_retry r;

	qf_claim c = claim(1, 0);
	c.spec.timeout = 60;
	qf_err e = error(QF_CAT_TIMEOUT, "xtb.timeout");
	qf_retry_decide(&p, &c, &e, NULL, &r);
	assert_close(r.spec.timeout, 120, 0);
	assert_false(r.resume_geometry);

	c = claim(1, 0);
	e = error(QF_CAT_CONVERGENCE, "xtb.scc_not_converged");
	qf_retry_decide(&p, &c, &e, NULL, &r);
	assert_true(r.spec.max_scc_iterations >= 1000);
	assert_true(r.spec.etemp > 300);
	assert_int_equal(qf_spec_validate(&r.spec, NULL), 0);

	c = claim(2, 1);
	c.errors_by_category[QF_CAT_CONVERGENCE] = 1;
	c.spec = r.spec;
	qf_retry_decide(&p, &c, &e, NULL, &r);
	assert_true(r.spec.etemp > c.spec.etemp);

	c = claim(1, 0);
	e = error(QF_CAT_CONVERGENCE, "xtb.opt_not_converged");
	c.spec.task = QF_TASK_OPT;
	c.spec.max_opt_cycles = 50;
	qf_retry_decide(&p, &c, &e, NULL, &r);
	assert_int_equal(r.spec.max_opt_cycles, 100);
	assert_true(r.resume_geometry);

	/* the backoff cap holds however many failures came before */
	p.backoff_cap = 30;
	c = claim(1, 0);
	c.max_attempts = 100;
	p.max_attempts = 100;
	c.errors_by_category[QF_CAT_SYSTEM] = 40;
	e = error(QF_CAT_SYSTEM, "xtb.crashed");
	qf_retry_decide(&p, &c, &e, NULL, &r);
	assert_true(r.retry);
	assert_true(r.delay >= 15 && r.delay <= 30);
}

/* The per-worker cap is the smaller of the policy's and the job's. */
static void test_caps(void **state)
{
	(void)state;
	qf_retry_policy p;
	qf_retry_policy_init(&p);
	p.max_attempts = 2;
	qf_claim c = claim(2, 1);
	c.max_attempts = 5;
	qf_err e = error(QF_CAT_SYSTEM, "xtb.killed");
	qf_retry r;
	qf_retry_decide(&p, &c, &e, NULL, &r);
	assert_false(r.retry);
	p.max_attempts = 5;
	c.max_attempts = 2;
	qf_retry_decide(&p, &c, &e, NULL, &r);
	assert_false(r.retry);
	c.max_attempts = 5;
	qf_retry_decide(&p, &c, &e, NULL, &r);
	assert_true(r.retry);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_remedies),
		cmocka_unit_test(test_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
