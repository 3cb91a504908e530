import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlBackend } from '../dialect.js';

export const m0010Perception = (backend: SqlBackend): Migration => ({
  async up(db: Kysely<unknown>) {
    // Board replies get a number in the order they become visible: ids and created_at
    // order by the clock of whoever wrote them (random within a millisecond), so a
    // position by id could skip a reply written just after it was read.
    await backend.addVisibilitySeq(db, { table: 'board_replies', column: 'seq', key: 'id', orderBy: ['created_at', 'id'] });
    // A villager's new replies: per post of its own, those past its position.
    await db.schema.createIndex('board_replies_post_seq').on('board_replies').columns(['post_id', 'seq']).execute();
    // Where each villager's perception left off: the tick it last perceived (heard lines
    // up to it were delivered) and the last reply it was given.
    await db.schema
      .createTable('perception_cursors')
      .addColumn('agent', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('tick', 'bigint', (c) => c.notNull())
      .addColumn('reply_seq', 'bigint', (c) => c.notNull())
      .execute();
    // Replies made before this were kept in memory only and are gone with the restart
    // that brings this migration: villagers who posted start past them, rather than
    // being told every old reply again.
    await sql`insert into perception_cursors (agent, tick, reply_seq)
      select distinct substr(author_id, 7), 0, (select coalesce(max(seq), 0) from board_replies)
      from board_posts where author_type = 'agent' and author_id like 'agent:%'`.execute(db);
  },
});
