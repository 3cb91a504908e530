import { describe, expect, it } from 'vitest';
import { WarmPool, type SandboxInfo, type SandboxRuntime, type SandboxSpec, type WarmKey, type WarmSandbox } from '../src/index.js';

/**
 * The pool's bookkeeping against an in-memory runtime port (the Docker side is test/warm-pool.test.ts):
 * a warm sandbox is handed out once and never again, a claim that fails is not retried and
 * falls back to a cold start, and what nobody asks for is discarded.
 */
const key: WarmKey = { image: 'img', profile: 'restricted', tmpBytes: 64, heartbeatMs: 2000 };
const resources = { cpu: 0.25, memoryBytes: 128, pids: 32, tmpBytes: 64 };
const spec = (instanceId: string): SandboxSpec => ({ instanceId, agent: 'quick', image: 'img', profile: 'restricted', env: { AIFLOCK_HEARTBEAT_MS: '2000' }, resources, manifestDigest: 'd' });

function memoryRuntime(opts: { failClaim?: boolean } = {}) {
  let n = 0;
  const warm = new Map<string, WarmSandbox>();
  const claimed: string[] = [];
  const discarded: string[] = [];
  const runtime = {
    kind: 'memory',
    capabilities: { warmPool: true },
    async warmUp(k: WarmKey) {
      const w = { id: `w_${String(++n).padStart(8, '0')}`, key: k, handle: `h${n}` };
      warm.set(w.id, w);
      return w;
    },
    async listWarm() {
      return [...warm.values()];
    },
    async claimWarm(w: WarmSandbox, s: SandboxSpec, before?: (i: SandboxInfo) => Promise<void>) {
      if (opts.failClaim) throw new Error('gone');
      if (!warm.delete(w.id)) throw new Error(`${w.id} claimed twice`);
      claimed.push(w.id);
      const info = { instanceId: s.instanceId, agent: s.agent, handle: w.handle, state: 'running', exitCode: null, oomKilled: false, startedAt: null, manifestDigest: 'd', node: 'n', address: '10.0.0.2' } as SandboxInfo;
      await before?.(info);
      return info;
    },
    async discardWarm(id: string) {
      warm.delete(id);
      discarded.push(id);
    },
    async remove() {},
  } as unknown as SandboxRuntime;
  return { runtime, warm, claimed, discarded };
}

describe('WarmPool', () => {
  it('fills to what is wanted, hands each sandbox out once, and refills', async () => {
    const rt = memoryRuntime();
    const outcomes: string[] = [];
    const pool = new WarmPool({ runtime: rt.runtime, log: () => {}, onClaim: (_, o) => outcomes.push(o) });
    pool.want([{ agent: 'quick', key, resources, count: 2 }]);
    await pool.refill();
    expect(pool.status('quick')).toEqual({ ready: 2, wanted: 2 });
    const bound: string[] = [];
    const a = await pool.claim(spec('quick-aaaaaaaa'), async (i) => void bound.push(i.address!));
    const b = await pool.claim(spec('quick-bbbbbbbb'));
    expect(a?.handle).not.toBe(b?.handle);
    expect(bound).toEqual(['10.0.0.2']);
    // The refill after each claim made new ones: the third gets a sandbox never handed out before.
    const c = await pool.claim(spec('quick-cccccccc'));
    expect([a?.handle, b?.handle]).not.toContain(c?.handle);
    // Two at once with one ready: one claims it, the other starts cold (a miss), never the same one.
    pool.want([{ agent: 'quick', key, resources, count: 1 }]);
    await pool.refill();
    const [d, e] = await Promise.all([pool.claim(spec('quick-dddddddd')), pool.claim(spec('quick-eeeeeeee'))]);
    expect([d, e].filter((x) => x === null)).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'miss')).toHaveLength(1);
    await pool.refill();
    expect(pool.status('quick')).toEqual({ ready: 1, wanted: 1 });
    expect(new Set(rt.claimed).size).toBe(rt.claimed.length);
    expect([...rt.warm.keys()].some((id) => rt.claimed.includes(id))).toBe(false);
  });

  it('a claim that fails discards that sandbox and falls back to a cold start', async () => {
    const rt = memoryRuntime({ failClaim: true });
    const pool = new WarmPool({ runtime: rt.runtime, log: () => {} });
    pool.want([{ agent: 'quick', key, resources, count: 1 }]);
    await pool.refill();
    const first = [...rt.warm.keys()][0]!;
    expect(await pool.claim(spec('quick-aaaaaaaa'))).toBeNull();
    expect(rt.discarded).toContain(first);
  });

  it('another key is not served, and what nobody wants any more is discarded', async () => {
    const rt = memoryRuntime();
    const pool = new WarmPool({ runtime: rt.runtime, log: () => {} });
    pool.want([{ agent: 'quick', key, resources, count: 1 }]);
    await pool.refill();
    expect(await pool.claim({ ...spec('quick-aaaaaaaa'), image: 'other' })).toBeNull();
    // An agent that did not ask for a pool does not take from it, even with the same key.
    expect(await pool.claim({ ...spec('other-aaaaaaaa'), agent: 'other' })).toBeNull();
    expect(rt.warm.size).toBe(1);
    pool.want([]);
    await pool.refill();
    expect(rt.warm.size).toBe(0);
    expect(rt.discarded).toHaveLength(1);
    expect(pool.status('quick')).toBeNull();
  });
});
