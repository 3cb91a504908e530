import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, type Store } from '@aiflock/core';
import { HmacFileAnchor } from '../../src/adapters/audit-anchor/hmac-file-anchor.js';
import type { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { task } from './fixtures.js';

/**
 * The task path's writes are committed in groups (many writes, one transaction). What must
 * still hold: a write is acknowledged only once committed (another connection sees it), a
 * bad write fails alone, and the audit chain links every entry appended concurrently.
 */
export function contract(open: () => Promise<Store>): void {
  describe('group commit', { timeout: 60_000 }, () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'aiflock-group-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('acknowledges a write only once it is committed: a second connection sees each at once', async () => {
      const writer = await open();
      // Another store on the same database: its own connection (pool), so it sees only commits.
      const reader = await open();
      const misses: string[] = [];
      await Promise.all(
        Array.from({ length: 60 }, async (_, i) => {
          const t = task();
          await writer.tasks.insert(t);
          await writer.jobEvents.append([{ jobId: t.id, type: 'status', ts: t.createdAt, payload: { i } }]);
          if (!(await reader.tasks.get(t.id))) misses.push(`task ${t.id}`);
          if ((await reader.jobEvents.list({ jobId: t.id, limit: 5 })).length !== 1) misses.push(`event of ${t.id}`);
        }),
      );
      expect(misses).toEqual([]);
    });

    it('fails only the bad write of a group; the others in the same moment commit', async () => {
      const store = await open();
      const taken = task();
      await store.tasks.insert(taken);
      // Same primary key, another idempotency identity: the insert itself fails (not a "do nothing").
      const clash = { ...task(), id: taken.id, agent: 'other' };
      const good = Array.from({ length: 20 }, () => task());
      const outcomes = await Promise.allSettled([...good.slice(0, 10).map((t) => store.tasks.insert(t)), store.tasks.insert(clash), ...good.slice(10).map((t) => store.tasks.insert(t))]);
      expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(1);
      expect(outcomes[10]!.status).toBe('rejected');
      for (const t of good) expect((await store.tasks.get(t.id))?.id).toBe(t.id);
      expect((await store.tasks.get(taken.id))!.agent).toBe('echo');
    });

    it('commits a status change with its log line and job events as one write: all together, or none of them', async () => {
      const store = await open();
      const reader = await open();
      const tasks = Array.from({ length: 40 }, () => task());
      await Promise.all(tasks.map((t) => store.tasks.insert(t)));
      // 40 starts at once, each its transition, its log line and their job events.
      const moved = await Promise.all(
        tasks.map((t) =>
          store.together(t.id, async (w) => {
            const m = await w.tasks.transition(t.id, ['queued'], { status: 'running', instanceId: 'echo-abcdefgh' });
            if (m) await w.logs.append([{ ts: new Date().toISOString(), level: 'info', msg: `started ${t.id}`, agent: t.agent, instanceId: 'echo-abcdefgh', taskId: t.id }]);
            if (m) await w.jobEvents.append([{ jobId: t.id, type: 'status', ts: t.createdAt, payload: { status: 'running' } }]);
            return m;
          }),
        ),
      );
      // Acknowledged means committed: another connection sees every part of every one.
      expect(moved.map((m) => m?.status)).toEqual(tasks.map(() => 'running'));
      for (const t of tasks) {
        expect((await reader.tasks.get(t.id))?.status).toBe('running');
        expect((await reader.logs.list({ taskId: t.id, limit: 5 })).map((l) => l.msg)).toEqual([`started ${t.id}`]);
        expect((await reader.jobEvents.list({ jobId: t.id, limit: 5 })).map((e) => e.payload)).toEqual([{ status: 'running' }]);
      }

      // A write that fails half way (its log line violates a column's NOT NULL) leaves nothing
      // of itself, not even the transition it made first; the others of its group commit.
      const [bad, ...good] = Array.from({ length: 5 }, () => task());
      await Promise.all([bad!, ...good].map((t) => store.tasks.insert(t)));
      const outcomes = await Promise.allSettled(
        [bad!, ...good].map((t) =>
          store.together(t.id, async (w) => {
            await w.tasks.transition(t.id, ['queued'], { status: 'running', instanceId: 'echo-abcdefgh' });
            const msg = t === bad ? (null as unknown as string) : 'ok';
            await w.logs.append([{ ts: new Date().toISOString(), level: 'info', msg, agent: t.agent, instanceId: 'echo-abcdefgh', taskId: t.id }]);
          }),
        ),
      );
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', ...good.map(() => 'fulfilled')]);
      expect((await reader.tasks.get(bad!.id))?.status).toBe('queued');
      expect(await reader.logs.list({ taskId: bad!.id, limit: 5 })).toEqual([]);
      for (const t of good) expect((await reader.tasks.get(t.id))?.status).toBe('running');
    });

    it('links 300 audit entries appended at once with task writes in between, and verify still finds an edit', async () => {
      const store = await open();
      const audit = new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(dir), clock: { now: () => new Date() } });
      const entries = await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const t = task();
          await store.tasks.insert(t);
          const e = await audit.record({ actor: 'alice', action: 'task.create', resource: `task/${t.id}`, outcome: 'ok', details: { i } });
          await store.tasks.transition(t.id, ['queued'], { status: 'running', instanceId: 'echo-abcdefgh' });
          return e;
        }),
      );
      expect(entries.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(await audit.verify()).toMatchObject({ ok: true, entries: 300 });
      expect(await store.tasks.countByStatus()).toEqual({ running: 300 });

      // The attacker edits one entry in the middle: the chain breaks there.
      await (store as SqlStore).db.updateTable('audit_log').set({ actor: 'mallory' }).where('seq', '=', 150).execute();
      const verdict = await audit.verify();
      expect(verdict.ok).toBe(false);
      expect(verdict).toMatchObject({ ok: false, seq: 150, reason: 'edited' });
    });
  });
}
