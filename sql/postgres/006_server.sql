-- The HTTP server (qforge serve): platform roles, invitations, the molecule
-- record as given, and the indexes behind the API's filters and live events.
-- Same as sql/sqlite/006_server.sql.

-- A user's platform role: admin (everything; is_admin follows it), researcher
-- (submits and manages own and organisation work), viewer (reads only).
ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'researcher'
    CHECK (role IN ('admin', 'researcher', 'viewer'));
UPDATE users SET role = 'admin' WHERE is_admin;

-- The record a molecule was created from over HTTP, as given.
ALTER TABLE molecules ADD COLUMN input_text text;

-- Invitations (registration --registration invite): the code is shown once
-- and kept as its SHA-256.
CREATE TABLE invites (
    id          uuid PRIMARY KEY,
    created_by  uuid NOT NULL REFERENCES users (id),
    org_id      uuid REFERENCES organisations (id) ON DELETE CASCADE,
    email       text,
    role        text NOT NULL DEFAULT 'researcher' CHECK (role IN ('admin', 'researcher', 'viewer')),
    code_hash   text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    used_by     uuid REFERENCES users (id)
);
CREATE INDEX invites_created_by ON invites (created_by);
CREATE INDEX invites_org ON invites (org_id);
CREATE INDEX invites_created ON invites (created_at);

-- Invitations are owned by whoever made them (and visible to the
-- organisation's members); redeeming one is the system's job.
ALTER TABLE invites ENABLE ROW LEVEL SECURITY;
ALTER TABLE invites FORCE ROW LEVEL SECURITY;
CREATE POLICY invites_select ON invites FOR SELECT USING (qf_can_read(created_by, org_id));
CREATE POLICY invites_insert ON invites FOR INSERT WITH CHECK (qf_can_insert(created_by, org_id));
CREATE POLICY invites_update ON invites FOR UPDATE
    USING (qf_can_modify(created_by, org_id)) WITH CHECK (qf_can_modify(created_by, org_id));
CREATE POLICY invites_delete ON invites FOR DELETE USING (qf_can_modify(created_by, org_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON invites TO qforge_app;

CREATE INDEX calculations_method ON calculations (method);
CREATE INDEX calculations_task ON calculations (task);
CREATE INDEX calculations_updated ON calculations (updated_at);
CREATE INDEX batches_updated ON batches (updated_at);
CREATE INDEX user_audit_log_action_time ON user_audit_log (action, created_at);
CREATE INDEX user_audit_log_user_time ON user_audit_log (user_id, created_at);
CREATE INDEX users_role ON users (role);

-- users: the role is a power like is_admin: a user updating its own row
-- keeps it (the store layer refuses the column too).
CREATE FUNCTION qf_user_role_unchanged(uid uuid, r text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (SELECT 1 FROM users WHERE id = uid AND role = r)
$$;
DROP POLICY users_update ON users;
CREATE POLICY users_update ON users FOR UPDATE
    USING (qf_is_system() OR qf_is_admin() OR id = qf_uid())
    WITH CHECK (qf_is_system() OR qf_is_admin()
                OR (id = qf_uid() AND NOT is_admin
                    AND qf_user_powers_unchanged(id, is_admin, disabled, storage_quota_mb,
                                                 max_concurrent_jobs)
                    AND qf_user_role_unchanged(id, role)));
