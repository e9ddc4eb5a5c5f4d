/* Types of the JSON API, derived from the types generated from the server's
 * OpenAPI document (src/http/openapi.json → src/api/schema.d.ts by
 * `npm run gen:api`; src/api/schema.test.ts fails when that file is stale).
 * Nothing here is written by hand but names and enum lists the views loop
 * over, and those are checked against the generated unions. */
import type { components, operations } from './schema';

type Schemas = components['schemas'];

/* ---- per operation (operationId of openapi.json) ---- */
export type OperationId = keyof operations;
type Json<C> = C extends { content: { 'application/json': infer J } } ? J : never;
/** the JSON body an operation takes */
export type BodyOf<O extends OperationId> = NonNullable<operations[O]['requestBody']> extends { content: { 'application/json': infer B } } ? B : never;
/** the query parameters an operation takes */
export type QueryOf<O extends OperationId> = operations[O]['parameters'] extends { query?: infer Q } ? NonNullable<Q> : never;
/** the JSON document of an operation's successful answer (2xx) */
export type OkOf<O extends OperationId> = {
  [S in keyof operations[O]['responses']]: S extends 200 | 201 | 202 ? Json<operations[O]['responses'][S]> : never;
}[keyof operations[O]['responses']];

/** components.schemas.Error */
export type ErrorBody = Schemas['Error'];
export type ErrorCategory = ErrorBody['error']['category'];

export type Spec = Schemas['Spec'];
export type Method = NonNullable<Spec['method']>;
export type Task = NonNullable<Spec['task']>;
export type Level = NonNullable<Spec['level']>;
export type InputFormat = BodyOf<'molecules_create'>['format'];
export type Role = Schemas['User']['role'];
export type DisplayUnits = Schemas['Preferences']['display_units'];
export type Theme = Schemas['Preferences']['theme'];
export type CalcStatus = Schemas['Calculation']['status'];

/** every member of a union, in the order the views show them: the type
 * fails to check if the list misses one of the document's values */
type Exhaustive<U, L extends readonly U[]> = [U] extends [L[number]] ? L : never;
const exhaustive = <U>() => <const L extends readonly U[]>(l: Exhaustive<U, L>): U[] => [...l];
export const METHODS: Method[] = exhaustive<Method>()(['gfn2', 'gfn1', 'gfn0', 'gfnff']);
export const TASKS: Task[] = exhaustive<Task>()(['sp', 'opt', 'hess', 'ohess']);
export const LEVELS: Level[] = exhaustive<Level>()(['crude', 'sloppy', 'loose', 'lax', 'normal', 'tight', 'vtight', 'extreme']);
export const UNITS: DisplayUnits[] = exhaustive<DisplayUnits>()(['hartree', 'ev', 'kcal/mol', 'kj/mol']);

/** a page of a listing: {"items": [...], "next_cursor": ...} */
export type Page<T> = Omit<Schemas['CalculationPage'], 'items'> & { items: T[] };
/** the query parameters every listing takes */
export type ListQuery = Pick<QueryOf<'calcs_list'>, 'limit' | 'cursor' | 'order' | 'since' | 'until'>;

/* ---- auth ---- */
export type RegisterBody = BodyOf<'register'>;
export type LoginBody = BodyOf<'login'>;
export type UserDoc = Schemas['UserDoc'];
export type SessionStarted = Schemas['SessionStarted'];
export type Membership = Schemas['Membership'];
export type Me = Schemas['Me'];
export type Status = Schemas['Status'];

/* ---- molecules ---- */
export type MoleculeBody = BodyOf<'molecules_create'>;
export type Molecule = Schemas['Molecule'];

/* ---- calculations ---- */
export type CalculationBody = BodyOf<'calcs_submit'>;
export type Submitted = Schemas['Submitted'];
export type Results = Schemas['Results'];
export type Calculation = Schemas['Calculation'];
export type AtomicProperty = Schemas['AtomicProperty'];
export type CalculationDetail = Schemas['CalculationDetail'];
export type CalculationsQuery = QueryOf<'calcs_list'>;
export type ExecutionMetric = Schemas['ExecutionMetric'];
export type CalcError = Schemas['CalculationError'];
export type CalculationMetrics = Schemas['CalculationMetrics'];
export type JobFiles = Schemas['JobFiles'];
export type IdStatus = Schemas['IdStatus'];

/* ---- batches ---- */
export type BatchBody = BodyOf<'batches_create'>;
export type BatchCreated = Schemas['BatchCreated'];
export type Batch = Schemas['Batch'];
export type BatchesQuery = QueryOf<'batches_list'>;
export type BatchPerformance = Schemas['BatchPerformance'];
export type BatchCounts = Schemas['BatchCounts'];
export type BatchDetail = Schemas['BatchDetail'];

/* ---- dashboard ---- */
export type PerfGroup = Schemas['PerfGroup'];
export type Dashboard = Schemas['Dashboard'];
export type DashboardQuery = QueryOf<'dashboard'>;
export type Retention = Schemas['Retention'];

/* ---- preferences, session ---- */
export type Preferences = Schemas['Preferences'];
export type PreferencesBody = BodyOf<'prefs_put'>;
/** the user_sessions row, as GET /api/v1/session answers */
export type UiSession = Schemas['UiSession'];
export type UiSessionBody = BodyOf<'session_put'>;

/* ---- keys, users, audit, orgs ---- */
export type ApiKey = Schemas['ApiKey'];
export type ApiKeyCreated = Schemas['ApiKeyCreated'];
export type ApiKeyBody = BodyOf<'keys_create'>;
export type User = Schemas['User'];
export type UsersQuery = QueryOf<'users_list'>;
export type UserPatch = BodyOf<'users_patch'>;
export type AuditEntry = Schemas['AuditEntry'];
export type AuditQuery = QueryOf<'audit_list'>;
export type Organisation = Schemas['Organisation'];

/* ---- events ---- */
export type CalcEvent = Schemas['CalcEvent'];

/* ---- notifications ---- */
export type NotificationRow = Schemas['NotificationRow'];
export type NotificationChannel = NotificationRow['channel'];
export type NotificationEvent = NotificationRow['event'];
export type NotificationStatus = NotificationRow['status'];
export type NotificationsQuery = QueryOf<'notify_list'>;

/* ---- two-factor login ---- */
/** POST /api/v1/auth/2fa/enroll: the secret, shown this once */
export type TwoFactorEnrolment = Schemas['TwoFactorEnrolment'];
/** POST /api/v1/auth/2fa/confirm: the backup codes, shown this once */
export type TwoFactorConfirmed = Schemas['TwoFactorConfirmed'];
export type TwoFactorDisableBody = BodyOf<'2fa_disable'>;
