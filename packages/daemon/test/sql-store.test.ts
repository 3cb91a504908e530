import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newTaskId, parseManifest, type TaskRecord } from '@aiflock/core';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';

let dir: string;
let store: SqlStore;

const task = (over: Partial<TaskRecord> = {}): TaskRecord => ({
  id: newTaskId(new Date()),
  agent: 'echo',
  type: 'echo',
  status: 'queued',
  input: { hello: 'flock', n: [1, 2] },
  result: null,
  output: null,
  error: null,
  attempt: 1,
  maxAttempts: 3,
  instanceId: null,
  idempotencyKey: null,
  requestHash: 'h1',
  createdAt: new Date().toISOString(),
  startedAt: null,
  finishedAt: null,
  deadline: new Date(Date.now() + 60_000).toISOString(),
  queueSeq: null,
  ...over,
});

describe('SQL store on SQLite', () => {
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiflock-store-'));
    store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('migrates once and reopens the same data', async () => {
    const { manifest, digest } = parseManifest('name: echo\n');
    await store.deployments.upsert({ name: 'echo', digest, manifest, replicas: 2, state: 'active', createdAt: 'a', updatedAt: 'b' });
    await store.close();
    store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
    expect(await store.deployments.get('echo')).toMatchObject({ digest, replicas: 2, manifest: { name: 'echo' } });
  });

  it('returns the existing task for a reused idempotency key', async () => {
    const first = await store.tasks.insert(task({ idempotencyKey: 'k1' }));
    const again = await store.tasks.insert(task({ idempotencyKey: 'k1', requestHash: 'h2' }));
    expect(first.inserted).toBe(true);
    expect(again.inserted).toBe(false);
    expect(again.task.id).toBe(first.task.id);
    expect(again.task.input).toEqual({ hello: 'flock', n: [1, 2] });
    // The same key for another agent is another task.
    expect((await store.tasks.insert(task({ idempotencyKey: 'k1', agent: 'other' }))).inserted).toBe(true);
  });

  it('transitions only from the expected statuses (compare-and-set)', async () => {
    const { task: t } = await store.tasks.insert(task());
    expect(await store.tasks.transition(t.id, ['running'], { status: 'completed' })).toBeUndefined();
    const running = await store.tasks.transition(t.id, ['queued'], { status: 'running', instanceId: 'echo-abcdefgh' });
    expect(running).toMatchObject({ status: 'running', instanceId: 'echo-abcdefgh', input: t.input });
    const done = await store.tasks.transition(t.id, ['running'], { status: 'completed', output: { ok: true }, result: 'ok' });
    expect(done).toMatchObject({ status: 'completed', output: { ok: true } });
    expect(await store.tasks.transition(t.id, ['queued', 'running'], { status: 'cancelled' })).toBeUndefined();
    expect((await store.tasks.get(t.id))!.status).toBe('completed');
  });

  it('lists newest first with a cursor, and finds overdue tasks', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const t = task({ id: newTaskId(new Date(Date.now() + i)), deadline: new Date(Date.now() - 1000 * (i + 1)).toISOString() });
      ids.push((await store.tasks.insert(t)).task.id);
    }
    const page = await store.tasks.list({ limit: 2 });
    expect(page.map((t) => t.id)).toEqual([ids[4], ids[3]]);
    expect((await store.tasks.list({ limit: 10, before: ids[3] })).map((t) => t.id)).toEqual([ids[2], ids[1], ids[0]]);
    expect(await store.tasks.overdue(new Date().toISOString(), 3)).toHaveLength(3);
    expect(await store.tasks.countByStatus()).toEqual({ queued: 5 });
  });

  it('appends logs in order and reads a tail or a follow window', async () => {
    await store.logs.append(
      Array.from({ length: 5 }, (_, i) => ({ ts: `2026-01-01T00:00:0${i}Z`, level: 'info' as const, msg: `line ${i}`, agent: 'echo', instanceId: 'echo-abcdefgh', taskId: i % 2 ? 't_x' : null })),
    );
    const tail = await store.logs.list({ agent: 'echo', limit: 2, tail: true });
    expect(tail.map((l) => l.msg)).toEqual(['line 3', 'line 4']);
    const after = await store.logs.list({ agent: 'echo', afterSeq: tail[0]!.seq, limit: 10 });
    expect(after.map((l) => l.msg)).toEqual(['line 4']);
    expect((await store.logs.list({ taskId: 't_x', limit: 10 })).map((l) => l.msg)).toEqual(['line 1', 'line 3']);
  });
});
