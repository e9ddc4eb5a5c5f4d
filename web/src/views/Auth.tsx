import { useState, type FormEvent } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api, ApiError } from '../api/client';
import { navigate } from '../state/hooks';

function useAuthForm(kind: 'login' | 'register') {
  const qc = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const email = String(f.get('email') ?? '').trim();
    const password = String(f.get('password') ?? '');
    const name = String(f.get('display_name') ?? '').trim();
    const invite = String(f.get('invite_code') ?? '').trim();
    setBusy(true);
    setError(null);
    try {
      if (kind === 'login') await api.login({ email, password });
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
      setError(err instanceof ApiError ? err : new ApiError(0, 'unknown', 'unknown', String(err)));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, submit };
}

export function AuthView({ mode }: { mode: 'login' | 'register' }) {
  const { busy, error, submit } = useAuthForm(mode);
  const login = mode === 'login';
  const field = (f: string) => error && error.message.toLowerCase().includes(f);
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
        {!login && (
          <label>
            Invitation code <span className="muted">(if you were given one)</span>
            <input name="invite_code" autoComplete="off" />
          </label>
        )}
        {error && (
          <p className="field-error" role="alert" data-code={error.code}>
            {error.message}
          </p>
        )}
        <button className="btn primary" type="submit" disabled={busy}>
          {busy ? 'Please wait…' : login ? 'Log in' : 'Register'}
        </button>
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
