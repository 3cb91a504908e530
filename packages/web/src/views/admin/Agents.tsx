import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { AgentView, LogLine } from '@aiflock/protocol';
import { api } from '../../api.js';
import { Message, useAction, useLoad } from './use-load.js';

/** Agents: deploy from a manifest, scale, stop, quarantine, release, kill, remove, live logs. */
export function AgentsAdmin() {
  const { data, error, reload } = useLoad(() => api<{ agents: AgentView[] }>('/v1/agents'));
  const [logsOf, setLogsOf] = useState<string | null>(null);
  useEffect(() => {
    const t = setInterval(reload, 3_000);
    return () => clearInterval(t);
  }, [reload]);
  return (
    <section aria-labelledby="agents-title">
      <h2 id="agents-title">Agents</h2>
      {error && <p role="alert" className="error">{error}</p>}
      <table className="grid" aria-label="Deployed agents">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Status</th>
            <th scope="col">Ready</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {data?.agents.map((a) => (
            <AgentRow key={a.name} agent={a} onChange={reload} onLogs={() => setLogsOf(a.name)} />
          ))}
        </tbody>
      </table>
      {logsOf && <LiveLogs name={logsOf} onClose={() => setLogsOf(null)} />}
      <DeployForm onDeployed={reload} />
    </section>
  );
}

function AgentRow({ agent, onChange, onLogs }: { agent: AgentView; onChange: () => void; onLogs: () => void }) {
  const [replicas, setReplicas] = useState(String(agent.replicas.desired));
  const { busy, message, run } = useAction();
  const post = (op: string, body?: unknown) =>
    run(async () => {
      await api(`/v1/agents/${agent.name}/${op}`, { method: 'POST', ...(body !== undefined ? { body } : {}) });
      onChange();
      return `${agent.name}: ${op} done`;
    });
  return (
    <tr data-agent={agent.name}>
      <th scope="row">{agent.name}</th>
      <td data-testid={`status-${agent.name}`}>{agent.status}</td>
      <td>
        {agent.replicas.ready}/{agent.replicas.desired}
      </td>
      <td className="row-actions">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void post('scale', { replicas: Number(replicas) });
          }}
        >
          <label>
            Replicas for {agent.name}
            <input type="number" min={0} max={100} value={replicas} onChange={(e) => setReplicas(e.target.value)} />
          </label>
          <button type="submit" disabled={busy}>
            Scale
          </button>
        </form>
        <button type="button" disabled={busy} onClick={() => void post('stop')}>
          Stop
        </button>
        {agent.status === 'quarantined' ? (
          <button type="button" disabled={busy} onClick={() => void post('release')}>
            Release {agent.name}
          </button>
        ) : (
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={() => {
              if (confirm(`Quarantine ${agent.name}? Its instances are paused and cut off the network and the bus until you release it.`)) void post('quarantine');
            }}
          >
            Quarantine {agent.name}
          </button>
        )}
        <button
          type="button"
          className="danger"
          disabled={busy}
          onClick={() => {
            if (confirm(`Kill ${agent.name}? Its instances are removed and its credentials revoked.`)) void post('kill');
          }}
        >
          Kill
        </button>
        <button type="button" onClick={onLogs}>
          Logs
        </button>
        {agent.handlers.includes('agent') && <a href={`#/agent/${agent.name}`}>Chat with {agent.name}</a>}
        <Message message={message} />
      </td>
    </tr>
  );
}

/** Follows `GET /v1/agents/{name}/logs?follow=true` (NDJSON) until closed. */
function LiveLogs({ name, onClose }: { name: string; onClose: () => void }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [state, setState] = useState('connecting');
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const ac = new AbortController();
    setLines([]);
    (async () => {
      const res = await fetch(`/v1/agents/${encodeURIComponent(name)}/logs?follow=true&tail=50`, { signal: ac.signal, credentials: 'same-origin' });
      if (!res.ok || !res.body) throw new Error(`logs answered ${res.status}`);
      setState('live');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        const parts = buf.split('\n');
        buf = parts.pop() ?? '';
        const fresh = parts.filter(Boolean).flatMap((p) => {
          try {
            return [JSON.parse(p) as LogLine];
          } catch {
            return [];
          }
        });
        if (fresh.length) setLines((l) => [...l, ...fresh].slice(-500));
      }
      setState('ended');
    })().catch((err: Error) => {
      if (err.name !== 'AbortError') setState(`stopped: ${err.message}`);
    });
    return () => ac.abort();
  }, [name]);
  useEffect(() => {
    pre.current?.scrollTo({ top: pre.current.scrollHeight });
  }, [lines]);
  return (
    <section aria-labelledby="logs-title" className="live-logs">
      <div className="details-head">
        <h3 id="logs-title">
          Logs of {name} <span className="note">({state})</span>
        </h3>
        <button type="button" onClick={onClose}>
          Close logs
        </button>
      </div>
      <pre ref={pre} className="logs" tabIndex={0} aria-live="polite" aria-label={`Live logs of ${name}`}>
        {lines.map((l) => `${l.ts.slice(11, 19)} ${l.instanceId} ${l.level.padEnd(5)} ${l.msg}`).join('\n')}
      </pre>
    </section>
  );
}

function DeployForm({ onDeployed }: { onDeployed: () => void }) {
  const [manifest, setManifest] = useState('');
  const [filename, setFilename] = useState('agent.yaml');
  const { busy, message, run } = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const out = await api<{ agent: AgentView; changed: boolean }>('/v1/agents', { method: 'POST', body: { manifest, filename } });
      onDeployed();
      return out.changed ? `deployed ${out.agent.name}` : `${out.agent.name} is already deployed with this manifest`;
    });
  };
  const fromFile = async (file: File | undefined) => {
    if (!file) return;
    setFilename(file.name);
    setManifest(await file.text());
  };
  return (
    <form className="deploy" onSubmit={submit} aria-labelledby="deploy-title">
      <h3 id="deploy-title">Deploy from a manifest</h3>
      <label>
        Manifest file (agent.yaml or agent.md)
        <input type="file" accept=".yaml,.yml,.md" onChange={(e) => void fromFile(e.target.files?.[0])} />
      </label>
      <label>
        File name (decides YAML or Markdown)
        <input value={filename} onChange={(e) => setFilename(e.target.value)} name="filename" />
      </label>
      {/* An explicit label: a wrapping one would fold the text typed into the field's name. */}
      <label htmlFor="deploy-manifest">Manifest</label>
      <textarea id="deploy-manifest" required rows={8} value={manifest} onChange={(e) => setManifest(e.target.value)} name="manifest" spellCheck={false} />
      <button type="submit" disabled={busy}>
        Deploy
      </button>
      <Message message={message} />
    </form>
  );
}
