/* Notifications (issue 11): what the settings page sends when the choices
 * are saved, and how a row of the outbox (GET /api/v1/notifications) is
 * shown. The sender (src/notify/sender.c) tries a failure that may pass
 * again, as many times as qforge serve --notify-attempts says; 'failed' is
 * final (the last try, or a failure that will not pass, such as a 4xx). */
import type { NotificationRow, Preferences, PreferencesBody } from '../api/types';

/** the choices of the Notifications card */
export interface NotifyChoices {
  notification_on_completion: boolean;
  notification_on_error: boolean;
  notification_on_batch_completion: boolean;
  enable_email_notifications: boolean;
  enable_slack_notifications: boolean;
}

export const NOTIFY_KEYS: (keyof NotifyChoices)[] = [
  'notification_on_completion',
  'notification_on_error',
  'notification_on_batch_completion',
  'enable_email_notifications',
  'enable_slack_notifications',
];

export function choicesOf(p: Preferences): NotifyChoices {
  const c = {} as NotifyChoices;
  for (const k of NOTIFY_KEYS) c[k] = p[k] === true;
  return c;
}

/** What the webhook field asks for: keep the stored address (the field
 * left empty), replace it, or remove it. */
export type WebhookEdit = { kind: 'keep' } | { kind: 'set'; url: string } | { kind: 'remove' };

/** The PUT /api/v1/preferences body of the card: the choices, and the
 * webhook only when it changes (the stored one is never read back, so an
 * empty field must not clear it). */
export function notifyBody(c: NotifyChoices, hook: WebhookEdit): PreferencesBody {
  const b: PreferencesBody = { ...c };
  if (hook.kind === 'set') b.slack_webhook_url = hook.url.trim();
  else if (hook.kind === 'remove') b.slack_webhook_url = null;
  return b;
}

/** The field of the card a server message is about (the handlers name the
 * member in quotes: "'slack_webhook_url' must be an https:// address …"). */
export function notifyFieldOf(message: string): 'slack_webhook_url' | 'general' {
  return /slack_webhook_url|webhook/i.test(message) ? 'slack_webhook_url' : 'general';
}

/** A check before sending, as the server does it (account.c check_webhook,
 * without the test receivers an operator may allow): null when fine. */
export function webhookProblem(url: string): string | null {
  const u = url.trim();
  if (!u) return null;
  if (!/^https?:\/\/[^/\s]/.test(u)) return 'a Slack webhook address starts with https:// (https://hooks.slack.com/services/…)';
  if (u.length > 1024) return 'the address is longer than 1024 characters';
  if (/[^\x21-\x7e]/.test(u)) return 'the address has a blank or a character outside ASCII';
  return null;
}

export const EVENT_LABEL: Record<string, string> = {
  calculation_completed: 'calculation completed',
  calculation_failed: 'calculation failed',
  batch_completed: 'batch completed',
  test: 'test',
};

export const CHANNEL_LABEL: Record<string, string> = { email: 'e-mail', slack: 'Slack' };

export type DeliveryTone = 'ok' | 'bad' | 'wait';

export interface Delivery {
  /** short, for the status column */
  label: string;
  tone: DeliveryTone;
  /** delivery failed for good: nothing more will be tried */
  final: boolean;
  /** a longer account, with the reason of a failure */
  detail: string;
}

/** How a notification's delivery went, in words. */
export function deliveryOf(n: Pick<NotificationRow, 'status' | 'attempts' | 'last_error' | 'next_attempt_at'>, now = Date.now()): Delivery {
  const why = n.last_error ? `: ${n.last_error}` : '';
  switch (n.status) {
    case 'sent':
      return { label: 'sent', tone: 'ok', final: false, detail: n.attempts > 1 ? `sent at try ${n.attempts}` : 'sent' };
    case 'failed':
      return {
        label: 'failed',
        tone: 'bad',
        final: true,
        detail: `not delivered, not tried again${n.last_error ? `: ${n.last_error}` : ` (${n.attempts} ${n.attempts === 1 ? 'try' : 'tries'})`}`,
      };
    case 'sending':
      return { label: 'sending', tone: 'wait', final: false, detail: `try ${n.attempts} under way` };
    default: {
      if (!n.attempts) return { label: 'queued', tone: 'wait', final: false, detail: 'waiting to be sent' };
      const at = Date.parse(n.next_attempt_at ?? '');
      const s = Number.isFinite(at) ? Math.max(0, Math.round((at - now) / 1000)) : null;
      return {
        label: 'retrying',
        tone: 'wait',
        final: false,
        detail: `try ${n.attempts} failed${why}; ${s === null ? 'tried again later' : s === 0 ? 'tried again now' : `tried again in ${s} s`}`,
      };
    }
  }
}

/** whether a list holds a row still on its way (the page then polls) */
export function anyInFlight(rows: Pick<NotificationRow, 'status'>[]): boolean {
  return rows.some((r) => r.status === 'pending' || r.status === 'sending');
}
