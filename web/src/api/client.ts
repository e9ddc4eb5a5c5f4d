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

/* Each call is typed by its operation in the OpenAPI document: its body
 * (BodyOf), its query (QueryOf) and its answer (OkOf), all generated. */
export const api = {
  register: (b: T.BodyOf<'register'>) => post<T.OkOf<'register'>>('/auth/register', b),
  login: (b: T.BodyOf<'login'>) => post<T.OkOf<'login'>>('/auth/login', b),
  logout: () => post<T.OkOf<'logout'>>('/auth/logout'),
  me: () => get<T.OkOf<'me'>>('/auth/me'),
  changePassword: (current_password: string, new_password: string) =>
    post<T.OkOf<'password'>>('/auth/password', { current_password, new_password } satisfies T.BodyOf<'password'>),
  enrollTwoFactor: () => post<T.OkOf<'2fa_enroll'>>('/auth/2fa/enroll'),
  confirmTwoFactor: (code: string) => post<T.OkOf<'2fa_confirm'>>('/auth/2fa/confirm', { code } satisfies T.BodyOf<'2fa_confirm'>),
  disableTwoFactor: (b: T.BodyOf<'2fa_disable'>) => post<T.OkOf<'2fa_disable'>>('/auth/2fa/disable', b),

  createMolecule: (b: T.BodyOf<'molecules_create'>) => post<T.OkOf<'molecules_create'>>('/molecules', b),
  molecules: (q?: T.QueryOf<'molecules_list'>) => get<T.OkOf<'molecules_list'>>('/molecules' + query(q)),
  molecule: (m: string) => get<T.OkOf<'molecules_get'>>(`/molecules/${id(m)}`),
  /** 204: no document */
  deleteMolecule: (m: string) => del<null>(`/molecules/${id(m)}`),

  submit: (b: T.BodyOf<'calcs_submit'>) => post<T.OkOf<'calcs_submit'>>('/calculations', b),
  calculations: (q?: T.QueryOf<'calcs_list'>) => get<T.OkOf<'calcs_list'>>('/calculations' + query(q)),
  calculation: (c: string) => get<T.OkOf<'calcs_get'>>(`/calculations/${id(c)}`),
  calculationMetrics: (c: string) => get<T.OkOf<'calcs_metrics'>>(`/calculations/${id(c)}/metrics`),
  calculationFiles: (c: string) => get<T.OkOf<'calcs_files'>>(`/calculations/${id(c)}/files`),
  fileUrl: (c: string, name: string) => `${API}/calculations/${id(c)}/files/${id(name)}`,
  cancelCalculation: (c: string) => post<T.OkOf<'calcs_cancel'>>(`/calculations/${id(c)}/cancel`),
  retryCalculation: (c: string, force = false) =>
    post<T.OkOf<'calcs_retry'>>(`/calculations/${id(c)}/retry`, { force } satisfies T.BodyOf<'calcs_retry'>),

  createBatch: (b: T.BodyOf<'batches_create'>) => post<T.OkOf<'batches_create'>>('/batches', b),
  batches: (q?: T.QueryOf<'batches_list'>) => get<T.OkOf<'batches_list'>>('/batches' + query(q)),
  batch: (b: string) => get<T.OkOf<'batches_get'>>(`/batches/${id(b)}`),
  batchPerformance: (b: string) => get<T.OkOf<'batches_performance'>>(`/batches/${id(b)}/performance`),
  cancelBatch: (b: string) => post<T.OkOf<'batches_cancel'>>(`/batches/${id(b)}/cancel`),
  retryBatch: (b: string) => post<T.OkOf<'batches_retry'>>(`/batches/${id(b)}/retry`, {} satisfies T.BodyOf<'batches_retry'>),

  dashboard: (q?: T.QueryOf<'dashboard'>) => get<T.OkOf<'dashboard'>>('/dashboard' + query(q)),

  preferences: () => get<T.OkOf<'prefs_get'>>('/preferences'),
  putPreferences: (b: T.BodyOf<'prefs_put'>) => put<T.OkOf<'prefs_put'>>('/preferences', b),
  notifications: (q?: T.QueryOf<'notify_list'>) => get<T.OkOf<'notify_list'>>('/notifications' + query(q)),
  testNotification: () => post<T.OkOf<'notify_test'>>('/notifications/test'),
  session: () => get<T.OkOf<'session_get'>>('/session'),
  putSession: (b: T.BodyOf<'session_put'>) => put<T.OkOf<'session_put'>>('/session', b),

  apiKeys: () => get<T.OkOf<'keys_list'>>('/api-keys'),
  createApiKey: (b: T.BodyOf<'keys_create'>) => post<T.OkOf<'keys_create'>>('/api-keys', b),
  revokeApiKey: (k: string) => del<T.OkOf<'keys_revoke'>>(`/api-keys/${id(k)}`),

  users: (q?: T.QueryOf<'users_list'>) => get<T.OkOf<'users_list'>>('/users' + query(q)),
  patchUser: (u: string, b: T.BodyOf<'users_patch'>) => patch<T.OkOf<'users_patch'>>(`/users/${id(u)}`, b),
  organisations: () => get<T.OkOf<'orgs_list'>>('/organisations'),
  createOrganisation: (name: string) => post<T.OkOf<'orgs_create'>>('/organisations', { name } satisfies T.BodyOf<'orgs_create'>),
  orgMembers: (o: string) => get<T.OkOf<'members_list'>>(`/organisations/${id(o)}/members`),
  setMember: (o: string, u: string, b: T.BodyOf<'members_put'>) =>
    put<T.OkOf<'members_put'>>(`/organisations/${id(o)}/members/${id(u)}`, b),
  removeMember: (o: string, u: string) => del<T.OkOf<'members_delete'>>(`/organisations/${id(o)}/members/${id(u)}`),
  createInvite: (b: T.BodyOf<'invites_create'>) => post<T.OkOf<'invites_create'>>('/invites', b),
  invites: (q?: T.QueryOf<'invites_list'>) => get<T.OkOf<'invites_list'>>('/invites' + query(q)),
  audit: (q?: T.QueryOf<'audit_list'>) => get<T.OkOf<'audit_list'>>('/audit' + query(q)),
};

export type Api = typeof api;
