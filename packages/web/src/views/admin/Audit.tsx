import { useState } from 'react';
import type { AuditPage } from '@aiflock/protocol';
import { api } from '../../api.js';
import { Message, useAction, useLoad } from './use-load.js';

/** The audit log, newest first, filtered by actor or action; and a check of its hash chain. */
export function AuditAdmin() {
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  const key = `${actor}|${action}`;
  const entries = useLoad(() => {
    const q = new URLSearchParams({ limit: '100' });
    if (actor.trim()) q.set('actor', actor.trim());
    if (action.trim()) q.set('action', action.trim());
    return api<AuditPage>(`/v1/audit?${q}`);
  }, key);
  const verify = useAction();
  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log</h2>
      <form className="inline-form" onSubmit={(e) => e.preventDefault()} aria-label="Filter the audit log">
        <label>
          Actor
          <input value={actor} onChange={(e) => setActor(e.target.value)} name="audit-actor" />
        </label>
        <label>
          Action
          <input value={action} onChange={(e) => setAction(e.target.value)} placeholder="agent.quarantine" name="audit-action" />
        </label>
        <button
          type="button"
          onClick={() =>
            void verify.run(async () => {
              const out = await api<{ ok: boolean; entries?: number }>('/v1/audit/verify');
              if (!out.ok) throw new Error(`the chain is broken: ${JSON.stringify(out)}`);
              return `hash chain intact${out.entries !== undefined ? ` (${out.entries} entries)` : ''}`;
            })
          }
        >
          Verify the chain
        </button>
        <Message message={verify.message} />
      </form>
      {entries.error && <p role="alert" className="error">{entries.error}</p>}
      <table className="grid" aria-label="Audit entries">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">When</th>
            <th scope="col">Actor</th>
            <th scope="col">Action</th>
            <th scope="col">Resource</th>
            <th scope="col">Outcome</th>
          </tr>
        </thead>
        <tbody>
          {entries.data?.entries.map((e) => (
            <tr key={e.seq} data-action={e.action}>
              <td>{e.seq}</td>
              <td>{new Date(e.ts).toLocaleString()}</td>
              <td title={e.actor}>{e.actorName ?? e.actor}</td>
              <td>{e.action}</td>
              <td>{e.resource}</td>
              <td>{e.outcome}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
