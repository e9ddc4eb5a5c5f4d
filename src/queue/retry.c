/* The retry policy: see include/qf/queue.h. */
#include "qf/queue.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "qf/limits.h"
#include "qf/str.h"

void qf_retry_policy_init(qf_retry_policy *p)
{
	p->max_attempts = QF_DEFAULT_MAX_ATTEMPTS;
	p->backoff_base = 5.0;
	p->backoff_factor = 2.0;
	p->backoff_cap = 300.0;
}

/* Exponential backoff with "equal jitter": half the delay fixed, half
 * random, so workers that failed together do not come back together. */
static double backoff(const qf_retry_policy *p, int previous)
{
	double d = p->backoff_base * pow(p->backoff_factor, previous);
	if (!(d <= p->backoff_cap))
		d = p->backoff_cap;
	double u = randombytes_uniform(1000001) / 1e6;
	return d / 2 + u * d / 2;
}

static void final(qf_retry *out, const qf_claim *c, const char *why)
{
	out->retry = false;
	out->delay = 0;
	out->spec = c->spec;
	out->resume_geometry = false;
	qf_strlcpy(out->remedy, why, sizeof(out->remedy));
}

void qf_retry_decide(const qf_retry_policy *p, const qf_claim *c, const qf_err *e,
                     const qf_result *r, qf_retry *out)
{
	(void)r;
	memset(out, 0, sizeof(*out));
	out->spec = c->spec;
	qf_spec *s = &out->spec;

	if (e->category == QF_CAT_VALIDATION) {
		final(out, c, "not retried: the input or the spec must change");
		return;
	}
	int cap = p->max_attempts > 0 ? p->max_attempts : QF_DEFAULT_MAX_ATTEMPTS;
	if (c->max_attempts > 0 && c->max_attempts < cap)
		cap = c->max_attempts;
	/* This failure is one more in the history. */
	int failures = c->errors + 1;
	if (c->attempt >= cap || failures >= cap) {
		char why[160];
		snprintf(why, sizeof(why), "not retried: %d of %d attempts used", failures > c->attempt ? failures : c->attempt, cap);
		final(out, c, why);
		return;
	}

	int same = c->errors_by_category[e->category];
	switch (e->category) {
	case QF_CAT_TIMEOUT:
		if (same > 0) {
			final(out, c, "not retried: it timed out again with twice the time limit");
			return;
		}
		s->timeout = fmin(s->timeout * 2, QF_MAX_TIMEOUT_S);
		snprintf(out->remedy, sizeof(out->remedy), "time limit doubled to %g s", s->timeout);
		break;
	case QF_CAT_CONVERGENCE:
		if (!strcmp(e->code, "xtb.opt_not_converged")) {
			int cycles = s->max_opt_cycles > 0 ? s->max_opt_cycles * 2 : QF_RETRY_OPT_CYCLES;
			s->max_opt_cycles = cycles > QF_MAX_OPT_CYCLES ? QF_MAX_OPT_CYCLES : cycles;
			out->resume_geometry = true;
			snprintf(out->remedy, sizeof(out->remedy),
			         "optimisation cycles raised to %d, from the last geometry", s->max_opt_cycles);
		} else if (same == 0) {
			int it = s->max_scc_iterations * 4;
			if (it < QF_RETRY_SCC_ITERATIONS)
				it = QF_RETRY_SCC_ITERATIONS;
			s->max_scc_iterations = it > QF_MAX_SCC_ITERATIONS ? QF_MAX_SCC_ITERATIONS : it;
			if (s->etemp < QF_RETRY_ETEMP_1)
				s->etemp = QF_RETRY_ETEMP_1;
			snprintf(out->remedy, sizeof(out->remedy),
			         "SCC iterations raised to %d, electronic temperature to %g K",
			         s->max_scc_iterations, s->etemp);
		} else {
			if (s->etemp < QF_RETRY_ETEMP_2)
				s->etemp = QF_RETRY_ETEMP_2;
			if (s->max_scc_iterations < QF_RETRY_SCC_ITERATIONS)
				s->max_scc_iterations = QF_RETRY_SCC_ITERATIONS;
			snprintf(out->remedy, sizeof(out->remedy),
			         "electronic temperature raised to %g K", s->etemp);
		}
		break;
	case QF_CAT_SYSTEM:
	case QF_CAT_UNKNOWN:
	default:
		out->delay = backoff(p, same);
		snprintf(out->remedy, sizeof(out->remedy), "retried after %.1f s (backoff)", out->delay);
		break;
	}
	out->retry = true;
}
