import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FlockError, hashSecret, NodeService, type Clock } from '@aiflock/core';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { parseNvidiaSmi } from '../src/nodes/host-capacity.js';

/** The node service on a real SQLite store, with a clock the test moves. */
let dir: string;
let store: SqlStore;
let now: Date;
const clock: Clock = { now: () => now };
const revoked: string[] = [];
const capacity = { cpus: 8, memoryBytes: 16 * 1024 ** 3, runtimes: ['docker'], images: [], gpus: [] };
let nodes: NodeService;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aiflock-nodes-'));
  store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  now = new Date('2026-12-07T00:00:00Z');
  revoked.length = 0;
  let n = 0;
  nodes = new NodeService({
    store,
    clock,
    local: { name: 'cp', labels: { zone: 'a' }, capacity: async () => capacity },
    credentials: { issue: async (node) => ({ id: `U${++n}`, creds: `creds of ${node}` }), revoke: async (id, node) => void revoked.push(`${node}:${id}`) },
    lostAfterMs: 10_000,
    log: () => undefined,
  });
  await nodes.ensureLocal();
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const code = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof FlockError ? err.code : String(err);
  }
};

describe('node join tokens', () => {
  it('are stored as their hash only', async () => {
    const t = await nodes.createToken({ ttlSeconds: 60, singleUse: true, by: 'admin' });
    const row = await store.db.selectFrom('node_join_tokens').selectAll().executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(t.token);
    expect(row.hash).toBe(hashSecret(t.token));
  });

  it('are refused once expired, changing nothing', async () => {
    const t = await nodes.createToken({ ttlSeconds: 60, singleUse: false, by: 'admin' });
    now = new Date(now.getTime() + 61_000);
    expect(await code(nodes.join({ token: t.token, name: 'west', labels: {} }))).toBe('join_token_invalid');
    expect(await store.nodes.get('west')).toBeUndefined();
  });

  it('single-use: one of two joins racing with it wins', async () => {
    const t = await nodes.createToken({ ttlSeconds: 60, singleUse: true, by: 'admin' });
    const results = await Promise.all(['west', 'east'].map((name) => code(nodes.join({ token: t.token, name, labels: {} }))));
    expect(results.sort()).toEqual(['join_token_invalid', 'ok']);
    expect((await store.nodes.list()).map((n) => n.name).sort()).toHaveLength(2);
  });

  it('a reusable token joins several hosts until it expires, but never under a taken or the local name', async () => {
    const t = await nodes.createToken({ ttlSeconds: 60, singleUse: false, by: 'admin' });
    expect((await nodes.join({ token: t.token, name: 'west', labels: { zone: 'w' } })).creds).toBe('creds of west');
    expect(await code(nodes.join({ token: t.token, name: 'east', labels: {} }))).toBe('ok');
    expect(await code(nodes.join({ token: t.token, name: 'west', labels: {} }))).toBe('node_name_taken');
    expect(await code(nodes.join({ token: t.token, name: 'cp', labels: {} }))).toBe('node_is_local');
    expect((await nodes.get('west')).record.credentialId).toBe('U1');
  });
});

describe('nodes', () => {
  it('are pending until they heartbeat, ready while they do, lost after the grace period', async () => {
    const t = await nodes.createToken({ ttlSeconds: 60, singleUse: true, by: 'admin' });
    await nodes.join({ token: t.token, name: 'west', labels: {} });
    expect((await nodes.get('west')).status).toBe('pending');
    expect(await nodes.heartbeat('west', { ts: 'whatever its clock says', capacity, version: '0.1.0' })).toBe(true);
    expect((await nodes.get('west')).status).toBe('ready');
    expect((await nodes.get('west')).record.capacity).toEqual(capacity);
    now = new Date(now.getTime() + 11_000);
    expect((await nodes.get('west')).status).toBe('lost');
    // The control plane's own node is always ready; heartbeats naming it or unknown nodes are ignored.
    expect((await nodes.get('cp')).status).toBe('ready');
    expect(await nodes.heartbeat('cp', { ts: '', capacity, version: 'x' })).toBe(false);
    expect(await nodes.heartbeat('ghost', { ts: '', capacity, version: 'x' })).toBe(false);
  });

  it('count a heartbeat from its arrival, however long it waits to be stored', async () => {
    const t = await nodes.createToken({ ttlSeconds: 60, singleUse: true, by: 'admin' });
    await nodes.join({ token: t.token, name: 'west', labels: {} });
    await nodes.heartbeat('west', { ts: '', capacity, version: '0.1.0' });
    const first = (await nodes.get('west')).record.lastHeartbeatAt;
    // 9 s later one arrives; the store is busy and records it only 6 s after that.
    now = new Date(now.getTime() + 9_000);
    nodes.noteArrival('west');
    const arrivedAt = now.toISOString();
    now = new Date(now.getTime() + 6_000);
    expect((await nodes.get('west')).record.lastHeartbeatAt).toBe(first);
    expect((await nodes.get('west')).status).toBe('ready');
    await nodes.heartbeat('west', { ts: '', capacity, version: '0.1.0' });
    expect((await nodes.get('west')).record.lastHeartbeatAt).toBe(arrivedAt);
    // Silence after that arrival still makes it lost.
    now = new Date(Date.parse(arrivedAt) + 11_000);
    expect((await nodes.get('west')).status).toBe('lost');
  });

  it('cordon, drain, labels and removal (which revokes the node credentials)', async () => {
    const t = await nodes.createToken({ ttlSeconds: 60, singleUse: true, by: 'admin' });
    await nodes.join({ token: t.token, name: 'west', labels: { zone: 'w' } });
    expect((await nodes.drain('west')).record).toMatchObject({ cordoned: true, draining: true });
    expect((await nodes.cordon('west', false)).record).toMatchObject({ cordoned: false, draining: false });
    expect((await nodes.label('west', { disk: 'ssd', zone: null })).record.labels).toEqual({ disk: 'ssd' });
    expect(await code(nodes.remove('cp'))).toBe('node_is_local');
    await nodes.remove('west');
    expect(revoked).toEqual(['west:U1']);
    expect(await code(nodes.get('west'))).toBe('node_not_found');
  });

  it('keeps people-set labels of the local node and lays the configured ones over them', async () => {
    await nodes.label('cp', { rack: '7', zone: 'z' });
    await nodes.ensureLocal();
    expect((await nodes.get('cp')).record.labels).toEqual({ rack: '7', zone: 'a' });
  });
});

describe('GPUs', () => {
  it('are read from nvidia-smi CSV', () => {
    expect(parseNvidiaSmi('0, NVIDIA H100 80GB HBM3, 81559\n1, NVIDIA H100 80GB HBM3, 81559\n')).toEqual([
      { index: 0, name: 'NVIDIA H100 80GB HBM3', memoryBytes: 81559 * 1024 ** 2 },
      { index: 1, name: 'NVIDIA H100 80GB HBM3', memoryBytes: 81559 * 1024 ** 2 },
    ]);
    expect(parseNvidiaSmi('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.')).toEqual([]);
  });
});
