-- Descriptors and dataset queries (issue 9). Same as
-- sql/postgres/008_descriptors.sql.
--
-- molecule_properties_computed: what the row was computed from and how.
--   canonical_smiles   RDKit's canonical SMILES of the molecule described
--   descriptor_source  smiles | molblock | geometry (bonds perceived by Open
--                      Babel from the coordinates)
--   error_code         when the molecule could not be described (the
--   error_message      descriptor columns are then NULL): workers do not try
--                      it again; `qforge props recompute` does
ALTER TABLE molecule_properties_computed ADD COLUMN canonical_smiles TEXT;
ALTER TABLE molecule_properties_computed ADD COLUMN descriptor_source TEXT;
ALTER TABLE molecule_properties_computed ADD COLUMN error_code TEXT;
ALTER TABLE molecule_properties_computed ADD COLUMN error_message TEXT;

-- Queries and exports join a calculation to the metrics of its attempt.
CREATE INDEX cem_calculation_attempt ON calculation_execution_metrics (calculation_id, attempt);
