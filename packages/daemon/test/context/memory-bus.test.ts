import { JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashingEmbedder, MemoryService, extractiveReflector, mountMemoryOps } from '@aiflock/core';
import { RpcReply, subjects } from '@aiflock/protocol';
import { startBusHarness, type BusHarness } from '../bus-harness.js';
import { contextOn, corpusDocuments, fixedClock } from './harness.js';

/**
 * The memory plane's bus ops as the daemon mounts them, through a real nats-server: who is
 * asking comes from the subject (`agent.<instanceId>.rpc.memory.*`), resolved to the agent
 * through the store, never from the payload.
 */
const codec = JSONCodec();
const SCOUT = 'scout-aaaa1111';
const SPY = 'spy-bbbb2222';
let h: BusHarness;
let store: BusHarness['store'];
let nc: NatsConnection;

beforeAll(async () => {
  h = await startBusHarness({
    name: 'membus',
    instances: [
      [SCOUT, 'scout'],
      [SPY, 'spy'],
    ],
    jetstream: true,
    mount: async ({ store, router }) => {
      const { service: context } = await contextOn(store);
      await context.ingest({ collection: 'maps', documents: corpusDocuments().slice(0, 4), delete: [] });
      await context.configureCollection('maps', ['scout']);
      const memory = new MemoryService({ store: store.context, embedder: new HashingEmbedder(256), clock: fixedClock(), reflector: extractiveReflector });
      mountMemoryOps(router, { memory, context });
    },
  });
  store = h.store;
  nc = await h.connect();
}, 60_000);

afterAll(async () => {
  await h?.close();
});

async function call(instanceId: string, service: string, op: string, payload: unknown): Promise<RpcReply> {
  const msg = await nc.request(subjects.rpc(instanceId, service, op), codec.encode(payload), { timeout: 10_000 });
  return RpcReply.parse(codec.decode(msg.data));
}

describe('memory and context over the bus (real nats-server, ops mounted as the daemon does)', () => {
  it('an agent writes, recalls and reflects on its own stream only; identity is the subject', async () => {
    expect(await call(SCOUT, 'memory', 'add', { kind: 'observation', text: 'the ford is passable at dawn', importance: 6 })).toMatchObject({ ok: true, result: { importance: 6 } });
    const mine = await call(SCOUT, 'memory', 'recall', { query: 'ford dawn' });
    expect(mine).toMatchObject({ ok: true, result: { memories: [{ text: 'the ford is passable at dawn', kind: 'observation' }] } });
    expect(await call(SPY, 'memory', 'recall', { query: 'ford dawn' })).toEqual({ ok: true, result: { memories: [] } });
    // Naming another agent in the payload is refused; nothing is written anywhere.
    const forged = await call(SPY, 'memory', 'add', { kind: 'observation', text: 'planted', agent: 'scout' });
    expect(forged).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
    expect(await store.context.memories.count('scout')).toBe(1);
    expect(await store.context.memories.count('spy')).toBe(0);
    // Periodic reflection (the village loop's end of day), on the caller's stream.
    expect(await call(SCOUT, 'memory', 'reflect', {})).toEqual({ ok: true, result: { reflections: 1 } });
    expect((await store.context.memories.list('scout', 1))[0]).toMatchObject({ kind: 'reflection', text: expect.stringContaining('the ford is passable at dawn') });
    expect(await call(SPY, 'memory', 'reflect', {})).toEqual({ ok: true, result: { reflections: 0 } });
    // An instance the store does not know gets nothing.
    expect(await call('ghost-cccc3333', 'memory', 'recall', { query: 'ford' })).toMatchObject({ ok: false, error: { code: 'rpc_unknown_caller' } });
  });

  it('an agent searches only collections shared with it', async () => {
    const ok = await call(SCOUT, 'context', 'search', { q: 'backup the database', collection: 'maps' });
    expect(ok.ok).toBe(true);
    expect((ok as { result: { hits: unknown[] } }).result.hits.length).toBeGreaterThan(0);
    expect(await call(SPY, 'context', 'search', { q: 'backup', collection: 'maps' })).toMatchObject({ ok: false, error: { code: 'context_forbidden' } });
  });
});
