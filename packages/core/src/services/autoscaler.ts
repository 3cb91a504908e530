import type { AuditLog } from '../audit/audit-log.js';
import { planAutoscale, type AutoscaleMemory, type AutoscaleTiming } from '../deployment/autoscale-plan.js';
import type { Clock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';
import { autoscaling } from '../manifest/schema.js';

export interface AutoscalerDeps {
  store: Store;
  /** Tasks waiting for the agent plus those delivered and not yet acknowledged. */
  queueDepth: (agent: string) => Promise<number>;
  audit: Pick<AuditLog, 'record'>;
  clock: Clock;
  timing: AutoscaleTiming;
  /** Ask the reconciler to start or stop instances now. */
  poke: () => void;
  log: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
}

/** Who the audit log names for a change the autoscaler made. */
export const AUTOSCALER_ACTOR = 'system:autoscaler';

/**
 * Replicas that follow the queue: each pass reads the queue depth of every active agent whose
 * manifest has `scaling`, asks the pure plan, and writes the new desired count, which the
 * reconciler then makes true. Every change is audited and shown in the agent's logs.
 */
export class Autoscaler {
  private readonly memory = new Map<string, AutoscaleMemory>();

  constructor(private readonly deps: AutoscalerDeps) {}

  async pass(): Promise<void> {
    const { store, clock } = this.deps;
    const deployments = (await store.deployments.list()).filter((d) => d.state === 'active' && autoscaling(d.manifest));
    for (const name of this.memory.keys()) if (!deployments.some((d) => d.name === name)) this.memory.delete(name);
    for (const d of deployments) {
      const policy = autoscaling(d.manifest)!;
      const now = clock.now().getTime();
      // An agent first seen (or seen again after a daemon restart) has no history: count its
      // window from now, so a restart never drops replicas a burst still needs.
      const memory = this.memory.get(d.name) ?? { lastChangeAt: now, asked: [] };
      const depth = await this.deps.queueDepth(d.name);
      const { decision, memory: next } = planAutoscale(policy, d.replicas, depth, memory, now, this.deps.timing);
      this.memory.set(d.name, next);
      if (!decision) continue;
      // Compare-and-set by re-reading: a deploy, stop or removal meanwhile wins.
      const fresh = await store.deployments.get(d.name);
      if (!fresh || fresh.state !== 'active' || fresh.replicas !== d.replicas || fresh.digest !== d.digest) continue;
      const at = clock.now().toISOString();
      await store.deployments.upsert({ ...fresh, replicas: decision.replicas, updatedAt: at });
      await this.deps.audit.record({
        actor: AUTOSCALER_ACTOR,
        action: 'agent.autoscale',
        resource: `agent/${d.name}`,
        outcome: 'ok',
        details: { from: d.replicas, to: decision.replicas, queueDepth: depth, reason: decision.reason },
      });
      const msg = `autoscaled from ${d.replicas} to ${decision.replicas} replicas: ${decision.reason}`;
      await store.logs.append([{ ts: at, level: 'info', msg, agent: d.name, instanceId: 'autoscaler', taskId: null }]);
      this.deps.log('info', `${d.name}: ${msg}`, { agent: d.name });
      this.deps.poke();
    }
  }
}
