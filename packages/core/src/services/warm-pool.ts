import type { SandboxInfo, SandboxResources, SandboxRuntime, SandboxSpec, WarmKey, WarmSandbox } from '../ports/sandbox-runtime.js';

/** One deployment's ask: `count` warm sandboxes of `key` (limits from `resources` until claimed). */
export interface WarmWant {
  agent: string;
  key: WarmKey;
  resources: SandboxResources;
  count: number;
}

export interface WarmPoolDeps {
  runtime: SandboxRuntime;
  log: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
  /** A claim served from the pool (`hit`) or a cold start because none was ready (`miss`). */
  onClaim?: (agent: string, outcome: 'hit' | 'miss') => void;
}

/** The same key, as one string (a Map key). */
export const warmKeyString = (k: WarmKey): string => JSON.stringify([k.image, k.profile, k.tmpBytes, k.heartbeatMs]);

/** The key a new instance's sandbox needs. */
export function warmKeyOf(spec: SandboxSpec): WarmKey {
  return { image: spec.image, profile: spec.profile, tmpBytes: spec.resources.tmpBytes, heartbeatMs: Number(spec.env['AIFLOCK_HEARTBEAT_MS']) || 30_000 };
}

/**
 * Started, unassigned sandboxes per key (image, profile, /tmp size, heartbeat), as many as the
 * deployments asking for that key want together (`scaling.warm`). A new instance takes one
 * (take(), then claim()) instead of a cold start; the pool is refilled in the background.
 * A sandbox leaves the pool exactly once: claimed (it becomes an instance, and is destroyed
 * with it) or discarded. Nothing is ever put back.
 */
export class WarmPool {
  private readonly ready = new Map<string, WarmSandbox[]>();
  private wants: WarmWant[] = [];
  private filling: Promise<void> | null = null;
  private again = false;
  private loaded = false;
  private stopped = false;

  constructor(private readonly deps: WarmPoolDeps) {}

  get enabled(): boolean {
    return this.deps.runtime.capabilities.warmPool === true && !!this.deps.runtime.warmUp;
  }

  /** What the deployments ask for now; refill() brings the pool there. */
  want(wants: WarmWant[]): void {
    this.wants = wants.filter((w) => w.count > 0);
  }

  /** How many are ready and wanted for this agent's key (for `agent get`); null when it asks for none. */
  status(agent: string): { ready: number; wanted: number } | null {
    const mine = this.wants.find((w) => w.agent === agent);
    if (!mine) return null;
    const key = warmKeyString(mine.key);
    return { ready: this.ready.get(key)?.length ?? 0, wanted: this.wanted().get(key)?.count ?? 0 };
  }

  /** Ready sandboxes per image (for /metrics). */
  sizes(): Map<string, number> {
    const out = new Map<string, number>();
    for (const list of this.ready.values()) for (const w of list) out.set(w.key.image, (out.get(w.key.image) ?? 0) + 1);
    return out;
  }

  /**
   * The new instance's sandbox from the pool, or null (a cold start then). Taken out of the
   * pool before it is claimed, so no two instances can ever get the same one.
   */
  async claim(spec: SandboxSpec, beforeIdentity?: (info: SandboxInfo) => Promise<void>): Promise<SandboxInfo | null> {
    const { runtime } = this.deps;
    if (!this.enabled || !runtime.claimWarm) return null;
    // Only agents that ask for a pool take from one: another agent of the same image must not
    // empty the pool of the one that asked.
    if (!this.wants.some((w) => w.agent === spec.agent)) return null;
    const key = warmKeyString(warmKeyOf(spec));
    const warm = this.ready.get(key)?.shift();
    if (!warm) {
      this.deps.onClaim?.(spec.agent, 'miss');
      return null;
    }
    try {
      const started = Date.now();
      const info = await runtime.claimWarm(warm, spec, beforeIdentity);
      this.deps.onClaim?.(spec.agent, 'hit');
      this.deps.log('info', `instance ${spec.instanceId} claimed warm sandbox ${warm.id} in ${Date.now() - started} ms`, { agent: spec.agent });
      return info;
    } catch (err) {
      // A warm sandbox that cannot be claimed (it died, its engine restarted) is not tried again.
      this.deps.log('warn', `warm sandbox ${warm.id} could not be claimed by ${spec.instanceId}: ${(err as Error).message}; starting cold`, { agent: spec.agent });
      await runtime.discardWarm?.(warm.id).catch(() => undefined);
      // Whatever it half did under the instance's name goes too, before the cold start.
      await runtime.remove(spec.instanceId).catch(() => undefined);
      this.deps.onClaim?.(spec.agent, 'miss');
      return null;
    } finally {
      void this.refill();
    }
  }

  /** Start what is missing and discard what nobody wants. One pass at a time; a call during one schedules one more. */
  refill(): Promise<void> {
    if (!this.enabled || this.stopped) return Promise.resolve();
    if (this.filling) {
      this.again = true;
      return this.filling;
    }
    this.filling = (async () => {
      try {
        do {
          this.again = false;
          await this.fillOnce();
        } while (this.again && !this.stopped);
      } catch (err) {
        this.deps.log('error', `refilling the warm pool failed: ${(err as Error).message}`);
      } finally {
        this.filling = null;
      }
    })();
    return this.filling;
  }

  /** No refill starts after this; the one under way is waited for. Warm sandboxes stay (a restarted daemon adopts them). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.filling;
  }

  /** Every warm sandbox goes (the flock is going down). */
  async drain(): Promise<void> {
    await this.stop();
    const all = this.deps.runtime.listWarm ? await this.deps.runtime.listWarm() : [...this.ready.values()].flat();
    this.ready.clear();
    for (const w of all) await this.deps.runtime.discardWarm?.(w.id);
  }

  private wanted(): Map<string, { key: WarmKey; resources: SandboxResources; count: number }> {
    const out = new Map<string, { key: WarmKey; resources: SandboxResources; count: number }>();
    for (const w of this.wants) {
      const k = warmKeyString(w.key);
      const had = out.get(k);
      out.set(k, { key: w.key, resources: had?.resources ?? w.resources, count: (had?.count ?? 0) + w.count });
    }
    return out;
  }

  private async fillOnce(): Promise<void> {
    const { runtime } = this.deps;
    if (!this.loaded && runtime.listWarm) {
      // Adopt what a previous daemon left warm.
      for (const w of await runtime.listWarm()) this.readyList(warmKeyString(w.key)).push(w);
      this.loaded = true;
    }
    const wanted = this.wanted();
    for (const [k, list] of this.ready) {
      const want = wanted.get(k)?.count ?? 0;
      while (list.length > want) {
        const extra = list.pop()!;
        await runtime.discardWarm!(extra.id);
      }
      if (list.length === 0 && want === 0) this.ready.delete(k);
    }
    for (const [k, w] of wanted) {
      while (!this.stopped && this.readyList(k).length < w.count) {
        const made = await runtime.warmUp!(w.key, w.resources);
        this.readyList(k).push(made);
      }
    }
  }

  private readyList(k: string): WarmSandbox[] {
    let list = this.ready.get(k);
    if (!list) this.ready.set(k, (list = []));
    return list;
  }
}
