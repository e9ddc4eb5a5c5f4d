/*
 * qforge props FILE [--format xyz|sdf|smi] [--json]
 * qforge props recompute [--missing] [--store URL]
 *
 * The first prints the descriptors of every molecule of a file (RDKit
 * through the module; XYZ geometries through Open Babel's bond
 * perception): a table, or with --json one JSON document per line. A
 * record that cannot be read or described prints a line with its error and
 * the others go on; the exit status is that of the first failure.
 *
 * recompute (re)computes the descriptors of every stored molecule, as the
 * system (workers fill in those of new molecules by themselves); with
 * --missing only of those that have none yet.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "qf/molio.h"
#include "qf/props.h"
#include "qf/store.h"
#include "qf/str.h"

static const char usage[] =
	"usage: qforge props FILE [--format xyz|sdf|smi] [--json]\n"
	"       qforge props recompute [--missing] [--store URL]\n"
	"\n"
	"FILE       print the descriptors of each molecule of an XYZ, SDF or SMILES file\n"
	"           (RDKit; XYZ bonds are perceived by Open Babel)\n"
	"recompute  compute the descriptors of every stored molecule again\n"
	"\n"
	"options:\n"
	"  --format F    the file's format (default: from its extension)\n"
	"  --json        one JSON document per molecule and line\n"
	"  --missing     recompute: only molecules without descriptors\n"
	"  --store URL   sqlite:PATH or postgresql://USER@HOST/DB\n"
	"                (default $QF_STORE, else sqlite:var/qforge.db)\n";

enum { OPT_FORMAT = 256, OPT_JSON, OPT_MISSING, OPT_STORE, OPT_HELP };

static const struct option options[] = {
	{"format", required_argument, NULL, OPT_FORMAT},
	{"json", no_argument, NULL, OPT_JSON},
	{"missing", no_argument, NULL, OPT_MISSING},
	{"store", required_argument, NULL, OPT_STORE},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

/* The SMILES of a SMILES record as given: its first field. */
static char *record_smiles(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	const char *q = p;
	while (q < end && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
		q++;
	return strndup(p, (size_t)(q - p));
}

static void print_failure(bool json, int record, const char *name, const qf_err *e)
{
	if (json) {
		json_t *o = json_pack("{s:i, s:s?, s:{s:s, s:s, s:s}}", "record", record, "name", name,
		                      "error", "category", qf_category_name(e->category), "code", e->code,
		                      "message", e->message);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s)
			puts(s);
		free(s);
		json_decref(o);
	} else {
		printf("%-5d %-24.24s error: %s (%s)\n", record, name ? name : "", e->message, e->code);
	}
	fflush(stdout);
}

static void print_props(bool json, int record, const char *name, const qf_props *p)
{
	if (json) {
		json_t *o = qf_props_to_json(p, name);
		char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
		if (s)
			puts(s);
		free(s);
		json_decref(o);
		return;
	}
	printf("%-5d %-24.24s %9.3f %7.3f %4d %4d %5d %8.2f %8.3f  %s\n", record, name, p->molecular_weight,
	       p->logp, p->hydrogen_bond_donors, p->hydrogen_bond_acceptors, p->rotatable_bonds,
	       p->topological_polar_surface_area, p->molar_refractivity,
	       p->canonical_smiles ? p->canonical_smiles : "");
}

static int props_file(const char *path, qf_format fmt, bool json)
{
	qf_err err;
	qf_err_init(&err);
	qf_reader *r = NULL;
	if (qf_reader_new_path(&r, path, fmt, &err))
		return cli_fail(&err);
	if (!json)
		printf("%-5s %-24s %9s %7s %4s %4s %5s %8s %8s  %s\n", "#", "name", "mw", "logp", "hbd",
		       "hba", "rotb", "tpsa", "mr", "canonical_smiles");
	int status = 0;
	for (;;) {
		qf_mol m;
		qf_err_init(&err);
		int rc = qf_reader_next(r, &m, &err);
		if (rc == 0)
			break;
		int record = qf_reader_record(r);
		if (rc < 0) {
			print_failure(json, record, NULL, &err);
			if (!status)
				status = qf_err_exit_status(err.category);
			if (!qf_reader_can_continue(r))
				break;
			continue;
		}
		size_t len = 0;
		const char *text = qf_reader_record_text(r, &len);
		qf_props_input in = {0};
		char *smiles = NULL;
		switch (qf_reader_format(r)) {
		case QF_FMT_SMILES:
			in.smiles = smiles = record_smiles(text, len);
			break;
		case QF_FMT_SDF:
			in.molblock = text;
			in.molblock_len = len;
			break;
		default:
			in.geometry = &m;
			break;
		}
		qf_props p;
		qf_props_init(&p);
		qf_err_init(&err);
		if (qf_props_compute(&in, &p, &err)) {
			print_failure(json, record, m.name, &err);
			if (!status)
				status = qf_err_exit_status(err.category);
		} else {
			print_props(json, record, m.name, &p);
		}
		qf_props_release(&p);
		free(smiles);
		qf_mol_release(&m);
	}
	qf_reader_free(r);
	return status;
}

static void progress(void *ctx, const char *id, const qf_err *failure)
{
	(void)ctx;
	if (failure)
		fprintf(stderr, "qforge props: molecule %s: %s (%s)\n", id, failure->message, failure->code);
}

static int props_recompute(const char *store, bool missing)
{
	qf_err err;
	qf_err_init(&err);
	qf_store *s = NULL;
	if (qf_store_open(&s, store && *store ? store : qf_store_default_url(), NULL, &err))
		return cli_fail(&err);
	qf_actor sys = qf_actor_system();
	qf_props_update_opts o = {.all = !missing, .progress = progress};
	qf_props_stats st = {0};
	int rc = qf_props_update(s, &sys, &o, &st, &err);
	qf_store_close(s);
	printf("descriptors of %" PRId64 " molecule%s computed, %" PRId64 " could not be described\n",
	       st.computed, st.computed == 1 ? "" : "s", st.failed);
	return rc ? cli_fail(&err) : 0;
}

int cmd_props(int argc, char **argv)
{
	const char *store = NULL, *format = NULL;
	bool json = false, missing = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (c) {
		case OPT_FORMAT: format = optarg; break;
		case OPT_JSON: json = true; break;
		case OPT_MISSING: missing = true; break;
		case OPT_STORE: store = optarg; break;
		case OPT_HELP: fputs(usage, stdout); return 0;
		case ':': return cli_usage_error("props", "option %s needs a value", argv[optind - 1]);
		default: return cli_usage_error("props", "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("props", "give one FILE, or 'recompute'");
	const char *arg = argv[optind];
	if (!strcmp(arg, "recompute")) {
		if (format || json)
			return cli_usage_error("props", "--format and --json are options of 'props FILE'");
		return props_recompute(store, missing);
	}
	if (missing || store)
		return cli_usage_error("props", "--missing and --store are options of 'props recompute'");
	qf_format fmt = QF_FMT_UNKNOWN;
	if (format && (fmt = qf_format_parse(format)) == QF_FMT_UNKNOWN)
		return cli_usage_error("props", "unknown format '%s': use xyz, sdf or smi", format);
	return props_file(arg, fmt, json);
}
