import type { Kysely } from 'kysely';
import type { PerceptionStore } from '@aiflock/core';
import type { Database } from './tables.js';

/** Each villager's perception cursor and the board replies waiting for it, on any Kysely backend. */
export function perceptionRepo(db: Kysely<Database>): PerceptionStore {
  return {
    cursor: async (agent) => {
      const row = await db.selectFrom('perception_cursors').selectAll().where('agent', '=', agent).executeTakeFirst();
      return row && { tick: Number(row.tick), replySeq: Number(row.reply_seq) };
    },
    repliesAfter: async (agent, afterSeq, limit) => {
      const rows = await db
        .selectFrom('board_replies as r')
        .innerJoin('board_posts as p', 'p.id', 'r.post_id')
        .select(['r.seq', 'r.id', 'r.post_id', 'r.author_id', 'r.body'])
        .where('p.author_type', '=', 'agent')
        .where('p.author_id', '=', `agent:${agent}`)
        .whereRef('r.author_id', '!=', 'p.author_id')
        .where('r.seq', '>', afterSeq)
        .orderBy('r.seq')
        .limit(limit)
        .execute();
      return rows.map((r) => ({ seq: Number(r.seq), postId: r.post_id, replyId: r.id, author: r.author_id, body: r.body }));
    },
    advance: async (agent, from, to) => {
      if (!from) {
        const r = await db
          .insertInto('perception_cursors')
          .values({ agent, tick: to.tick, reply_seq: to.replySeq })
          .onConflict((oc) => oc.column('agent').doNothing())
          .executeTakeFirst();
        return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
      }
      const r = await db
        .updateTable('perception_cursors')
        .set({ tick: to.tick, reply_seq: to.replySeq })
        .where('agent', '=', agent)
        .where('tick', '=', from.tick)
        .where('reply_seq', '=', from.replySeq)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    rewindTicks: async (tick) => {
      await db.updateTable('perception_cursors').set({ tick }).where('tick', '>', tick).execute();
    },
  };
}
