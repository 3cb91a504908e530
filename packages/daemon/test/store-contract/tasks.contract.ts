import { describe, expect, it } from 'vitest';
import { newTaskId, type Store } from '@aiflock/core';
import { task } from './fixtures.js';

export function contract(open: () => Promise<Store>): void {
  describe('tasks and logs', () => {
    it('returns the existing task for a reused idempotency key', async () => {
      const store = await open();
      const first = await store.tasks.insert(task({ idempotencyKey: 'k1' }));
      const again = await store.tasks.insert(task({ idempotencyKey: 'k1', requestHash: 'h2' }));
      expect(first.inserted).toBe(true);
      expect(again.inserted).toBe(false);
      expect(again.task.id).toBe(first.task.id);
      expect(again.task.input).toEqual({ hello: 'flock', n: [1, 2] });
      // The same key for another agent is another task.
      expect((await store.tasks.insert(task({ idempotencyKey: 'k1', agent: 'other' }))).inserted).toBe(true);
    });

    it('keeps one task under 50 concurrent inserts with the same idempotency key', async () => {
      const store = await open();
      const results = await Promise.all(Array.from({ length: 50 }, () => store.tasks.insert(task({ idempotencyKey: 'same' }))));
      expect(results.filter((r) => r.inserted)).toHaveLength(1);
      expect(new Set(results.map((r) => r.task.id)).size).toBe(1);
      expect(await store.tasks.countByStatus()).toEqual({ queued: 1 });
    });

    it('transitions only from the expected statuses (compare-and-set)', async () => {
      const store = await open();
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
      const store = await open();
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
      const store = await open();
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
}
