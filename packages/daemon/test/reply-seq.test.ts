import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ReplyRecord } from '@aiflock/core';
import { startPostgres, type TestPostgres } from '../../../testkit/postgres.js';
import type { SqlBackend } from '../src/adapters/store-sql/dialect.js';
import { migrateTo } from '../src/adapters/store-sql/migrations.js';
import { postgresBackend } from '../src/adapters/store-sql/postgres.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { post as boardPost, reply as boardReply } from './store-contract/board-fixtures.js';

/**
 * Board replies are numbered in the order they become visible (`seq`), the position a
 * villager's perception cursor keeps: replies already stored when the numbering arrives are
 * numbered by time, and on PostgreSQL a reply that commits late is still numbered after every
 * reply a reader could already see, so a reader past N never has a reply appear below N.
 */
const post = boardPost('post_a', 'agent:ann');
const reply = (id: string): ReplyRecord => boardReply(id, 'post_a', 'human:carol', 1_000);

async function poll(check: () => Promise<boolean>, what: string): Promise<void> {
  for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 20))) if (await check()) return;
  throw new Error(`gave up waiting for ${what}`);
}

describe('board reply numbering', () => {
  describe('over replies written before it existed', () => {
    let dir: string;
    let pg: TestPostgres;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'aiflock-reply-seq-'));
      pg = await startPostgres();
    }, 60_000);
    afterAll(async () => {
      await pg?.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const cases: { name: string; open: () => Promise<{ backend: SqlBackend; done: () => Promise<void> }> }[] = [
      { name: 'sqlite', open: async () => ({ backend: sqliteBackend(join(dir, `${Math.random()}.db`)), done: async () => undefined }) },
      {
        name: 'postgres',
        open: async () => {
          const db = await pg.createDatabase('seq');
          return { backend: await postgresBackend({ url: db.url, poolSize: 2, connectTimeoutMs: 5_000 }), done: () => pg.dropDatabase(db.name) };
        },
      },
    ];
    for (const c of cases) {
      it(`${c.name}: numbers them by time, then numbers new ones after them`, async () => {
        const { backend, done } = await c.open();
        await migrateTo(backend, '0009_llm_counters');
        await backend.db.insertInto('board_posts').values({ id: post.id, author_type: 'agent', author_id: post.authorId, audience: 'public', title: 't', body: 'b', tags: '[]', status: 'open', bounty: 0, moderation: 'null', created_at: post.createdAt, updated_at: post.updatedAt }).execute();
        for (const [id, at] of [['reply_c', '2026-06-01T00:00:02.000Z'], ['reply_b', '2026-06-01T00:00:01.000Z'], ['reply_a', '2026-06-01T00:00:02.000Z']] as const) {
          await backend.db.insertInto('board_replies').values({ id, post_id: post.id, author_type: 'human', author_id: 'human:carol', body: id, created_at: at }).execute();
        }
        const store = await SqlStore.open(backend);
        try {
          await store.board.insertReply(reply('reply_0'));
          const got = await store.perception.repliesAfter('ann', 0, 10);
          expect(got.map((r) => [r.replyId, r.seq])).toEqual([['reply_b', 1], ['reply_a', 2], ['reply_c', 3], ['reply_0', 4]]);
          // Those went with the restart that migrated (they were kept in memory): a villager who posted starts past them.
          expect(await store.perception.cursor('ann')).toEqual({ tick: 0, replySeq: 3 });
          expect((await store.perception.repliesAfter('ann', 3, 10)).map((r) => r.replyId)).toEqual(['reply_0']);
        } finally {
          await store.close();
          await done();
        }
      });
    }
  });

  describe('on PostgreSQL, with writers in parallel', () => {
    let pg: TestPostgres;
    let db: { name: string; url: string };
    let store: SqlStore;
    beforeAll(async () => {
      pg = await startPostgres();
    }, 60_000);
    afterAll(async () => {
      await pg?.stop();
    });
    beforeEach(async () => {
      db = await pg.createDatabase('seq');
      store = await SqlStore.open(await postgresBackend({ url: db.url, poolSize: 4, connectTimeoutMs: 5_000 }));
      await store.board.insertPost(post);
    });
    afterEach(async () => {
      await store.close();
      await pg.dropDatabase(db.name);
    });

    it('a reply that commits late is numbered after every reply a reader could already see', async () => {
      let inserted!: () => void;
      let commit!: () => void;
      const aInserted = new Promise<void>((r) => (inserted = r));
      const aMayCommit = new Promise<void>((r) => (commit = r));
      // Reply A is written first but its transaction stays open.
      const a = store.db.transaction().execute(async (trx) => {
        await trx.insertInto('board_replies').values({ id: 'reply_a', post_id: post.id, author_type: 'human', author_id: 'human:carol', body: 'a', created_at: post.createdAt }).execute();
        inserted();
        await aMayCommit;
      });
      await aInserted;
      // Reply B is written next, on another connection, and either commits at once or waits for A.
      let bDone = false;
      const b = store.board.insertReply(reply('reply_b')).then(() => (bDone = true));
      const waiting = async () =>
        Number((await sql<{ n: string }>`select count(*) as n from pg_locks where locktype = 'advisory' and not granted`.execute(store.db)).rows[0]!.n) > 0;
      await poll(async () => bDone || (await waiting()), 'reply B to commit or to wait for reply A');
      const seen = await store.perception.repliesAfter('ann', 0, 10);
      commit();
      await Promise.all([a, b]);
      const all = await store.perception.repliesAfter('ann', 0, 10);
      expect(all.map((r) => r.replyId)).toEqual(['reply_a', 'reply_b']);
      // What the reader saw while A was open is where a cursor would stand: nothing may come before it later.
      expect(all.slice(0, seen.length)).toEqual(seen);
    });
  });
});
