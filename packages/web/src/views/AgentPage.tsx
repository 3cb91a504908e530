import { useEffect, useState } from 'react';
import type { AgentView } from '@aiflock/protocol';
import { api, ApiError } from '../api.js';
import { ChatPanel } from './ChatPanel.js';

/** One agent for a person: what it is, and a chat with it when it runs the tool loop. */
export function AgentPage({ name }: { name: string }) {
  const [agent, setAgent] = useState<AgentView | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setAgent(null);
    api<AgentView>(`/v1/agents/${encodeURIComponent(name)}`).then(setAgent, (e: Error) => setError(e instanceof ApiError && e.status === 404 ? `No agent named ${name} is deployed.` : e.message));
  }, [name]);
  return (
    <section className="agent-page" aria-labelledby="agent-title">
      <h2 id="agent-title">{name}</h2>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {agent && (
        <p className="note">
          {agent.description || 'No description.'} · {agent.status} · {agent.replicas.ready}/{agent.replicas.desired} ready
        </p>
      )}
      {!error && <ChatPanel agent={name} />}
    </section>
  );
}
