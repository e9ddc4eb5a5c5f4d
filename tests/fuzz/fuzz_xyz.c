/*
 * Fuzz target: the XYZ reader (single and multi-frame) over arbitrary
 * bytes, every record read until the end or the first error it cannot go
 * past, each molecule also validated and written back as XYZ.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return qf_fuzz_reader(data, size, QF_FMT_XYZ, true);
}
