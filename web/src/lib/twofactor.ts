/* Two-factor login (src/http/handlers/twofactor.c): what a typed code is
 * sent as, and how the secret and its otpauth:// URI are shown (the QR code
 * of the URI: lib/qr.ts). */

/** The server's answer to a login whose password is right but whose code
 * is missing (qf__2fa_login): the form then asks for the code. */
export const CODE_REQUIRED = 'auth.2fa_required';
/** ... and to a wrong, expired or used code */
export const CODE_INVALID = 'auth.2fa_invalid';

/** Whether the login form asks for the code after this error: the server
 * asked for it, or (once asked) the code was wrong or too many were. */
export function needsCode(err: { code: string }, asking: boolean): boolean {
  if (err.code === CODE_REQUIRED) return true;
  return asking && (err.code === CODE_INVALID || err.code === 'auth.throttled');
}

/** A code as typed, as the login body's member: six digits (blanks
 * ignored) are the authenticator app's `totp`, anything else a one-time
 * `backup_code` ("abcd-efgh-ijkl-mnop"). Null when nothing was typed. */
export function secondFactor(typed: string): { totp: string } | { backup_code: string } | null {
  const t = typed.trim();
  if (!t) return null;
  const digits = t.replace(/\s+/g, '');
  if (/^\d{6}$/.test(digits)) return { totp: digits };
  return { backup_code: t };
}

/** six digits, blanks ignored: what confirm and disable take as `code` */
export function totpDigits(typed: string): string | null {
  const d = typed.replace(/\s+/g, '');
  return /^\d{6}$/.test(d) ? d : null;
}

/** a base32 secret in groups of four, easier to type into an app */
export function groupSecret(secret: string): string {
  return (secret.replace(/\s+/g, '').match(/.{1,4}/g) ?? []).join(' ');
}

export interface Otpauth {
  issuer: string | null;
  account: string;
  secret: string | null;
  digits: number;
  period: number;
}

/** The parts of an otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=… URI; null
 * when it is not one. */
export function parseOtpauth(uri: string): Otpauth | null {
  const m = /^otpauth:\/\/totp\/([^?]*)(?:\?(.*))?$/i.exec(uri);
  if (!m) return null;
  let label: string;
  try {
    label = decodeURIComponent(m[1]);
  } catch {
    return null;
  }
  const q = new URLSearchParams(m[2] ?? '');
  const i = label.indexOf(':');
  const issuer = q.get('issuer') ?? (i >= 0 ? label.slice(0, i) : null);
  const account = i >= 0 ? label.slice(i + 1) : label;
  const num = (k: string, d: number) => {
    const v = Number(q.get(k));
    return q.has(k) && Number.isInteger(v) && v > 0 ? v : d;
  };
  return { issuer, account, secret: q.get('secret'), digits: num('digits', 6), period: num('period', 30) };
}
