import type { Store } from '@aiflock/core';
import type { VillagerStatus } from '@aiflock/protocol';
import type { WorldHost } from './world-host.js';

/**
 * Keeps the village's population in step with the deployments, from the store, so every way
 * a deployment changes (deploy, remove, stop, the kill switch, an admin's compute freeze)
 * shows without hooks in each service: an agent whose manifest has a `village` section lives
 * there; quarantined ones are `quarantined`, compute-frozen ones `frozen`, stopped ones `away`.
 * It only reads the store, and submits inputs only for differences, so a quiet flock writes
 * nothing.
 */
export class VillagerSync {
  private running: Promise<void> | null = null;

  constructor(
    private readonly deps: { store: Store; host: WorldHost; log: (level: 'warn', msg: string) => void },
  ) {}

  /** One pass; overlapping calls share the pass in progress. */
  sync(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = null));
    return this.running;
  }

  private async pass(): Promise<void> {
    const { store, host } = this.deps;
    const wanted = new Map<string, { status: VillagerStatus; policy: 'llm' | 'rules'; model: string | null; home: string | null; displayName?: string }>();
    for (const d of await store.deployments.list()) {
      const v = d.manifest.village;
      if (!v) continue;
      const frozen = (await store.computeControls.get(d.name))?.frozen ?? false;
      const status: VillagerStatus = d.state === 'quarantined' ? 'quarantined' : frozen ? 'frozen' : d.state === 'stopped' ? 'away' : 'active';
      wanted.set(d.name, { status, policy: v.policy, model: v.policy === 'llm' ? (d.manifest.model?.name ?? null) : null, home: v.home ?? null, ...(v.displayName ? { displayName: v.displayName } : {}) });
    }
    const pending: Promise<unknown>[] = [];
    const submit = (p: Promise<unknown>) => pending.push(p.catch((err: unknown) => this.deps.log('warn', `village sync: ${String(err)}`)));
    const present = new Set(host.engine.snapshot().villagers.map((v) => v.name));
    for (const [name, w] of wanted) {
      if (!present.has(name)) {
        submit(host.submit({ kind: 'join', name, ...(w.displayName ? { displayName: w.displayName } : {}), policy: w.policy, model: w.model, home: homeOf(host, name, w.home), status: w.status }));
        continue;
      }
      if (host.engine.villager(name)?.status !== w.status) submit(host.submit({ kind: 'status', name, status: w.status }));
    }
    for (const name of present) if (!wanted.has(name)) submit(host.submit({ kind: 'leave', name }));
    await Promise.all(pending);
  }
}


/**
 * A manifest's `home` names a landmark ("home-rose") or a kind ("home"): a kind picks one of
 * its landmarks by the agent's name, so the same agent always lives in the same house.
 */
function homeOf(host: WorldHost, agent: string, home: string | null): string | null {
  if (!home) return null;
  if (host.engine.landmark(home)) return home;
  const ofKind = host.engine.map.landmarks.filter((l) => l.kind === home);
  if (ofKind.length === 0) return null;
  let h = 0;
  for (const ch of agent) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return ofKind[h % ofKind.length]!.name;
}
