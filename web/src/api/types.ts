/* Types of the JSON API, written from src/http/openapi.json (request bodies,
 * enums, the error shape) and from the handlers in src/http/handlers/*.c (the
 * documents they answer with: the OpenAPI document types those as "object"). */

export type ErrorCategory = 'validation' | 'timeout' | 'convergence' | 'system' | 'unknown';

/** components.schemas.Error */
export interface ErrorBody {
  error: { code: string; category: ErrorCategory; message: string };
}

export type Method = 'gfn0' | 'gfn1' | 'gfn2' | 'gfnff';
export type Task = 'sp' | 'opt' | 'hess' | 'ohess';
export type Level = 'crude' | 'sloppy' | 'loose' | 'lax' | 'normal' | 'tight' | 'vtight' | 'extreme';
export type InputFormat = 'xyz' | 'sdf' | 'mol' | 'smiles';
export type Role = 'admin' | 'researcher' | 'viewer';
export type DisplayUnits = 'hartree' | 'ev' | 'kcal/mol' | 'kj/mol';
export type Theme = 'light' | 'dark' | 'auto';
export type CalcStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export const METHODS: Method[] = ['gfn2', 'gfn1', 'gfn0', 'gfnff'];
export const TASKS: Task[] = ['sp', 'opt', 'hess', 'ohess'];
export const LEVELS: Level[] = ['crude', 'sloppy', 'loose', 'lax', 'normal', 'tight', 'vtight', 'extreme'];
export const UNITS: DisplayUnits[] = ['hartree', 'ev', 'kcal/mol', 'kj/mol'];

/** components.schemas.Spec */
export interface Spec {
  task?: Task;
  level?: Level;
  method?: Method;
  alpb?: string;
  gbsa?: string;
  charge?: number;
  uhf?: number;
  etemp?: number;
  accuracy?: number;
  max_scc_iterations?: number;
  max_opt_cycles?: number;
  timeout?: number;
  threads?: number;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface ListQuery {
  limit?: number;
  cursor?: string;
  /** a column, '-column' for descending */
  order?: string;
  since?: string;
  until?: string;
}

/* ---- auth ---- */
export interface RegisterBody {
  email: string;
  password: string;
  display_name?: string;
  invite_code?: string;
}
export interface LoginBody {
  email: string;
  password: string;
  /** the authenticator app's code, when two-factor login is on */
  totp?: string;
  /** a one-time backup code instead of totp */
  backup_code?: string;
}
export interface UserDoc {
  id: string;
  email: string;
  display_name: string | null;
  is_admin: boolean;
  role: Role;
}
export interface SessionStarted {
  user: UserDoc;
  token: string;
  csrf_token: string;
  expires_at: string;
}
export interface Membership {
  id?: string;
  user_id: string;
  org_id: string;
  role: string;
}
export interface Me extends UserDoc {
  memberships: Membership[];
  auth: 'cookie' | 'bearer' | 'api_key';
  created_at: string;
  last_login_at: string | null;
  /** whether logging in needs a second factor */
  two_factor: boolean;
}

/* ---- molecules ---- */
export interface MoleculeBody {
  name?: string;
  format: InputFormat;
  data: string;
  filename?: string;
  org_id?: string;
}
export interface Molecule {
  id: string;
  owner_id: string;
  org_id: string | null;
  name: string | null;
  formula: string;
  natoms: number;
  charge: number;
  uhf: number;
  atomic_numbers: number[];
  coordinates: [number, number, number][];
  input_format: string;
  input_sha256: string;
  geometry_sha256: string;
  smiles: string | null;
  created_at: string;
}

/* ---- calculations ---- */
export interface CalculationBody {
  molecule_id?: string;
  molecule_ids?: string[];
  spec?: Spec;
  org_id?: string;
  batch_id?: string;
  priority?: number;
  max_attempts?: number;
  force?: boolean;
}
export interface Submitted {
  ids: string[];
  reused: number;
  id: string;
}
export interface Results {
  total_energy_hartree: number | null;
  total_energy_ev: number | null;
  electronic_energy_hartree: number | null;
  homo_lumo_gap_ev: number | null;
  dipole_debye: number | null;
  dipole_vector_debye: [number, number, number] | null;
  partial_charges: number[] | null;
  gradient_hartree_per_bohr: [number, number, number][] | null;
  atomic_numbers: number[] | null;
  geometry_angstrom: [number, number, number][] | null;
  wiberg_bond_orders: [number, number, number][] | null;
  orbital_energies_ev: number[] | null;
  orbital_occupations: number[] | null;
  homo_index: number | null;
  optimization_energies_hartree: number[] | null;
  gradient_norm: number | null;
  frequencies_cm1: number[] | null;
  ir_intensities_km_mol: number[] | null;
  reduced_masses_amu: number[] | null;
  imaginary_frequencies: number | null;
  thermo: {
    zpve_hartree: number;
    enthalpy_hartree: number;
    free_energy_hartree: number;
    g_rrho_hartree: number;
    temperature_k: number;
  } | null;
}
export interface Calculation {
  id: string;
  molecule_id: string;
  batch_id: string | null;
  owner_id: string;
  org_id: string | null;
  method: Method;
  task: Task;
  optimization_level: Level | null;
  solvation_model: 'alpb' | 'gbsa' | null;
  solvent: string | null;
  charge: number;
  uhf: number;
  parameters: Record<string, number>;
  spec: Spec;
  status: CalcStatus;
  attempt: number;
  max_attempts: number;
  priority: number;
  reused_from: string | null;
  total_energy: number | null;
  homo_lumo_gap: number | null;
  dipole_moment: number | null;
  is_converged: boolean | null;
  gradient_norm: number | null;
  xtb_version: string | null;
  results: Results | null;
  error_category: ErrorCategory | null;
  error_code: string | null;
  error_message: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  cancel_requested: boolean;
  last_worker: string | null;
}
export interface AtomicProperty {
  atom_index: number;
  atomic_number: number;
  element: string;
  x: number;
  y: number;
  z: number;
  partial_charge: number | null;
  force_x: number | null;
  force_y: number | null;
  force_z: number | null;
}
export interface CalculationDetail extends Calculation {
  atomic_properties: AtomicProperty[];
  molecule: { name: string | null; formula: string; natoms: number; smiles: string | null } | null;
}
export interface CalculationsQuery extends ListQuery {
  status?: string;
  method?: string;
  task?: string;
  batch_id?: string;
  molecule_id?: string;
  org_id?: string;
}
export interface ExecutionMetric {
  id: number;
  calculation_id: string;
  attempt: number;
  xtb_version: string | null;
  method: string | null;
  solvation_model: string | null;
  optimization_level: string | null;
  wall_time_seconds: number | null;
  cpu_time_seconds: number | null;
  scf_cycles: number | null;
  optimization_cycles: number | null;
  convergence_iterations: number | null;
  memory_peak_mb: number | null;
  is_converged: boolean | null;
  convergence_criterion_met: number | null;
  exit_code: number | null;
  worker: string | null;
  stdout_log: string | null;
  stderr_log: string | null;
  created_at: string;
  started_at: string | null;
}
export interface CalcError {
  id?: number | string;
  calculation_id: string;
  attempt?: number;
  category?: string;
  error_category?: string;
  code?: string;
  error_code?: string;
  message?: string;
  error_message?: string;
  created_at?: string;
  [k: string]: unknown;
}
export interface CalculationMetrics {
  calculation: Calculation;
  metrics: ExecutionMetric[];
  errors: CalcError[];
}
export interface JobFiles {
  id: string;
  files: { name: string; size: number }[];
}

/* ---- batches ---- */
export interface BatchBody {
  name?: string;
  format?: 'xyz' | 'sdf' | 'smiles';
  data: string;
  filename?: string;
  org_id?: string;
  spec?: Spec;
  priority?: number;
  max_attempts?: number;
  force?: boolean;
}
export interface BatchCreated {
  batch_id: string;
  id: string;
  queued: number;
  reused: number;
  rejected: number;
  rejections: { index?: number; record?: number; message?: string; code?: string; [k: string]: unknown }[];
}
export interface Batch {
  id: string;
  owner_id: string;
  org_id: string | null;
  name: string | null;
  spec: Spec;
  status: string;
  total: number;
  source: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}
export interface BatchPerformance {
  batch_id: string;
  execution_start_time: string | null;
  execution_end_time: string | null;
  total_execution_time_seconds: number | null;
  average_job_time_seconds: number | null;
  min_job_time_seconds: number | null;
  max_job_time_seconds: number | null;
  failed_jobs: number;
  successful_jobs: number;
  timeout_jobs: number;
  convergence_failure_jobs: number;
  average_memory_mb: number | null;
  total_cpu_time_hours: number | null;
  parallelization_efficiency: number | null;
  error_breakdown: Record<string, number>;
  workers?: number;
}
export interface BatchCounts {
  queued: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  total: number;
}
export interface BatchDetail {
  batch: Batch;
  counts: BatchCounts;
  failures: { by_category: Record<string, number>; by_code: Record<string, number> };
  performance: BatchPerformance | null;
}

/* ---- dashboard ---- */
export interface PerfGroup {
  label: string | null;
  count: number;
  average_wall_time_seconds: number | null;
  min_wall_time_seconds: number | null;
  max_wall_time_seconds: number | null;
  average_memory_mb: number | null;
}
export interface Dashboard {
  by_atom_count: PerfGroup[];
  by_method: PerfGroup[];
  by_optimization_level: PerfGroup[];
  failures: { category?: string; code?: string; count: number; [k: string]: unknown }[];
  throughput_series: { start: string; completed: number; average_wall_time_seconds: number | null; per_hour: number }[];
  queue_series: { time: string; name: string; value: number }[];
  queue: { queued: number; ready: number; running: number; completed: number; failed: number; cancelled: number };
  throughput: {
    window_seconds: number;
    until: string;
    completed: number;
    average_wall_time_seconds: number | null;
    per_hour: number;
    previous_completed: number;
    previous_average_wall_time_seconds: number | null;
  };
  alert: { slow: boolean; rule: string; threshold_seconds: number | null; factor: number };
  /* the server's scheduled retention (absent from older servers) */
  retention?: Retention;
}

export interface Retention {
  enabled: boolean;
  interval_seconds?: number;
  runs?: number;
  failures?: number;
  rows_deleted_total?: number;
  last_run_seconds?: number;
  last_run_at?: string | null;
  last_error?: string | null;
  last_deleted?: Record<string, number> | null;
  deleted_by_table?: Record<string, number>;
}

/* ---- preferences, session ---- */
export interface Preferences {
  user_id: string;
  display_units: DisplayUnits;
  display_precision: number;
  default_optimization_level: string;
  default_method: Method;
  default_solvation: string | null;
  theme: Theme;
  language: string;
  enable_email_notifications: boolean;
  enable_slack_notifications: boolean;
  notification_on_completion: boolean;
  notification_on_error: boolean;
  notification_on_batch_completion: boolean;
  updated_at: string;
  slack_webhook_set: boolean;
  slack_webhook_url_masked: string | null;
}
export interface PreferencesBody {
  display_units?: DisplayUnits;
  display_precision?: number;
  default_optimization_level?: string;
  default_method?: Method;
  default_solvation?: string | null;
  theme?: Theme;
  language?: string;
  enable_email_notifications?: boolean;
  enable_slack_notifications?: boolean;
  slack_webhook_url?: string | null;
  notification_on_completion?: boolean;
  notification_on_error?: boolean;
  notification_on_batch_completion?: boolean;
}
/** the user_sessions row, as GET /api/v1/session answers */
export interface UiSession {
  current_view: string | null;
  active_molecule_id: string | null;
  active_calculation_id: string | null;
  editor_content: unknown;
  sidebar_state: unknown;
  theme_preference: string | null;
  ui_preferences: unknown;
  last_activity: string | null;
}
export interface UiSessionBody {
  current_view?: string;
  active_molecule_id?: string | null;
  active_calculation_id?: string | null;
  editor_content?: unknown;
  sidebar_state?: unknown;
  theme_preference?: string | null;
  ui_preferences?: unknown;
}

/* ---- keys, users, audit, orgs ---- */
export interface ApiKey {
  id: string;
  user_id: string;
  org_id: string | null;
  name: string | null;
  prefix: string;
  scopes: ('read' | 'write')[];
  rate_limit_per_minute: number | null;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}
export interface ApiKeyCreated extends ApiKey {
  key: string;
}
export interface ApiKeyBody {
  name?: string;
  org_id?: string;
  expires_at?: string;
  scopes?: ('read' | 'write')[];
}
export interface User {
  id: string;
  email: string;
  display_name: string | null;
  is_admin: boolean;
  disabled: boolean;
  storage_quota_mb: number | null;
  max_concurrent_jobs: number | null;
  created_at: string;
  last_login_at: string | null;
  role: Role;
}
export interface UserPatch {
  display_name?: string;
  role?: Role;
  disabled?: boolean;
  storage_quota_mb?: number;
  max_concurrent_jobs?: number;
}
export interface AuditEntry {
  id: number;
  user_id: string | null;
  org_id: string | null;
  action: string;
  entity_type: string | null;
  entity_id: string | null;
  changes: unknown;
  ip_address: string | null;
  user_agent: string | null;
  status: string;
  reason: string | null;
  created_at: string;
}
export interface Organisation {
  id: string;
  name: string;
  slug?: string;
  created_at?: string;
  [k: string]: unknown;
}

/* ---- events ---- */
export interface CalcEvent {
  id: string;
  org_id: string | null;
  batch_id: string | null;
  status: CalcStatus;
  updated_at: string;
  error_code: string | null;
}

/* ---- notifications (src/http/handlers/notifications.c) ---- */
export type NotificationChannel = 'email' | 'slack';
export type NotificationEvent = 'calculation_completed' | 'calculation_failed' | 'batch_completed' | 'test';
export type NotificationStatus = 'pending' | 'sending' | 'sent' | 'failed';
/** a notification_outbox row (010_notifications.sql) */
export interface NotificationRow {
  id: string;
  user_id: string;
  channel: NotificationChannel;
  event: NotificationEvent;
  subject_id: string | null;
  payload: unknown;
  status: NotificationStatus;
  attempts: number;
  next_attempt_at: string | null;
  /** the platform's account of a failure */
  last_error: string | null;
  created_at: string;
  updated_at: string;
  sent_at: string | null;
}
export interface NotificationsQuery extends ListQuery {
  status?: NotificationStatus;
  channel?: NotificationChannel;
  event?: NotificationEvent;
}

/* ---- two-factor login (src/http/handlers/twofactor.c) ---- */
/** POST /api/v1/auth/2fa/enroll: the secret, shown this once */
export interface TwoFactorEnrolment {
  secret: string;
  otpauth_uri: string;
  status: 'pending';
  digits: number;
  period: number;
}
/** POST /api/v1/auth/2fa/confirm: the backup codes, shown this once */
export interface TwoFactorConfirmed {
  enabled: true;
  backup_codes: string[];
}
export interface TwoFactorDisableBody {
  password: string;
  code?: string;
  backup_code?: string;
}
