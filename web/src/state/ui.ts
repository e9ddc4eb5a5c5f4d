/* The UI state that survives a closed browser: what the user looks at and
 * types, kept in one small store and saved to the server's user_sessions row
 * (PUT /api/v1/session) 2 s after the last change. */
import type { InputFormat, Level, Method, Task, Theme, UiSession, UiSessionBody } from '../api/types';

export type Solvation = 'none' | 'alpb' | 'gbsa';

export interface Params {
  method: Method;
  task: Task;
  level: Level;
  solvation: Solvation;
  solvent: string;
  charge: number;
  uhf: number;
}

export interface Editor {
  name: string;
  format: InputFormat;
  text: string;
  /** SMILES: conformers the server embeds, the lowest kept (1 to MAX_CONFORMERS) */
  conformers: number;
}

/** the server's limit on conformers per SMILES (QF_MAX_CONFORMERS) */
export const MAX_CONFORMERS = 50;

export type SortKey = 'created_at' | 'status' | 'method' | 'task' | 'total_energy' | 'homo_lumo_gap' | 'wall';

export interface CalcFilters {
  status: string;
  method: string;
  task: string;
  batch: string;
  search: string;
  sort: SortKey;
  desc: boolean;
  page: number;
  pageSize: number;
}

export interface UiState {
  /** the path shown, e.g. /workspace or /results/<id> */
  view: string;
  theme: Theme;
  activeMoleculeId: string | null;
  activeCalculationId: string | null;
  activeBatchId: string | null;
  editor: Editor;
  params: Params;
  /** editor contents put aside with "keep as draft" (unsubmitted jobs) */
  drafts: { id: string; editor: Editor; params: Params; saved_at: string }[];
  filters: CalcFilters;
  sidebarCollapsed: boolean;
  /** open tab of each view that has tabs, e.g. { results: 'orbitals' } */
  tabs: Record<string, string>;
  batchSpec: Params;
}

export const DEFAULT_PARAMS: Params = {
  method: 'gfn2',
  task: 'sp',
  level: 'normal',
  solvation: 'none',
  solvent: 'water',
  charge: 0,
  uhf: 0,
};

export const DEFAULT_FILTERS: CalcFilters = {
  status: '',
  method: '',
  task: '',
  batch: '',
  search: '',
  sort: 'created_at',
  desc: true,
  page: 0,
  pageSize: 100,
};

export function defaultState(): UiState {
  return {
    view: '/workspace',
    theme: 'auto',
    activeMoleculeId: null,
    activeCalculationId: null,
    activeBatchId: null,
    editor: { name: '', format: 'xyz', text: '', conformers: 1 },
    params: { ...DEFAULT_PARAMS },
    drafts: [],
    filters: { ...DEFAULT_FILTERS },
    sidebarCollapsed: false,
    tabs: {},
    batchSpec: { ...DEFAULT_PARAMS },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const uuidOrNull = (v: unknown): string | null => (typeof v === 'string' && UUID.test(v) ? v : null);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, d: string): string => (typeof v === 'string' ? v : d);
const num = (v: unknown, d: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);
const bool = (v: unknown, d: boolean): boolean => (typeof v === 'boolean' ? v : d);
function oneOf<T extends string>(v: unknown, allowed: readonly T[], d: T): T {
  return typeof v === 'string' && (allowed as readonly string[]).includes(v) ? (v as T) : d;
}

const METHODS = ['gfn0', 'gfn1', 'gfn2', 'gfnff'] as const;
const TASKS = ['sp', 'opt', 'hess', 'ohess'] as const;
const LEVELS = ['crude', 'sloppy', 'loose', 'lax', 'normal', 'tight', 'vtight', 'extreme'] as const;
const FORMATS = ['xyz', 'sdf', 'mol', 'smiles'] as const;
const THEMES = ['light', 'dark', 'auto'] as const;
const SORTS = ['created_at', 'status', 'method', 'task', 'total_energy', 'homo_lumo_gap', 'wall'] as const;

export function parseParams(v: unknown, d: Params): Params {
  if (!isObj(v)) return { ...d };
  return {
    method: oneOf(v.method, METHODS, d.method),
    task: oneOf(v.task, TASKS, d.task),
    level: oneOf(v.level, LEVELS, d.level),
    solvation: oneOf(v.solvation, ['none', 'alpb', 'gbsa'] as const, d.solvation),
    solvent: str(v.solvent, d.solvent),
    charge: Math.round(num(v.charge, d.charge)),
    uhf: Math.max(0, Math.round(num(v.uhf, d.uhf))),
  };
}

function parseEditor(v: unknown, d: Editor): Editor {
  if (!isObj(v)) return { ...d };
  const c = v.conformers;
  const conformers = typeof c === 'number' && Number.isInteger(c) && c >= 1 && c <= MAX_CONFORMERS ? c : d.conformers;
  return { name: str(v.name, d.name), format: oneOf(v.format, FORMATS, d.format), text: str(v.text, d.text), conformers };
}

/** the row to PUT: every column of user_sessions that the app uses */
export function toSessionBody(s: UiState): UiSessionBody {
  return {
    current_view: s.view,
    active_molecule_id: uuidOrNull(s.activeMoleculeId),
    active_calculation_id: uuidOrNull(s.activeCalculationId),
    editor_content: { version: 1, ...s.editor, params: s.params, drafts: s.drafts },
    sidebar_state: { collapsed: s.sidebarCollapsed, tabs: s.tabs },
    theme_preference: s.theme,
    ui_preferences: { version: 1, filters: s.filters, active_batch_id: s.activeBatchId, batch_spec: s.batchSpec },
  };
}

/** the state from a saved row; anything missing or malformed falls back to `base` */
export function fromSession(row: Partial<UiSession> | null | undefined, base: UiState = defaultState()): UiState {
  if (!row) return base;
  const ed = isObj(row.editor_content) ? row.editor_content : {};
  const sb = isObj(row.sidebar_state) ? row.sidebar_state : {};
  const up = isObj(row.ui_preferences) ? row.ui_preferences : {};
  const f = isObj(up.filters) ? up.filters : {};
  const tabs: Record<string, string> = {};
  if (isObj(sb.tabs)) for (const [k, v] of Object.entries(sb.tabs)) if (typeof v === 'string') tabs[k] = v;
  const drafts = Array.isArray(ed.drafts)
    ? ed.drafts.filter(isObj).map((d, i) => ({
        id: str(d.id, `d${i}`),
        editor: parseEditor(d.editor, base.editor),
        params: parseParams(d.params, base.params),
        saved_at: str(d.saved_at, ''),
      }))
    : base.drafts;
  const view = typeof row.current_view === 'string' && row.current_view.startsWith('/') ? row.current_view : base.view;
  return {
    view: view === '/login' || view === '/register' ? base.view : view,
    theme: oneOf(row.theme_preference, THEMES, base.theme),
    activeMoleculeId: uuidOrNull(row.active_molecule_id) ?? base.activeMoleculeId,
    activeCalculationId: uuidOrNull(row.active_calculation_id) ?? base.activeCalculationId,
    activeBatchId: uuidOrNull(up.active_batch_id) ?? base.activeBatchId,
    editor: parseEditor(ed, base.editor),
    params: parseParams(ed.params, base.params),
    drafts,
    filters: {
      status: str(f.status, base.filters.status),
      method: str(f.method, base.filters.method),
      task: str(f.task, base.filters.task),
      batch: str(f.batch, base.filters.batch),
      search: str(f.search, base.filters.search),
      sort: oneOf(f.sort, SORTS, base.filters.sort),
      desc: bool(f.desc, base.filters.desc),
      page: Math.max(0, Math.round(num(f.page, base.filters.page))),
      pageSize: Math.min(10000, Math.max(10, Math.round(num(f.pageSize, base.filters.pageSize)))),
    },
    sidebarCollapsed: bool(sb.collapsed, base.sidebarCollapsed),
    tabs: { ...base.tabs, ...tabs },
    batchSpec: parseParams(up.batch_spec, base.batchSpec),
  };
}

/* ---- the store ---- */
type Listener = () => void;

export interface Store<S> {
  get(): S;
  set(patch: Partial<S> | ((s: S) => Partial<S>)): void;
  replace(s: S): void;
  subscribe(l: Listener): () => void;
}

export function createStore<S extends object>(initial: S): Store<S> {
  let state = initial;
  const listeners = new Set<Listener>();
  const emit = () => listeners.forEach((l) => l());
  return {
    get: () => state,
    set(patch) {
      const p = typeof patch === 'function' ? patch(state) : patch;
      let changed = false;
      for (const k of Object.keys(p) as (keyof S)[]) if (!Object.is(state[k], p[k])) changed = true;
      if (!changed) return;
      state = { ...state, ...p };
      emit();
    },
    replace(s) {
      state = s;
      emit();
    },
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
}

export const ui = createStore<UiState>({
  ...defaultState(),
  view: typeof window !== 'undefined' && window.location.pathname !== '/' ? window.location.pathname : '/workspace',
});
