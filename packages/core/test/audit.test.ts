import { describe, expect, it } from 'vitest';
import { AuditLog, auditHash, chainEntry, GENESIS_HASH, verifyAuditChain, type AuditAnchor, type AuditEntry, type AuditHead, type AuditStore } from '../src/index.js';

const fields = (i: number) => ({ ts: `2026-01-01T00:00:0${i}.000Z`, actor: 'alice', action: 'agent.deploy', resource: `agent/a${i}`, outcome: 'ok' as const, requestId: null, correlationId: null, details: { i, z: 1, a: [1, 2] } });

function chain(n: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (let i = 1; i <= n; i++) out.push(chainEntry(out.at(-1) ?? null, fields(i)));
  return out;
}

async function verify(entries: AuditEntry[], anchor: { seq: number; hash: string } | null = null) {
  return verifyAuditChain({
    entries: (async function* () {
      yield* [...entries].sort((a, b) => a.seq - b.seq);
    })(),
    byHash: async (h) => entries.find((e) => e.hash === h),
    anchor,
  });
}

describe('audit hash chain', () => {
  it('starts at genesis and links every entry to the previous hash', () => {
    const c = chain(3);
    expect(c.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(c[0]!.prevHash).toBe(GENESIS_HASH);
    expect(c[2]!.prevHash).toBe(c[1]!.hash);
    expect(c[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('hashes a canonical form: key order in details does not matter, any value change does', () => {
    const e = chain(1)[0]!;
    expect(auditHash({ ...e, details: { a: [1, 2], z: 1, i: 1 } })).toBe(e.hash);
    expect(auditHash({ ...e, details: { a: [2, 1], z: 1, i: 1 } })).not.toBe(e.hash);
    expect(auditHash({ ...e, seq: 2 })).not.toBe(e.hash);
    expect(auditHash({ ...e, outcome: 'denied' })).not.toBe(e.hash);
  });

  it('passes an intact chain, with or without its anchor, and an empty log', async () => {
    const c = chain(4);
    expect(await verify(c, { seq: 4, hash: c[3]!.hash })).toMatchObject({ ok: true, entries: 4, head: { seq: 4 } });
    expect(await verify(c, { seq: 2, hash: c[1]!.hash })).toMatchObject({ ok: true });
    expect(await verify([])).toEqual({ ok: true, entries: 0, head: null, anchored: null });
  });

  it('locates each kind of tampering', async () => {
    const c = chain(5);
    const anchor = { seq: 5, hash: c[4]!.hash };
    expect(await verify(c.map((e) => (e.seq === 2 ? { ...e, actor: 'eve' } : e)), anchor)).toMatchObject({ ok: false, seq: 2, reason: 'edited' });
    expect(await verify(c.filter((e) => e.seq !== 3), anchor)).toMatchObject({ ok: false, seq: 3, reason: 'deleted' });
    expect(await verify(c.map((e) => (e.seq === 2 ? { ...e, seq: 4 } : e.seq === 4 ? { ...e, seq: 2 } : e)), anchor)).toMatchObject({ ok: false, seq: 2, reason: 'reordered' });
    expect(await verify(c.slice(0, 3), anchor)).toMatchObject({ ok: false, seq: 4, reason: 'truncated' });
    expect(await verifyAuditChain({ entries: (async function* () {})(), byHash: async () => undefined, anchor: 'invalid' })).toMatchObject({ ok: false, reason: 'anchor_invalid' });
  });

  it('checks heads recorded elsewhere like the anchor', async () => {
    const c = chain(5);
    const at = (cps: { seq: number; hash: string }[], entries = c) =>
      verifyAuditChain({ entries: (async function* () { yield* entries; })(), byHash: async (h) => entries.find((e) => e.hash === h), anchor: null, checkpoints: cps });
    expect(await at([{ seq: 3, hash: c[2]!.hash }])).toMatchObject({ ok: true });
    // Without an anchor, a truncated log is a valid chain; a recorded head still catches it.
    expect(await at([{ seq: 5, hash: c[4]!.hash }], c.slice(0, 4))).toMatchObject({ ok: false, seq: 5, reason: 'truncated' });
    // A chain rewritten from entry 2 on, every hash recomputed: only a recorded head can tell.
    const forged: AuditEntry[] = [c[0]!];
    for (let i = 2; i <= 5; i++) forged.push(chainEntry(forged.at(-1)!, { ...fields(i), actor: 'eve' }));
    expect(await at([], forged)).toMatchObject({ ok: true });
    expect(await at([{ seq: 3, hash: c[2]!.hash }], forged)).toMatchObject({ ok: false, seq: 3, reason: 'edited' });
  });
});

describe('AuditLog anchor writes', () => {
  it('never anchors an older head after a newer one when appends finish out of order', async () => {
    // A pooled store commits appends in order but may hand the results back in any order.
    const entries: AuditEntry[] = [];
    const release = new Map<number, () => void>();
    const store: AuditStore = {
      append: async (build) => {
        const e = build(entries.at(-1) ?? null);
        entries.push(e);
        await new Promise<void>((r) => release.set(e.seq, r));
        return e;
      },
      list: async () => entries,
      scan: async function* () {
        yield* entries;
      },
      byHash: async (h) => entries.find((e) => e.hash === h),
    };
    const advanced: number[] = [];
    let head: AuditHead | null = null;
    const anchor: AuditAnchor = { read: async () => head, advance: async (h) => void (advanced.push(h.seq), (head = h)) };
    const clock = { now: () => new Date('2026-01-01T00:00:00Z') };
    const log = new AuditLog({ store, anchor, clock });
    const records = [1, 2, 3, 4].map((i) => log.record({ actor: 'alice', action: 'task.create', resource: `task/t${i}`, outcome: 'ok' }));
    await until(() => release.size === 4);
    for (const seq of [3, 1, 4, 2]) {
      release.get(seq)!();
      await new Promise((r) => setImmediate(r));
    }
    expect((await Promise.all(records)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(advanced).toEqual([...advanced].sort((a, b) => a - b));
    expect(advanced.at(-1)).toBe(4);
    expect(await log.verify()).toMatchObject({ ok: true, head: { seq: 4 } });
  });
});

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setImmediate(r));
  expect(cond()).toBe(true);
}
