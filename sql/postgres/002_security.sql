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
--
-- tests/integration/store/test_rls.c proves every policy here (each one is
-- dropped in turn and its check must then fail): a new policy needs a check
-- there.

-- The role is cluster-wide: databases migrated at the same time (a test
-- suite, two servers starting) may race to create it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'qforge_app') THEN
        CREATE ROLE qforge_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- The caller's user id: only with qf.role = 'user' (an 'anonymous' or
-- malformed role claim never acts as the user id next to it).
CREATE FUNCTION qf_uid() RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN current_setting('qf.role', true) = 'user'
                THEN nullif(current_setting('qf.user_id', true), '')::uuid END
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
-- policies each. A row that points at a parent row (a calculation's
-- molecule and batch, a calculation's per-atom rows, metrics and errors, a
-- molecule's computed properties, a batch's performance) may only point at
-- one the caller can see: else a user could attach rows to another tenant's
-- molecule, calculation or batch (squatting its unique keys, or putting work
-- into its batch). The parent subqueries run under the caller's own
-- row-level security.
DO $$
DECLARE
    t record;
    parents text;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('molecules', 'owner_id', NULL),
        ('batches', 'owner_id', NULL),
        ('calculations', 'owner_id',
         'EXISTS (SELECT 1 FROM molecules p WHERE p.id = calculations.molecule_id)'
         ' AND (calculations.batch_id IS NULL'
         ' OR EXISTS (SELECT 1 FROM batches p WHERE p.id = calculations.batch_id))'),
        ('atomic_properties', 'owner_id',
         'EXISTS (SELECT 1 FROM calculations p WHERE p.id = atomic_properties.calculation_id)'),
        ('calculation_execution_metrics', 'owner_id',
         'EXISTS (SELECT 1 FROM calculations p WHERE p.id = calculation_execution_metrics.calculation_id)'),
        ('calculation_errors', 'owner_id',
         'EXISTS (SELECT 1 FROM calculations p WHERE p.id = calculation_errors.calculation_id)'),
        ('molecule_properties_computed', 'owner_id',
         'EXISTS (SELECT 1 FROM molecules p WHERE p.id = molecule_properties_computed.molecule_id)'),
        ('batch_job_performance', 'owner_id',
         'EXISTS (SELECT 1 FROM batches p WHERE p.id = batch_job_performance.batch_id)'),
        ('performance_metrics', 'user_id', NULL),
        ('api_usage_logs', 'user_id', NULL)
    ) AS v(name, owner, parents)
    LOOP
        parents := coalesce(' AND ' || t.parents, '');
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t.name);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t.name);
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT USING (qf_can_read(%I, org_id))',
                       t.name || '_select', t.name, t.owner);
        EXECUTE format('CREATE POLICY %I ON %I FOR INSERT WITH CHECK (qf_can_insert(%I, org_id)%s)',
                       t.name || '_insert', t.name, t.owner, parents);
        EXECUTE format('CREATE POLICY %I ON %I FOR UPDATE USING (qf_can_modify(%I, org_id)) WITH CHECK (qf_can_modify(%I, org_id)%s)',
                       t.name || '_update', t.name, t.owner, t.owner, parents);
        EXECUTE format('CREATE POLICY %I ON %I FOR DELETE USING (qf_can_modify(%I, org_id))',
                       t.name || '_delete', t.name, t.owner);
    END LOOP;
END
$$;

-- api_keys: like the tables above, except that only the key's owner (or the
-- system, or a platform administrator) changes a key: an organisation admin
-- who could rewrite a member's key_hash could sign in as that member. An
-- organisation admin revokes a member's key by deleting it.
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_select ON api_keys FOR SELECT
    USING (qf_can_read(user_id, org_id));
CREATE POLICY api_keys_insert ON api_keys FOR INSERT
    WITH CHECK (qf_can_insert(user_id, org_id));
CREATE POLICY api_keys_update ON api_keys FOR UPDATE
    USING (qf_is_system() OR qf_is_admin()
           OR (qf_uid() IS NOT NULL AND user_id = qf_uid()
               AND (org_id IS NULL OR qf_org_role(org_id) IN ('admin', 'researcher'))))
    WITH CHECK (qf_is_system() OR qf_is_admin()
                OR (qf_uid() IS NOT NULL AND user_id = qf_uid()
                    AND (org_id IS NULL OR qf_org_role(org_id) IN ('admin', 'researcher'))));
CREATE POLICY api_keys_delete ON api_keys FOR DELETE
    USING (qf_can_modify(user_id, org_id));

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

-- Whether the columns that give a user power (administrator, disabled,
-- quotas) hold what is stored for that user. Runs before the new row is
-- written, so it compares with the row as it was.
CREATE FUNCTION qf_user_powers_unchanged(uid uuid, admin boolean, dis boolean,
                                         quota double precision, jobs integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (SELECT 1 FROM users WHERE id = uid AND is_admin = admin AND disabled = dis
                   AND storage_quota_mb IS NOT DISTINCT FROM quota
                   AND max_concurrent_jobs IS NOT DISTINCT FROM jobs)
$$;

-- users: a user sees itself and the members of its organisations; only the
-- system (sign-up) or an administrator creates or deletes users; a user
-- updates itself, but never the columns that give it power: it cannot make
-- itself an administrator, re-enable itself or change its quotas (the store
-- layer refuses those columns too).
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_select ON users FOR SELECT
    USING (qf_is_system() OR qf_is_admin() OR id = qf_uid() OR qf_shares_org(id));
CREATE POLICY users_insert ON users FOR INSERT
    WITH CHECK (qf_is_system() OR qf_is_admin());
CREATE POLICY users_update ON users FOR UPDATE
    USING (qf_is_system() OR qf_is_admin() OR id = qf_uid())
    WITH CHECK (qf_is_system() OR qf_is_admin()
                OR (id = qf_uid() AND NOT is_admin
                    AND qf_user_powers_unchanged(id, is_admin, disabled, storage_quota_mb,
                                                 max_concurrent_jobs)));
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
-- all. A user writes entries about itself, and only into organisations it
-- belongs to (else it could plant entries in another organisation's log).
-- Rows past retention are removed only through qf_purge_audit().
ALTER TABLE user_audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY user_audit_log_select ON user_audit_log FOR SELECT
    USING (qf_is_system() OR qf_is_admin() OR (qf_uid() IS NOT NULL AND user_id = qf_uid())
           OR (org_id IS NOT NULL AND qf_org_role(org_id) = 'admin'));
CREATE POLICY user_audit_log_insert ON user_audit_log FOR INSERT
    WITH CHECK (qf_is_system() OR (qf_uid() IS NOT NULL AND user_id = qf_uid()
                                   AND (org_id IS NULL OR qf_org_role(org_id) IS NOT NULL)));

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
