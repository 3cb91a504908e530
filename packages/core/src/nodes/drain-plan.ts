import type { DesiredDeployment } from '../deployment/reconcile-plan.js';
import type { SandboxInfo } from '../ports/sandbox-runtime.js';

const LIVE = new Set(['created', 'running', 'restarting']);

/**
 * Moving instances off draining nodes without a gap: each is held out of the reconcile plan
 * (so a replacement is placed elsewhere) and removed only once enough replacements answer
 * heartbeats, as `kubectl drain` waits on a disruption budget. Pure.
 */
export function drainPlan(
  desired: readonly DesiredDeployment[],
  actual: readonly SandboxInfo[],
  draining: ReadonlySet<string>,
  ready: (s: SandboxInfo) => boolean,
): { held: Set<string>; remove: { instanceId: string; agent: string; reason: string }[] } {
  const held = new Set<string>();
  const remove: { instanceId: string; agent: string; reason: string }[] = [];
  for (const d of desired) {
    const live = actual.filter((s) => s.agent === d.name && LIVE.has(s.state));
    const onDrained = live.filter((s) => draining.has(s.node));
    if (onDrained.length === 0) continue;
    const readyElsewhere = live.filter((s) => !draining.has(s.node) && ready(s)).length;
    for (const s of onDrained) held.add(s.instanceId);
    const removable = Math.max(0, Math.min(onDrained.length, readyElsewhere + onDrained.length - d.replicas));
    for (const s of onDrained.slice(0, removable)) remove.push({ instanceId: s.instanceId, agent: d.name, reason: `node ${s.node} is draining` });
  }
  return { held, remove };
}
