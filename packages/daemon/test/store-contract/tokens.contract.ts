import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashSecret, newTokenId, newTokenSecret, type Store, type TokenRecord } from '@aiflock/core';

const token = (over: Partial<TokenRecord> = {}): TokenRecord => ({
  id: newTokenId(),
  name: 'ci',
  hash: hashSecret(newTokenSecret()),
  scopes: ['jobs:read', 'jobs:write'],
  createdAt: new Date().toISOString(),
  lastUsedAt: null,
  expiresAt: null,
  revoked: false,
  ...over,
});

/** What every Store must do with tokens, sessions and job events; run against each backend. */
export function contract(open: () => Promise<Store>): void {
  describe('tokens, sessions and job events', () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it('stores a token and finds it by id and by hash, never by the secret', async () => {
      const secret = newTokenSecret();
      const t = token({ hash: hashSecret(secret), expiresAt: '2030-01-01T00:00:00.000Z' });
      await store.tokens.insert(t);
      expect(await store.tokens.get(t.id)).toEqual(t);
      expect(await store.tokens.getByHash(hashSecret(secret))).toEqual(t);
      expect(await store.tokens.getByHash(secret)).toBeUndefined();
      expect(await store.tokens.count()).toBe(1);
    });

    it('refuses a second token with the same hash', async () => {
      const t = token();
      await store.tokens.insert(t);
      await expect(store.tokens.insert(token({ hash: t.hash }))).rejects.toThrow();
      expect(await store.tokens.count()).toBe(1);
    });

    it('lists in creation order, revokes (ending its sessions) and records use', async () => {
      const a = token({ name: 'a', createdAt: '2026-01-01T00:00:00.000Z' });
      const b = token({ name: 'b', createdAt: '2026-01-02T00:00:00.000Z' });
      await store.tokens.insert(b);
      await store.tokens.insert(a);
      expect((await store.tokens.list()).map((t) => t.name)).toEqual(['a', 'b']);
      await store.sessions.insert({ hash: hashSecret('cookie'), tokenId: a.id, csrfToken: 'c', createdAt: a.createdAt, expiresAt: '2030-01-01T00:00:00.000Z' });
      expect((await store.sessions.getByHash(hashSecret('cookie')))?.tokenId).toBe(a.id);
      const revoked = await store.tokens.revoke(a.id);
      expect(revoked?.revoked).toBe(true);
      expect((await store.tokens.get(a.id))?.revoked).toBe(true);
      expect(await store.sessions.getByHash(hashSecret('cookie'))).toBeUndefined();
      expect(await store.tokens.revoke('tok_ffffffffffffffff')).toBeUndefined();
      await store.tokens.touch(b.id, '2026-02-01T00:00:00.000Z');
      expect((await store.tokens.get(b.id))?.lastUsedAt).toBe('2026-02-01T00:00:00.000Z');
    });

    it('removes a session', async () => {
      await store.sessions.insert({ hash: 'h', tokenId: 'tok_1', csrfToken: 'c', createdAt: 'x', expiresAt: 'y' });
      await store.sessions.remove('h');
      expect(await store.sessions.getByHash('h')).toBeUndefined();
    });

    it('keeps job events per job, in order, resumable after a sequence number', async () => {
      await store.jobEvents.append([
        { jobId: 'j1', type: 'status', ts: '1', payload: { status: 'queued' } },
        { jobId: 'j2', type: 'status', ts: '1', payload: { status: 'queued' } },
        { jobId: 'j1', type: 'log', ts: '2', payload: { msg: 'hi' } },
      ]);
      await store.jobEvents.append([{ jobId: 'j1', type: 'result', ts: '3', payload: { result: 'ok' } }]);
      await store.jobEvents.append([]);
      const all = await store.jobEvents.list({ jobId: 'j1', limit: 100 });
      expect(all.map((e) => e.type)).toEqual(['status', 'log', 'result']);
      expect(all[1]!.payload).toEqual({ msg: 'hi' });
      for (let i = 1; i < all.length; i++) expect(all[i]!.seq).toBeGreaterThan(all[i - 1]!.seq);
      const rest = await store.jobEvents.list({ jobId: 'j1', afterSeq: all[0]!.seq, limit: 100 });
      expect(rest).toEqual(all.slice(1));
      expect(await store.jobEvents.list({ jobId: 'j1', afterSeq: all[0]!.seq, limit: 1 })).toEqual([all[1]]);
    });
  });
}
