-- Quantum Forge schema, PostgreSQL. Applied by qforge db migrate (or on
-- start) in one transaction, by a role that may create tables and roles.
-- Times are timestamptz (UTC); ids are uuid (v7, time-ordered); JSON is jsonb.
-- Columns that queries filter on (status, error category, owner, times) are
-- indexed columns, never fields inside JSON.

CREATE TABLE organisations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    owner_id    uuid NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    email           text NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 320),
    display_name    text,
    password_hash   text,
    totp_secret     text,
    is_admin        boolean NOT NULL DEFAULT false,
    disabled        boolean NOT NULL DEFAULT false,
    storage_quota_mb    double precision,
    max_concurrent_jobs integer,
    created_at      timestamptz NOT NULL,
    last_login_at   timestamptz
);

ALTER TABLE organisations ADD FOREIGN KEY (owner_id) REFERENCES users (id);

CREATE TABLE memberships (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id      uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('admin', 'researcher', 'viewer')),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX memberships_org ON memberships (org_id);

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id        uuid REFERENCES organisations (id) ON DELETE CASCADE,
    name          text,
    prefix        text NOT NULL UNIQUE,
    key_hash      text NOT NULL,
    scopes        jsonb NOT NULL DEFAULT '["read", "write"]',
    rate_limit_per_minute integer,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE auth_sessions (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    text NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    last_seen_at  timestamptz,
    ip_address    text,
    user_agent    text
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);
CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);

CREATE TABLE molecules (
    id               uuid PRIMARY KEY,
    owner_id         uuid NOT NULL REFERENCES users (id),
    org_id           uuid REFERENCES organisations (id) ON DELETE CASCADE,
    name             text NOT NULL,
    formula          text NOT NULL,
    natoms           integer NOT NULL CHECK (natoms > 0),
    charge           integer NOT NULL,
    uhf              integer NOT NULL CHECK (uhf >= 0),
    atomic_numbers   jsonb NOT NULL,
    coordinates      jsonb NOT NULL,
    input_format     text,
    input_sha256     text NOT NULL,
    geometry_sha256  text NOT NULL,
    smiles           text,
    created_at       timestamptz NOT NULL
);
CREATE INDEX molecules_owner ON molecules (owner_id);
CREATE INDEX molecules_org ON molecules (org_id);
CREATE INDEX molecules_geometry ON molecules (geometry_sha256);
CREATE INDEX molecules_input ON molecules (input_sha256);
CREATE INDEX molecules_created ON molecules (created_at);

CREATE TABLE batches (
    id           uuid PRIMARY KEY,
    owner_id     uuid NOT NULL REFERENCES users (id),
    org_id       uuid REFERENCES organisations (id) ON DELETE CASCADE,
    name         text NOT NULL,
    spec         jsonb NOT NULL,
    status       text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    total        integer NOT NULL DEFAULT 0,
    source       text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    finished_at  timestamptz
);
CREATE INDEX batches_owner ON batches (owner_id);
CREATE INDEX batches_org ON batches (org_id);
CREATE INDEX batches_status ON batches (status);
CREATE INDEX batches_created ON batches (created_at);

CREATE TABLE calculations (
    id                  uuid PRIMARY KEY,
    molecule_id         uuid NOT NULL REFERENCES molecules (id) ON DELETE CASCADE,
    batch_id            uuid REFERENCES batches (id) ON DELETE SET NULL,
    owner_id            uuid NOT NULL REFERENCES users (id),
    org_id              uuid REFERENCES organisations (id) ON DELETE CASCADE,
    -- the spec, as columns
    method              text NOT NULL CHECK (method IN ('gfn0', 'gfn1', 'gfn2', 'gfnff')),
    task                text NOT NULL CHECK (task IN ('sp', 'opt', 'hess', 'ohess')),
    optimization_level  text NOT NULL,
    solvation_model     text CHECK (solvation_model IN ('alpb', 'gbsa')),
    solvent             text,
    charge              integer NOT NULL,
    uhf                 integer NOT NULL,
    parameters          jsonb NOT NULL,
    spec                jsonb NOT NULL,
    -- the job
    status              text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    attempt             integer NOT NULL DEFAULT 0,
    max_attempts        integer NOT NULL DEFAULT 3,
    priority            integer NOT NULL DEFAULT 0,
    lease_owner         text,
    lease_token         text,
    lease_expires_at    timestamptz,
    not_before          timestamptz,
    force_rerun         boolean NOT NULL DEFAULT false,
    reused_from         uuid,
    -- the results
    total_energy        double precision,
    homo_lumo_gap       double precision,
    dipole_moment       double precision,
    is_converged        boolean,
    gradient_norm       double precision,
    xtb_version         text,
    job_dir             text,
    results             jsonb,
    error_category      text CHECK (error_category IN ('validation', 'timeout', 'convergence', 'system', 'unknown')),
    error_code          text,
    error_message       text,
    created_at          timestamptz NOT NULL,
    started_at          timestamptz,
    finished_at         timestamptz,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX calculations_queue ON calculations (status, priority DESC, created_at);
CREATE INDEX calculations_lease ON calculations (lease_expires_at) WHERE status = 'running';
CREATE INDEX calculations_owner ON calculations (owner_id);
CREATE INDEX calculations_org ON calculations (org_id);
CREATE INDEX calculations_batch ON calculations (batch_id, status);
CREATE INDEX calculations_molecule ON calculations (molecule_id);
CREATE INDEX calculations_error ON calculations (error_category);
CREATE INDEX calculations_created ON calculations (created_at);
CREATE INDEX calculations_energy ON calculations (total_energy);
CREATE INDEX calculations_gap ON calculations (homo_lumo_gap);

CREATE TABLE atomic_properties (
    calculation_id   uuid NOT NULL REFERENCES calculations (id) ON DELETE CASCADE,
    atom_index       integer NOT NULL CHECK (atom_index >= 0),
    owner_id         uuid NOT NULL REFERENCES users (id),
    org_id           uuid REFERENCES organisations (id) ON DELETE CASCADE,
    atomic_number    integer NOT NULL,
    element          text NOT NULL,
    x                double precision NOT NULL,
    y                double precision NOT NULL,
    z                double precision NOT NULL,
    partial_charge   double precision,
    force_x          double precision,
    force_y          double precision,
    force_z          double precision,
    PRIMARY KEY (calculation_id, atom_index)
);
CREATE INDEX atomic_properties_owner ON atomic_properties (owner_id);
CREATE INDEX atomic_properties_org ON atomic_properties (org_id);

-- The data-management analysis, section 2.

CREATE TABLE user_sessions (
    id                     uuid PRIMARY KEY,
    user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_token          text NOT NULL UNIQUE,
    current_view           text,
    active_molecule_id     uuid,
    active_calculation_id  uuid,
    editor_content         jsonb,
    sidebar_state          jsonb,
    theme_preference       text,
    ui_preferences         jsonb,
    last_activity          timestamptz NOT NULL,
    created_at             timestamptz NOT NULL,
    expires_at             timestamptz
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
CREATE INDEX user_sessions_activity ON user_sessions (last_activity);

CREATE TABLE calculation_execution_metrics (
    id                         bigserial PRIMARY KEY,
    calculation_id             uuid NOT NULL REFERENCES calculations (id) ON DELETE CASCADE,
    attempt                    integer NOT NULL DEFAULT 1,
    owner_id                   uuid NOT NULL REFERENCES users (id),
    org_id                     uuid REFERENCES organisations (id) ON DELETE CASCADE,
    xtb_version                text,
    method                     text,
    solvation_model            text,
    optimization_level         text,
    wall_time_seconds          double precision,
    cpu_time_seconds           double precision,
    scf_cycles                 integer,
    optimization_cycles        integer,
    convergence_iterations     integer,
    memory_peak_mb             double precision,
    is_converged               boolean,
    convergence_criterion_met  double precision,
    exit_code                  integer,
    worker                     text,
    stdout_log                 text,
    stderr_log                 text,
    created_at                 timestamptz NOT NULL,
    UNIQUE (calculation_id, attempt)
);
CREATE INDEX cem_owner ON calculation_execution_metrics (owner_id);
CREATE INDEX cem_org ON calculation_execution_metrics (org_id);
CREATE INDEX cem_created ON calculation_execution_metrics (created_at);

CREATE TABLE calculation_errors (
    id                    bigserial PRIMARY KEY,
    calculation_id        uuid NOT NULL REFERENCES calculations (id) ON DELETE CASCADE,
    attempt               integer NOT NULL DEFAULT 1,
    owner_id              uuid NOT NULL REFERENCES users (id),
    org_id                uuid REFERENCES organisations (id) ON DELETE CASCADE,
    error_type            text NOT NULL CHECK (error_type IN ('validation', 'timeout', 'convergence', 'system', 'unknown')),
    error_severity        text NOT NULL CHECK (error_severity IN ('info', 'warning', 'error', 'critical')),
    error_message         text NOT NULL,
    error_code            text NOT NULL,
    stack_trace           text,
    retry_count           integer NOT NULL DEFAULT 0,
    retry_attempts        jsonb NOT NULL DEFAULT '[]',
    user_action_required  boolean NOT NULL DEFAULT false,
    resolution            text CHECK (resolution IN ('auto_retry', 'manual_fix', 'user_action', 'abandoned')),
    resolution_notes      text,
    created_at            timestamptz NOT NULL,
    resolved_at           timestamptz,
    UNIQUE (calculation_id, attempt)
);
CREATE INDEX calculation_errors_calc ON calculation_errors (calculation_id);
CREATE INDEX calculation_errors_type ON calculation_errors (error_type);
CREATE INDEX calculation_errors_owner ON calculation_errors (owner_id);
CREATE INDEX calculation_errors_org ON calculation_errors (org_id);
CREATE INDEX calculation_errors_created ON calculation_errors (created_at);

CREATE TABLE performance_metrics (
    id           bigserial PRIMARY KEY,
    user_id      uuid REFERENCES users (id) ON DELETE CASCADE,
    org_id       uuid REFERENCES organisations (id) ON DELETE CASCADE,
    metric_type  text NOT NULL,
    metric_name  text NOT NULL,
    value        double precision NOT NULL,
    unit         text,
    tags         jsonb,
    "timestamp"  timestamptz NOT NULL
);
CREATE INDEX performance_metrics_type ON performance_metrics (metric_type, "timestamp");
CREATE INDEX performance_metrics_time ON performance_metrics ("timestamp");
CREATE INDEX performance_metrics_user ON performance_metrics (user_id);

CREATE TABLE user_preferences (
    user_id                     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    display_units               text NOT NULL DEFAULT 'hartree' CHECK (display_units IN ('hartree', 'ev', 'kcal/mol', 'kj/mol')),
    display_precision           integer NOT NULL DEFAULT 6 CHECK (display_precision BETWEEN 0 AND 15),
    default_optimization_level  text NOT NULL DEFAULT 'normal',
    default_method              text NOT NULL DEFAULT 'gfn2',
    default_solvation           text,
    theme                       text NOT NULL DEFAULT 'auto' CHECK (theme IN ('light', 'dark', 'auto')),
    language                    text NOT NULL DEFAULT 'en',
    enable_email_notifications  boolean NOT NULL DEFAULT false,
    enable_slack_notifications  boolean NOT NULL DEFAULT false,
    slack_webhook_url           text,
    notification_on_completion  boolean NOT NULL DEFAULT false,
    notification_on_error       boolean NOT NULL DEFAULT true,
    updated_at                  timestamptz NOT NULL
);

CREATE TABLE api_usage_logs (
    id                   bigserial PRIMARY KEY,
    user_id              uuid REFERENCES users (id) ON DELETE CASCADE,
    org_id               uuid REFERENCES organisations (id) ON DELETE CASCADE,
    endpoint             text NOT NULL,
    method               text NOT NULL,
    status_code          integer NOT NULL,
    response_time_ms     integer NOT NULL,
    request_size_bytes   integer,
    response_size_bytes  integer,
    error_message        text,
    query_parameters     jsonb,
    created_at           timestamptz NOT NULL
);
CREATE INDEX api_usage_logs_user ON api_usage_logs (user_id, created_at);
CREATE INDEX api_usage_logs_created ON api_usage_logs (created_at);
CREATE INDEX api_usage_logs_status ON api_usage_logs (status_code);

CREATE TABLE molecule_properties_computed (
    id                              bigserial PRIMARY KEY,
    molecule_id                     uuid NOT NULL UNIQUE REFERENCES molecules (id) ON DELETE CASCADE,
    owner_id                        uuid NOT NULL REFERENCES users (id),
    org_id                          uuid REFERENCES organisations (id) ON DELETE CASCADE,
    molecular_weight                double precision,
    logp                            double precision,
    hydrogen_bond_donors            integer,
    hydrogen_bond_acceptors         integer,
    rotatable_bonds                 integer,
    topological_polar_surface_area  double precision,
    molar_refractivity              double precision,
    computed_at                     timestamptz NOT NULL
);
CREATE INDEX mpc_owner ON molecule_properties_computed (owner_id);
CREATE INDEX mpc_org ON molecule_properties_computed (org_id);
CREATE INDEX mpc_weight ON molecule_properties_computed (molecular_weight);
CREATE INDEX mpc_logp ON molecule_properties_computed (logp);

CREATE TABLE batch_job_performance (
    batch_id                      uuid PRIMARY KEY REFERENCES batches (id) ON DELETE CASCADE,
    owner_id                      uuid NOT NULL REFERENCES users (id),
    org_id                        uuid REFERENCES organisations (id) ON DELETE CASCADE,
    execution_start_time          timestamptz,
    execution_end_time            timestamptz,
    total_execution_time_seconds  double precision,
    average_job_time_seconds      double precision,
    min_job_time_seconds          double precision,
    max_job_time_seconds          double precision,
    failed_jobs                   integer NOT NULL DEFAULT 0,
    successful_jobs               integer NOT NULL DEFAULT 0,
    timeout_jobs                  integer NOT NULL DEFAULT 0,
    convergence_failure_jobs      integer NOT NULL DEFAULT 0,
    average_memory_mb             double precision,
    total_cpu_time_hours          double precision,
    parallelization_efficiency    double precision,
    error_breakdown               jsonb NOT NULL DEFAULT '{}',
    updated_at                    timestamptz NOT NULL
);
CREATE INDEX bjp_owner ON batch_job_performance (owner_id);
CREATE INDEX bjp_org ON batch_job_performance (org_id);

CREATE TABLE user_audit_log (
    id           bigserial PRIMARY KEY,
    user_id      uuid REFERENCES users (id) ON DELETE SET NULL,
    org_id       uuid REFERENCES organisations (id) ON DELETE SET NULL,
    action       text NOT NULL,
    entity_type  text,
    entity_id    text,
    changes      jsonb,
    ip_address   text,
    user_agent   text,
    status       text NOT NULL CHECK (status IN ('success', 'denied')),
    reason       text,
    created_at   timestamptz NOT NULL
);
CREATE INDEX user_audit_log_user ON user_audit_log (user_id, created_at);
CREATE INDEX user_audit_log_org ON user_audit_log (org_id);
CREATE INDEX user_audit_log_action ON user_audit_log (action);
CREATE INDEX user_audit_log_created ON user_audit_log (created_at);

-- The built-in local user: owns what `qforge run --store` records when no
-- user is named.
INSERT INTO users (id, email, display_name, is_admin, created_at)
VALUES ('00000000-0000-7000-8000-000000000001', 'local@localhost', 'local', false, now());
