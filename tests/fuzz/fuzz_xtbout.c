/*
 * Fuzz target: the parsers of what xtb leaves behind (include/qf/
 * xtbparse.h) over arbitrary bytes. Every parser is run on every input, so
 * that the seed corpus can be xtb's files as they are (tests/data/xtb/):
 * xtbout.json, stdout, stderr, charges, wbo, xtbopt.xyz, xtbopt.log,
 * vibspectrum, gradient. The per-atom parsers are given atom counts that
 * fit the text's own shape (one line per atom for charges, xtb's gradient
 * layout of 2n + 3 lines, one more than the lines for wbo, 0 for the XYZ
 * files: take the count from the text), so that valid seeds parse. Then
 * what the text output says is classified as if xtb had exited 0, and the
 * result turned into JSON and back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "qf/xtbparse.h"

/* Inputs larger than this say nothing more (xtb's files of a small molecule
 * are below it) and slow the fuzzer down. */
#define FUZZ_MAX_BYTES (256 * 1024)

static void per_atom(const char *text, int natoms)
{
	int (*const fns[])(const char *, int, qf_result *, qf_err *) = {
		qf_xtb_parse_charges, qf_xtb_parse_wbo, qf_xtb_parse_xyz_geometry,
		qf_xtb_parse_gradient,
	};
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		qf_result r;
		qf_err err;
		qf_result_init(&r);
		qf_err_init(&err);
		(void)fns[i](text, natoms, &r, &err);
		qf_result_release(&r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_BYTES)
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	int lines = 0;
	for (size_t i = 0; i < size; i++)
		lines += text[i] == '\n';

	qf_result r;
	qf_metrics m;
	qf_xtb_outinfo info;
	qf_err err;
	qf_result_init(&r);
	qf_metrics_init(&m);
	qf_xtb_outinfo_init(&info);
	qf_err_init(&err);
	(void)qf_xtb_parse_json(text, &r, &m, &err);
	(void)qf_xtb_parse_stdout(text, &r, &m, &info);
	qf_xtb_parse_stderr(text, &info);
	qf_err_init(&err);
	(void)qf_xtb_parse_optlog(text, &r, &err);
	qf_err_init(&err);
	(void)qf_xtb_parse_vibspectrum(text, &r, &err);

	qf_spec spec;
	qf_spec_init(&spec);
	qf_proc_result pr;
	memset(&pr, 0, sizeof(pr));
	qf_err_init(&err);
	(void)qf_xtb_classify(&spec, &pr, &info, &r, text, text, &err);

	json_t *j = qf_result_to_json(&r);
	if (j) {
		qf_result back;
		qf_result_init(&back);
		qf_err_init(&err);
		(void)qf_result_from_json(&back, j, &err);
		qf_result_release(&back);
		json_decref(j);
	}
	qf_result_release(&r);

	per_atom(text, lines);
	per_atom(text, lines + 1);
	per_atom(text, (lines - 3) / 2);
	per_atom(text, 0);
	free(text);
	return 0;
}
