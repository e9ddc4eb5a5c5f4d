import { describe, expect, it } from 'vitest';
import { anyInFlight, choicesOf, deliveryOf, notifyBody, notifyFieldOf, webhookProblem } from './notify';
import type { Preferences } from '../api/types';

const prefs = {
  enable_email_notifications: true,
  enable_slack_notifications: false,
  notification_on_completion: true,
  notification_on_error: false,
  notification_on_batch_completion: true,
  slack_webhook_set: true,
  slack_webhook_url_masked: 'https://hooks.slack.com/…abcd',
} as Preferences;

describe('notification choices', () => {
  it('takes the five flags of the preferences, nothing else', () => {
    expect(choicesOf(prefs)).toEqual({
      enable_email_notifications: true,
      enable_slack_notifications: false,
      notification_on_completion: true,
      notification_on_error: false,
      notification_on_batch_completion: true,
    });
  });
  it('sends the webhook only when it changes: an empty field keeps the saved one', () => {
    const c = choicesOf(prefs);
    expect('slack_webhook_url' in notifyBody(c, { kind: 'keep' })).toBe(false);
    expect(notifyBody(c, { kind: 'set', url: '  https://hooks.slack.com/services/T/B/x ' }).slack_webhook_url).toBe('https://hooks.slack.com/services/T/B/x');
    expect(notifyBody(c, { kind: 'remove' }).slack_webhook_url).toBeNull();
    expect(notifyBody(c, { kind: 'keep' }).notification_on_batch_completion).toBe(true);
  });
  it('never carries the masked address back as if it were the address', () => {
    const b = notifyBody(choicesOf(prefs), { kind: 'keep' });
    expect(JSON.stringify(b)).not.toContain('hooks.slack.com');
  });
  it('checks an address as the server does, before sending it', () => {
    expect(webhookProblem('')).toBeNull();
    expect(webhookProblem('https://hooks.slack.com/services/T/B/x')).toBeNull();
    expect(webhookProblem('hooks.slack.com/services')).toMatch(/https:\/\//);
    expect(webhookProblem('https://')).toMatch(/https:\/\//);
    expect(webhookProblem('https://hooks.slack.com/a b')).toMatch(/blank/);
    expect(webhookProblem('https://x/' + 'a'.repeat(1100))).toMatch(/1024/);
  });
  it('puts a server message about the webhook next to its field', () => {
    expect(notifyFieldOf("'slack_webhook_url' must be an https:// address of at most 1024 characters")).toBe('slack_webhook_url');
    expect(notifyFieldOf('this server has no secret key to keep a webhook address with')).toBe('slack_webhook_url');
    expect(notifyFieldOf("'notification_on_error' must be true or false")).toBe('general');
  });
});

describe('delivery of a notification', () => {
  const now = Date.parse('2026-12-07T10:00:00Z');
  it('says a final failure plainly, with the reason', () => {
    const d = deliveryOf({ status: 'failed', attempts: 8, last_error: 'the webhook at x answered HTTP 500 (gave up after 8 tries)', next_attempt_at: null }, now);
    expect(d.final).toBe(true);
    expect(d.tone).toBe('bad');
    expect(d.label).toBe('failed');
    expect(d.detail).toBe('not delivered, not tried again: the webhook at x answered HTTP 500 (gave up after 8 tries)');
    expect(deliveryOf({ status: 'failed', attempts: 1, last_error: null, next_attempt_at: null }).detail).toBe('not delivered, not tried again (1 try)');
  });
  it('tells a retry from a final failure', () => {
    const d = deliveryOf({ status: 'pending', attempts: 2, last_error: 'could not connect', next_attempt_at: '2026-12-07T10:01:00Z' }, now);
    expect(d.final).toBe(false);
    expect(d.label).toBe('retrying');
    expect(d.detail).toBe('try 2 failed: could not connect; tried again in 60 s');
    expect(deliveryOf({ status: 'pending', attempts: 0, last_error: null, next_attempt_at: '2026-12-07T10:00:00Z' }, now).label).toBe('queued');
  });
  it('counts sent ones as sent', () => {
    expect(deliveryOf({ status: 'sent', attempts: 1, last_error: null, next_attempt_at: null })).toMatchObject({ label: 'sent', tone: 'ok', final: false, detail: 'sent' });
    expect(deliveryOf({ status: 'sent', attempts: 3, last_error: 'x', next_attempt_at: null }).detail).toBe('sent at try 3');
  });
  it('polls only while something is on its way', () => {
    expect(anyInFlight([{ status: 'sent' }, { status: 'failed' }])).toBe(false);
    expect(anyInFlight([{ status: 'sent' }, { status: 'sending' }])).toBe(true);
    expect(anyInFlight([{ status: 'pending' }])).toBe(true);
    expect(anyInFlight([])).toBe(false);
  });
});
