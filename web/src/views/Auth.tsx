import { useState, type FormEvent } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api, ApiError } from '../api/client';
import { navigate } from '../state/hooks';
import { needsCode, secondFactor, CODE_REQUIRED } from '../lib/twofactor';

function useAuthForm(kind: 'login' | 'register') {
  const qc = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  // the password was right and the account uses two-factor login: the
  // form asks for the code (the server said auth.2fa_required)
  const [askCode, setAskCode] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const email = String(f.get('email') ?? '').trim();
    const password = String(f.get('password') ?? '');
    const name = String(f.get('display_name') ?? '').trim();
    const invite = String(f.get('invite_code') ?? '').trim();
    const factor = askCode ? secondFactor(String(f.get('code') ?? '')) : null;
    const form = e.currentTarget;
    setBusy(true);
    setError(null);
    try {
      if (kind === 'login') await api.login({ email, password, ...(factor ?? {}) });
      else
        await api.register({
          email,
          password,
          ...(name ? { display_name: name } : {}),
          ...(invite ? { invite_code: invite } : {}),
        });
      qc.removeQueries({ predicate: (q) => q.queryKey[0] !== 'me' });
      await qc.refetchQueries({ queryKey: ['me'] });
    } catch (err) {
      const ae = err instanceof ApiError ? err : new ApiError(0, 'unknown', 'unknown', String(err));
      setError(ae);
      if (kind === 'login' && needsCode(ae, askCode)) {
        setAskCode(true);
        const c = form.elements.namedItem('code');
        if (c instanceof HTMLInputElement) (c.value = ''), c.focus();
      }
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, submit, askCode, restart: () => (setAskCode(false), setError(null)) };
}

export function AuthView({ mode }: { mode: 'login' | 'register' }) {
  const { busy, error, submit, askCode, restart } = useAuthForm(mode);
  const login = mode === 'login';
  const asking = login && askCode;
  // the prompt for the code is no error of the password or the address
  const prompt = error?.code === CODE_REQUIRED;
  const field = (f: string) => error && !prompt && !asking && error.message.toLowerCase().includes(f);
  return (
    <main className="auth">
      <form className="card auth-card" onSubmit={submit} aria-labelledby="auth-title" noValidate>
        <div className="brand brand-lg">
          <span className="brand-mark" aria-hidden="true">⚛</span> Quantum Forge
        </div>
        <h1 id="auth-title">{login ? 'Log in' : 'Create an account'}</h1>
        <label>
          E-mail
          <input name="email" type="email" autoComplete="email" required autoFocus aria-invalid={!!field('mail')} />
        </label>
        {!login && (
          <label>
            Name <span className="muted">(optional)</span>
            <input name="display_name" autoComplete="name" />
          </label>
        )}
        <label>
          Password{!login && <span className="muted"> (at least 10 characters)</span>}
          <input
            name="password"
            type="password"
            autoComplete={login ? 'current-password' : 'new-password'}
            required
            minLength={login ? undefined : 10}
            aria-invalid={!!field('password')}
          />
        </label>
        {asking && (
          <label>
            Two-factor code
            <span className="muted" id="code-help">
              {' '}
              the 6 digits of your authenticator app, or a backup code
            </span>
            <input
              name="code"
              autoComplete="one-time-code"
              inputMode="text"
              autoFocus
              required
              aria-describedby="code-help"
              aria-invalid={!!error && !prompt}
              data-testid="login-code"
            />
          </label>
        )}
        {!login && (
          <label>
            Invitation code <span className="muted">(if you were given one)</span>
            <input name="invite_code" autoComplete="off" />
          </label>
        )}
        {error && prompt ? (
          <p className="muted" role="status" data-code={error.code}>
            This account uses two-factor login: enter the code your authenticator app shows now.
          </p>
        ) : error ? (
          <p className="field-error" role="alert" data-code={error.code}>
            {error.message}
          </p>
        ) : null}
        <button className="btn primary" type="submit" disabled={busy}>
          {busy ? 'Please wait…' : login ? 'Log in' : 'Register'}
        </button>
        {asking && (
          <button type="button" className="btn ghost small" onClick={restart}>
            Use another account
          </button>
        )}
        <p className="muted">
          {login ? 'No account yet? ' : 'Already registered? '}
          <a
            href={login ? '/register' : '/login'}
            onClick={(e) => {
              e.preventDefault();
              navigate(login ? '/register' : '/login');
            }}
          >
            {login ? 'Register' : 'Log in'}
          </a>
        </p>
      </form>
    </main>
  );
}
