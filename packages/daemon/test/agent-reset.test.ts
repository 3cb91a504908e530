import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentRestarts, parseManifest, systemClock } from '@aiflock/core';
import type { AgentView } from '@aiflock/protocol';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';

/*
 * `aiflock agent reset` on a real SQLite store: every memory of the agent is forgotten (more
 * than one page of them), no other agent's, and the agent is active again afterwards. The
 * runtime only records which instances it was asked to stop: starting the successors is the
 * reconciler's (the CLI test test/cli-operate.test.ts resets a running agent end to end).
 */
let dir: string;
let store: SqlStore;
const stopped: string[] = [];
const poked: number[] = [];

const memory = (agent: string, i: number) => ({ id: `m_${agent}_${String(i).padStart(5, '0')}`, agent, kind: 'observation' as const, text: `${agent} saw ${i}`, importance: 3, createdAt: new Date(i).toISOString(), lastAccessedAt: new Date(i).toISOString(), model: 'hashing', embedding: [0.1, 0.2] });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aiflock-reset-'));
  store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  for (const name of ['alpha', 'beta']) {
    const { manifest, digest } = parseManifest(`name: ${name}\n`);
    await store.deployments.upsert({ name, digest, manifest, replicas: 1, state: 'active', owner: 'tok_owner', createdAt: 'a', updatedAt: 'b' });
  }
  await store.instances.upsert({ id: 'alpha-aaaaaaaa', agent: 'alpha', status: 'running', handle: 'c1', node: 'n', startedAt: 'a', lastHeartbeatAt: null, exitCode: null, oomKilled: false });
  for (let i = 0; i < 1_100; i++) await store.context.memories.add(memory('alpha', i));
  for (let i = 0; i < 3; i++) await store.context.memories.add(memory('beta', i));
});

afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

const restarts = () =>
  new AgentRestarts({
    store,
    memories: store.context.memories,
    runtime: { stop: async (id) => void stopped.push(id) },
    deployments: {
      require: async (name) => (await store.deployments.get(name))!,
      get: async (name) => ({ name }) as AgentView,
    },
    clock: systemClock,
    wipeWorkspace: async () => true,
    poke: () => void poked.push(1),
    graceMs: 1_000,
  });

describe('agent reset', () => {
  it('refuses someone who is neither the owner nor an admin, changing nothing', async () => {
    await expect(restarts().reset('alpha', { id: 'tok_mallory', admin: false })).rejects.toMatchObject({ code: 'agent_access_denied' });
    expect(await store.context.memories.count('alpha')).toBe(1_100);
    expect(stopped).toEqual([]);
  });

  it("forgets every memory of the agent and none of another's, stops its instances and leaves it active", async () => {
    const out = await restarts().reset('alpha', { id: 'tok_owner', admin: false });
    expect(out).toMatchObject({ replaced: ['alpha-aaaaaaaa'], memoriesForgotten: 1_100, workspaceWiped: true });
    expect(await store.context.memories.count('alpha')).toBe(0);
    expect(await store.context.memories.count('beta')).toBe(3);
    expect(stopped).toEqual(['alpha-aaaaaaaa']);
    expect((await store.deployments.get('alpha'))?.state).toBe('active');
    expect(poked.length).toBeGreaterThan(0);
  });

  it('refuses a stopped agent (nothing to restart) with agent_stopped', async () => {
    const rec = (await store.deployments.get('beta'))!;
    await store.deployments.upsert({ ...rec, state: 'stopped' });
    await expect(restarts().reset('beta', { id: 'tok_owner', admin: true })).rejects.toMatchObject({ code: 'agent_stopped' });
    expect(await store.context.memories.count('beta')).toBe(3);
  });
});
