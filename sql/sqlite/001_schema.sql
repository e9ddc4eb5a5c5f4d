-- Quantum Forge schema, SQLite (embedded). Applied by qforge db migrate (or on
-- start) in one transaction. The same tables and columns as on PostgreSQL:
-- times are TEXT in RFC 3339 UTC ('2026-11-28T18:24:33.123Z', so they sort);
-- ids are TEXT uuids (v7); JSON is TEXT checked with json_valid; booleans
-- are 0/1.
-- Columns that queries filter on (status, error category, owner, times) are
-- indexed columns, never fields inside JSON.

CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    owner_id    TEXT NOT NULL REFERENCES users (id),
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 320),
    display_name    TEXT,
    password_hash   TEXT,
    totp_secret     TEXT,
    is_admin        INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    storage_quota_mb    REAL,
    max_concurrent_jobs INTEGER,
    created_at      TEXT NOT NULL,
    last_login_at   TEXT
);

CREATE TABLE memberships (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'researcher', 'viewer')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX memberships_org ON memberships (org_id);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id        TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    name          TEXT,
    prefix        TEXT NOT NULL UNIQUE,
    key_hash      TEXT NOT NULL,
    scopes        TEXT NOT NULL DEFAULT '["read", "write"]' CHECK (json_valid(scopes)),
    rate_limit_per_minute INTEGER,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    expires_at    TEXT,
    revoked_at    TEXT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE auth_sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    last_seen_at  TEXT,
    ip_address    TEXT,
    user_agent    TEXT
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);
CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);

CREATE TABLE molecules (
    id               TEXT PRIMARY KEY,
    owner_id         TEXT NOT NULL REFERENCES users (id),
    org_id           TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    formula          TEXT NOT NULL,
    natoms           INTEGER NOT NULL CHECK (natoms > 0),
    charge           INTEGER NOT NULL,
    uhf              INTEGER NOT NULL CHECK (uhf >= 0),
    atomic_numbers   TEXT NOT NULL CHECK (atomic_numbers IS NULL OR json_valid(atomic_numbers)),
    coordinates      TEXT NOT NULL CHECK (coordinates IS NULL OR json_valid(coordinates)),
    input_format     TEXT,
    input_sha256     TEXT NOT NULL,
    geometry_sha256  TEXT NOT NULL,
    smiles           TEXT,
    created_at       TEXT NOT NULL
);
CREATE INDEX molecules_owner ON molecules (owner_id);
CREATE INDEX molecules_org ON molecules (org_id);
CREATE INDEX molecules_geometry ON molecules (geometry_sha256);
CREATE INDEX molecules_input ON molecules (input_sha256);
CREATE INDEX molecules_created ON molecules (created_at);

CREATE TABLE batches (
    id           TEXT PRIMARY KEY,
    owner_id     TEXT NOT NULL REFERENCES users (id),
    org_id       TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    spec         TEXT NOT NULL CHECK (spec IS NULL OR json_valid(spec)),
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    total        INTEGER NOT NULL DEFAULT 0,
    source       TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    finished_at  TEXT
);
CREATE INDEX batches_owner ON batches (owner_id);
CREATE INDEX batches_org ON batches (org_id);
CREATE INDEX batches_status ON batches (status);
CREATE INDEX batches_created ON batches (created_at);

CREATE TABLE calculations (
    id                  TEXT PRIMARY KEY,
    molecule_id         TEXT NOT NULL REFERENCES molecules (id) ON DELETE CASCADE,
    batch_id            TEXT REFERENCES batches (id) ON DELETE SET NULL,
    owner_id            TEXT NOT NULL REFERENCES users (id),
    org_id              TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    -- the spec, as columns
    method              TEXT NOT NULL CHECK (method IN ('gfn0', 'gfn1', 'gfn2', 'gfnff')),
    task                TEXT NOT NULL CHECK (task IN ('sp', 'opt', 'hess', 'ohess')),
    optimization_level  TEXT NOT NULL,
    solvation_model     TEXT CHECK (solvation_model IN ('alpb', 'gbsa')),
    solvent             TEXT,
    charge              INTEGER NOT NULL,
    uhf                 INTEGER NOT NULL,
    parameters          TEXT NOT NULL CHECK (parameters IS NULL OR json_valid(parameters)),
    spec                TEXT NOT NULL CHECK (spec IS NULL OR json_valid(spec)),
    -- the job
    status              TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    attempt             INTEGER NOT NULL DEFAULT 0,
    max_attempts        INTEGER NOT NULL DEFAULT 3,
    priority            INTEGER NOT NULL DEFAULT 0,
    lease_owner         TEXT,
    lease_token         TEXT,
    lease_expires_at    TEXT,
    not_before          TEXT,
    force_rerun         INTEGER NOT NULL DEFAULT 0 CHECK (force_rerun IN (0, 1)),
    reused_from         TEXT,
    -- the results
    total_energy        REAL,
    homo_lumo_gap       REAL,
    dipole_moment       REAL,
    is_converged        INTEGER CHECK (is_converged IN (0, 1)),
    gradient_norm       REAL,
    xtb_version         TEXT,
    job_dir             TEXT,
    results             TEXT CHECK (results IS NULL OR json_valid(results)),
    error_category      TEXT CHECK (error_category IN ('validation', 'timeout', 'convergence', 'system', 'unknown')),
    error_code          TEXT,
    error_message       TEXT,
    created_at          TEXT NOT NULL,
    started_at          TEXT,
    finished_at         TEXT,
    updated_at          TEXT NOT NULL
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
    calculation_id   TEXT NOT NULL REFERENCES calculations (id) ON DELETE CASCADE,
    atom_index       INTEGER NOT NULL CHECK (atom_index >= 0),
    owner_id         TEXT NOT NULL REFERENCES users (id),
    org_id           TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    atomic_number    INTEGER NOT NULL,
    element          TEXT NOT NULL,
    x                REAL NOT NULL,
    y                REAL NOT NULL,
    z                REAL NOT NULL,
    partial_charge   REAL,
    force_x          REAL,
    force_y          REAL,
    force_z          REAL,
    PRIMARY KEY (calculation_id, atom_index)
);
CREATE INDEX atomic_properties_owner ON atomic_properties (owner_id);
CREATE INDEX atomic_properties_org ON atomic_properties (org_id);

-- The data-management analysis, section 2.

CREATE TABLE user_sessions (
    id                     TEXT PRIMARY KEY,
    user_id                TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_token          TEXT NOT NULL UNIQUE,
    current_view           TEXT,
    active_molecule_id     TEXT,
    active_calculation_id  TEXT,
    editor_content         TEXT CHECK (editor_content IS NULL OR json_valid(editor_content)),
    sidebar_state          TEXT CHECK (sidebar_state IS NULL OR json_valid(sidebar_state)),
    theme_preference       TEXT,
    ui_preferences         TEXT CHECK (ui_preferences IS NULL OR json_valid(ui_preferences)),
    last_activity          TEXT NOT NULL,
    created_at             TEXT NOT NULL,
    expires_at             TEXT
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
CREATE INDEX user_sessions_activity ON user_sessions (last_activity);

CREATE TABLE calculation_execution_metrics (
    id                         INTEGER PRIMARY KEY AUTOINCREMENT,
    calculation_id             TEXT NOT NULL REFERENCES calculations (id) ON DELETE CASCADE,
    attempt                    INTEGER NOT NULL DEFAULT 1,
    owner_id                   TEXT NOT NULL REFERENCES users (id),
    org_id                     TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    xtb_version                TEXT,
    method                     TEXT,
    solvation_model            TEXT,
    optimization_level         TEXT,
    wall_time_seconds          REAL,
    cpu_time_seconds           REAL,
    scf_cycles                 INTEGER,
    optimization_cycles        INTEGER,
    convergence_iterations     INTEGER,
    memory_peak_mb             REAL,
    is_converged               INTEGER CHECK (is_converged IN (0, 1)),
    convergence_criterion_met  REAL,
    exit_code                  INTEGER,
    worker                     TEXT,
    stdout_log                 TEXT,
    stderr_log                 TEXT,
    created_at                 TEXT NOT NULL,
    UNIQUE (calculation_id, attempt)
);
CREATE INDEX cem_owner ON calculation_execution_metrics (owner_id);
CREATE INDEX cem_org ON calculation_execution_metrics (org_id);
CREATE INDEX cem_created ON calculation_execution_metrics (created_at);

CREATE TABLE calculation_errors (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    calculation_id        TEXT NOT NULL REFERENCES calculations (id) ON DELETE CASCADE,
    attempt               INTEGER NOT NULL DEFAULT 1,
    owner_id              TEXT NOT NULL REFERENCES users (id),
    org_id                TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    error_type            TEXT NOT NULL CHECK (error_type IN ('validation', 'timeout', 'convergence', 'system', 'unknown')),
    error_severity        TEXT NOT NULL CHECK (error_severity IN ('info', 'warning', 'error', 'critical')),
    error_message         TEXT NOT NULL,
    error_code            TEXT NOT NULL,
    stack_trace           TEXT,
    retry_count           INTEGER NOT NULL DEFAULT 0,
    retry_attempts        TEXT NOT NULL DEFAULT '[]' CHECK (retry_attempts IS NULL OR json_valid(retry_attempts)),
    user_action_required  INTEGER NOT NULL DEFAULT 0 CHECK (user_action_required IN (0, 1)),
    resolution            TEXT CHECK (resolution IN ('auto_retry', 'manual_fix', 'user_action', 'abandoned')),
    resolution_notes      TEXT,
    created_at            TEXT NOT NULL,
    resolved_at           TEXT,
    UNIQUE (calculation_id, attempt)
);
CREATE INDEX calculation_errors_calc ON calculation_errors (calculation_id);
CREATE INDEX calculation_errors_type ON calculation_errors (error_type);
CREATE INDEX calculation_errors_owner ON calculation_errors (owner_id);
CREATE INDEX calculation_errors_org ON calculation_errors (org_id);
CREATE INDEX calculation_errors_created ON calculation_errors (created_at);

CREATE TABLE performance_metrics (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    org_id       TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    metric_type  TEXT NOT NULL,
    metric_name  TEXT NOT NULL,
    value        REAL NOT NULL,
    unit         TEXT,
    tags         TEXT CHECK (tags IS NULL OR json_valid(tags)),
    "timestamp"  TEXT NOT NULL
);
CREATE INDEX performance_metrics_type ON performance_metrics (metric_type, "timestamp");
CREATE INDEX performance_metrics_time ON performance_metrics ("timestamp");
CREATE INDEX performance_metrics_user ON performance_metrics (user_id);

CREATE TABLE user_preferences (
    user_id                     TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    display_units               TEXT NOT NULL DEFAULT 'hartree' CHECK (display_units IN ('hartree', 'ev', 'kcal/mol', 'kj/mol')),
    display_precision           INTEGER NOT NULL DEFAULT 6 CHECK (display_precision BETWEEN 0 AND 15),
    default_optimization_level  TEXT NOT NULL DEFAULT 'normal',
    default_method              TEXT NOT NULL DEFAULT 'gfn2',
    default_solvation           TEXT,
    theme                       TEXT NOT NULL DEFAULT 'auto' CHECK (theme IN ('light', 'dark', 'auto')),
    language                    TEXT NOT NULL DEFAULT 'en',
    enable_email_notifications  INTEGER NOT NULL DEFAULT 0 CHECK (enable_email_notifications IN (0, 1)),
    enable_slack_notifications  INTEGER NOT NULL DEFAULT 0 CHECK (enable_slack_notifications IN (0, 1)),
    slack_webhook_url           TEXT,
    notification_on_completion  INTEGER NOT NULL DEFAULT 0 CHECK (notification_on_completion IN (0, 1)),
    notification_on_error       INTEGER NOT NULL DEFAULT 1 CHECK (notification_on_error IN (0, 1)),
    updated_at                  TEXT NOT NULL
);

CREATE TABLE api_usage_logs (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id              TEXT REFERENCES users (id) ON DELETE CASCADE,
    org_id               TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    endpoint             TEXT NOT NULL,
    method               TEXT NOT NULL,
    status_code          INTEGER NOT NULL,
    response_time_ms     INTEGER NOT NULL,
    request_size_bytes   INTEGER,
    response_size_bytes  INTEGER,
    error_message        TEXT,
    query_parameters     TEXT CHECK (query_parameters IS NULL OR json_valid(query_parameters)),
    created_at           TEXT NOT NULL
);
CREATE INDEX api_usage_logs_user ON api_usage_logs (user_id, created_at);
CREATE INDEX api_usage_logs_created ON api_usage_logs (created_at);
CREATE INDEX api_usage_logs_status ON api_usage_logs (status_code);

CREATE TABLE molecule_properties_computed (
    id                              INTEGER PRIMARY KEY AUTOINCREMENT,
    molecule_id                     TEXT NOT NULL UNIQUE REFERENCES molecules (id) ON DELETE CASCADE,
    owner_id                        TEXT NOT NULL REFERENCES users (id),
    org_id                          TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    molecular_weight                REAL,
    logp                            REAL,
    hydrogen_bond_donors            INTEGER,
    hydrogen_bond_acceptors         INTEGER,
    rotatable_bonds                 INTEGER,
    topological_polar_surface_area  REAL,
    molar_refractivity              REAL,
    computed_at                     TEXT NOT NULL
);
CREATE INDEX mpc_owner ON molecule_properties_computed (owner_id);
CREATE INDEX mpc_org ON molecule_properties_computed (org_id);
CREATE INDEX mpc_weight ON molecule_properties_computed (molecular_weight);
CREATE INDEX mpc_logp ON molecule_properties_computed (logp);

CREATE TABLE batch_job_performance (
    batch_id                      TEXT PRIMARY KEY REFERENCES batches (id) ON DELETE CASCADE,
    owner_id                      TEXT NOT NULL REFERENCES users (id),
    org_id                        TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    execution_start_time          TEXT,
    execution_end_time            TEXT,
    total_execution_time_seconds  REAL,
    average_job_time_seconds      REAL,
    min_job_time_seconds          REAL,
    max_job_time_seconds          REAL,
    failed_jobs                   INTEGER NOT NULL DEFAULT 0,
    successful_jobs               INTEGER NOT NULL DEFAULT 0,
    timeout_jobs                  INTEGER NOT NULL DEFAULT 0,
    convergence_failure_jobs      INTEGER NOT NULL DEFAULT 0,
    average_memory_mb             REAL,
    total_cpu_time_hours          REAL,
    parallelization_efficiency    REAL,
    error_breakdown               TEXT NOT NULL DEFAULT '{}' CHECK (error_breakdown IS NULL OR json_valid(error_breakdown)),
    updated_at                    TEXT NOT NULL
);
CREATE INDEX bjp_owner ON batch_job_performance (owner_id);
CREATE INDEX bjp_org ON batch_job_performance (org_id);

CREATE TABLE user_audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      TEXT REFERENCES users (id) ON DELETE SET NULL,
    org_id       TEXT REFERENCES organisations (id) ON DELETE SET NULL,
    action       TEXT NOT NULL,
    entity_type  TEXT,
    entity_id    TEXT,
    changes      TEXT CHECK (changes IS NULL OR json_valid(changes)),
    ip_address   TEXT,
    user_agent   TEXT,
    status       TEXT NOT NULL CHECK (status IN ('success', 'denied')),
    reason       TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX user_audit_log_user ON user_audit_log (user_id, created_at);
CREATE INDEX user_audit_log_org ON user_audit_log (org_id);
CREATE INDEX user_audit_log_action ON user_audit_log (action);
CREATE INDEX user_audit_log_created ON user_audit_log (created_at);

-- The built-in local user: owns what `qforge run --store` records when no
-- user is named.
INSERT INTO users (id, email, display_name, is_admin, created_at)
VALUES ('00000000-0000-7000-8000-000000000001', 'local@localhost', 'local', 0, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
