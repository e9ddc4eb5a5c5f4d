/*
 * Fuzz target: the SMILES file reader (.smi: header, comment and blank
 * lines, "SMILES name" records) over arbitrary bytes, every record read
 * until the end, each molecule validated and written back as XYZ. Records
 * are only parsed and checked through RDKit (qf_reader_set_embed(r, false):
 * atoms with hydrogens, charge, radicals, canonical SMILES), not embedded
 * in 3D: embedding takes up to minutes and gigabytes per molecule (issue
 * 14), which would drown the fuzzer in timeouts that say nothing about the
 * reader. The coordinates are therefore all 0, and validation stops at the
 * first overlap after checking elements, charge and spin.
 *
 * RDKit itself is not instrumented: libFuzzer sees the coverage of our
 * code only, ASan catches RDKit's faults through its interceptors.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_reader.h"

/* The RDKit module must load, or every input would only reach the
 * "could not be loaded" error and the fuzzing would test nothing. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	qf_mol m;
	qf_err err;
	qf_mol_init(&m);
	qf_err_init(&err);
	if (qf_smiles_check("CCO", NULL, &m, &err) != 0 || m.natoms != 9) {
		fprintf(stderr, "fuzz_smiles: the RDKit module does not work: %s\n", err.message);
		exit(1);
	}
	qf_mol_release(&m);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return qf_fuzz_reader(data, size, QF_FMT_SMILES, false);
}
