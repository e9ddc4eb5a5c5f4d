-- Indexes for columns the store lets callers filter on (sql/README.md):
-- organisations by owner, API keys by organisation. Numbered 003 as on
-- PostgreSQL (whose 002 is row-level security, which SQLite has not).
CREATE INDEX organisations_owner ON organisations (owner_id);
CREATE INDEX api_keys_org ON api_keys (org_id);
