/* Settings: one's preferences (units, precision, theme, defaults of the
 * workspace), notifications (views/Notifications.tsx), two-factor login
 * (views/TwoFactor.tsx), API keys (shown once when made, revocable) and the
 * password. */
import { useState, type FormEvent } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError } from '../api/client';
import { LEVELS, METHODS, UNITS, type Me, type Preferences, type PreferencesBody, type Theme } from '../api/types';
import { ui } from '../state/ui';
import { UNIT_LABEL, formatEnergy } from '../lib/units';
import { METHOD_LABEL } from '../components/SpecForm';
import { QueryState } from '../components/States';
import { notify } from '../components/Toasts';
import { usePreferences } from './Results';
import { NotificationSettings } from './Notifications';
import { TwoFactorSettings } from './TwoFactor';
import { useConfirm } from '../components/ConfirmDialog';

export function SettingsView({ me }: { me: Me }) {
  const prefs = usePreferences();
  return (
    <section className="view" aria-labelledby="set-title">
      <div className="view-head">
        <h1 id="set-title">Settings</h1>
      </div>
      <div className="grid grid-2">
        <QueryState q={prefs}>{(p) => <PreferencesForm p={p} />}</QueryState>
        <div className="stack">
          <ApiKeys />
          <Password />
        </div>
        <QueryState q={prefs}>{(p) => <NotificationSettings p={p} />}</QueryState>
        <TwoFactorSettings me={me} />
      </div>
    </section>
  );
}

function PreferencesForm({ p }: { p: Preferences }) {
  const qc = useQueryClient();
  const [f, setF] = useState<PreferencesBody>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // kept over a save of the Notifications card (which changes p): only
  // this form's own save starts it afresh
  const v = { ...p, ...f } as Preferences;
  const set = (x: PreferencesBody) => setF((o) => ({ ...o, ...x }));
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: PreferencesBody = {
        display_units: v.display_units,
        display_precision: v.display_precision,
        theme: v.theme,
        default_method: v.default_method,
        default_optimization_level: v.default_optimization_level,
        default_solvation: v.default_solvation || null,
        language: v.language,
      };
      const r = await api.putPreferences(body);
      qc.setQueryData(['preferences'], r);
      ui.set({ theme: r.theme });
      setF({});
      notify('success', 'Preferences saved.');
    } catch (err) {
      setError((err as ApiError).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card stack" onSubmit={save} aria-labelledby="pref-title">
      <h2 id="pref-title">Preferences</h2>
      <div className="params">
        <label>
          Energy unit
          <select value={v.display_units} onChange={(e) => set({ display_units: e.target.value as Preferences['display_units'] })} name="display_units">
            {UNITS.map((u) => (
              <option key={u} value={u}>
                {UNIT_LABEL[u]}
              </option>
            ))}
          </select>
        </label>
        <label>
          Decimals
          <input type="number" min={0} max={15} value={v.display_precision} onChange={(e) => set({ display_precision: Math.max(0, Math.min(15, Number(e.target.value) || 0)) })} name="display_precision" />
        </label>
        <label>
          Theme
          <select value={v.theme} onChange={(e) => set({ theme: e.target.value as Theme })} name="theme">
            <option value="auto">auto (as the system)</option>
            <option value="light">light</option>
            <option value="dark">dark</option>
          </select>
        </label>
        <label>
          Default method
          <select value={v.default_method} onChange={(e) => set({ default_method: e.target.value as Preferences['default_method'] })}>
            {METHODS.map((m) => (
              <option key={m} value={m}>
                {METHOD_LABEL[m]}
              </option>
            ))}
          </select>
        </label>
        <label>
          Default optimisation level
          <select value={v.default_optimization_level} onChange={(e) => set({ default_optimization_level: e.target.value })}>
            {LEVELS.map((l) => (
              <option key={l}>{l}</option>
            ))}
          </select>
        </label>
        <label>
          Default solvation
          <input value={v.default_solvation ?? ''} placeholder="none, or e.g. alpb:water" onChange={(e) => set({ default_solvation: e.target.value })} />
        </label>
      </div>
      <p className="muted" style={{ margin: 0 }}>
        Example: −5.070544 Eh shows as {formatEnergy(-5.070543958094, v.display_units, v.display_precision)}.
      </p>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      <div>
        <button className="btn primary" type="submit" disabled={busy}>
          {busy ? 'Saving…' : 'Save preferences'}
        </button>
      </div>
    </form>
  );
}

function ApiKeys() {
  const qc = useQueryClient();
  const keys = useQuery({ queryKey: ['api-keys'], queryFn: api.apiKeys });
  const [name, setName] = useState('');
  const [write, setWrite] = useState(true);
  const [shown, setShown] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirm, dialog] = useConfirm();
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const k = await api.createApiKey({ ...(name ? { name } : {}), scopes: write ? ['read', 'write'] : ['read'] });
      setShown(k.key);
      setName('');
      qc.invalidateQueries({ queryKey: ['api-keys'] });
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const revoke = async (id: string, label: string) => {
    if (!(await confirm({ title: 'Revoke this key?', body: <p>Programs using {label} stop working at once.</p>, confirm: 'Revoke' }))) return;
    try {
      await api.revokeApiKey(id);
      qc.invalidateQueries({ queryKey: ['api-keys'] });
      notify('info', 'Key revoked.');
    } catch (err) {
      notify('error', (err as Error).message);
    }
  };
  return (
    <div className="card stack" data-testid="api-keys">
      {dialog}
      <h2>API keys</h2>
      <form className="row" onSubmit={create}>
        <label style={{ flex: 1 }}>
          Name
          <input name="key_name" value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. laptop scripts" />
        </label>
        <label className="inline">
          <input type="checkbox" checked={write} onChange={(e) => setWrite(e.target.checked)} /> may write
        </label>
        <button className="btn" type="submit">
          Create key
        </button>
      </form>
      {error && <p className="field-error">{error}</p>}
      {shown && (
        <div className="state" role="status">
          <div>
            Copy the key now: it is shown only once.
            <pre className="log" style={{ maxHeight: 'none' }} data-testid="new-key">
              {shown}
            </pre>
            <button type="button" className="btn small" onClick={() => (navigator.clipboard?.writeText(shown), notify('info', 'Copied.'))}>
              Copy
            </button>{' '}
            <button type="button" className="btn small" onClick={() => setShown(null)}>
              Done
            </button>
          </div>
        </div>
      )}
      <QueryState q={keys} isEmpty={(p) => p.items.length === 0} empty="No API key.">
        {(p) => (
          <table className="data">
            <thead>
              <tr>
                <th>name</th>
                <th>prefix</th>
                <th>scopes</th>
                <th>last used</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {p.items.map((k) => (
                <tr key={k.id}>
                  <td>{k.name ?? '—'}</td>
                  <td>
                    <code>qf_{k.prefix}_…</code>
                  </td>
                  <td>{k.scopes.join(', ')}</td>
                  <td>{k.revoked_at ? <span className="muted">revoked</span> : k.last_used_at ? new Date(k.last_used_at).toLocaleString() : 'never'}</td>
                  <td>
                    {!k.revoked_at && (
                      <button type="button" className="btn small danger" onClick={() => revoke(k.id, k.name ? `"${k.name}"` : `qf_${k.prefix}_…`)}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryState>
    </div>
  );
}

function Password() {
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const form = e.currentTarget;
    try {
      await api.changePassword(String(f.get('current')), String(f.get('new')));
      setMsg({ ok: true, text: 'Password changed; other sessions were signed out.' });
      form.reset();
    } catch (err) {
      setMsg({ ok: false, text: (err as Error).message });
    }
  };
  return (
    <form className="card stack" onSubmit={submit}>
      <h2>Password</h2>
      <div className="row">
        <label style={{ flex: 1 }}>
          Current
          <input name="current" type="password" autoComplete="current-password" required />
        </label>
        <label style={{ flex: 1 }}>
          New (10 characters or more)
          <input name="new" type="password" autoComplete="new-password" minLength={10} required />
        </label>
        <button className="btn" type="submit">
          Change
        </button>
      </div>
      {msg && <p className={msg.ok ? 'muted' : 'field-error'}>{msg.text}</p>}
    </form>
  );
}

