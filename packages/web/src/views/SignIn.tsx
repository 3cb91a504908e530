import { useState, type FormEvent } from 'react';
import { api } from '../api.js';
import type { Session } from '../session.js';

/** Sign in by pasting a token; the daemon answers with a session cookie and a CSRF token. */
export function SignIn({ onSignedIn, notice }: { onSignedIn: (s: Session) => void; notice: string | null }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    try {
      const s = await api<Session>('/v1/session', { method: 'POST', body: { token: token.trim() } });
      setToken('');
      onSignedIn(s);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="sign-in" id="main">
      <h1>aiflock</h1>
      <form onSubmit={(e) => void submit(e)} aria-labelledby="sign-in-title">
        <h2 id="sign-in-title">Sign in</h2>
        {notice && <p role="status">{notice}</p>}
        <label htmlFor="token">Token</label>
        <input id="token" name="token" type="password" autoComplete="off" required value={token} onChange={(e) => setToken(e.target.value)} aria-describedby="token-help" />
        <p id="token-help" className="note">
          Paste a token: on the daemon's host the admin token is in <code>~/.aiflock/admin.token</code>; make a narrower one for people with{' '}
          <code>./aiflock token create --name alice --scope human</code>.
        </p>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
