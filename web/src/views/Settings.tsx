/* Settings: one's preferences (units, precision, theme, defaults of the
 * workspace, notifications) and API keys (shown once when made, revocable). */
import { useEffect, useState, type FormEvent } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError } from '../api/client';
import { LEVELS, METHODS, UNITS, type Preferences, type PreferencesBody, type Theme } from '../api/types';
import { ui } from '../state/ui';
import { UNIT_LABEL, formatEnergy } from '../lib/units';
import { METHOD_LABEL } from '../components/SpecForm';
import { QueryState } from '../components/States';
import { notify } from '../components/Toasts';
import { usePreferences } from './Results';

export function SettingsView() {
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
      </div>
    </section>
  );
}

function PreferencesForm({ p }: { p: Preferences }) {
  const qc = useQueryClient();
  const [f, setF] = useState<PreferencesBody>({});
  const [webhook, setWebhook] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setF({}), [p]);
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
        enable_email_notifications: v.enable_email_notifications,
        enable_slack_notifications: v.enable_slack_notifications,
        notification_on_completion: v.notification_on_completion,
        notification_on_error: v.notification_on_error,
        ...(webhook ? { slack_webhook_url: webhook } : {}),
      };
      const r = await api.putPreferences(body);
      qc.setQueryData(['preferences'], r);
      ui.set({ theme: r.theme });
      setWebhook('');
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
      <fieldset className="stack" style={{ border: 'none', padding: 0 }}>
        <legend>
          <h3>Notifications</h3>
        </legend>
        <label className="inline">
          <input type="checkbox" checked={v.notification_on_completion} onChange={(e) => set({ notification_on_completion: e.target.checked })} /> when a calculation completes
        </label>
        <label className="inline">
          <input type="checkbox" checked={v.notification_on_error} onChange={(e) => set({ notification_on_error: e.target.checked })} /> when a calculation fails
        </label>
        <label className="inline">
          <input type="checkbox" checked={v.enable_email_notifications} onChange={(e) => set({ enable_email_notifications: e.target.checked })} /> by e-mail
        </label>
        <label className="inline">
          <input type="checkbox" checked={v.enable_slack_notifications} onChange={(e) => set({ enable_slack_notifications: e.target.checked })} /> by Slack
        </label>
        <label>
          Slack webhook {p.slack_webhook_set && <span className="muted">(set: {p.slack_webhook_url_masked})</span>}
          <input type="url" value={webhook} placeholder={p.slack_webhook_set ? 'leave empty to keep it' : 'https://hooks.slack.com/services/…'} onChange={(e) => setWebhook(e.target.value)} autoComplete="off" />
        </label>
      </fieldset>
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
  const revoke = async (id: string) => {
    if (!window.confirm('Revoke this key? Programs using it stop working at once.')) return;
    try {
      await api.revokeApiKey(id);
      qc.invalidateQueries({ queryKey: ['api-keys'] });
      notify('info', 'Key revoked.');
    } catch (err) {
      notify('error', (err as Error).message);
    }
  };
  return (
    <div className="card stack">
      <h2>API keys</h2>
      <form className="row" onSubmit={create}>
        <label style={{ flex: 1 }}>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. laptop scripts" />
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
                      <button type="button" className="btn small danger" onClick={() => revoke(k.id)}>
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

