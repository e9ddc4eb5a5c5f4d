/*
 * qforge export [FILTER] --format csv|jsonl|json|extxyz|sdf|hdf5|qcschema
 *               [-o FILE] [query options of qforge query] [--store URL] [--user ID]
 *
 * Streams the calculations a query selects into a file (or stdout) in an
 * ML format (include/qf/export.h) and records the export in the audit log.
 * With -o the file appears only complete: it is written as FILE.tmp.<pid>
 * and renamed at the end (removed on failure). HDF5 needs -o.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "qf/export.h"
#include "qf/str.h"
#include "query_args.h"

static const char usage[] =
	"usage: qforge export [FILTER] --format F [-o FILE] [options]\n"
	"\n"
	"formats:\n"
	"  csv, jsonl, json  the selected columns, names with units (total_energy_hartree)\n"
	"  extxyz            extended XYZ for ASE: energy (eV), forces (eV/A), charges,\n"
	"                    the selected columns per frame\n"
	"  sdf               final geometries with the results as data fields (V3000 > 999 atoms)\n"
	"  hdf5              TorchANI-style groups by formula: species, coordinates (A),\n"
	"                    energies (Eh), forces (Eh/A); needs -o\n"
	"  qcschema          a JSON array of QCSchema AtomicResult documents\n"
	"\n"
	"FILTER and --order, --limit, --offset, --select, --view, --postgrest, --range,\n"
	"--prefer, --store, --user: as for qforge query (qforge query --help).\n";

static int write_file(void *ctx, const void *data, size_t len)
{
	return fwrite(data, 1, len, ctx) == len ? 0 : -1;
}

int cmd_export(int argc, char **argv)
{
	query_args a;
	int rc = query_args_parse("export", argc, argv, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(usage, stdout);
		return 0;
	}
	qf_err err;
	qf_err_init(&err);
	qf_export_format f;
	if (!a.format)
		return cli_usage_error("export", "--format is needed: csv, jsonl, json, extxyz, sdf, hdf5 "
		                                 "or qcschema");
	if (qf_export_format_parse(a.format, &f, &err))
		return cli_usage_error("export", "%s", err.message);
	if (qf_export_needs_path(f) && !a.output)
		return cli_usage_error("export", "the %s format writes a file: give -o FILE",
		                       qf_export_format_name(f));
	qf_store *s = NULL;
	qf_actor actor;
	qf_query q;
	if ((rc = query_args_open("export", &a, &s, &actor, &q)))
		return rc;
	char tmp[QF_MAX_PATH];
	FILE *out = stdout;
	if (a.output) {
		if (qf_snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", a.output, (long)getpid())) {
			rc = qf_err_set(&err, QF_CAT_VALIDATION, "export.output", "output path too long");
			goto out;
		}
		if (!qf_export_needs_path(f) && !(out = fopen(tmp, "w"))) {
			rc = qf_err_set(&err, QF_CAT_SYSTEM, "export.output", "cannot write %s: %s", tmp,
			                strerror(errno));
			goto out;
		}
	}
	const char *text = a.postgrest ? a.postgrest : a.filter ? a.filter : "";
	qf_export_opts eo = {.format = f, .write = write_file, .ctx = out,
	                     .path = a.output ? tmp : NULL, .query_text = text};
	qf_export_stats st;
	rc = qf_export_run(s, &actor, &q, &eo, &st, &err);
	bool to_stdout = out == stdout;
	if (to_stdout)
		fflush(stdout);
	else if (fclose(out) && !rc)
		rc = qf_err_set(&err, QF_CAT_SYSTEM, "export.write", "cannot write %s: %s", tmp,
		                strerror(errno));
	if (a.output) {
		if (!rc && rename(tmp, a.output))
			rc = qf_err_set(&err, QF_CAT_SYSTEM, "export.output", "cannot rename %s to %s: %s", tmp,
			                a.output, strerror(errno));
		if (rc)
			unlink(tmp);
	}
	if (!rc) {
		fprintf(stderr, "exported %" PRId64 " row%s as %s (%" PRId64 " bytes)", st.rows,
		        st.rows == 1 ? "" : "s", qf_export_format_name(f), st.bytes);
		if (st.skipped)
			fprintf(stderr, "; skipped %" PRId64 " the format cannot hold (no atoms or energy, "
			                "or not completed)", st.skipped);
		fputc('\n', stderr);
	}
out:
	qf_store_close(s);
	qf_query_release(&q);
	return rc ? cli_fail(&err) : 0;
}
