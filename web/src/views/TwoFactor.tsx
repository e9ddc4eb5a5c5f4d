/* Settings → Two-factor login (src/http/handlers/twofactor.c): enrol (the
 * secret and its QR code, shown this once), confirm with a code of the
 * authenticator app (the ten backup codes, shown this once), and turn it off
 * with the password and a code. Whether it is on is /auth/me's two_factor. */
import { useEffect, useId, useState, type FormEvent } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api, ApiError } from '../api/client';
import type { Me, TwoFactorEnrolment } from '../api/types';
import { notify } from '../components/Toasts';
import { Loading } from '../components/States';
import { groupSecret, parseOtpauth, secondFactor, totpDigits } from '../lib/twofactor';
import type { QrPath } from '../lib/qr';

type Stage = { kind: 'idle' } | { kind: 'enrolling'; e: TwoFactorEnrolment } | { kind: 'codes'; codes: string[] };

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function TwoFactorSettings({ me }: { me: Me }) {
  const qc = useQueryClient();
  const id = useId();
  const [stage, setStage] = useState<Stage>({ kind: 'idle' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const on = me.two_factor === true;
  const setOn = (v: boolean) => qc.setQueryData<Me>(['me'], (m) => (m ? { ...m, two_factor: v } : m));

  const enrol = async () => {
    setBusy(true);
    setError(null);
    try {
      setStage({ kind: 'enrolling', e: await api.enrollTwoFactor() });
    } catch (err) {
      setError(errText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="card stack" data-testid="two-factor" aria-labelledby={`${id}-title`} role="region">
      <h2 id={`${id}-title`}>Two-factor login</h2>
      <p data-testid="tfa-status" data-on={on ? 'true' : 'false'}>
        {on ? (
          <>
            <span className="status status-completed">on</span> Logging in asks for a code of your authenticator app (or a backup code) after the password.
          </>
        ) : (
          <>
            <span className="status status-queued">off</span> Logging in needs the password only.
          </>
        )}
      </p>
      {stage.kind === 'enrolling' && (
        <Enrolment
          e={stage.e}
          onDone={(codes) => {
            setOn(true);
            setStage({ kind: 'codes', codes });
          }}
          onCancel={() => setStage({ kind: 'idle' })}
        />
      )}
      {stage.kind === 'codes' && <BackupCodes codes={stage.codes} onDone={() => setStage({ kind: 'idle' })} />}
      {stage.kind === 'idle' && !on && (
        <div>
          <button type="button" className="btn primary" onClick={enrol} disabled={busy} data-testid="tfa-enrol">
            {busy ? 'Please wait…' : 'Set up two-factor login'}
          </button>
        </div>
      )}
      {stage.kind === 'idle' && on && <Disable onDone={() => (setOn(false), notify('info', 'Two-factor login is off.'))} />}
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

function Enrolment({ e, onDone, onCancel }: { e: TwoFactorEnrolment; onDone: (codes: string[]) => void; onCancel: () => void }) {
  const id = useId();
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const qr = useQr(e.otpauth_uri);
  const about = parseOtpauth(e.otpauth_uri);
  const confirm = async (ev: FormEvent) => {
    ev.preventDefault();
    const d = totpDigits(code);
    if (!d) {
      setError(`enter the ${e.digits}-digit code the app shows now`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const r = await api.confirmTwoFactor(d);
      onDone(r.backup_codes);
    } catch (err) {
      setError(errText(err));
      setCode('');
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="stack" onSubmit={confirm} noValidate aria-label="Confirm two-factor login">
      <p>
        Scan the QR code with an authenticator app (or type the secret into it), then enter the code it shows. The secret is shown only this once.
      </p>
      <div className="row" style={{ alignItems: 'center' }}>
        {qr.ok ? (
          <svg
            className="qr"
            viewBox={`0 0 ${qr.ok.view} ${qr.ok.view}`}
            width={Math.max(180, qr.ok.view * 4)}
            height={Math.max(180, qr.ok.view * 4)}
            role="img"
            aria-label={`QR code of the two-factor secret${about ? ` for ${about.account}` : ''}`}
            data-testid="tfa-qr"
            shapeRendering="crispEdges"
          >
            <rect width={qr.ok.view} height={qr.ok.view} fill="#fff" />
            <path d={qr.ok.d} fill="#000" />
          </svg>
        ) : qr.error ? (
          <p className="field-error" role="alert">
            The QR code cannot be drawn ({qr.error}): type the secret into the app.
          </p>
        ) : (
          <Loading what="Drawing the QR code" />
        )}
        <div className="stack" style={{ gap: '0.3rem' }}>
          <span className="muted">Secret{about?.issuer ? ` (${about.issuer}, ${about.account})` : ''}</span>
          <code className="secret" data-testid="tfa-secret" data-secret={e.secret}>
            {groupSecret(e.secret)}
          </code>
          <span className="muted">
            {e.digits} digits, a new code every {e.period} s (SHA-1)
          </span>
        </div>
      </div>
      <label htmlFor={`${id}-code`}>Code from the app</label>
      <div className="row">
        <input
          id={`${id}-code`}
          name="code"
          value={code}
          onChange={(x) => setCode(x.target.value)}
          inputMode="numeric"
          autoComplete="one-time-code"
          pattern="[0-9 ]*"
          maxLength={8}
          autoFocus
          aria-invalid={!!error}
          aria-describedby={error ? `${id}-err` : undefined}
          data-testid="tfa-confirm-code"
        />
        <button className="btn primary" type="submit" disabled={busy} data-testid="tfa-confirm">
          {busy ? 'Checking…' : 'Turn on'}
        </button>
        <button className="btn" type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      {error && (
        <p className="field-error" id={`${id}-err`} role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

/** the QR path of text, its module loaded on first use */
function useQr(text: string): { ok: QrPath | null; error: string | null } {
  const [r, setR] = useState<{ ok: QrPath | null; error: string | null }>({ ok: null, error: null });
  useEffect(() => {
    let live = true;
    import('../lib/qr')
      .then((m) => live && setR({ ok: m.qrPath(text), error: null }))
      .catch((err) => live && setR({ ok: null, error: errText(err) }));
    return () => {
      live = false;
    };
  }, [text]);
  return r;
}

function BackupCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  return (
    <div className="state stack" role="status" style={{ alignItems: 'stretch' }}>
      <strong>Two-factor login is on.</strong>
      <span>
        Keep these backup codes somewhere safe: each logs you in once without the app. They are shown only this once.
      </span>
      <ol className="backup-codes" data-testid="tfa-backup-codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ol>
      <div className="row">
        <button type="button" className="btn small" onClick={() => (navigator.clipboard?.writeText(codes.join('\n')), notify('info', 'Copied.'))}>
          Copy
        </button>
        <button type="button" className="btn small primary" onClick={onDone} data-testid="tfa-codes-done">
          I have saved them
        </button>
      </div>
    </div>
  );
}

function Disable({ onDone }: { onDone: () => void }) {
  const id = useId();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ field: 'password' | 'code' | 'general'; text: string } | null>(null);
  const submit = async (ev: FormEvent<HTMLFormElement>) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const f = new FormData(form);
    const password = String(f.get('password') ?? '');
    const factor = secondFactor(String(f.get('code') ?? ''));
    if (!password) return setError({ field: 'password', text: 'enter the password of the account' });
    if (!factor) return setError({ field: 'code', text: 'enter a code of the app or a backup code' });
    setBusy(true);
    setError(null);
    try {
      await api.disableTwoFactor({ password, ...('totp' in factor ? { code: factor.totp } : factor) });
      form.reset();
      onDone();
    } catch (err) {
      const code = err instanceof ApiError ? err.code : '';
      setError({ field: code === 'auth.bad_credentials' ? 'password' : code === 'auth.2fa_invalid' ? 'code' : 'general', text: errText(err) });
    } finally {
      setBusy(false);
    }
  };
  const err = (field: string) =>
    error?.field === field ? (
      <p className="field-error" id={`${id}-${field}-err`} role="alert">
        {error.text}
      </p>
    ) : null;
  return (
    <form className="stack" onSubmit={submit} noValidate aria-label="Turn two-factor login off">
      <h3 style={{ margin: 0 }}>Turn it off</h3>
      <div className="row">
        <label style={{ flex: 1 }}>
          Password
          <input name="password" type="password" autoComplete="current-password" aria-invalid={error?.field === 'password'} aria-describedby={error?.field === 'password' ? `${id}-password-err` : undefined} />
        </label>
        <label style={{ flex: 1 }}>
          Code (or a backup code)
          <input name="code" autoComplete="one-time-code" aria-invalid={error?.field === 'code'} aria-describedby={error?.field === 'code' ? `${id}-code-err` : undefined} />
        </label>
        <button className="btn danger" type="submit" disabled={busy} data-testid="tfa-disable">
          {busy ? 'Checking…' : 'Turn off'}
        </button>
      </div>
      {err('password')}
      {err('code')}
      {err('general')}
    </form>
  );
}
