/*
 * Fuzz target: the SDF/MOL reader (V2000 and V3000, multi-record) over
 * arbitrary bytes, every record read until the end or the first error it
 * cannot go past, each molecule also validated and written back as XYZ.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return qf_fuzz_reader(data, size, QF_FMT_SDF, true);
}
