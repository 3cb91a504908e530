import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NodeReports, parseManifest, type Fleet, type NodeView, type SandboxRuntime, type SandboxSpec } from '@aiflock/core';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { testReconciler } from './reconciler-harness.js';

/**
 * On a flock whose only node is the control plane's, instances run there without the planner,
 * as always, except those asking for GPUs: they are weighed against what the node reports, so
 * one the node cannot give waits with the reason instead of failing to start (Docker finding no
 * NVIDIA device). This happens when the GPU nodes it was admitted for are gone.
 */
let dir: string;
let store: SqlStore;
const started: SandboxSpec[] = [];

const runtime: SandboxRuntime = {
  kind: 'recording',
  capabilities: { network: 'none', egressProxy: false, quarantineCutsNetwork: false, operatorProfile: false, survivesRestart: true, weakerThanContainers: false, exec: false, gpus: true },
  init: async () => undefined,
  start: async (spec) => {
    started.push(spec);
    return { instanceId: spec.instanceId, agent: spec.agent, handle: spec.instanceId, state: 'running', exitCode: null, oomKilled: false, startedAt: new Date().toISOString(), manifestDigest: spec.manifestDigest, node: 'cp' };
  },
  stop: async () => undefined,
  remove: async () => undefined,
  list: async () => [],
  ping: async () => ({ ok: true, detail: 'recording' }),
  busUrlForSandboxes: () => 'nats://127.0.0.1:4222',
  quarantine: async () => undefined,
  release: async () => undefined,
  kill: async () => undefined,
};

/** The control plane's node alone, with `gpus` GPUs its runtime can hand on. */
const fleet = (gpus: number): Fleet => ({
  nodes: async (): Promise<NodeView[]> => [
    {
      record: {
        name: 'cp',
        labels: {},
        cordoned: false,
        draining: false,
        capacity: { cpus: 8, memoryBytes: 16 * 1024 ** 3, runtimes: ['docker'], images: [], gpus: Array.from({ length: gpus }, (_, index) => ({ index, name: 'H100', memoryBytes: 1 })), gpuSandboxes: true },
        joinedAt: '2026-01-01T00:00:00Z',
        lastHeartbeatAt: null,
        version: null,
        credentialId: null,
      },
      status: 'ready',
      local: true,
      instances: [],
      allocated: { cpu: 0, memoryBytes: 0, gpus: 0 },
    },
  ],
  reports: new NodeReports(),
  publish: async () => undefined,
});

const reconciler = (gpus: number) => testReconciler({ store, runtime, node: 'cp', fleet: fleet(gpus) });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aiflock-reconciler-gpus-'));
  store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  const { manifest, digest } = parseManifest('name: trainer\nhandlers: [echo]\nresources: { gpus: 1 }\n', 'trainer.agent.yaml');
  const now = new Date().toISOString();
  await store.deployments.upsert({ name: 'trainer', digest, manifest, replicas: 1, state: 'active', createdAt: now, updatedAt: now });
});
afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

it('keeps an instance asking for GPUs waiting on a lone node that has none, and starts it with them where it has', async () => {
  const none = reconciler(0);
  await none.poke();
  expect(started).toEqual([]);
  expect(none.pending('trainer')).toBe('fits no node: node "cp" has no GPUs, 1 asked');
  await none.stop();

  const two = reconciler(2);
  await two.poke();
  expect(started.map((s) => [s.agent, s.resources.gpus])).toEqual([['trainer', 1]]);
  expect(two.pending('trainer')).toBeNull();
  await two.stop();
});
