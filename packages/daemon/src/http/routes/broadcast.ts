import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { FlockError } from '@aiflock/core';
import { BroadcastMessage, BroadcastRequest } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { actorOf } from '../actor.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';

/** `POST /v1/broadcast` (admin): an announcement on the `broadcast` subject, heard by every running instance. */
export const broadcastRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.post('/broadcast', route('admin', { summary: 'Announce something to every running agent instance (the `broadcast` subject)', body: BroadcastRequest, response: BroadcastMessage }), async (req) => {
      const { text } = parseInput(BroadcastRequest, req.body, 'body');
      const send = ctx.broadcast;
      if (!send) throw new FlockError('not_ready', 'this control plane has no bus to broadcast on');
      const message: BroadcastMessage = { id: randomUUID(), text, from: actorOf(req), sentAt: new Date().toISOString() };
      return audited(
        ctx.audit,
        req,
        'broadcast',
        'broadcast',
        async () => {
          await send(message);
          return message;
        },
        (m) => ({ details: { id: m.id, chars: m.text.length } }),
      );
    });
  };
