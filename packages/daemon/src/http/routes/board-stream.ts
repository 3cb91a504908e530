import type { FastifyPluginAsync } from 'fastify';
import { audiencesFor, type BoardEvent } from '@aiflock/core';
import type { ApiContext } from '../context.js';
import { actorOf } from '../actor.js';
import { route } from '../route-doc.js';

/**
 * `WS /v1/ws/board`: new posts, replies and status changes as `{type, ts, payload}` messages,
 * filtered to what the connected reader may see (moderated posts are announced without
 * their text, so a hidden body never leaves the store through the stream).
 */
export const boardStreamRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/ws/board', { websocket: true, ...route('board:read', { summary: 'WebSocket: board events (post, reply, status) for the posts you may see' }) }, (socket, req) => {
      const admin = req.actor?.scopes.includes('admin') ?? false;
      const audiences = audiencesFor(admin ? { kind: 'admin', id: actorOf(req) } : { kind: 'human', id: actorOf(req) });
      const send = (type: string, payload: unknown) => socket.send(JSON.stringify({ type, ts: new Date().toISOString(), payload }));
      let queue: Promise<void> = Promise.resolve();
      const onEvent = (e: BoardEvent) => {
        const audience = e.type === 'reply' ? e.audience : e.post.audience;
        if (audiences && !audiences.includes(audience)) return;
        // Names are looked up (usually cached) before sending; events keep their order per socket.
        const named = (row: { authorId: string }, type: string) => (queue = queue.then(async () => send(type, await ctx.economy.names.of1(row))).catch(() => undefined));
        if (e.type === 'post') named(e.post, 'post');
        else if (e.type === 'reply') named(e.reply, 'reply');
        else if (e.post.status === 'moderated' && !admin) queue = queue.then(() => send('status', { id: e.post.id, status: e.post.status }));
        else named(e.post, 'status');
      };
      const unsubscribe = ctx.economy.board.subscribe(onEvent);
      socket.on('close', unsubscribe);
      send('hello', { stream: 'board' });
    });
  };
