import { useState, type FormEvent } from 'react';
import type { CreatedToken, TokenView } from '@aiflock/protocol';
import { api } from '../../api.js';
import { loadSession } from '../../session.js';
import { Message, useAction, useLoad } from './use-load.js';

const DAY = 86_400_000;

/** Tokens: list (never secrets), create (the secret is shown once), revoke. */
export function TokensAdmin() {
  const tokens = useLoad(() => api<{ tokens: TokenView[] }>('/v1/tokens'));
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState('human');
  const [days, setDays] = useState('30');
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const create = useAction();
  const revoke = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void create.run(async () => {
      const d = Number(days);
      const out = await api<CreatedToken>('/v1/tokens', {
        method: 'POST',
        body: { name: name.trim(), scopes: scopes.split(/[\s,]+/).filter(Boolean), ...(d > 0 ? { expiresInMs: Math.round(d * DAY) } : {}) },
      });
      setCreated(out);
      setName('');
      tokens.reload();
      return `created ${out.id}`;
    });
  };
  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">Tokens</h2>
      {tokens.error && <p role="alert" className="error">{tokens.error}</p>}
      <table className="grid" aria-label="Tokens">
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">Name</th>
            <th scope="col">Scopes</th>
            <th scope="col">Last used</th>
            <th scope="col">Expires</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {tokens.data?.tokens.map((t) => (
            <tr key={t.id}>
              <th scope="row">
                <code>{t.id}</code>
              </th>
              <td>{t.name}</td>
              <td>{t.scopes.join(', ')}</td>
              <td>{t.lastUsedAt ? new Date(t.lastUsedAt).toLocaleString() : 'never'}</td>
              <td>{t.expiresAt ? new Date(t.expiresAt).toLocaleDateString() : 'never'}</td>
              <td>
                {t.revoked ? (
                  'revoked'
                ) : (
                  <button
                    type="button"
                    className="danger"
                    disabled={revoke.busy}
                    onClick={() => {
                      if (!confirm(revokeQuestion(t))) return;
                      void revoke.run(async () => {
                        await api(`/v1/tokens/${t.id}/revoke`, { method: 'POST' });
                        tokens.reload();
                        return `revoked ${t.id}`;
                      });
                    }}
                  >
                    Revoke {t.name}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Message message={revoke.message} />
      <form className="inline-form" onSubmit={submit} aria-labelledby="new-token-title">
        <h3 id="new-token-title">Create a token</h3>
        <label>
          Name
          <input required value={name} onChange={(e) => setName(e.target.value)} name="token-name" />
        </label>
        <label>
          Scopes (space separated)
          <input required value={scopes} onChange={(e) => setScopes(e.target.value)} name="token-scopes" />
        </label>
        <label>
          Expires in days (0: never)
          <input type="number" min={0} value={days} onChange={(e) => setDays(e.target.value)} name="token-days" />
        </label>
        <button type="submit" disabled={create.busy}>
          Create token
        </button>
        <Message message={create.message} />
      </form>
      {created && (
        <div className="secret" role="status">
          <p>
            The secret of <strong>{created.name}</strong>, shown this once:
          </p>
          <code data-testid="new-token-secret">{created.token}</code>
          <button type="button" onClick={() => setCreated(null)}>
            I have copied it
          </button>
        </div>
      )}
    </section>
  );
}

/** Revoking is final; revoking the token this page is signed in with also signs you out at once. */
function revokeQuestion(t: TokenView): string {
  const own = loadSession()?.actor.id === t.id;
  return own
    ? `Revoke ${t.name}? This is the token you are signed in with: you are signed out at once and cannot sign in with it again.`
    : `Revoke ${t.name}? Every program and person using it is refused from now on; this cannot be undone.`;
}
