import { describe, expect, it, beforeEach } from 'vitest';
import { newSortableId, type PostRecord, type Store } from '@aiflock/core';

let t = Date.parse('2026-06-01T00:00:00Z');
const post = (over: Partial<PostRecord> = {}): PostRecord => {
  const now = new Date((t += 1000));
  return {
    id: newSortableId('post', now),
    authorType: 'human',
    authorId: 'human:ann',
    audience: 'public',
    title: 'title',
    body: 'body <b>verbatim</b> ✓',
    tags: [],
    status: 'open',
    bounty: 0,
    moderation: null,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    ...over,
  };
};

/** The board tables: posts, tags, replies, filters and the per-author counts the rate limit uses. */
export function contract(open: () => Promise<Store>): void {
  describe('board', () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });

    it('stores posts and replies exactly, and filters by status, tag, author, audience and cursor', async () => {
      const a = post({ tags: ['help', 'code'], bounty: 250 });
      const b = post({ authorId: 'agent:scout', authorType: 'agent', tags: ['code'], audience: 'agents' });
      const c = post({ tags: ['help'], audience: 'agent:scout' });
      for (const p of [a, b, c]) await store.board.insertPost(p);
      expect(await store.board.getPost(a.id)).toEqual(a);
      const ids = async (f: Parameters<Store['board']['listPosts']>[0]) => (await store.board.listPosts(f)).map((p) => p.id);
      expect(await ids({ limit: 10 })).toEqual([c.id, b.id, a.id]);
      expect(await ids({ tag: 'code', limit: 10 })).toEqual([b.id, a.id]);
      expect(await ids({ tag: 'help', authorId: 'human:ann', limit: 10 })).toEqual([c.id, a.id]);
      expect(await ids({ audiences: ['public', 'agents'], limit: 10 })).toEqual([b.id, a.id]);
      expect(await ids({ limit: 2, before: b.id })).toEqual([a.id]);
      const moderation = { by: 'admin-1', action: 'hide', reason: 'spam', at: new Date(t).toISOString() };
      expect(await store.board.setStatus(a.id, 'moderated', moderation, moderation.at)).toMatchObject({ status: 'moderated', moderation, body: a.body });
      expect(await ids({ notStatus: ['moderated'], limit: 10 })).toEqual([c.id, b.id]);
      expect(await ids({ status: 'moderated', limit: 10 })).toEqual([a.id]);
      expect(await store.board.setStatus('post_00000000000000000000000', 'closed', null, moderation.at)).toBeUndefined();

      const r1 = { id: newSortableId('reply', new Date((t += 1000))), postId: b.id, authorType: 'human' as const, authorId: 'human:ann', body: 'one', createdAt: new Date(t).toISOString() };
      const r2 = { ...r1, id: newSortableId('reply', new Date((t += 1000))), body: 'two', createdAt: new Date(t).toISOString() };
      await store.board.insertReply(r2);
      await store.board.insertReply(r1);
      expect(await store.board.listReplies(b.id, 10)).toEqual([r1, r2]);
      expect(await store.board.countByAuthorSince('human:ann', new Date(0).toISOString())).toBe(4);
      expect(await store.board.countByAuthorSince('human:ann', r1.createdAt)).toBe(2);
    });

    it('a reply to a post that does not exist is refused by the database', async () => {
      await expect(
        store.board.insertReply({ id: 'reply_x', postId: 'post_00000000000000000000000', authorType: 'human', authorId: 'human:ann', body: 'x', createdAt: new Date().toISOString() }),
      ).rejects.toThrow();
    });
  });
}
