/* Settings → Notifications: when to be told (a calculation completes or
 * fails, a batch completes) and how (e-mail, a Slack webhook), a test
 * message, and the notifications sent with how their delivery went. The
 * webhook address is kept sealed by the server and only ever read back
 * masked (slack_webhook_url_masked): the field starts empty, and left
 * empty keeps the saved address. */
import { useId, useState, type FormEvent } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import type { Preferences } from '../api/types';
import { QueryState } from '../components/States';
import { notify } from '../components/Toasts';
import {
  CHANNEL_LABEL,
  EVENT_LABEL,
  anyInFlight,
  choicesOf,
  deliveryOf,
  notifyBody,
  notifyFieldOf,
  webhookProblem,
  type NotifyChoices,
  type WebhookEdit,
} from '../lib/notify';

const WHEN: { key: keyof NotifyChoices; label: string }[] = [
  { key: 'notification_on_completion', label: 'a calculation completes' },
  { key: 'notification_on_error', label: 'a calculation fails' },
  { key: 'notification_on_batch_completion', label: 'a batch completes' },
];
const HOW: { key: keyof NotifyChoices; label: string }[] = [
  { key: 'enable_email_notifications', label: 'by e-mail (to the address of the account)' },
  { key: 'enable_slack_notifications', label: 'by Slack (to the webhook below)' },
];

export function NotificationSettings({ p }: { p: Preferences }) {
  const qc = useQueryClient();
  const id = useId();
  const [c, setC] = useState<NotifyChoices>(() => choicesOf(p));
  const [webhook, setWebhook] = useState('');
  const [remove, setRemove] = useState(false);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<{ slack_webhook_url?: string; general?: string }>({});
  const [test, setTest] = useState<{ ok: boolean; text: string } | null>(null);
  const [testing, setTesting] = useState(false);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    const problem = webhookProblem(webhook);
    if (problem) {
      setErrors({ slack_webhook_url: problem });
      return;
    }
    const hook: WebhookEdit = remove ? { kind: 'remove' } : webhook.trim() ? { kind: 'set', url: webhook } : { kind: 'keep' };
    setBusy(true);
    setErrors({});
    try {
      const r = await api.putPreferences(notifyBody(c, hook));
      qc.setQueryData(['preferences'], r);
      setC(choicesOf(r));
      // the address typed is not kept in the page once the server has it
      setWebhook('');
      setRemove(false);
      notify('success', 'Notification choices saved.');
    } catch (err) {
      const msg = (err as Error).message;
      setErrors({ [notifyFieldOf(msg)]: msg });
    } finally {
      setBusy(false);
    }
  };

  const sendTest = async () => {
    setTesting(true);
    setTest(null);
    try {
      const r = await api.testNotification();
      setTest({ ok: true, text: `Queued ${r.queued} test message${r.queued === 1 ? '' : 's'}: see the list below for how delivery goes.` });
      qc.invalidateQueries({ queryKey: ['notifications'] });
    } catch (err) {
      setTest({ ok: false, text: (err as Error).message });
    } finally {
      setTesting(false);
    }
  };

  const hookErr = errors.slack_webhook_url;
  return (
    <div className="card stack" data-testid="notifications">
      <form className="stack" onSubmit={save} aria-labelledby={`${id}-title`} noValidate>
        <h2 id={`${id}-title`}>Notifications</h2>
        <fieldset className="stack plain">
          <legend>Tell me when</legend>
          {WHEN.map((w) => (
            <label className="inline" key={w.key}>
              <input type="checkbox" name={w.key} checked={c[w.key]} onChange={(e) => setC({ ...c, [w.key]: e.target.checked })} /> {w.label}
            </label>
          ))}
        </fieldset>
        <fieldset className="stack plain">
          <legend>How</legend>
          {HOW.map((w) => (
            <label className="inline" key={w.key}>
              <input type="checkbox" name={w.key} checked={c[w.key]} onChange={(e) => setC({ ...c, [w.key]: e.target.checked })} /> {w.label}
            </label>
          ))}
        </fieldset>
        <div className="stack" style={{ gap: '0.3rem' }}>
          <label htmlFor={`${id}-hook`}>Slack webhook address</label>
          <p className="muted small-text" id={`${id}-hook-now`} data-testid="webhook-saved">
            {p.slack_webhook_set ? (
              <>
                Saved: <code data-testid="webhook-masked">{p.slack_webhook_url_masked ?? '(hidden)'}</code>. Leave the field empty to keep it.
              </>
            ) : (
              'None saved.'
            )}
          </p>
          <input
            id={`${id}-hook`}
            name="slack_webhook_url"
            type="url"
            inputMode="url"
            value={webhook}
            disabled={remove}
            placeholder="https://hooks.slack.com/services/…"
            onChange={(e) => {
              setWebhook(e.target.value);
              if (hookErr) setErrors((o) => ({ ...o, slack_webhook_url: undefined }));
            }}
            autoComplete="off"
            spellCheck={false}
            aria-invalid={!!hookErr}
            aria-describedby={`${id}-hook-now${hookErr ? ` ${id}-hook-err` : ''}`}
          />
          {hookErr && (
            <p className="field-error" id={`${id}-hook-err`} role="alert" data-testid="webhook-error">
              {hookErr}
            </p>
          )}
          {p.slack_webhook_set && (
            <label className="inline">
              <input type="checkbox" checked={remove} onChange={(e) => setRemove(e.target.checked)} /> remove the saved address
            </label>
          )}
        </div>
        {errors.general && (
          <p className="field-error" role="alert">
            {errors.general}
          </p>
        )}
        <div className="row">
          <button className="btn primary" type="submit" disabled={busy} data-testid="notify-save">
            {busy ? 'Saving…' : 'Save notification choices'}
          </button>
          <button className="btn" type="button" onClick={sendTest} disabled={testing} data-testid="notify-test">
            {testing ? 'Sending…' : 'Send test notification'}
          </button>
        </div>
        {test && (
          <p className={test.ok ? 'muted' : 'field-error'} role={test.ok ? 'status' : 'alert'} data-testid="notify-test-result">
            {test.text}
          </p>
        )}
      </form>
      <NotificationList />
    </div>
  );
}

function NotificationList() {
  const q = useQuery({
    queryKey: ['notifications'],
    queryFn: () => api.notifications({ limit: 20, order: '-created_at' }),
    // follow deliveries under way; a quiet list is not polled
    refetchInterval: (query) => (query.state.data && anyInFlight(query.state.data.items) ? 3000 : false),
  });
  return (
    <section className="stack" aria-labelledby="notify-list-title">
      <div className="row" style={{ alignItems: 'center' }}>
        <h3 id="notify-list-title" style={{ margin: 0, marginRight: 'auto' }}>
          Sent to you
        </h3>
        <button type="button" className="btn small ghost" onClick={() => q.refetch()} disabled={q.isFetching}>
          {q.isFetching ? 'Refreshing…' : 'Refresh'}
        </button>
      </div>
      <QueryState q={q} isEmpty={(d) => d.items.length === 0} empty="No notification yet.">
        {(d) => (
          <table className="data" data-testid="notify-list">
            <thead>
              <tr>
                <th>when</th>
                <th>what</th>
                <th>by</th>
                <th>delivery</th>
              </tr>
            </thead>
            <tbody>
              {d.items.map((n) => {
                const s = deliveryOf(n);
                return (
                  <tr key={n.id} data-status={n.status} className={s.final ? 'row-failed' : undefined}>
                    <td>{new Date(n.created_at).toLocaleString()}</td>
                    <td>{EVENT_LABEL[n.event] ?? n.event}</td>
                    <td>{CHANNEL_LABEL[n.channel] ?? n.channel}</td>
                    <td>
                      <span className={`status ${s.tone === 'ok' ? 'status-completed' : s.tone === 'bad' ? 'status-failed' : 'status-queued'}`}>{s.label}</span>{' '}
                      <span className={s.final ? 'field-error' : 'muted'}>{s.detail}</span>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </QueryState>
    </section>
  );
}

