import type { SandboxInfo } from '../ports/sandbox-runtime.js';

export interface DesiredDeployment {
  name: string;
  digest: string;
  replicas: number;
  /**
   * For `lifecycle: job`: each instance runs one task and goes, and `replicas` is the most at
   * once. The facts the plan needs from the task records.
   */
  jobs?: JobFacts;
}

export interface JobFacts {
  /** The agent's tasks not yet ended (queued, running, waiting for a person). */
  pending: number;
  /** Its instances running one of those tasks. */
  busy: ReadonlySet<string>;
  /** Its instances whose one task has ended (they stop by themselves; these have not yet). */
  done: ReadonlySet<string>;
}

/** Why a job's sandbox goes: not a death, so its record is not kept as one. */
export const JOB_ENDED = 'its job ended';

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
    // A job's sandbox that stopped after its task, or whose task ended (done, failed, timed out, cancelled).
    else if (want.jobs && ((!LIVE.has(s.state) && s.exitCode === 0) || want.jobs.done.has(s.instanceId))) plan.remove.push({ instanceId: s.instanceId, agent: s.agent, reason: JOB_ENDED });
    else if (!LIVE.has(s.state)) plan.remove.push({ instanceId: s.instanceId, agent: s.agent, reason: `instance ${s.state}` });
    else if (s.manifestDigest !== want.digest) plan.remove.push({ instanceId: s.instanceId, agent: s.agent, reason: 'manifest changed' });
    // The restart policy for a hung instance: replace it (its unacknowledged tasks are redelivered).
    else if (unhealthy.has(s.instanceId)) plan.remove.push({ instanceId: s.instanceId, agent: s.agent, reason: 'missed its heartbeats' });
    else live.set(s.agent, [...(live.get(s.agent) ?? []), s]);
  }

  for (const d of desired) {
    const running = (live.get(d.name) ?? []).sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''));
    if (d.jobs) {
      planJobs(d, d.jobs, running, plan);
      continue;
    }
    if (running.length < d.replicas) plan.start.push({ agent: d.name, count: d.replicas - running.length });
    // Scale down removes the newest first: the oldest are warm and most likely idle.
    for (const extra of running.slice(d.replicas).reverse()) {
      plan.remove.push({ instanceId: extra.instanceId, agent: d.name, reason: 'scaled down' });
    }
  }
  return plan;
}

/**
 * `lifecycle: job`: one sandbox per task not yet taken, up to `replicas` at once counting the
 * busy ones. A busy sandbox is never removed for scale (its task would be cut short); an idle
 * one goes when no task is left for it, the newest first (the oldest is the likeliest to be
 * about to take one).
 */
function planJobs(d: DesiredDeployment, jobs: JobFacts, running: SandboxInfo[], plan: ReconcilePlan): void {
  const busy = running.filter((s) => jobs.busy.has(s.instanceId)).length;
  const idle = running.filter((s) => !jobs.busy.has(s.instanceId));
  const want = Math.max(0, Math.min(d.replicas - busy, jobs.pending - busy));
  if (idle.length < want) plan.start.push({ agent: d.name, count: want - idle.length });
  for (const extra of idle.slice(want).reverse()) plan.remove.push({ instanceId: extra.instanceId, agent: d.name, reason: 'no job left for it' });
}
