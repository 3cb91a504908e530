import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, auditHash, chainEntry, verifyAuditChain, type AuditEntry, type Store } from '@aiflock/core';
import { HmacFileAnchor } from '../../src/adapters/audit-anchor/hmac-file-anchor.js';
import type { SqlStore } from '../../src/adapters/store-sql/sql-store.js';

/**
 * The audit table through the AuditLog service, and the attacker's view of it: direct SQL
 * on the table (the same statements on every backend), which `verify` must catch and locate.
 */
export function contract(open: () => Promise<Store>): void {
  describe('audit log', () => {
    let dir: string;
    let store: Store;
    let audit: AuditLog;
    let t = Date.parse('2026-03-01T00:00:00Z');
    const clock = { now: () => new Date((t += 1000)) };
    const raw = () => (store as SqlStore).db;

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'aiflock-audit-'));
      store = await open();
      audit = new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(dir), clock });
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const seed = async (n: number): Promise<AuditEntry[]> => {
      const out: AuditEntry[] = [];
      for (let i = 1; i <= n; i++) {
        out.push(
          await audit.record({
            actor: i % 2 ? 'alice' : 'bob',
            action: i % 3 ? 'agent.deploy' : 'task.cancel',
            resource: i % 3 ? `agent/a${i}` : `task/t${i}`,
            outcome: i === 4 ? 'error' : 'ok',
            requestId: `req-${i}`,
            details: { i, nested: { list: [i, 'x'] } },
          }),
        );
      }
      return out;
    };

    it('concurrent appends share anchor writes, and the anchor always ends at the newest head', async () => {
      const real = new HmacFileAnchor(dir);
      const advanced: number[] = [];
      const counting = { read: () => real.read(), advance: async (h: { seq: number; hash: string }) => (advanced.push(h.seq), real.advance(h)) };
      const batched = new AuditLog({ store: store.audit, anchor: counting, clock });
      const written = await Promise.all(Array.from({ length: 40 }, (_, i) => batched.record({ actor: 'alice', action: 'task.create', resource: `task/t${i}`, outcome: 'ok' })));
      const newest = Math.max(...written.map((e) => e.seq));
      expect(advanced.length).toBeLessThan(written.length);
      expect(advanced).toEqual([...advanced].sort((a, b) => a - b));
      expect(await real.read()).toEqual({ seq: newest, hash: written.find((e) => e.seq === newest)!.hash });
      expect((await batched.verify()).ok).toBe(true);
    });

    it('chains entries and reads them back exactly as written', async () => {
      const written = await seed(5);
      expect(written.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(written[1]!.prevHash).toBe(written[0]!.hash);
      const read = await store.audit.list({ limit: 10, ascending: true });
      expect(read).toEqual(written);
      for (const e of read) expect(auditHash(e)).toBe(e.hash);
      expect(await audit.verify()).toMatchObject({ ok: true, entries: 5, head: { seq: 5, hash: written[4]!.hash }, anchored: { seq: 5 } });
    });

    it('filters by actor, action, resource (prefix), time, and pages by seq', async () => {
      const written = await seed(9);
      const seqs = async (f: Parameters<Store['audit']['list']>[0]) => (await store.audit.list(f)).map((e) => e.seq);
      expect(await seqs({ actor: 'bob', limit: 50 })).toEqual([8, 6, 4, 2]);
      expect(await seqs({ action: 'task.cancel', limit: 50 })).toEqual([9, 6, 3]);
      expect(await seqs({ resource: 'task/*', limit: 50, ascending: true })).toEqual([3, 6, 9]);
      expect(await seqs({ resource: 'agent/a1', limit: 50 })).toEqual([1]);
      // `_` and `%` in a prefix are literal characters, not patterns.
      expect(await seqs({ resource: 'agent_*', limit: 50 })).toEqual([]);
      expect(await seqs({ since: written[6]!.ts, limit: 50 })).toEqual([9, 8, 7]);
      expect(await seqs({ until: written[1]!.ts, limit: 50 })).toEqual([1]);
      expect(await seqs({ limit: 3 })).toEqual([9, 8, 7]);
      expect(await seqs({ limit: 3, beforeSeq: 7 })).toEqual([6, 5, 4]);
      expect(await seqs({ limit: 3, afterSeq: 7, ascending: true })).toEqual([8, 9]);
    });

    it('never forks the chain under concurrent appends', async () => {
      const all = await Promise.all(
        Array.from({ length: 40 }, (_, i) => audit.record({ actor: `a${i}`, action: 'agent.scale', resource: 'agent/x', outcome: 'ok' })),
      );
      expect(all.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(new Set(all.map((e) => e.prevHash)).size).toBe(40);
      expect(await audit.verify()).toMatchObject({ ok: true, entries: 40, anchored: { seq: 40 } });
    });

    it('scans and verifies a log longer than one page', async () => {
      const entries: AuditEntry[] = [];
      for (let i = 1; i <= 1234; i++) entries.push(chainEntry(entries.at(-1) ?? null, { ts: `t${i}`, actor: 'a', action: 'x', resource: `r/${i}`, outcome: 'ok', requestId: null, correlationId: null, details: { i } }));
      for (let i = 0; i < entries.length; i += 200) {
        await raw()
          .insertInto('audit_log')
          .values(entries.slice(i, i + 200).map((e) => ({ seq: e.seq, ts: e.ts, actor: e.actor, action: e.action, resource: e.resource, outcome: e.outcome, request_id: null, correlation_id: null, details: JSON.stringify(e.details), prev_hash: e.prevHash, hash: e.hash })))
          .execute();
      }
      let seen = 0;
      for await (const e of store.audit.scan()) expect(e.seq).toBe(++seen);
      expect(seen).toBe(1234);
      const head = { seq: 1234, hash: entries[1233]!.hash };
      expect(await verifyAuditChain({ entries: store.audit.scan(), byHash: (h) => store.audit.byHash(h), anchor: head })).toMatchObject({ ok: true, entries: 1234, head });
      // The next append through the service continues this chain.
      expect(await audit.record({ actor: 'a', action: 'x', resource: 'r', outcome: 'ok' })).toMatchObject({ seq: 1235, prevHash: head.hash });
    });

    it('detects an edited entry and names it', async () => {
      await seed(6);
      await sql`update audit_log set actor = 'mallory' where seq = 3`.execute(raw());
      expect(await audit.verify()).toMatchObject({ ok: false, seq: 3, reason: 'edited' });
    });

    it('detects an edited entry whose hash was recomputed (the next one no longer links)', async () => {
      const written = await seed(6);
      const forged = { ...written[2]!, outcome: 'denied' as const };
      await sql`update audit_log set outcome = 'denied', hash = ${auditHash(forged)} where seq = 3`.execute(raw());
      expect(await audit.verify()).toMatchObject({ ok: false, seq: 3, reason: 'edited' });
    });

    it('detects a deleted entry, in the middle and at the start', async () => {
      await seed(6);
      await sql`delete from audit_log where seq = 4`.execute(raw());
      expect(await audit.verify()).toMatchObject({ ok: false, seq: 4, reason: 'deleted' });
      await sql`delete from audit_log where seq = 1`.execute(raw());
      expect(await audit.verify()).toMatchObject({ ok: false, seq: 1, reason: 'deleted' });
    });

    it('detects reordered entries', async () => {
      await seed(6);
      // Swap entries 2 and 5 through a free seq (the primary key forbids a direct swap).
      await sql`update audit_log set seq = 1000 where seq = 2`.execute(raw());
      await sql`update audit_log set seq = 2 where seq = 5`.execute(raw());
      await sql`update audit_log set seq = 5 where seq = 1000`.execute(raw());
      const v = await audit.verify();
      expect(v).toMatchObject({ ok: false, seq: 2, reason: 'reordered' });
      expect(v.ok || v.message).toContain('written as entry 5');
    });

    it('detects truncation (the newest entries deleted) against the anchor', async () => {
      await seed(6);
      await sql`delete from audit_log where seq >= 5`.execute(raw());
      const v = await audit.verify();
      expect(v).toMatchObject({ ok: false, seq: 5, reason: 'truncated' });
      expect(v.ok || v.message).toContain('5..6');
    });

    it('detects a rewritten tail that reaches the anchored head again', async () => {
      const written = await seed(4);
      // The attacker deletes entry 4 and appends a forged, correctly chained entry 4.
      await sql`delete from audit_log where seq = 4`.execute(raw());
      const forged = { ...written[3]!, actor: 'mallory' };
      await sql`insert into audit_log (seq, ts, actor, action, resource, outcome, request_id, correlation_id, details, prev_hash, hash)
        values (4, ${forged.ts}, 'mallory', ${forged.action}, ${forged.resource}, ${forged.outcome}, null, null, 'null', ${forged.prevHash}, ${auditHash({ ...forged, requestId: null, details: null })})`.execute(raw());
      expect(await audit.verify()).toMatchObject({ ok: false, seq: 4, reason: 'edited' });
    });

    it('detects a forged anchor', async () => {
      await seed(3);
      const file = join(dir, 'audit-head.json');
      const head = JSON.parse(readFileSync(file, 'utf8')) as { seq: number; hash: string; mac: string };
      writeFileSync(file, JSON.stringify({ ...head, seq: 2 }));
      expect(await audit.verify()).toMatchObject({ ok: false, reason: 'anchor_invalid' });
      // And it refuses to paper over it with the next append.
      await audit.record({ actor: 'x', action: 'y', resource: 'z', outcome: 'ok' });
      expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ seq: 2 });
    });
  });
}
