import type { Socket } from 'node:net';
import { WorldMessage } from '@aiflock/protocol';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { WorldFeed } from '../../src/world/feed.js';
import { startWorldApi, until } from './harness.js';

/**
 * A watcher that stops reading must not make the daemon buffer deltas without bound, and
 * when it reads again it must get a fresh snapshot, never a gap. The client here really stops
 * reading (its TCP socket is paused), so the server's send buffer fills as it would for a
 * slow browser. Ticks are driven by hand so the test decides how much is sent.
 */
let api: Awaited<ReturnType<typeof startWorldApi>>;
const N = 300;

beforeAll(async () => {
  api = await startWorldApi({ wsBufferLimitBytes: 256 * 1024 }, { start: false });
  const host = api.world.api.host;
  const joined = Array.from({ length: N }, (_, i) => host.submit({ kind: 'join', name: `v${i}`, policy: 'rules', model: null, home: null, status: 'active' }));
  host.tick();
  await Promise.all(joined);
});
afterAll(async () => api?.close());

/** One tick in which every villager changes its activity to a long line (~80 KB of deltas). */
async function busyTick(t: number) {
  const host = api.world.api.host;
  const done = Array.from({ length: N }, (_, i) => host.submit({ kind: 'act', name: `v${i}`, action: { type: 'do', activity: `${t} ${'busy '.repeat(38)}` } }));
  host.tick();
  await Promise.all(done);
}

it('a lagging client gets a fresh snapshot instead of the deltas it missed, and no gap', async () => {
  const ws = new WebSocket(`${api.url.replace('http', 'ws')}/v1/ws/world`, { headers: { authorization: `Bearer ${api.adminToken}` } });
  const messages: WorldMessage[] = [];
  ws.on('message', (d) => messages.push(WorldMessage.parse(JSON.parse(String(d)))));
  await until(() => messages.length === 1, 'the first snapshot');
  await busyTick(0);
  await until(() => messages.length === 2, 'the first delta');

  // Stop reading: from here the server's buffer for this socket grows.
  const tcp = (ws as unknown as { _socket: Socket })._socket;
  tcp.pause();
  const feed = [...api.world.api.watchers][0] as WorldFeed;
  let produced = 0;
  for (let t = 1; t <= 400 && feed.resyncs === 0 && !feed.lagging; t++) {
    await busyTick(t);
    produced++;
  }
  expect(feed.lagging).toBe(true);
  // More ticks while it lags: none of these are queued for it.
  for (let t = 0; t < 20; t++) await busyTick(1000 + t);
  produced += 20;

  tcp.resume();
  // It drains, and the fresh snapshot comes without waiting for the world to change again.
  await until(() => feed.resyncs === 1 && messages.some((m, i) => i > 1 && m.type === 'snapshot'), 'the fresh snapshot');
  expect(feed.lagging).toBe(false);
  for (let t = 0; t < 3; t++) await busyTick(2000 + t);
  await until(() => messages.at(-1)?.type === 'delta', 'a delta after it');

  const second = messages.findIndex((m, i) => i > 1 && m.type === 'snapshot');
  const before = messages.slice(0, second);
  const after = messages.slice(second);
  // Before the resync: deltas with no gap; then a snapshot past the ones skipped; then no gap again.
  const seqOf = (m: WorldMessage) => (m.type === 'delta' ? m.delta.seq : m.snapshot.seq);
  const contiguous = (ms: WorldMessage[]) => ms.slice(1).every((m, i) => m.type === 'delta' && m.delta.seq === seqOf(ms[i]!) + 1);
  expect(contiguous(before)).toBe(true);
  expect(contiguous(after)).toBe(true);
  expect(seqOf(after[0]!)).toBeGreaterThan(seqOf(before.at(-1)!) + 1); // deltas were skipped, not queued
  expect(before.length - 1 + (after.length - 1)).toBeLessThan(produced + 1);
  const snap = after[0]!.type === 'snapshot' ? after[0]!.snapshot : null;
  expect(snap?.villagers.length).toBe(N);
  ws.close();
});

