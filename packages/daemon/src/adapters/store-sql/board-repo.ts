import type { Kysely, Selectable } from 'kysely';
import type { BoardStore, PostRecord } from '@aiflock/core';
import { json, unjson } from './sql-values.js';
import type { BoardPostsTable, Database } from './tables.js';

/** The village board's posts, tags and replies, on any Kysely backend. */
export function boardRepo(db: Kysely<Database>): BoardStore {
  return {
    insertPost: async (p) => {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('board_posts').values(fromPost(p)).execute();
        if (p.tags.length) await trx.insertInto('board_post_tags').values(p.tags.map((tag) => ({ post_id: p.id, tag }))).execute();
      });
    },
    getPost: async (id) => {
      const r = await db.selectFrom('board_posts').selectAll().where('id', '=', id).executeTakeFirst();
      return r && toPost(r);
    },
    listPosts: async (f) => {
      let q = db.selectFrom('board_posts').selectAll('board_posts');
      if (f.tag) q = q.innerJoin('board_post_tags', 'board_post_tags.post_id', 'board_posts.id').where('board_post_tags.tag', '=', f.tag);
      if (f.status) q = q.where('board_posts.status', '=', f.status);
      if (f.notStatus?.length) q = q.where('board_posts.status', 'not in', f.notStatus);
      if (f.authorId) q = q.where('board_posts.author_id', '=', f.authorId);
      if (f.audiences) q = q.where('board_posts.audience', 'in', f.audiences);
      if (f.before) q = q.where('board_posts.id', '<', f.before);
      return (await q.orderBy('board_posts.id', 'desc').limit(f.limit).execute()).map(toPost);
    },
    setStatus: async (id, status, moderation, updatedAt) => {
      const r = await db
        .updateTable('board_posts')
        .set({ status, moderation: json(moderation), updated_at: updatedAt })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      return r && toPost(r);
    },
    insertReply: async (r) => {
      await db
        .insertInto('board_replies')
        .values({ id: r.id, post_id: r.postId, author_type: r.authorType, author_id: r.authorId, body: r.body, created_at: r.createdAt })
        .execute();
    },
    listReplies: async (postId, limit) =>
      (await db.selectFrom('board_replies').selectAll().where('post_id', '=', postId).orderBy('id').limit(limit).execute()).map((r) => ({
        id: r.id,
        postId: r.post_id,
        authorType: r.author_type as PostRecord['authorType'],
        authorId: r.author_id,
        body: r.body,
        createdAt: r.created_at,
      })),
    countByAuthorSince: async (authorId, since) => {
      const count = async (table: 'board_posts' | 'board_replies') =>
        Number(
          (await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('author_id', '=', authorId).where('created_at', '>=', since).executeTakeFirst())?.n ?? 0,
        );
      return (await count('board_posts')) + (await count('board_replies'));
    },
  };
}

function fromPost(p: PostRecord): BoardPostsTable {
  return {
    id: p.id,
    author_type: p.authorType,
    author_id: p.authorId,
    audience: p.audience,
    title: p.title,
    body: p.body,
    tags: json(p.tags),
    status: p.status,
    bounty: p.bounty,
    moderation: json(p.moderation),
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
}

function toPost(r: Selectable<BoardPostsTable>): PostRecord {
  return {
    id: r.id,
    authorType: r.author_type as PostRecord['authorType'],
    authorId: r.author_id,
    audience: r.audience,
    title: r.title,
    body: r.body,
    tags: JSON.parse(r.tags) as string[],
    status: r.status as PostRecord['status'],
    bounty: Number(r.bounty),
    moderation: unjson(r.moderation) as PostRecord['moderation'],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
