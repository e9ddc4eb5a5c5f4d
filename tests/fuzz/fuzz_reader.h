/*
 * The loop the reader fuzz targets share (fuzz_xyz, fuzz_sdf, fuzz_smiles):
 * a reader of one format over arbitrary bytes, every record read until the
 * end or the first error it cannot go past, each molecule also validated
 * and written back as XYZ.
 */
#ifndef QF_FUZZ_READER_H
#define QF_FUZZ_READER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "qf/molio.h"

/* embed false: SMILES are parsed and checked, never given 3D coordinates. */
static inline int qf_fuzz_reader(const uint8_t *data, size_t size, qf_format fmt, bool embed)
{
	qf_err err;
	qf_err_init(&err);
	qf_reader *r = NULL;
	if (qf_reader_new_buf(&r, fmt, "<fuzz>", (const char *)data, size, &err) < 0)
		return 0;
	if (!embed)
		qf_reader_set_embed(r, false);
	for (int n = 0; n < 100000; n++) {
		qf_mol m;
		qf_err_init(&err);
		int rc = qf_reader_next(r, &m, &err);
		if (rc == 0)
			break;
		if (rc < 0) {
			if (!qf_reader_can_continue(r))
				break;
			continue;
		}
		qf_err_init(&err);
		(void)qf_mol_validate(&m, 86, m.charge, m.uhf, &err);
		free(qf_mol_to_xyz(&m, "fuzz"));
		qf_mol_release(&m);
	}
	qf_reader_free(r);
	return 0;
}

#endif
