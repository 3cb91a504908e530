import { useEffect } from 'react';
import type { NodeInfo } from '@aiflock/protocol';
import { api } from '../../api.js';
import { Message, useAction, useLoad } from './use-load.js';

const GIB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;

/** One word for the state a person acts on: liveness first (a lost node's cordon matters less than its silence). */
export function nodeState(n: NodeInfo): string {
  if (n.status !== 'ready') return n.status;
  if (n.drained) return 'drained';
  if (n.draining) return 'draining';
  return n.cordoned ? 'cordoned' : 'ready';
}

const since = (ts: string | null) => {
  if (!ts) return 'never';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
  return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
};

/** Nodes: each host of the flock, its state, labels, load against capacity, and what runs there. Refreshed every 3 s, as a node's state is decided by its heartbeats. */
export function NodesAdmin() {
  const { data, error, reload } = useLoad(() => api<{ nodes: NodeInfo[] }>('/v1/nodes'));
  useEffect(() => {
    const t = setInterval(reload, 3_000);
    return () => clearInterval(t);
  }, [reload]);
  return (
    <section aria-labelledby="nodes-title">
      <h2 id="nodes-title">Nodes</h2>
      {error && <p role="alert" className="error">{error}</p>}
      <table className="grid" aria-label="Nodes">
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">State</th>
            <th scope="col">Labels</th>
            <th scope="col">CPUs requested / total</th>
            <th scope="col">Memory requested / total</th>
            <th scope="col">GPUs requested / total</th>
            <th scope="col">Runtimes</th>
            <th scope="col">Last heartbeat</th>
            <th scope="col">Instances</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {data?.nodes.map((n) => (
            <NodeRow key={n.name} node={n} onChange={reload} />
          ))}
        </tbody>
      </table>
      <p className="note">
        A host joins with <code>aiflock node join</code> and a token from <code>aiflock node token create</code> (docs/scale-out.md).
      </p>
    </section>
  );
}

function NodeRow({ node: n, onChange }: { node: NodeInfo; onChange: () => void }) {
  const { busy, message, run } = useAction();
  const post = (op: 'cordon' | 'uncordon' | 'drain') =>
    run(async () => {
      await api(`/v1/nodes/${encodeURIComponent(n.name)}/${op}`, { method: 'POST' });
      onChange();
      return `${n.name}: ${op} done`;
    });
  const cap = n.capacity;
  return (
    <tr data-node={n.name}>
      <th scope="row">
        {n.name}
        {n.local && <span className="note"> (control plane)</span>}
      </th>
      <td data-testid={`node-state-${n.name}`}>{nodeState(n)}</td>
      <td data-testid={`node-labels-${n.name}`}>
        {Object.entries(n.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ') || 'none'}
      </td>
      <td data-testid={`node-cpu-${n.name}`}>
        {n.allocated.cpu} / {cap ? cap.cpus : '?'}
      </td>
      <td data-testid={`node-memory-${n.name}`}>
        {gib(n.allocated.memoryBytes)} / {cap ? gib(cap.memoryBytes) : '?'}
      </td>
      <td data-testid={`node-gpus-${n.name}`}>
        {n.allocated.gpus} / {cap ? cap.gpus.length : '?'}
        {cap && cap.gpus.length > 0 && !cap.gpuSandboxes && <span className="note"> (its runtime cannot hand them to sandboxes)</span>}
      </td>
      <td>{cap ? cap.runtimes.join(', ') || 'none' : 'not reported yet'}</td>
      <td data-testid={`node-heartbeat-${n.name}`}>{n.local ? 'this host' : since(n.lastHeartbeatAt)}</td>
      <td>
        {n.instances.length === 0 ? (
          'none'
        ) : (
          <ul className="plain" aria-label={`Instances on ${n.name}`}>
            {n.instances.map((i) => (
              <li key={i.id}>
                <a href={`#/agent/${i.agent}`}>{i.agent}</a> <code>{i.id}</code> {i.status}
              </li>
            ))}
          </ul>
        )}
      </td>
      <td className="row-actions">
        {n.cordoned ? (
          <button type="button" disabled={busy} onClick={() => void post('uncordon')}>
            Uncordon {n.name}
          </button>
        ) : (
          <button type="button" disabled={busy} onClick={() => void post('cordon')}>
            Cordon {n.name}
          </button>
        )}
        {!n.draining && (
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={() => {
              if (confirm(`Drain ${n.name}? Its instances move to other nodes (each replacement starts before the old one stops) and nothing new goes there until you uncordon it.`)) void post('drain');
            }}
          >
            Drain {n.name}
          </button>
        )}
        <Message message={message} />
      </td>
    </tr>
  );
}
