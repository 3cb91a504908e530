import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SandboxInfo, SandboxRuntime } from '@aiflock/core';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { testReconciler } from './reconciler-harness.js';

/**
 * An instance whose sandbox vanished without the control plane removing it still has what the
 * runtime holds for it on this host (its log volume, its secret files) released — also when its
 * last listing showed it dying (its record then says exited), which CI once caught: the log
 * volume stayed mounted. Released once, not on every pass. A real SQLite store; the runtime is
 * the port's smallest stand-in, recording what it is asked to remove.
 */
let dir: string;
let store: SqlStore;
const removed: string[] = [];
const listed: SandboxInfo[] = [];

const runtime: SandboxRuntime = {
  kind: 'recording',
  capabilities: { network: 'none', egressProxy: false, quarantineCutsNetwork: false, operatorProfile: false, survivesRestart: true, weakerThanContainers: false, exec: false, gpus: false },
  init: async () => undefined,
  start: async () => {
    throw new Error('nothing is deployed: nothing should start');
  },
  stop: async () => undefined,
  remove: async (id) => void removed.push(id),
  list: async () => listed,
  ping: async () => ({ ok: true, detail: 'recording' }),
  busUrlForSandboxes: () => 'nats://127.0.0.1:4222',
  quarantine: async () => undefined,
  release: async () => undefined,
  kill: async () => undefined,
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aiflock-reconciler-'));
  store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
});
afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

it('releases what a vanished sandbox held, whatever its record says, once', async () => {
  const record = { handle: null, startedAt: new Date().toISOString(), lastHeartbeatAt: null, exitCode: null, oomKilled: false };
  await store.instances.upsert({ ...record, id: 'echo-dyingaaa', agent: 'echo', status: 'exited', node: 'here' });
  await store.instances.upsert({ ...record, id: 'echo-byhandbb', agent: 'echo', status: 'running', node: 'here' });
  // On another host: its node releases what it held there, not this one.
  await store.instances.upsert({ ...record, id: 'echo-elsewhre', agent: 'echo', status: 'exited', node: 'there' });
  const reconciler = testReconciler({ store, runtime, node: 'here' });
  await reconciler.poke();
  expect(removed.sort()).toEqual(['echo-byhandbb', 'echo-dyingaaa']);
  // The dead one's record stays for people to see (exit code); the one removed by hand goes.
  expect((await store.instances.list()).map((i) => i.id).sort()).toEqual(['echo-dyingaaa', 'echo-elsewhre']);
  await reconciler.poke();
  await reconciler.poke();
  expect(removed.sort()).toEqual(['echo-byhandbb', 'echo-dyingaaa']);
  await reconciler.stop();
});
