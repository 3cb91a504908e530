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
