import { useEffect, useRef, useState, type ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError, setUnauthorizedHandler } from './api/client';
import type { CalcEvent, Me, Theme } from './api/types';
import { navigate, useUi } from './state/hooks';
import { defaultState, fromSession, toSessionBody, ui, type UiState } from './state/ui';
import { restore, startAutosave, unsyncedLocal, type Autosave, type AutosaveStatus } from './state/autosave';
import { AuthView } from './views/Auth';
import { Loading, ErrorBox } from './components/States';
import { Toasts, notify } from './components/Toasts';
import { WorkspaceView } from './views/Workspace';
import { ResultsView } from './views/Results';
import { CalculationsView } from './views/Calculations';
import { BatchesView } from './views/Batches';
import { DashboardView } from './views/Dashboard';
import { SettingsView } from './views/Settings';
import { AdminView } from './views/Admin';

interface NavItem {
  path: string;
  label: string;
  icon: string;
  admin?: boolean;
}

export const NAV: NavItem[] = [
  { path: '/workspace', label: 'Workspace', icon: '✎' },
  { path: '/calculations', label: 'Calculations', icon: '☰' },
  { path: '/batches', label: 'Batches', icon: '▦' },
  { path: '/dashboard', label: 'Dashboard', icon: '◔' },
  { path: '/settings', label: 'Settings', icon: '⚙' },
  { path: '/admin', label: 'Admin', icon: '★', admin: true },
];

function useTheme(theme: Theme) {
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
}

export function App() {
  const qc = useQueryClient();
  const theme = useUi((s) => s.theme);
  const view = useUi((s) => s.view);
  useTheme(theme);
  useEffect(() => {
    const pop = () => ui.set({ view: window.location.pathname });
    window.addEventListener('popstate', pop);
    return () => window.removeEventListener('popstate', pop);
  }, []);
  const me = useQuery<Me>({ queryKey: ['me'], queryFn: api.me, retry: false, staleTime: Infinity });
  useEffect(() => {
    setUnauthorizedHandler(() => qc.invalidateQueries({ queryKey: ['me'] }));
    return () => setUnauthorizedHandler(null);
  }, [qc]);

  if (me.isLoading) return <Loading what="Starting" />;
  const unauth = me.error instanceof ApiError && me.error.status === 401;
  if (me.error && !unauth)
    return (
      <main className="auth">
        <ErrorBox error={me.error} retry={() => me.refetch()} />
      </main>
    );
  if (unauth || !me.data) return <AuthView mode={view === '/register' ? 'register' : 'login'} />;
  return <Signedin me={me.data} key={me.data.id} />;
}

/** After sign-in: restore the saved UI state, then autosave it. */
function Signedin({ me }: { me: Me }) {
  const qc = useQueryClient();
  const [ready, setReady] = useState(false);
  const [bootError, setBootError] = useState<unknown>(null);
  const [saveStatus, setSaveStatus] = useState<AutosaveStatus>('idle');
  const auto = useRef<Autosave | null>(null);

  useEffect(() => {
    let stopped = false;
    (async () => {
      try {
        // preferences and the saved state at once: the first view waits for both
        const [prefs, row] = await Promise.all([qc.fetchQuery({ queryKey: ['preferences'], queryFn: api.preferences }), api.session()]);
        const base: UiState = defaultState();
        base.theme = prefs.theme;
        base.params.method = prefs.default_method;
        const lvl = prefs.default_optimization_level as UiState['params']['level'];
        if (lvl) base.params.level = lvl;
        if (prefs.default_solvation) {
          const [model, solvent] = prefs.default_solvation.includes(':')
            ? prefs.default_solvation.split(':', 2)
            : ['alpb', prefs.default_solvation];
          base.params.solvation = model === 'gbsa' ? 'gbsa' : 'alpb';
          base.params.solvent = solvent;
        }
        base.batchSpec = { ...base.params };
        const urlView = window.location.pathname;
        // a change made here that the server never got (the browser closed
        // before the save) wins over the server's row
        const local = { key: `qf-ui-state:${me.id}`, storage: window.localStorage };
        const pending = unsyncedLocal(local);
        const s = await restore(ui, async () => (pending ? { ...row, ...pending } : row), base);
        if (stopped) return;
        auto.current = startAutosave({
          store: ui,
          local,
          serverHas: toSessionBody(fromSession(row, base)),
          save: (body, { keepalive }) =>
            keepalive
              ? fetch('/api/v1/session', {
                  method: 'PUT',
                  keepalive: true,
                  credentials: 'same-origin',
                  headers: {
                    'Content-Type': 'application/json',
                    'X-CSRF-Token': (document.cookie.match(/(?:^|;\s*)qf_csrf=([^;]*)/) ?? [])[1] ?? '',
                  },
                  body: JSON.stringify(body),
                })
              : api.putSession(body),
          onStatus: setSaveStatus,
        });
        // an address typed or reloaded wins; the bare root opens the saved view
        if (urlView === '/' || urlView === '/login' || urlView === '/register') navigate(s.view, { replace: true });
        else ui.set({ view: urlView });
        if (pending) auto.current.sync();
        setReady(true);
      } catch (e) {
        if (!stopped) setBootError(e);
      }
    })();
    const hide = () => auto.current?.flush(true);
    const vis = () => document.visibilityState === 'hidden' && hide();
    window.addEventListener('pagehide', hide);
    document.addEventListener('visibilitychange', vis);
    return () => {
      stopped = true;
      window.removeEventListener('pagehide', hide);
      document.removeEventListener('visibilitychange', vis);
      auto.current?.stop();
      auto.current = null;
    };
  }, [qc, me.id]);

  useEvents(ready);

  if (bootError) return <ErrorBox error={bootError} retry={() => window.location.reload()} />;
  if (!ready) return <Loading what="Restoring your workspace" />;
  return (
    <Shell me={me} saveStatus={saveStatus} flush={() => (auto.current?.flush(), auto.current?.stop())}>
      <Routes me={me} />
    </Shell>
  );
}

/** Live status changes: refresh what shows them, and notify of one's jobs ending. */
function useEvents(on: boolean) {
  const qc = useQueryClient();
  useEffect(() => {
    if (!on || typeof EventSource === 'undefined') return;
    const es = new EventSource('/api/v1/events', { withCredentials: true });
    const onCalc = (ev: MessageEvent) => {
      let d: CalcEvent;
      try {
        d = JSON.parse(ev.data);
      } catch {
        return;
      }
      qc.invalidateQueries({ queryKey: ['calculation', d.id] });
      qc.invalidateQueries({ queryKey: ['calculations'] });
      if (d.batch_id) qc.invalidateQueries({ queryKey: ['batch', d.batch_id] });
      const recent = Date.now() - Date.parse(d.updated_at) < 60_000;
      if (recent && !d.batch_id && d.status === 'completed')
        notify('success', `Calculation ${d.id.slice(-6)} completed`, `/results/${d.id}`);
      else if (recent && !d.batch_id && d.status === 'failed')
        notify('error', `Calculation ${d.id.slice(-6)} failed${d.error_code ? ` (${d.error_code})` : ''}`, `/results/${d.id}`);
    };
    const onBatch = (ev: MessageEvent) => {
      let d: { id: string; status: string; updated_at: string };
      try {
        d = JSON.parse(ev.data);
      } catch {
        return;
      }
      qc.invalidateQueries({ queryKey: ['batch', d.id] });
      qc.invalidateQueries({ queryKey: ['batches'] });
      if (Date.now() - Date.parse(d.updated_at) < 60_000 && (d.status === 'completed' || d.status === 'failed'))
        notify(d.status === 'completed' ? 'success' : 'error', `Batch ${d.id.slice(-6)} ${d.status}`, `/batches`);
    };
    es.addEventListener('calculation', onCalc as EventListener);
    es.addEventListener('batch', onBatch as EventListener);
    return () => es.close();
  }, [on, qc]);
}

function Routes({ me }: { me: Me }) {
  const view = useUi((s) => s.view);
  const [, first, second] = view.split('/');
  switch (first) {
    case 'workspace':
      return <WorkspaceView />;
    case 'results':
      return <ResultsView id={second ?? null} />;
    case 'calculations':
      return <CalculationsView />;
    case 'batches':
      return <BatchesView />;
    case 'dashboard':
      return <DashboardView />;
    case 'settings':
      return <SettingsView me={me} />;
    case 'admin':
      return me.role === 'admin' ? <AdminView me={me} /> : <ErrorBox error={new Error('Only administrators see this view.')} />;
    default:
      return <WorkspaceView />;
  }
}

const THEMES: Theme[] = ['light', 'dark', 'auto'];

function Shell({ me, children, saveStatus, flush }: { me: Me; children: ReactNode; saveStatus: AutosaveStatus; flush: () => void }) {
  const qc = useQueryClient();
  const view = useUi((s) => s.view);
  const collapsed = useUi((s) => s.sidebarCollapsed);
  const theme = useUi((s) => s.theme);
  const logout = async () => {
    flush();
    try {
      await api.logout();
    } finally {
      ui.replace(defaultState());
      qc.removeQueries({ predicate: (q) => q.queryKey[0] !== 'me' });
      navigate('/login', { replace: true });
      qc.refetchQueries({ queryKey: ['me'] });
    }
  };
  // a view that replaced the focused element (Enter on a table row, a link
  // in a toast) leaves the focus nowhere: put it at the start of the content
  // so that the next Tab goes on from there, not from the top of the page
  // (not on the first view of a page load: its first Tab is the skip link's)
  const mainRef = useRef<HTMLElement>(null);
  const shown = useRef<string | null>(null);
  useEffect(() => {
    const first = shown.current === null;
    shown.current = view;
    if (first) return;
    const id = requestAnimationFrame(() => {
      const a = document.activeElement;
      if (!a || a === document.body) mainRef.current?.focus({ preventScroll: true });
    });
    return () => cancelAnimationFrame(id);
  }, [view]);
  const active = (p: string) => view === p || view.startsWith(p + '/') || (p === '/calculations' && view.startsWith('/results'));
  return (
    <div className={`shell${collapsed ? ' collapsed' : ''}`}>
      <a
        className="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          mainRef.current?.focus();
        }}
      >
        Skip to content
      </a>
      <nav className="sidebar" aria-label="Main">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">⚛</span>
          <span className="label">Quantum Forge</span>
        </div>
        <ul>
          {NAV.filter((n) => !n.admin || me.role === 'admin').map((n) => (
            <li key={n.path}>
              <a
                href={n.path}
                aria-current={active(n.path) ? 'page' : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  navigate(n.path);
                }}
                title={n.label}
              >
                <span className="icon" aria-hidden="true">
                  {n.icon}
                </span>
                <span className="label">{n.label}</span>
              </a>
            </li>
          ))}
        </ul>
        <div className="sidebar-foot">
          <button
            type="button"
            className="btn ghost small"
            aria-label={collapsed ? 'Expand the sidebar' : 'Collapse the sidebar'}
            onClick={() => ui.set({ sidebarCollapsed: !collapsed })}
          >
            {collapsed ? '»' : '«'}
          </button>
        </div>
      </nav>
      <div className="main-col">
        <header className="topbar">
          <span className={`save-status save-${saveStatus}`} aria-live="polite" data-testid="save-status">
            {saveStatus === 'pending' ? 'Unsaved changes' : saveStatus === 'saving' ? 'Saving…' : saveStatus === 'saved' ? 'All changes saved' : saveStatus === 'error' ? 'Not saved (will retry)' : ''}
          </span>
          <label className="theme-pick">
            <span className="sr-only">Theme</span>
            <select value={theme} onChange={(e) => ui.set({ theme: e.target.value as Theme })} aria-label="Theme">
              {THEMES.map((t) => (
                <option key={t} value={t}>
                  {t === 'auto' ? 'Theme: auto' : t === 'light' ? 'Theme: light' : 'Theme: dark'}
                </option>
              ))}
            </select>
          </label>
          <span className="who" title={me.email}>
            {me.display_name || me.email} <span className="badge">{me.role}</span>
          </span>
          <button type="button" className="btn small" onClick={logout}>
            Log out
          </button>
        </header>
        <main id="main" className="content" tabIndex={-1} ref={mainRef}>
          {children}
        </main>
      </div>
      <Toasts onOpen={(h) => navigate(h)} />
    </div>
  );
}
