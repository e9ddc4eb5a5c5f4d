-- Row-level security: the second line of isolation (the first is the store
-- layer, src/store/scope.c). Every user-data table has RLS enabled and
-- FORCE'd, with one policy per table and command. The application connects
-- as qforge_app: not superuser, not the owner of anything, NOBYPASSRLS.
--
-- Each transaction of the application first sets its claims:
--   set_config('qf.user_id', '<uuid>' or '', true)
--   set_config('qf.role', 'user' | 'anonymous' | 'system', true)
-- 'system' is the platform itself (workers, purge). Platform administrators
-- are read from users.is_admin, never from a claim. Organisation roles come
-- from memberships.
--
-- The helper functions that read users and memberships are SECURITY DEFINER
-- (owned by the migrating role, which must be superuser or BYPASSRLS) so that
-- policies on those tables do not recurse.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'qforge_app') THEN
        CREATE ROLE qforge_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;

CREATE FUNCTION qf_uid() RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('qf.user_id', true), '')::uuid
$$;

CREATE FUNCTION qf_is_system() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('qf.role', true), '') = 'system'
$$;

CREATE FUNCTION qf_is_admin() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT coalesce((SELECT is_admin AND NOT disabled FROM users WHERE id = qf_uid()), false)
$$;

-- The caller's role in an organisation, or NULL.
CREATE FUNCTION qf_org_role(org uuid) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT role FROM memberships WHERE user_id = qf_uid() AND org_id = org
$$;

-- Whether the caller shares an organisation with a user.
CREATE FUNCTION qf_shares_org(other uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (SELECT 1 FROM memberships a JOIN memberships b ON a.org_id = b.org_id
                   WHERE a.user_id = qf_uid() AND b.user_id = other)
$$;

CREATE FUNCTION qf_can_read(owner uuid, org uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT qf_is_system() OR qf_is_admin()
        OR (qf_uid() IS NOT NULL AND (owner = qf_uid() OR (org IS NOT NULL AND qf_org_role(org) IS NOT NULL)))
$$;

CREATE FUNCTION qf_can_insert(owner uuid, org uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT qf_is_system()
        OR (qf_uid() IS NOT NULL AND owner = qf_uid()
            AND (org IS NULL OR qf_org_role(org) IN ('admin', 'researcher')))
$$;

CREATE FUNCTION qf_can_modify(owner uuid, org uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT qf_is_system() OR qf_is_admin()
        OR (qf_uid() IS NOT NULL AND (
               (owner = qf_uid() AND (org IS NULL OR qf_org_role(org) IN ('admin', 'researcher')))
            OR (org IS NOT NULL AND qf_org_role(org) = 'admin')))
$$;

-- Tables whose rows have an owner column and an org_id: the same four
-- policies each.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('molecules', 'owner_id'),
        ('batches', 'owner_id'),
        ('calculations', 'owner_id'),
        ('atomic_properties', 'owner_id'),
        ('calculation_execution_metrics', 'owner_id'),
        ('calculation_errors', 'owner_id'),
        ('molecule_properties_computed', 'owner_id'),
        ('batch_job_performance', 'owner_id'),
        ('performance_metrics', 'user_id'),
        ('api_usage_logs', 'user_id'),
        ('api_keys', 'user_id')
    ) AS v(name, owner)
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t.name);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t.name);
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT USING (qf_can_read(%I, org_id))',
                       t.name || '_select', t.name, t.owner);
        EXECUTE format('CREATE POLICY %I ON %I FOR INSERT WITH CHECK (qf_can_insert(%I, org_id))',
                       t.name || '_insert', t.name, t.owner);
        EXECUTE format('CREATE POLICY %I ON %I FOR UPDATE USING (qf_can_modify(%I, org_id)) WITH CHECK (qf_can_modify(%I, org_id))',
                       t.name || '_update', t.name, t.owner, t.owner);
        EXECUTE format('CREATE POLICY %I ON %I FOR DELETE USING (qf_can_modify(%I, org_id))',
                       t.name || '_delete', t.name, t.owner);
    END LOOP;
END
$$;

-- Rows that belong to one user only (no organisation).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['auth_sessions', 'user_sessions', 'user_preferences']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT USING (qf_can_read(user_id, NULL))', t || '_select', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR INSERT WITH CHECK (qf_can_insert(user_id, NULL))', t || '_insert', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR UPDATE USING (qf_can_modify(user_id, NULL)) WITH CHECK (qf_can_modify(user_id, NULL))', t || '_update', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR DELETE USING (qf_can_modify(user_id, NULL))', t || '_delete', t);
    END LOOP;
END
$$;

-- users: a user sees itself and the members of its organisations; only the
-- system (sign-up) or an administrator creates or deletes users; a user
-- updates itself, but can never make itself an administrator (the store
-- layer refuses that column; the policy cannot see which column changed).
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_select ON users FOR SELECT
    USING (qf_is_system() OR qf_is_admin() OR id = qf_uid() OR qf_shares_org(id));
CREATE POLICY users_insert ON users FOR INSERT
    WITH CHECK (qf_is_system() OR qf_is_admin());
CREATE POLICY users_update ON users FOR UPDATE
    USING (qf_is_system() OR qf_is_admin() OR id = qf_uid())
    WITH CHECK (qf_is_system() OR qf_is_admin() OR (id = qf_uid() AND NOT is_admin));
CREATE POLICY users_delete ON users FOR DELETE
    USING (qf_is_system() OR qf_is_admin());

-- organisations: members see it; a user creates one it owns; its admins
-- change or delete it.
ALTER TABLE organisations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organisations FORCE ROW LEVEL SECURITY;
CREATE POLICY organisations_select ON organisations FOR SELECT
    USING (qf_is_system() OR qf_is_admin() OR owner_id = qf_uid() OR qf_org_role(id) IS NOT NULL);
CREATE POLICY organisations_insert ON organisations FOR INSERT
    WITH CHECK (qf_is_system() OR (qf_uid() IS NOT NULL AND owner_id = qf_uid()));
CREATE POLICY organisations_update ON organisations FOR UPDATE
    USING (qf_is_system() OR qf_is_admin() OR qf_org_role(id) = 'admin')
    WITH CHECK (qf_is_system() OR qf_is_admin() OR qf_org_role(id) = 'admin');
CREATE POLICY organisations_delete ON organisations FOR DELETE
    USING (qf_is_system() OR qf_is_admin() OR qf_org_role(id) = 'admin');

-- memberships: members of an organisation see its memberships; its admins
-- manage them; the owner of a new organisation adds itself.
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY memberships_select ON memberships FOR SELECT
    USING (qf_is_system() OR qf_is_admin() OR user_id = qf_uid() OR qf_org_role(org_id) IS NOT NULL);
CREATE POLICY memberships_insert ON memberships FOR INSERT
    WITH CHECK (qf_is_system() OR qf_is_admin() OR qf_org_role(org_id) = 'admin'
                OR (user_id = qf_uid() AND role = 'admin'
                    AND EXISTS (SELECT 1 FROM organisations o WHERE o.id = org_id AND o.owner_id = qf_uid())));
CREATE POLICY memberships_update ON memberships FOR UPDATE
    USING (qf_is_system() OR qf_is_admin() OR qf_org_role(org_id) = 'admin')
    WITH CHECK (qf_is_system() OR qf_is_admin() OR qf_org_role(org_id) = 'admin');
CREATE POLICY memberships_delete ON memberships FOR DELETE
    USING (qf_is_system() OR qf_is_admin() OR qf_org_role(org_id) = 'admin');

-- user_audit_log: append-only for the application. A user sees its own
-- entries, an organisation admin those of the organisation, administrators
-- all. Rows past retention are removed only through qf_purge_audit().
ALTER TABLE user_audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY user_audit_log_select ON user_audit_log FOR SELECT
    USING (qf_is_system() OR qf_is_admin() OR (qf_uid() IS NOT NULL AND user_id = qf_uid())
           OR (org_id IS NOT NULL AND qf_org_role(org_id) = 'admin'));
CREATE POLICY user_audit_log_insert ON user_audit_log FOR INSERT
    WITH CHECK (qf_is_system() OR (qf_uid() IS NOT NULL AND user_id = qf_uid()));

CREATE FUNCTION qf_purge_audit(before timestamptz) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    n bigint;
BEGIN
    IF NOT qf_is_system() THEN
        RAISE EXCEPTION 'qf_purge_audit needs the system role' USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM user_audit_log WHERE created_at < before;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- What the application may do at all (row-level security narrows it).
GRANT USAGE ON SCHEMA public TO qforge_app;
GRANT SELECT ON schema_migrations TO qforge_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    organisations, users, memberships, api_keys, auth_sessions, molecules, batches,
    calculations, atomic_properties, user_sessions, calculation_execution_metrics,
    calculation_errors, performance_metrics, user_preferences, api_usage_logs,
    molecule_properties_computed, batch_job_performance
    TO qforge_app;
GRANT SELECT, INSERT ON user_audit_log TO qforge_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO qforge_app;
REVOKE ALL ON FUNCTION qf_purge_audit(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qf_purge_audit(timestamptz) TO qforge_app;
