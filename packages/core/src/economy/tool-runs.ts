import type { EntitlementSource } from './compute.js';

export interface ToolRunLimitsDeps {
  /** The deployed agents, and whether each is held to its tier (config may exempt some). */
  agents(): Promise<Array<{ name: string; limited: boolean }>>;
  entitlements: EntitlementSource;
  /** Cap the agent's tasks in flight across its instances (the bus enforces it). */
  limitQueue(agent: string, maxInFlight: number): Promise<void>;
  log(level: 'warn', msg: string, data?: Record<string, unknown>): void;
}

/**
 * The scheduler's half of a compute tier: an agent runs at most its tier's concurrent tool
 * runs (tasks) at once, whatever its replicas and per-instance concurrency. `sync` reads each
 * agent's tier and moves its queue's cap when the tier changed, so a reward or penalty
 * reaches the scheduler within one sync. A frozen agent's tier allows 0; the bus cannot hold
 * a queue at 0, so it gets 1 (its LLM calls are refused; quarantine stops it outright).
 */
/** What an exempt queue gets back: the bus's own default for a new queue. */
export const UNCAPPED_IN_FLIGHT = 1_000;

export class ToolRunLimits {
  private readonly applied = new Map<string, number>();
  private syncs = 0;

  constructor(private readonly deps: ToolRunLimitsDeps) {}

  /** The caps now in force, by agent. */
  current(): ReadonlyMap<string, number> {
    return this.applied;
  }

  private running: Promise<void> | null = null;

  /** Apply every agent's cap; a sync asked for while one runs joins it. */
  sync(): Promise<void> {
    this.running ??= this.apply().finally(() => (this.running = null));
    return this.running;
  }

  private async apply(): Promise<void> {
    // Now and then re-apply every cap: a queue removed and re-created between two syncs
    // starts uncapped, and this cache would not know.
    if (++this.syncs % 30 === 0) this.applied.clear();
    const agents = await this.deps.agents();
    const names = new Set(agents.map((a) => a.name));
    for (const gone of [...this.applied.keys()].filter((a) => !names.has(a))) this.applied.delete(gone);
    for (const { name: agent, limited } of agents) {
      // An exempt agent that was never capped needs nothing; one that was gets its queue back.
      if (!limited && (this.applied.get(agent) ?? UNCAPPED_IN_FLIGHT) === UNCAPPED_IN_FLIGHT) continue;
      try {
        const want = limited ? Math.max(1, (await this.deps.entitlements.entitlementsFor(agent)).limits.concurrentToolRuns) : UNCAPPED_IN_FLIGHT;
        if (this.applied.get(agent) === want) continue;
        await this.deps.limitQueue(agent, want);
        this.applied.set(agent, want);
      } catch (err) {
        // One agent's queue (e.g. removed mid-sync) must not stop the others'; the next sync retries.
        this.deps.log('warn', `could not apply the tool-run limit of agent ${agent}: ${String(err)}`, { agent });
      }
    }
  }
}
