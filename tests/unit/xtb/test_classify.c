/*
 * qf_xtb_classify replayed over every case of tests/data/xtb/: the case's
 * files are collected as the runner does, its exit_code record becomes the
 * process status, and the verdict (code, category, who must act, what the
 * message and the detail say) is checked. Then the statuses no case
 * directory can show (our timeout, a signal from elsewhere, cancellation,
 * exit 0 without energy).
 */
#include "qftest.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "qf/xtbparse.h"
#include "xtbcase.h"

typedef struct verdict {
	const char *c;
	qf_task task;
	qf_method method;
	const char *solvent;  /* ALPB solvent of the spec, or NULL */
	bool timed_out;       /* we sent the signal in generate.sh because of time */
	const char *code;     /* NULL: success */
	qf_category cat;
	const char *msg_part; /* the message must contain it */
	const char *detail_part;
} verdict;

static const verdict verdicts[] = {
	{"gfn2_sp_water", QF_TASK_SP, QF_METHOD_GFN2, NULL, false, NULL, 0, NULL, NULL},
	{"gfn2_sp_caffeine", QF_TASK_SP, QF_METHOD_GFN2, NULL, false, NULL, 0, NULL, NULL},
	{"gfn2_sp_caffeine_alpb", QF_TASK_SP, QF_METHOD_GFN2, "water", false, NULL, 0, NULL, NULL},
	{"gfn1_sp_caffeine", QF_TASK_SP, QF_METHOD_GFN1, NULL, false, NULL, 0, NULL, NULL},
	{"gfn0_sp_water", QF_TASK_SP, QF_METHOD_GFN0, NULL, false, NULL, 0, NULL, NULL},
	{"gfnff_sp_caffeine", QF_TASK_SP, QF_METHOD_GFNFF, NULL, false, NULL, 0, NULL, NULL},
	{"gfnff_hess_water", QF_TASK_HESS, QF_METHOD_GFNFF, NULL, false, NULL, 0, NULL, NULL},
	{"gfn2_opt_ethanol", QF_TASK_OPT, QF_METHOD_GFN2, NULL, false, NULL, 0, NULL, NULL},
	{"gfn2_ohess_water", QF_TASK_OHESS, QF_METHOD_GFN2, NULL, false, NULL, 0, NULL, NULL},
	/* "Hessian on incompletely optimized geometry!" is a warning, exit 0 */
	{"gfn2_hess_ammonia_planar", QF_TASK_HESS, QF_METHOD_GFN2, NULL, false, NULL, 0, NULL, NULL},
	{"gfn2_sp_acetate", QF_TASK_SP, QF_METHOD_GFN2, NULL, false, NULL, 0, NULL, NULL},
	{"gfn2_sp_methyl", QF_TASK_SP, QF_METHOD_GFN2, NULL, false, NULL, 0, NULL, NULL},

	{"fail_scc_caffeine", QF_TASK_SP, QF_METHOD_GFN2, NULL, false, "xtb.scc_not_converged",
	 QF_CAT_CONVERGENCE, "did not converge within 2 iterations",
	 "-1- scf: Self consistent charge iterator did not converge"},
	/* exit 0 with .xtboptok */
	{"fail_opt_cycles_ethanol", QF_TASK_OPT, QF_METHOD_GFN2, NULL, false, "xtb.opt_not_converged",
	 QF_CAT_CONVERGENCE, "did not converge within 2 cycles", "normal termination of xtb"},
	/* -9- Geometry optimization failed, caused by the SCC */
	{"fail_opt_scc_li4", QF_TASK_OPT, QF_METHOD_GFN2, NULL, false, "xtb.scc_not_converged",
	 QF_CAT_CONVERGENCE, "30 iterations during the geometry optimisation",
	 "-9- Geometry optimization failed"},
	{"fail_solvent", QF_TASK_SP, QF_METHOD_GFN2, "nonsense", false, "xtb.solvent",
	 QF_CAT_VALIDATION, "solvent 'nonsense'", "is not parametrized"},
	{"fail_garbage", QF_TASK_SP, QF_METHOD_GFN2, NULL, false, "xtb.input", QF_CAT_VALIDATION,
	 "Could not read number of atoms", "expected integer value"},
	{"fail_overlap", QF_TASK_SP, QF_METHOD_GFN2, NULL, false, "xtb.refused", QF_CAT_VALIDATION,
	 "0.000E+00 for O1-H2", "XTB REFUSES TO CONTINUE"},
	{"fail_gfn0_segv", QF_TASK_SP, QF_METHOD_GFN0, NULL, false, "xtb.crashed", QF_CAT_SYSTEM,
	 "SIGSEGV, signal 11): GFN0", "Segmentation fault"},
	{"fail_gfn0_alloc", QF_TASK_SP, QF_METHOD_GFN0, NULL, false, "xtb.crashed", QF_CAT_SYSTEM,
	 "could not allocate memory", "Error allocating"},
	/* SIGTERM: from us (time limit) or from elsewhere */
	{"fail_sigterm_alkane", QF_TASK_HESS, QF_METHOD_GFN2, NULL, true, "xtb.timeout",
	 QF_CAT_TIMEOUT, "time limit", "recieved SIGTERM"},
	{"fail_sigterm_alkane", QF_TASK_HESS, QF_METHOD_GFN2, NULL, false, "xtb.killed",
	 QF_CAT_SYSTEM, "SIGTERM", "recieved SIGTERM"},
};

static void spec_for(qf_spec *spec, const verdict *v)
{
	qf_spec_init(spec);
	spec->task = v->task;
	spec->method = v->method;
	if (v->solvent) {
		spec->solvation = QF_SOLV_ALPB;
		qf_strlcpy(spec->solvent, v->solvent, sizeof(spec->solvent));
	}
}

/* Collect and classify one case as the runner does. */
static int replay(const verdict *v, const qf_proc_result *pr, qf_err *e)
{
	qf_spec spec;
	spec_for(&spec, v);
	qf_mol mol;
	qf_mol_init(&mol);
	bool have_mol = strcmp(v->c, "fail_garbage") != 0;
	if (have_mol)
		xc_mol(v->c, &mol);
	char dir[QF_MAX_PATH];
	xc_path(dir, v->c, NULL);
	qf_result r;
	qf_metrics m;
	qf_xtb_outinfo info;
	qf_err ce;
	qf_result_init(&r);
	qf_metrics_init(&m);
	qf_err_init(&ce);
	if (qf_xtb_collect(dir, have_mol ? &mol : NULL, &spec, &r, &m, &info, &ce))
		fail_msg("%s: collect failed: %s", v->c, ce.message);
	char *out = xc_need(v->c, "stdout.log");
	char *errtext = xc_need(v->c, "stderr.log");
	int rc = qf_xtb_classify(&spec, pr, &info, &r, out, errtext, e);
	/* success and convergence agree */
	if (rc == 0)
		assert_true(m.is_converged);
	free(out);
	free(errtext);
	qf_result_release(&r);
	qf_mol_release(&mol);
	return rc;
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(verdicts) / sizeof(verdicts[0]); k++) {
		const verdict *v = &verdicts[k];
		print_message("case %s%s\n", v->c, v->timed_out ? " (timed out)" : "");
		xc_status st = xc_exit(v->c);
		qf_proc_result pr;
		memset(&pr, 0, sizeof(pr));
		pr.exit_code = st.exit_code;
		pr.term_signal = st.signal;
		pr.timed_out = v->timed_out;
		if (v->timed_out)
			assert_int_equal(st.sent_signal, SIGTERM);
		qf_err e;
		qf_err_init(&e);
		int rc = replay(v, &pr, &e);
		if (!v->code) {
			if (rc)
				fail_msg("%s: expected success, got %s: %s", v->c, e.code, e.message);
			assert_int_equal(st.exit_code, 0);
			continue;
		}
		if (rc == 0)
			fail_msg("%s: expected %s, got success", v->c, v->code);
		assert_string_equal(e.code, v->code);
		assert_int_equal(e.category, v->cat);
		assert_int_equal(rc, qf_category_rc(v->cat));
		assert_int_equal(e.user_action, v->cat == QF_CAT_VALIDATION);
		if (!strstr(e.message, v->msg_part))
			fail_msg("%s: message '%s' lacks '%s'", v->c, e.message, v->msg_part);
		if (!strstr(e.detail, v->detail_part))
			fail_msg("%s: detail '%s' lacks '%s'", v->c, e.detail, v->detail_part);
		/* messages are lowercase sentences and say what to do */
		assert_true(e.message[0] >= 'a' && e.message[0] <= 'z');
		assert_non_null(strchr(e.message, ':'));
	}
}

/* Statuses no case directory shows, applied to real outputs. */
typedef struct synthetic {
	const char *what;
	const char *c;
	qf_task task;
	int exit_code, sig;
	bool timed_out, cancelled;
	const char *code;
	qf_category cat;
	const char *msg_part;
} synthetic;

static const synthetic synthetics[] = {
	/* a successful run we still killed for time counts as a timeout */
	{"timeout wins", "gfn2_sp_water", QF_TASK_SP, -1, SIGKILL, true, false, "xtb.timeout",
	 QF_CAT_TIMEOUT, "within the time limit of 3600 s"},
	{"cancelled", "gfn2_sp_water", QF_TASK_SP, -1, SIGTERM, false, true, "xtb.cancelled",
	 QF_CAT_SYSTEM, "cancelled"},
	{"SIGKILL from elsewhere", "gfn2_sp_water", QF_TASK_SP, -1, SIGKILL, false, false,
	 "xtb.killed", QF_CAT_SYSTEM, "SIGKILL"},
	{"SIGTERM from elsewhere, xtb did not catch it", "gfn2_sp_caffeine", QF_TASK_SP, -1, SIGTERM,
	 false, false, "xtb.killed", QF_CAT_SYSTEM, "SIGTERM"},
	{"SIGABRT", "gfn2_sp_water", QF_TASK_SP, -1, SIGABRT, false, false, "xtb.crashed",
	 QF_CAT_SYSTEM, "stack or memory"},
	{"exit 134 (abort through a shell)", "gfn2_sp_water", QF_TASK_SP, 134, 0, false, false,
	 "xtb.crashed", QF_CAT_SYSTEM, "SIGABRT"},
	{"exit 139 (SIGSEGV through a shell)", "gfn2_sp_water", QF_TASK_SP, 139, 0, false, false,
	 "xtb.crashed", QF_CAT_SYSTEM, "SIGSEGV"},
	/* an sp that printed everything but exited 1 for no stated reason */
	{"non-zero exit without evidence", "gfn2_sp_water", QF_TASK_SP, 1, 0, false, false,
	 "xtb.failed", QF_CAT_UNKNOWN, "exit code 1"},
	/* an opt spec over an sp's output: no convergence line */
	{"exit 0, optimisation never reported", "gfn2_sp_water", QF_TASK_OPT, 0, 0, false, false,
	 "xtb.opt_not_converged", QF_CAT_CONVERGENCE, "did not converge"},
	/* exit 0 after a fatal error (never seen, but not success) */
	{"exit 0 with a fatal error", "fail_solvent", QF_TASK_SP, 0, 0, false, false, "xtb.solvent",
	 QF_CAT_VALIDATION, "solvent"},
	{"exit 0, no energy", "fail_gfn0_segv", QF_TASK_SP, 0, 0, false, false, "xtb.no_energy",
	 QF_CAT_UNKNOWN, "no total energy"},
};

static void test_synthetic(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(synthetics) / sizeof(synthetics[0]); k++) {
		const synthetic *s = &synthetics[k];
		print_message("%s\n", s->what);
		verdict v = {s->c, s->task, QF_METHOD_GFN2, NULL, false, NULL, 0, NULL, NULL};
		if (!strcmp(s->c, "fail_solvent"))
			v.solvent = "nonsense";
		qf_proc_result pr;
		memset(&pr, 0, sizeof(pr));
		pr.exit_code = s->exit_code;
		pr.term_signal = s->sig;
		pr.timed_out = s->timed_out;
		pr.cancelled = s->cancelled;
		qf_err e;
		qf_err_init(&e);
		int rc = replay(&v, &pr, &e);
		if (rc == 0)
			fail_msg("%s: expected %s, got success", s->what, s->code);
		assert_string_equal(e.code, s->code);
		assert_int_equal(e.category, s->cat);
		assert_false(e.user_action && s->cat != QF_CAT_VALIDATION);
		if (!strstr(e.message, s->msg_part))
			fail_msg("%s: message '%s' lacks '%s'", s->what, e.message, s->msg_part);
	}
}

/* Without any output: no crash, and the detail falls back sensibly. */
static void test_no_output(void **state)
{
	(void)state;
	qf_spec spec;
	qf_spec_init(&spec);
	qf_xtb_outinfo info;
	qf_xtb_outinfo_init(&info);
	qf_result r;
	qf_result_init(&r);
	qf_proc_result pr;
	memset(&pr, 0, sizeof(pr));
	qf_err e;
	qf_err_init(&e);

	/* exit 0, nothing at all */
	assert_int_equal(qf_xtb_classify(&spec, &pr, &info, &r, NULL, NULL, &e), QF_EUNKNOWN);
	assert_string_equal(e.code, "xtb.no_energy");
	assert_string_equal(e.detail, "");

	/* exit 1, only stdout: its tail is the detail */
	pr.exit_code = 1;
	qf_err_init(&e);
	assert_int_equal(qf_xtb_classify(&spec, &pr, &info, &r, "something went wrong\n", "\n  \n", &e),
	                 QF_EUNKNOWN);
	assert_string_equal(e.code, "xtb.failed");
	assert_string_equal(e.detail, "something went wrong\n");

	/* the missing parameter file of GFN0 without XTBPATH */
	qf_err_init(&e);
	qf_xtb_classify(&spec, &pr, &info, &r, "Parameter file param_gfn0-xtb.txt not found!\n", "", &e);
	assert_string_equal(e.code, "xtb.failed");
	assert_non_null(strstr(e.message, "XTBPATH"));

	/* a long stderr keeps its tail */
	size_t n = 3 * QF_ERR_TAIL_BYTES;
	char *big = malloc(n + 16);
	assert_non_null(big);
	memset(big, 'x', n);
	memcpy(big + n, "THE END\n", 9);
	qf_err_init(&e);
	qf_xtb_classify(&spec, &pr, &info, &r, "", big, &e);
	assert_non_null(strstr(e.detail, "THE END"));
	assert_true(strlen(e.detail) < QF_ERR_TAIL_BYTES);
	free(big);

	/* exit 0, but stderr says abnormal termination */
	pr.exit_code = 0;
	info.abnormal_termination = true;
	r.has_energy = true;
	qf_err_init(&e);
	assert_int_equal(qf_xtb_classify(&spec, &pr, &info, &r, "", "abnormal termination of xtb\n", &e),
	                 QF_EUNKNOWN);
	assert_string_equal(e.code, "xtb.failed");
	assert_non_null(strstr(e.detail, "abnormal termination"));
	info.abnormal_termination = false;
	assert_int_equal(qf_xtb_classify(&spec, &pr, &info, &r, "", "", &e), 0);
	pr.exit_code = 1;

	/* err may be NULL */
	assert_int_equal(qf_xtb_classify(&spec, &pr, &info, &r, "", "", NULL), QF_EUNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_synthetic),
		cmocka_unit_test(test_no_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
