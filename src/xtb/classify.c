/*
 * qf_xtb_classify: how an xtb 6.5.1 run ended, from the process status, what
 * the output says and the files it left. See include/qf/xtbparse.h.
 *
 * Order matters; the first rule that matches decides:
 *  1. we killed it for time                         xtb.timeout
 *  2. it died of SIGSEGV/SIGABRT/SIGBUS/SIGFPE/SIGILL, exited 134/139, or
 *     failed to allocate memory                     xtb.crashed
 *     (GFN0 in 6.5.1 does both at random, xtb issue #670: tests/data/xtb/
 *     fail_gfn0_*; the message then says so)
 *  3. another signal, or xtb reports a SIGTERM, that we did not send
 *                                                   xtb.killed
 *  4. xtb exited non-zero, reported a fatal error, or its stderr says
 *     "abnormal termination":
 *     "XTB REFUSES TO CONTINUE"                     xtb.refused
 *     "solvent: '...' is not parametrized"          xtb.solvent
 *     the geometry could not be read                xtb.input
 *     the SCC did not converge                      xtb.scc_not_converged
 *        also inside an optimisation: xtb then prints "-9- Geometry
 *        optimization failed" and leaves NOT_CONVERGED, but the error stack
 *        below it says "scf: Self consistent charge iterator did not
 *        converge" and .sccnotconverged is there (tests/data/xtb/
 *        fail_opt_scc_li4): the SCC is the cause, and its remedy (more
 *        iterations, a higher electronic temperature) is the one to try
 *     the optimisation failed otherwise           xtb.opt_not_converged
 *     anything else                                xtb.failed
 *  5. exit 0 but no final energy                    xtb.no_energy
 *  6. exit 0, but the optimisation did not converge (xtb exits 0 and even
 *     writes .xtboptok when it runs out of cycles)  xtb.opt_not_converged
 *  7. exit 0, but the last SCC did not converge     xtb.scc_not_converged
 */
#include "qf/xtbparse.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "qf/str.h"

/* What xtb's text may say, and what it means. */
static const char *const input_errors[] = {
	"Could not read number of atoms",
	"Cannot map symbol to atomic number",
	"Impossible number of atoms provided",
	"Atom number missmatch",
	"reading geometry input",
	"Could not read geometry",
	"Unknown file format",
};

static const char *const scc_errors[] = {
	"Self consistent charge iterator did not converge",
	"SCF not converged",
};

static const char *const memory_errors[] = {
	"Cannot allocate memory",
	"Error allocating",
	"Allocation would exceed memory limit",
	"Program received signal SIGSEGV",
	"Program received signal SIGBUS",
};

static bool contains_any(const char *text, const char *const *needles, size_t n)
{
	for (size_t i = 0; text && i < n; i++)
		if (strstr(text, needles[i]))
			return true;
	return false;
}

#define ANY(text, table) contains_any(text, table, sizeof(table) / sizeof(table[0]))

static bool in_output(const qf_xtb_outinfo *info, const char *out, const char *const *needles,
                      size_t n)
{
	return contains_any(info->fatal_message, needles, n) || contains_any(out, needles, n);
}

#define IN_OUTPUT(table) in_output(info, out, table, sizeof(table) / sizeof(table[0]))

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV: return "SIGSEGV";
	case SIGABRT: return "SIGABRT";
	case SIGBUS: return "SIGBUS";
	case SIGFPE: return "SIGFPE";
	case SIGILL: return "SIGILL";
	case SIGKILL: return "SIGKILL";
	case SIGTERM: return "SIGTERM";
	case SIGINT: return "SIGINT";
	case SIGHUP: return "SIGHUP";
	case SIGQUIT: return "SIGQUIT";
	case SIGPIPE: return "SIGPIPE";
	case SIGXCPU: return "SIGXCPU";
	case SIGXFSZ: return "SIGXFSZ";
	default: return "a signal";
	}
}

static bool crash_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGABRT || sig == SIGBUS || sig == SIGFPE || sig == SIGILL;
}

/* The lines of stdout from "[ERROR] Program stopped" to the end of the
 * error block (the "####" rule or a blank line). */
static void fatal_block(const char *out, qf_err *err)
{
	const char *start = out ? strstr(out, "[ERROR] Program stopped") : NULL;
	if (!start)
		return;
	const char *end = start;
	for (;;) {
		const char *nl = strchr(end, '\n');
		if (!nl) {
			end += strlen(end);
			break;
		}
		const char *next = nl + 1;
		if (*next == '#' || *next == '\n' || *next == '\0') {
			end = nl;
			break;
		}
		end = next;
	}
	qf_err_detail(err, start, (size_t)(end - start));
}

/* Detail for the operator: the error block of stdout when xtb printed one
 * (stderr then only says "abnormal termination" and a backtrace), else the
 * tail of stderr, else the tail of stdout. */
static void set_detail(qf_err *err, const qf_xtb_outinfo *info, const char *out, const char *errtext)
{
	if (info->fatal_error && out && strstr(out, "[ERROR] Program stopped")) {
		fatal_block(out, err);
		return;
	}
	const char *s = errtext ? qf_lskip(errtext) : "";
	while (*s == '\n' || *s == '\r')
		s = qf_lskip(s + 1);
	if (*s) {
		qf_err_detail(err, errtext, strlen(errtext));
		return;
	}
	if (out)
		qf_err_detail(err, out, strlen(out));
}

/* The "-1- ..." line that says what went wrong, for messages: the last of the
 * fatal lines (the innermost cause), without its number. */
static void root_cause(const qf_xtb_outinfo *info, char *buf, size_t size)
{
	const char *last = strrchr(info->fatal_message, ';');
	const char *s = last ? qf_lskip(last + 1) : info->fatal_message;
	if (*s == '-') {
		const char *p = strchr(s + 1, '-');
		if (p)
			s = qf_lskip(p + 1);
	}
	qf_strlcpy(buf, s, size);
}

int qf_xtb_classify(const qf_spec *spec, const qf_proc_result *pr, const qf_xtb_outinfo *info,
                    const qf_result *r, const char *stdout_text, const char *stderr_text,
                    qf_err *err)
{
	const char *out = stdout_text ? stdout_text : "";
	const char *errtext = stderr_text ? stderr_text : "";
	const bool optimises = spec && qf_task_optimises(spec->task);
	const int sig = pr->term_signal;
	const int code = pr->exit_code;
	const bool gfn0 = spec && spec->method == QF_METHOD_GFN0;
	/* xtb says it failed even when the exit status does not */
	const bool failed = code != 0 || info->fatal_error || info->abnormal_termination;
	char cause[512];
	int rc;

	root_cause(info, cause, sizeof(cause));

	if (pr->timed_out) {
		rc = qf_err_set(err, QF_CAT_TIMEOUT, "xtb.timeout",
		                "xtb did not finish within the time limit of %.0f s: raise the timeout, or "
		                "choose a cheaper task or method",
		                spec ? spec->timeout : 0.0);
		goto detail;
	}
	if (pr->cancelled) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "xtb.cancelled",
		                "the xtb calculation was cancelled before it finished");
		goto detail;
	}
	if (crash_signal(sig) || (sig == 0 && (code == 134 || code == 139))) {
		int s = sig ? sig : code - 128;
		if (gfn0)
			rc = qf_err_set(err, QF_CAT_SYSTEM, "xtb.crashed",
			                "xtb crashed (%s, signal %d): GFN0 in xtb 6.5.1 reads uninitialised "
			                "memory while it sets up (xtb issue #670); use GFN1 or GFN2",
			                signal_name(s), s);
		else
			rc = qf_err_set(err, QF_CAT_SYSTEM, "xtb.crashed",
			                "xtb crashed (%s, signal %d): usually the stack or memory ran out, "
			                "which large molecules do without an unlimited stack and one thread; "
			                "retry with one thread, or report the molecule if it is small",
			                signal_name(s), s);
		goto detail;
	}
	if (failed && (ANY(errtext, memory_errors) || IN_OUTPUT(memory_errors))) {
		if (gfn0)
			rc = qf_err_set(err, QF_CAT_SYSTEM, "xtb.crashed",
			                "xtb could not allocate memory (exit code %d): GFN0 in xtb 6.5.1 asks "
			                "for absurd amounts at random (xtb issue #670); retry, or use GFN1 or "
			                "GFN2",
			                code);
		else
			rc = qf_err_set(err, QF_CAT_SYSTEM, "xtb.crashed",
			                "xtb ran out of memory (exit code %d): the molecule may be too large for "
			                "the memory limit; retry with a cheaper task or method",
			                code);
		goto detail;
	}
	if (sig) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "xtb.killed",
		                "xtb was killed by %s (signal %d), which Quantum Forge did not send: the "
		                "machine may have run out of memory or an operator stopped it; retry the job",
		                signal_name(sig), sig);
		goto detail;
	}
	if (info->sigterm_received) {
		rc = qf_err_set(err, QF_CAT_SYSTEM, "xtb.killed",
		                "xtb received SIGTERM, which Quantum Forge did not send, and stopped (exit "
		                "code %d): the machine may be shutting down or an operator stopped it; retry "
		                "the job",
		                code);
		goto detail;
	}

	if (failed) {
		if (info->refused || strstr(out, "XTB REFUSES TO CONTINUE")) {
			rc = qf_err_set(err, QF_CAT_VALIDATION, "xtb.refused",
			                "xtb refused the geometry (%s): some atoms overlap; fix the coordinates",
			                cause[0] ? cause : "atoms too close");
		} else if (strstr(out, "is not parametrized") &&
		           (strstr(out, "solvent") || strstr(out, "solv_model"))) {
			rc = qf_err_set(err, QF_CAT_VALIDATION, "xtb.solvent",
			                "xtb does not parametrise the solvent '%s' for %s: choose another "
			                "solvent or solvation model",
			                spec && spec->solvent[0] ? spec->solvent : "?",
			                spec ? qf_method_label(spec->method) : "this method");
		} else if (IN_OUTPUT(input_errors)) {
			rc = qf_err_set(err, QF_CAT_VALIDATION, "xtb.input",
			                "xtb could not read the geometry (%s): check the molecule file",
			                cause[0] ? cause : "no reason given");
		} else if (info->scc_not_converged || IN_OUTPUT(scc_errors)) {
			int n = info->scc_iterations >= 0 ? info->scc_iterations
			        : spec                    ? spec->max_scc_iterations
			                                  : -1;
			bool in_opt = strstr(info->fatal_message, "Geometry optimization failed") ||
			              info->opt_not_converged;
			rc = qf_err_set(err, QF_CAT_CONVERGENCE, "xtb.scc_not_converged",
			                "the SCC did not converge within %d iterations%s: raise "
			                "max_scc_iterations or etemp",
			                n, in_opt ? " during the geometry optimisation" : "");
		} else if (info->opt_not_converged || strstr(out, "Geometry optimization failed")) {
			rc = qf_err_set(err, QF_CAT_CONVERGENCE, "xtb.opt_not_converged",
			                "the geometry optimisation failed after %d cycles (%s): start from a "
			                "better geometry or use another optimisation level",
			                info->opt_cycles, cause[0] ? cause : "no reason given");
		} else if (strstr(out, "Parameter file") && strstr(out, "not found")) {
			rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.failed",
			                "xtb could not find its parameter file (exit code %d): set XTBPATH to "
			                "the directory holding param_*.txt (Debian: /usr/share/xtb)",
			                code);
		} else {
			rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.failed",
			                "xtb stopped with exit code %d%s%s%s: see the log", code,
			                cause[0] ? " (" : "", cause, cause[0] ? ")" : "");
		}
		goto detail;
	}

	/* Exit 0 from here on. */
	if (!r || !r->has_energy) {
		rc = qf_err_set(err, QF_CAT_UNKNOWN, "xtb.no_energy",
		                "xtb exited normally but reported no total energy: its output may be "
		                "truncated; see the log");
		goto detail;
	}
	if (optimises && (info->opt_not_converged || !info->opt_converged)) {
		int n = info->opt_cycles >= 0 ? info->opt_cycles : spec->max_opt_cycles;
		rc = qf_err_set(err, QF_CAT_CONVERGENCE, "xtb.opt_not_converged",
		                "the geometry optimisation did not converge within %d cycles: raise "
		                "max_opt_cycles, or start from a better geometry",
		                n);
		goto detail;
	}
	if (info->scc_not_converged) {
		rc = qf_err_set(err, QF_CAT_CONVERGENCE, "xtb.scc_not_converged",
		                "the SCC did not converge within %d iterations: raise max_scc_iterations or "
		                "etemp",
		                info->scc_iterations >= 0 ? info->scc_iterations
		                : spec                    ? spec->max_scc_iterations
		                                          : -1);
		goto detail;
	}
	return 0;

detail:
	if (err) {
		err->user_action = err->category == QF_CAT_VALIDATION;
		set_detail(err, info, out, errtext);
	}
	return rc;
}
