-- How a molecule made from a SMILES was embedded (include/qf/mol.h,
-- qf_mol.embedding): force field, seed, conformer kept and its energy, the
-- stereo the SMILES leaves open. NULL for molecules given with coordinates.
ALTER TABLE molecules ADD COLUMN embedding jsonb;
