import { describe, expect, it, beforeEach } from 'vitest';
import { newSortableId, type Store } from '@aiflock/core';
import { at, post, reply } from './board-fixtures.js';

/**
 * Each villager's perception cursor and the board replies waiting for it: what lets a
 * daemon restart neither drop nor repeat a reply or a heard line.
 */
export function contract(open: () => Promise<Store>): void {
  describe('perception', () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });

    it('moves a cursor only from where the caller saw it (compare-and-set)', async () => {
      expect(await store.perception.cursor('ann')).toBeUndefined();
      expect(await store.perception.advance('ann', undefined, { tick: 5, replySeq: 0 })).toBe(true);
      // A second first perception lost the race: it changes nothing.
      expect(await store.perception.advance('ann', undefined, { tick: 6, replySeq: 2 })).toBe(false);
      expect(await store.perception.cursor('ann')).toEqual({ tick: 5, replySeq: 0 });
      expect(await store.perception.advance('ann', { tick: 4, replySeq: 0 }, { tick: 9, replySeq: 1 })).toBe(false);
      expect(await store.perception.advance('ann', { tick: 5, replySeq: 0 }, { tick: 5_000_000_000, replySeq: 3 })).toBe(true);
      expect(await store.perception.cursor('ann')).toEqual({ tick: 5_000_000_000, replySeq: 3 });
      expect(await store.perception.cursor('bob')).toBeUndefined();
    });

    it('rewinds the ticks past a tick to it, and leaves the rest and every reply position alone', async () => {
      await store.perception.advance('ann', undefined, { tick: 900, replySeq: 4 });
      await store.perception.advance('bob', undefined, { tick: 400, replySeq: 2 });
      await store.perception.rewindTicks(500);
      expect(await store.perception.cursor('ann')).toEqual({ tick: 500, replySeq: 4 });
      expect(await store.perception.cursor('bob')).toEqual({ tick: 400, replySeq: 2 });
    });

    it("gives a villager others' replies to its own posts only, in the order they were written, not by id", async () => {
      await store.board.insertPost(post('post_a', 'agent:ann'));
      await store.board.insertPost(post('post_b', 'agent:bob'));
      await store.board.insertPost(post('post_c', 'human:carol'));
      // Same millisecond, ids sorting against the order of writing: ids are no position.
      await store.board.insertReply(reply('reply_9', 'post_a', 'human:carol', 7));
      await store.board.insertReply(reply('reply_1', 'post_a', 'agent:bob', 7));
      await store.board.insertReply(reply('reply_5', 'post_a', 'agent:ann')); // her own: not news to her
      await store.board.insertReply(reply('reply_6', 'post_b', 'human:carol')); // on bob's post
      await store.board.insertReply(reply('reply_7', 'post_c', 'agent:bob')); // on a person's post
      await store.board.insertReply(reply('reply_2', 'post_a', 'human:dave', 3)); // an earlier clock, written last

      const all = await store.perception.repliesAfter('ann', 0, 50);
      expect(all.map((r) => r.replyId)).toEqual(['reply_9', 'reply_1', 'reply_2']);
      expect(all[0]).toEqual({ seq: expect.any(Number), postId: 'post_a', replyId: 'reply_9', author: 'human:carol', body: 'human:carol says reply_9' });
      expect(all.map((r) => r.seq)).toEqual([...all.map((r) => r.seq)].sort((a, b) => a - b));
      expect((await store.perception.repliesAfter('bob', 0, 50)).map((r) => r.replyId)).toEqual(['reply_6']);
      expect(await store.perception.repliesAfter('carol', 0, 50)).toEqual([]);
    });

    it('pages from a position: each reply exactly once, however they are written around the reads', async () => {
      await store.board.insertPost(post('post_a', 'agent:ann'));
      const delivered: string[] = [];
      let seq = 0;
      const take = async (limit: number) => {
        const got = await store.perception.repliesAfter('ann', seq, limit);
        seq = got.at(-1)?.seq ?? seq;
        delivered.push(...got.map((r) => r.replyId));
        return got.length;
      };
      for (let i = 0; i < 5; i++) await store.board.insertReply(reply(newSortableId('reply', at(100)), 'post_a', 'human:carol', 100));
      expect(await take(2)).toBe(2);
      expect(await take(2)).toBe(2);
      for (let i = 0; i < 3; i++) await store.board.insertReply(reply(newSortableId('reply', at(50)), 'post_a', 'human:carol', 50));
      expect(await take(10)).toBe(4);
      expect(await take(10)).toBe(0);
      expect(new Set(delivered).size).toBe(8);
      expect([...delivered].sort()).toEqual((await store.board.listReplies('post_a', 100)).map((r) => r.id).sort());
    });
  });
}
