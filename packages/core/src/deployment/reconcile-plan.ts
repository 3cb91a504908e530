import type { SandboxInfo } from '../ports/sandbox-runtime.js';

export interface DesiredDeployment {
  name: string;
  digest: string;
  replicas: number;
}

export interface ReconcilePlan {
  start: { agent: string; count: number }[];
  remove: { instanceId: string; agent: string; reason: string }[];
}

const LIVE = new Set(['created', 'running', 'restarting']);

/**
 * What to start and remove so that the sandboxes match the desired deployments. Pure: the
 * reconciler gathers the facts, this decides, the reconciler acts. Instances of an older
 * manifest are replaced, as are unhealthy ones; finished ones are removed (their exit is
 * recorded first).
 */
export function planReconcile(desired: DesiredDeployment[], actual: SandboxInfo[], unhealthy: ReadonlySet<string> = new Set()): ReconcilePlan {
  const plan: ReconcilePlan = { start: [], remove: [] };
  const byAgent = new Map(desired.map((d) => [d.name, d]));
  const live = new Map<string, SandboxInfo[]>();

  for (const s of actual) {
    const want = byAgent.get(s.agent);
    if (!want) plan.remove.push({ instanceId: s.instanceId, agent: s.agent, reason: 'agent is not deployed' });
    else if (!LIVE.has(s.state)) plan.remove.push({ instanceId: s.instanceId, agent: s.agent, reason: `instance ${s.state}` });
    else if (s.manifestDigest !== want.digest) plan.remove.push({ instanceId: s.instanceId, agent: s.agent, reason: 'manifest changed' });
    // The restart policy for a hung instance: replace it (its unacknowledged tasks are redelivered).
    else if (unhealthy.has(s.instanceId)) plan.remove.push({ instanceId: s.instanceId, agent: s.agent, reason: 'missed its heartbeats' });
    else live.set(s.agent, [...(live.get(s.agent) ?? []), s]);
  }

  for (const d of desired) {
    const running = (live.get(d.name) ?? []).sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''));
    if (running.length < d.replicas) plan.start.push({ agent: d.name, count: d.replicas - running.length });
    // Scale down removes the newest first: the oldest are warm and most likely idle.
    for (const extra of running.slice(d.replicas).reverse()) {
      plan.remove.push({ instanceId: extra.instanceId, agent: d.name, reason: 'scaled down' });
    }
  }
  return plan;
}
