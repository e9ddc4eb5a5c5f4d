/*
 * qforge run FILE [spec options] [--json]
 *
 * Runs xtb on every molecule of FILE in turn (or on --smiles), each in its own
 * job directory, and prints a readable summary per molecule, or with --json
 * the metadata.json document of each, one per line. Exit status: 0 when every
 * molecule completed, else the status of the first failure's category
 * (10 validation, 11 timeout, 12 convergence, 13 system, 14 unknown).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "qf/embed.h"
#include "qf/engine.h"
#include "qf/job.h"
#include "qf/molio.h"
#include "qf/store.h"
#include "qf/fs.h"
#include "qf/str.h"

#define HARTREE_EV 27.211386245988

static const char usage[] =
	"usage: qforge run FILE [options]\n"
	"       qforge run --smiles SMILES [--name NAME] [options]\n"
	"\n"
	"Runs xtb on each molecule of FILE (XYZ, multi-frame XYZ, SDF/MOL, or a SMILES\n"
	"file with one 'SMILES [name]' per line) and prints the results.\n"
	"\n"
	"calculation:\n"
	"  --task sp|opt|hess|ohess        what to compute (default sp)\n"
	"  --level crude|sloppy|loose|lax|normal|tight|vtight|extreme\n"
	"                                  optimisation level (default normal)\n"
	"  --method gfn0|gfn1|gfn2|gfnff   Hamiltonian (default gfn2)\n"
	"  --alpb SOLVENT | --gbsa SOLVENT implicit solvation (e.g. water)\n"
	"  --charge N                      total charge (default: from the file)\n"
	"  --uhf N                         unpaired electrons (default: from the file)\n"
	"  --etemp K                       electronic temperature (default 300)\n"
	"  --accuracy X                    xtb accuracy (default 1.0)\n"
	"  --max-scc-iterations N          SCC iteration limit (default 250)\n"
	"  --max-opt-cycles N              optimisation cycle limit (default: xtb's)\n"
	"  --timeout SECONDS               wall-time limit per molecule (default 3600)\n"
	"  --threads N                     threads per calculation (default 1)\n"
	"input and output:\n"
	"  --format xyz|sdf|smi            input format (default: from the extension)\n"
	"  --smiles SMILES                 run one molecule given as SMILES\n"
	"  --name NAME                     name for --smiles\n"
	"  --conformers N                  SMILES: embed N conformers (ETKDGv3, RMSD-pruned,\n"
	"                                  each minimised with MMFF94), run the lowest\n"
	"                                  (default 1)\n"
	"  --jobs-root DIR                 where job directories go (default\n"
	"                                  $QF_JOBS_ROOT or var/jobs)\n"
	"  --xtb PROGRAM                   the xtb program (default $QF_XTB or xtb)\n"
	"  --store URL                     also record each calculation in a store\n"
	"                                  (sqlite:PATH or postgresql://...)\n"
	"  --json                          print each metadata.json on one line\n";

enum {
	OPT_JSON = 256, OPT_FORMAT, OPT_SMILES, OPT_NAME, OPT_JOBS_ROOT, OPT_XTB, OPT_STORE, OPT_HELP,
	OPT_SPEC, OPT_CONFORMERS,
};

static const struct option options[] = {
	{"task", required_argument, NULL, OPT_SPEC},
	{"level", required_argument, NULL, OPT_SPEC},
	{"method", required_argument, NULL, OPT_SPEC},
	{"alpb", required_argument, NULL, OPT_SPEC},
	{"gbsa", required_argument, NULL, OPT_SPEC},
	{"charge", required_argument, NULL, OPT_SPEC},
	{"uhf", required_argument, NULL, OPT_SPEC},
	{"etemp", required_argument, NULL, OPT_SPEC},
	{"accuracy", required_argument, NULL, OPT_SPEC},
	{"max-scc-iterations", required_argument, NULL, OPT_SPEC},
	{"max-opt-cycles", required_argument, NULL, OPT_SPEC},
	{"timeout", required_argument, NULL, OPT_SPEC},
	{"threads", required_argument, NULL, OPT_SPEC},
	{"json", no_argument, NULL, OPT_JSON},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"smiles", required_argument, NULL, OPT_SMILES},
	{"name", required_argument, NULL, OPT_NAME},
	{"conformers", required_argument, NULL, OPT_CONFORMERS},
	{"jobs-root", required_argument, NULL, OPT_JOBS_ROOT},
	{"xtb", required_argument, NULL, OPT_XTB},
	{"store", required_argument, NULL, OPT_STORE},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static void print_json(json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
		free(s);
	}
	fflush(stdout);
}

static void print_summary(const qf_job *j)
{
	const qf_result *r = &j->result;
	const qf_metrics *m = &j->metrics;
	char formula[128];
	qf_mol_formula(&j->mol, formula, sizeof(formula));
	printf("%s  (%s, %d atoms, charge %d, unpaired electrons %d)\n", j->name[0] ? j->name : "(unnamed)",
	       formula, j->mol.natoms, j->mol.charge, j->mol.uhf);
	printf("  calculation       %s", qf_task_name(j->spec.task));
	if (qf_task_optimises(j->spec.task))
		printf(" (%s)", qf_level_name(j->spec.level));
	printf(", %s, %s\n", qf_method_label(j->spec.method),
	       j->spec.solvation ? m->solvation : "gas phase");
	printf("  status            %s\n", qf_job_status_name(j->status));
	if (r->has_energy)
		printf("  total energy      %.10f Eh  (%.6f eV)\n", r->total_energy,
		       r->total_energy * HARTREE_EV);
	if (r->has_gap)
		printf("  HOMO-LUMO gap     %.4f eV\n", r->gap_ev);
	if (r->has_dipole)
		printf("  dipole            %.4f D\n", r->dipole_debye);
	if (j->status == QF_JOB_COMPLETED || m->scf_cycles >= 0) {
		printf("  converged         %s", m->is_converged ? "yes" : "no");
		if (m->scf_cycles >= 0)
			printf(" (SCC %d iterations", m->scf_cycles);
		if (m->optimization_cycles >= 0)
			printf(", optimisation %d cycles", m->optimization_cycles);
		if (m->scf_cycles >= 0)
			printf(")");
		if (m->has_gradient_norm)
			printf(", gradient norm %.6f Eh/bohr", m->gradient_norm);
		printf("\n");
	}
	if (r->nfreq > 0) {
		double lowest = INFINITY;
		for (int i = 0; i < r->nfreq; i++)
			if (fabs(r->frequencies[i]) > 1.0 && r->frequencies[i] < lowest)
				lowest = r->frequencies[i];
		printf("  frequencies       %d imaginary, lowest %.2f cm-1\n", r->n_imaginary, lowest);
	}
	if (r->has_thermo)
		printf("  thermochemistry   ZPVE %.6f Eh, H %.6f Eh, G %.6f Eh, G(RRHO) %.6f Eh at %.2f K\n",
		       r->zpve, r->enthalpy, r->free_energy, r->g_rrho, r->thermo_temperature);
	printf("  time              wall %.3f s, cpu %.3f s, memory peak %.1f MB\n", m->wall_time,
	       m->cpu_time, m->memory_peak_mb);
	if (m->xtb_version[0])
		printf("  xtb               %s\n", m->xtb_version);
	if (qf_err_is_set(&j->error))
		printf("  error             %s: %s (%s)\n", qf_category_name(j->error.category),
		       j->error.message, j->error.code);
	printf("  job               %s\n", j->dir);
}

/*
 * GFN0 through the xtb 6.5.1 program crashes or allocates garbage sizes
 * (xtb issues #670, #865: uninitialised memory in its GFN0 set-up), while the
 * same version's library runs it correctly. So GFN0 singlepoints go through
 * an in-process engine (include/qf/engine.h), started on first use;
 * everything else through the xtb program.
 */
struct run_exec {
	const qf_xtb_opts *xo;
	qf_engine *engine;
};

static int run_exec_fn(void *ctx, const qf_mol *mol, const qf_spec *spec, int charge, int uhf,
                       const char *dir, qf_result *r, qf_metrics *m, qf_err *err)
{
	struct run_exec *x = ctx;
	if (spec->method == QF_METHOD_GFN0 && qf_engine_supports(spec)) {
		char path[QF_MAX_PATH];
		int rc;
		if (!x->engine && (rc = qf_engine_start(&x->engine, NULL, err)))
			return rc;
		if (qf_fs_join(path, sizeof(path), dir, QF_XTB_GEOMETRY))
			return qf_err_set(err, QF_CAT_SYSTEM, "system.path", "job directory path too long");
		if ((rc = qf_mol_write_xyz(mol, path, err)))
			return rc;
		return qf_engine_run(x->engine, mol, spec, charge, uhf, r, m, err);
	}
	return qf_xtb_run(mol, spec, charge, uhf, dir, x->xo, r, m, err);
}

/* One molecule: run it, print it; returns the exit status for it. */
static int run_one(const qf_mol *mol, const char *text, size_t len, qf_format fmt,
                   const char *source, int record, const qf_spec *spec, const qf_xtb_opts *xo,
                   struct run_exec *exec, const char *jobs_root, qf_store *store, bool json,
                   bool first)
{
	qf_job job;
	qf_job_init(&job);
	qf_job_input in = {mol, text, len, fmt, source, record};
	qf_job_opts jo = {.xtb = xo, .exec = run_exec_fn, .exec_ctx = exec};
	qf_job_run(&job, jobs_root, &in, spec, &jo);
	int status = qf_err_exit_status(job.error.category);
	if (store && job.dir[0]) {
		/* The job directory is the record; the store gets it after. A store
		 * failure loses nothing: `qforge reindex` records it later. */
		qf_actor sys = qf_actor_system();
		const qf_job *one = &job;
		qf_err serr;
		qf_err_init(&serr);
		if (qf_store_record_jobs(store, &sys, &one, 1, NULL, &serr)) {
			fprintf(stderr, "qforge: %s: could not record in the store: %s (%s); "
			        "the job directory %s keeps it ('qforge reindex' records it later)\n",
			        job.name[0] ? job.name : "molecule", serr.message, serr.code, job.dir);
			if (!status)
				status = qf_err_exit_status(serr.category);
		}
	}
	if (json) {
		json_t *doc = qf_job_to_json(&job);
		print_json(doc);
		json_decref(doc);
	} else {
		if (!first)
			printf("\n");
		print_summary(&job);
	}
	if (qf_err_is_set(&job.error))
		fprintf(stderr, "qforge: %s: %s (%s, %s)\n", job.name[0] ? job.name : "molecule",
		        job.error.message, qf_category_name(job.error.category), job.error.code);
	qf_job_release(&job);
	return status;
}

/* Where the molecules come from: --smiles (with --name) or FILE. */
struct run_input {
	const char *smiles, *name;
	qf_format fmt;
	long conformers; /* SMILES: embedded, the lowest run (--conformers) */
};

static int cmd_run_inputs(int argc, char **argv, const struct run_input *in, const qf_spec *spec,
                          const qf_xtb_opts *xo, const char *jobs_root, qf_store *store, bool json);

int cmd_run(int argc, char **argv)
{
	qf_spec spec;
	qf_spec_init(&spec);
	qf_xtb_opts xo;
	qf_xtb_opts_init(&xo);
	bool json = false;
	const char *jobs_root = NULL, *store_url = NULL;
	struct run_input in = {.conformers = 1};
	qf_err err;
	qf_err_init(&err);
	const char *env_xtb = getenv("QF_XTB");
	if (env_xtb && *env_xtb)
		xo.xtb = env_xtb;

	int c, idx;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", options, &idx)) != -1) {
		switch (c) {
		case OPT_SPEC:
			if (qf_spec_set(&spec, options[idx].name, optarg, &err))
				return cli_usage_error("run", "%s", err.message);
			break;
		case OPT_JSON: json = true; break;
		case OPT_FORMAT:
			in.fmt = qf_format_parse(optarg);
			if (in.fmt == QF_FMT_UNKNOWN)
				return cli_usage_error("run", "unknown format '%s': use xyz, sdf or smi", optarg);
			break;
		case OPT_SMILES: in.smiles = optarg; break;
		case OPT_NAME: in.name = optarg; break;
		case OPT_CONFORMERS:
			if (!qf_parse_int(optarg, 1, QF_MAX_CONFORMERS, &in.conformers))
				return cli_usage_error("run", "--conformers needs a number from 1 to %d",
				                       QF_MAX_CONFORMERS);
			break;
		case OPT_JOBS_ROOT: jobs_root = optarg; break;
		case OPT_XTB: xo.xtb = optarg; break;
		case OPT_STORE: store_url = optarg; break;
		case OPT_HELP: fputs(usage, stdout); return 0;
		case ':':
			return cli_usage_error("run", "option %s needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("run", "unknown option %s", argv[optind - 1]);
		}
	}
	if (qf_spec_validate(&spec, &err))
		return cli_usage_error("run", "%s", err.message);
	jobs_root = cli_jobs_root(jobs_root);
	qf_store *store = NULL;
	if (store_url && qf_store_open(&store, store_url, NULL, &err))
		return cli_fail(&err);
	int status = cmd_run_inputs(argc, argv, &in, &spec, &xo, jobs_root, store, json);
	qf_store_close(store);
	return status;
}

/* The molecules of --smiles or FILE, each run in turn. */
static int cmd_run_inputs(int argc, char **argv, const struct run_input *in, const qf_spec *spec_,
                          const qf_xtb_opts *xo_, const char *jobs_root, qf_store *store, bool json)
{
	const char *smiles = in->smiles;
	qf_embed_limits el = {.conformers = (int)in->conformers};
	const qf_spec spec = *spec_;
	const qf_xtb_opts xo = *xo_;
	struct run_exec exec = {&xo, NULL};
	qf_err err;
	qf_err_init(&err);

	if (smiles) {
		if (optind != argc)
			return cli_usage_error("run", "give either FILE or --smiles, not both");
		qf_mol mol;
		qf_mol_init(&mol);
		if (qf_embed_one(&el, smiles, in->name, &mol, &err)) {
			if (json) {
				json_t *doc = qf_job_input_error_json("--smiles", 1, &err);
				print_json(doc);
				json_decref(doc);
			}
			return cli_fail(&err);
		}
		int status = run_one(&mol, smiles, strlen(smiles), QF_FMT_SMILES, "--smiles", 1, &spec,
		                     &xo, &exec, jobs_root, store, json, true);
		qf_engine_free(exec.engine);
		qf_mol_release(&mol);
		return status;
	}
	if (optind + 1 != argc)
		return cli_usage_error("run", optind == argc ? "give a FILE (or --smiles)"
		                                             : "give one FILE; for many files use 'qforge batch'");
	const char *path = argv[optind];

	qf_reader *r = NULL;
	if (qf_reader_new_path(&r, path, in->fmt, &err)) {
		if (json) {
			json_t *doc = qf_job_input_error_json(path, 0, &err);
			print_json(doc);
			json_decref(doc);
		}
		return cli_fail(&err);
	}
	qf_reader_set_conformers(r, (int)in->conformers);
	int status = 0;
	int done = 0;
	for (;;) {
		qf_mol mol;
		qf_mol_init(&mol);
		qf_err_init(&err);
		int rc = qf_reader_next(r, &mol, &err);
		if (rc == 0)
			break;
		if (rc < 0) {
			/* a record that cannot be read: report it, go on with the rest */
			if (json) {
				json_t *doc = qf_job_input_error_json(path, qf_reader_record(r), &err);
				print_json(doc);
				json_decref(doc);
			}
			int s = cli_fail(&err);
			if (!status)
				status = s;
			qf_mol_release(&mol);
			if (!qf_reader_can_continue(r))
				break;
			continue;
		}
		size_t len = 0;
		const char *text = qf_reader_record_text(r, &len);
		int s = run_one(&mol, text, len, qf_reader_format(r), path, qf_reader_record(r), &spec,
		                &xo, &exec, jobs_root, store, json, done == 0);
		if (s && !status)
			status = s;
		done++;
		qf_mol_release(&mol);
	}
	qf_reader_free(r);
	qf_engine_free(exec.engine);
	return status;
}
