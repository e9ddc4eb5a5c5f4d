/*
 * Fuzz target: the SDF/MOL reader (V2000 and V3000, multi-record) over
 * arbitrary bytes, every record read until the end or the first error it
 * cannot go past, each molecule also validated and written back as XYZ.
 */
#include <stdint.h>
#include <stdlib.h>

#include "qf/molio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	qf_err err;
	qf_err_init(&err);
	qf_reader *r = NULL;
	if (qf_reader_new_buf(&r, QF_FMT_SDF, "<fuzz>", (const char *)data, size, &err) < 0)
		return 0;
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
