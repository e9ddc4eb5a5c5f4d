-- Indexes for columns the store lets callers filter on (sql/README.md) and
-- the row-level security policies look up: organisations by owner, API keys
-- by organisation.
CREATE INDEX organisations_owner ON organisations (owner_id);
CREATE INDEX api_keys_org ON api_keys (org_id);
