-- The HTTP server (qforge serve): platform roles, invitations, the molecule
-- record as given, and the indexes behind the API's filters and live events.
-- Same as sql/postgres/006_server.sql.

-- A user's platform role: admin (everything; is_admin follows it), researcher
-- (submits and manages own and organisation work), viewer (reads only).
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'researcher'
    CHECK (role IN ('admin', 'researcher', 'viewer'));
UPDATE users SET role = 'admin' WHERE is_admin = 1;

-- The record a molecule was created from over HTTP, as given (calculations
-- of it run on exactly this text).
ALTER TABLE molecules ADD COLUMN input_text TEXT;

-- Invitations (registration --registration invite): the code is shown once
-- and kept as its SHA-256.
CREATE TABLE invites (
    id          TEXT PRIMARY KEY,
    created_by  TEXT NOT NULL REFERENCES users (id),
    org_id      TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    email       TEXT,
    role        TEXT NOT NULL DEFAULT 'researcher' CHECK (role IN ('admin', 'researcher', 'viewer')),
    code_hash   TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    used_by     TEXT REFERENCES users (id)
);
CREATE INDEX invites_created_by ON invites (created_by);
CREATE INDEX invites_org ON invites (org_id);
CREATE INDEX invites_created ON invites (created_at);

CREATE INDEX calculations_method ON calculations (method);
CREATE INDEX calculations_task ON calculations (task);
CREATE INDEX calculations_updated ON calculations (updated_at);
CREATE INDEX batches_updated ON batches (updated_at);
CREATE INDEX user_audit_log_action_time ON user_audit_log (action, created_at);
CREATE INDEX user_audit_log_user_time ON user_audit_log (user_id, created_at);
CREATE INDEX users_role ON users (role);
