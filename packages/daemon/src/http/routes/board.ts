import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { ModerateRequest, NewPost, PostPage, PostParams, PostQuery, PostThread, PostView, ReplyBody, ReplyView, ResolveBody } from '@aiflock/protocol';
import type { BoardActor } from '@aiflock/core';
import type { ApiContext } from '../context.js';
import { actorOf } from '../actor.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';

/** People reach the board through the API; agents through the bus (board RPC handlers). */
function readerOf(req: FastifyRequest): BoardActor {
  return req.actor?.scopes.includes('admin') ? { kind: 'admin', id: actorOf(req) } : { kind: 'human', id: actorOf(req) };
}

export const boardRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    // Read per request: API harnesses built for other concerns register the routes without an economy.
    const names = { of1: <T extends { authorId: string }>(row: T) => ctx.economy.names.of1(row), name: <T extends { authorId: string }>(rows: readonly T[]) => ctx.economy.names.name(rows) };
    app.post('/board/posts', route('board:write', { summary: 'Post on the board (a bounty is escrowed from your balance)', body: NewPost, response: PostView, status: 201, errors: ['insufficient_funds'] }), async (req, reply) => {
      const body = parseInput(NewPost, req.body, 'body');
      return reply.status(201).send(await names.of1(await ctx.economy.board.createPost({ kind: 'human', id: actorOf(req) }, body)));
    });

    app.get('/board/posts', route('board:read', { summary: 'Posts you may see, newest first', query: PostQuery, response: PostPage }), async (req) => {
      const page = await ctx.economy.board.list(readerOf(req), parseInput(PostQuery, req.query, 'query'));
      return { ...page, posts: await names.name(page.posts) };
    });

    app.get('/board/posts/:id', route('board:read', { summary: 'A post with its replies and rewards', params: PostParams, response: PostThread, errors: ['post_not_found'] }), async (req) => {
      const view = await ctx.economy.board.get(readerOf(req), parseInput(PostParams, req.params, 'params').id);
      return { ...(await names.of1(view)), replies: await names.name(view.replies) };
    });

    app.post('/board/posts/:id/replies', route('board:write', { summary: 'Reply to a post', params: PostParams, body: ReplyBody, response: ReplyView, status: 201, errors: ['post_not_found'] }), async (req, reply) => {
      const { id } = parseInput(PostParams, req.params, 'params');
      const { body } = parseInput(ReplyBody, req.body, 'body');
      return reply.status(201).send(await names.of1(await ctx.economy.board.reply(readerOf(req), { postId: id, body })));
    });

    app.post('/board/posts/:id/resolve', route('board:write', { summary: 'Resolve your post, awarding its bounty to someone who replied', params: PostParams, body: ResolveBody, response: PostView, errors: ['post_not_found'] }), async (req) => {
      const { id } = parseInput(PostParams, req.params, 'params');
      const body = parseInput(ResolveBody, req.body ?? {}, 'body');
      return ctx.economy.board.resolve(readerOf(req), id, body.awardTo);
    });

    app.post('/board/posts/:id/moderate', route('admin', { summary: 'Hide, close, resolve or reopen a post, with a reason', params: PostParams, body: ModerateRequest, response: PostView, errors: ['post_not_found'] }), async (req) => {
      const { id } = parseInput(PostParams, req.params, 'params');
      const body = parseInput(ModerateRequest, req.body, 'body');
      return ctx.economy.board.moderate({ id: actorOf(req) }, id, body.action, body.reason);
    });
  };
