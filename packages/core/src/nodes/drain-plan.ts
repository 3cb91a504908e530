import type { DesiredDeployment } from '../deployment/reconcile-plan.js';
import type { SandboxInfo } from '../ports/sandbox-runtime.js';

const LIVE = new Set(['created', 'running', 'restarting']);

export interface DrainStep {
  instanceId: string;
  agent: string;
  reason: string;
}

/**
 * Moving instances off draining nodes without a gap and without cutting a task short, as
 * `kubectl drain` evicts a pod with a grace period once its disruption budget allows: each
 * instance there is held out of the reconcile plan (so a replacement is placed elsewhere);
 * once enough replacements answer heartbeats it is told to stop (`stop`: it takes no new task
 * and finishes the ones it runs), and it is removed once it has exited, or its grace
 * (`stopping`: instance → deadline, ms) has run out. Pure.
 */
export function drainPlan(
  desired: readonly DesiredDeployment[],
  actual: readonly SandboxInfo[],
  draining: ReadonlySet<string>,
  ready: (s: SandboxInfo) => boolean,
  stopping: ReadonlyMap<string, number> = new Map(),
  now = 0,
): { held: Set<string>; stop: DrainStep[]; remove: DrainStep[] } {
  const held = new Set<string>();
  const stop: DrainStep[] = [];
  const remove: DrainStep[] = [];
  for (const d of desired) {
    const onDrained = actual.filter((s) => s.agent === d.name && draining.has(s.node));
    if (onDrained.length === 0) continue;
    const why = (s: SandboxInfo) => ({ instanceId: s.instanceId, agent: d.name, reason: `node ${s.node} is draining` });
    // Told to stop already: held until it has exited (its tasks done) or its grace is over.
    for (const s of onDrained.filter((x) => stopping.has(x.instanceId))) {
      held.add(s.instanceId);
      if (!LIVE.has(s.state) || now >= stopping.get(s.instanceId)!) remove.push(why(s));
    }
    // An instance there that died untold is the plan's to remove as any dead one.
    const live = onDrained.filter((s) => LIVE.has(s.state) && !stopping.has(s.instanceId));
    const readyElsewhere = actual.filter((s) => s.agent === d.name && LIVE.has(s.state) && !draining.has(s.node) && ready(s)).length;
    for (const s of live) held.add(s.instanceId);
    const stoppable = Math.max(0, Math.min(live.length, readyElsewhere + live.length - d.replicas));
    for (const s of live.slice(0, stoppable)) stop.push(why(s));
  }
  return { held, stop, remove };
}
