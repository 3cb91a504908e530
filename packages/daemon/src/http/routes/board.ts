import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ModerateRequest, NewPost, PostId, PostQuery } from '@aiflock/protocol';
import type { BoardActor } from '@aiflock/core';
import type { ApiContext } from '../context.js';
import { actorOf } from '../actor.js';
import { parseInput } from '../errors.js';

const PostParams = z.object({ id: PostId }).strict();
const ResolveBody = z.object({ awardTo: z.string().min(1).max(120).optional() }).strict();
const ReplyBody = z.object({ body: z.string().min(1, 'a body').max(1_000_000) }).strict();

/** People reach the board through the API; agents through the bus (board RPC handlers). */
function readerOf(req: FastifyRequest): BoardActor {
  return req.actor?.scopes.includes('admin') ? { kind: 'admin', id: actorOf(req) } : { kind: 'human', id: actorOf(req) };
}

export const boardRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    // Read per request: API harnesses built for other concerns register the routes without an economy.
    const names = { of1: <T extends { authorId: string }>(row: T) => ctx.economy.names.of1(row), name: <T extends { authorId: string }>(rows: readonly T[]) => ctx.economy.names.name(rows) };
    app.post('/board/posts', { config: { scope: 'board:write' } }, async (req, reply) => {
      const body = parseInput(NewPost, req.body, 'body');
      return reply.status(201).send(await names.of1(await ctx.economy.board.createPost({ kind: 'human', id: actorOf(req) }, body)));
    });

    app.get('/board/posts', { config: { scope: 'board:read' } }, async (req) => {
      const page = await ctx.economy.board.list(readerOf(req), parseInput(PostQuery, req.query, 'query'));
      return { ...page, posts: await names.name(page.posts) };
    });

    app.get('/board/posts/:id', { config: { scope: 'board:read' } }, async (req) => {
      const view = await ctx.economy.board.get(readerOf(req), parseInput(PostParams, req.params, 'params').id);
      return { ...(await names.of1(view)), replies: await names.name(view.replies) };
    });

    app.post('/board/posts/:id/replies', { config: { scope: 'board:write' } }, async (req, reply) => {
      const { id } = parseInput(PostParams, req.params, 'params');
      const { body } = parseInput(ReplyBody, req.body, 'body');
      return reply.status(201).send(await names.of1(await ctx.economy.board.reply(readerOf(req), { postId: id, body })));
    });

    app.post('/board/posts/:id/resolve', { config: { scope: 'board:write' } }, async (req) => {
      const { id } = parseInput(PostParams, req.params, 'params');
      const body = parseInput(ResolveBody, req.body ?? {}, 'body');
      return ctx.economy.board.resolve(readerOf(req), id, body.awardTo);
    });

    app.post('/board/posts/:id/moderate', { config: { scope: 'admin' } }, async (req) => {
      const { id } = parseInput(PostParams, req.params, 'params');
      const body = parseInput(ModerateRequest, req.body, 'body');
      return ctx.economy.board.moderate({ id: actorOf(req) }, id, body.action, body.reason);
    });
  };
