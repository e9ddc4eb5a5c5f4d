/* The API client: one function per route of src/http/openapi.json that the
 * app uses. The browser's session is the qf_session cookie (HttpOnly, set by
 * login and register); a request that changes something must echo the
 * qf_csrf cookie in X-CSRF-Token (src/http/server.c, check_csrf). */
import type * as T from './types';

export const API = '/api/v1';

export class ApiError extends Error {
  status: number;
  code: string;
  category: T.ErrorCategory;
  constructor(status: number, code: string, category: T.ErrorCategory, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.category = category;
  }
}

export function readCookie(name: string, cookies: string = typeof document !== 'undefined' ? document.cookie : ''): string | null {
  for (const part of cookies.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}

export function query(q: object | undefined): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

let onUnauthorized: (() => void) | null = null;
/** called when the server answers 401 to a signed-in call (session expired) */
export function setUnauthorizedHandler(f: (() => void) | null): void {
  onUnauthorized = f;
}

export async function request<R>(method: string, path: string, body?: unknown, init?: RequestInit): Promise<R> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    const csrf = readCookie('qf_csrf');
    if (csrf) headers['X-CSRF-Token'] = csrf;
  }
  let res: Response;
  try {
    res = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      ...init,
    });
  } catch (e) {
    throw new ApiError(0, 'http.network', 'system', `the server cannot be reached: ${(e as Error).message}`);
  }
  const text = await res.text();
  let doc: unknown = null;
  if (text) {
    try {
      doc = JSON.parse(text);
    } catch {
      doc = null;
    }
  }
  if (!res.ok) {
    const err = (doc as T.ErrorBody | null)?.error;
    if (res.status === 401 && onUnauthorized && !path.startsWith('/auth/')) onUnauthorized();
    throw new ApiError(res.status, err?.code ?? `http.${res.status}`, err?.category ?? 'unknown', err?.message ?? (res.statusText || `HTTP ${res.status}`));
  }
  return doc as R;
}

const get = <R>(p: string) => request<R>('GET', p);
const post = <R>(p: string, b?: unknown) => request<R>('POST', p, b);
const put = <R>(p: string, b?: unknown) => request<R>('PUT', p, b);
const patch = <R>(p: string, b?: unknown) => request<R>('PATCH', p, b);
const del = <R>(p: string) => request<R>('DELETE', p);
const id = (s: string) => encodeURIComponent(s);

export const api = {
  register: (b: T.RegisterBody) => post<T.SessionStarted>('/auth/register', b),
  login: (b: T.LoginBody) => post<T.SessionStarted>('/auth/login', b),
  logout: () => post<{ status: string }>('/auth/logout'),
  me: () => get<T.Me>('/auth/me'),
  changePassword: (current_password: string, new_password: string) =>
    post<{ status: string }>('/auth/password', { current_password, new_password }),
  enrollTwoFactor: () => post<T.TwoFactorEnrolment>('/auth/2fa/enroll'),
  confirmTwoFactor: (code: string) => post<T.TwoFactorConfirmed>('/auth/2fa/confirm', { code }),
  disableTwoFactor: (b: T.TwoFactorDisableBody) => post<{ enabled: false }>('/auth/2fa/disable', b),

  createMolecule: (b: T.MoleculeBody) => post<T.Molecule>('/molecules', b),
  molecules: (q?: T.ListQuery) => get<T.Page<T.Molecule>>('/molecules' + query(q)),
  molecule: (m: string) => get<T.Molecule>(`/molecules/${id(m)}`),
  deleteMolecule: (m: string) => del<unknown>(`/molecules/${id(m)}`),

  submit: (b: T.CalculationBody) => post<T.Submitted>('/calculations', b),
  calculations: (q?: T.CalculationsQuery) => get<T.Page<T.Calculation>>('/calculations' + query(q)),
  calculation: (c: string) => get<T.CalculationDetail>(`/calculations/${id(c)}`),
  calculationMetrics: (c: string) => get<T.CalculationMetrics>(`/calculations/${id(c)}/metrics`),
  calculationFiles: (c: string) => get<T.JobFiles>(`/calculations/${id(c)}/files`),
  fileUrl: (c: string, name: string) => `${API}/calculations/${id(c)}/files/${id(name)}`,
  cancelCalculation: (c: string) => post<unknown>(`/calculations/${id(c)}/cancel`),
  retryCalculation: (c: string, force = false) => post<unknown>(`/calculations/${id(c)}/retry`, { force }),

  createBatch: (b: T.BatchBody) => post<T.BatchCreated>('/batches', b),
  batches: (q?: T.ListQuery & { status?: string }) => get<T.Page<T.Batch>>('/batches' + query(q)),
  batch: (b: string) => get<T.BatchDetail>(`/batches/${id(b)}`),
  batchPerformance: (b: string) => get<T.BatchPerformance>(`/batches/${id(b)}/performance`),
  cancelBatch: (b: string) => post<unknown>(`/batches/${id(b)}/cancel`),
  retryBatch: (b: string) => post<unknown>(`/batches/${id(b)}/retry`, {}),

  dashboard: (q?: { window?: number; threshold?: number }) => get<T.Dashboard>('/dashboard' + query(q)),

  preferences: () => get<T.Preferences>('/preferences'),
  putPreferences: (b: T.PreferencesBody) => put<T.Preferences>('/preferences', b),
  notifications: (q?: T.NotificationsQuery) => get<T.Page<T.NotificationRow>>('/notifications' + query(q)),
  testNotification: () => post<{ queued: number }>('/notifications/test'),
  session: () => get<T.UiSession>('/session'),
  putSession: (b: T.UiSessionBody) => put<T.UiSession>('/session', b),

  apiKeys: () => get<T.Page<T.ApiKey>>('/api-keys'),
  createApiKey: (b: T.ApiKeyBody) => post<T.ApiKeyCreated>('/api-keys', b),
  revokeApiKey: (k: string) => del<unknown>(`/api-keys/${id(k)}`),

  users: (q?: T.ListQuery & { email?: string; role?: string }) => get<T.Page<T.User>>('/users' + query(q)),
  patchUser: (u: string, b: T.UserPatch) => patch<T.User>(`/users/${id(u)}`, b),
  organisations: () => get<T.Page<T.Organisation>>('/organisations'),
  createOrganisation: (name: string) => post<T.Organisation>('/organisations', { name }),
  orgMembers: (o: string) => get<T.Page<T.Membership & { [k: string]: unknown }>>(`/organisations/${id(o)}/members`),
  audit: (q?: T.ListQuery & { user_id?: string; action?: string }) => get<T.Page<T.AuditEntry>>('/audit' + query(q)),
};

export type Api = typeof api;
