import { createHash } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { Accepted, ActionRequest, AgentNameParams as NameParams, MoveOutcome, MoveRequest, TiledMapJson, WorldSnapshot } from '@aiflock/protocol';
import { FlockError } from '@aiflock/core';
import type { ApiContext } from '../context.js';
import type { WorldApi } from '../../world/index.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';

function worldOf(ctx: ApiContext): WorldApi {
  if (!ctx.world) throw new FlockError('not_ready', 'the village is not running in this API');
  return ctx.world;
}

/**
 * The village over HTTP. Reading is `world:read`; people moving a villager or making it act
 * (`world:act`) are edits by a person, so each is audited. Inputs join the same queue as the
 * agents' own, applied at the next tick; the answer comes once applied.
 */
export const worldRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/world', route('world:read', { summary: 'The village now: map size, landmarks and every villager', response: WorldSnapshot }), async () => worldOf(ctx).host.engine.snapshot());

    let mapBody: { text: string; etag: string } | undefined;
    app.get('/world/map', route('world:read', { summary: 'The village map as Tiled JSON (.tmj) with its tilesets (.tsj), for drawing; cacheable (ETag)', response: TiledMapJson }), async (req, reply) => {
      if (!mapBody) {
        const w = worldOf(ctx);
        const text = JSON.stringify({ name: w.host.engine.map.name, map: w.files.tmj, tilesets: w.files.tilesets });
        mapBody = { text, etag: `"${createHash('sha256').update(text).digest('hex').slice(0, 32)}"` };
      }
      void reply.header('etag', mapBody.etag).header('cache-control', 'private, max-age=3600');
      if (req.headers['if-none-match'] === mapBody.etag) return reply.status(304).send();
      return reply.type('application/json').send(mapBody.text);
    });

    app.post('/agents/:name/move', route('world:act', { summary: 'Move a villager: one step {dx,dy}, a tile {x,y} or a landmark {to}; walked at one tile per tick', params: NameParams, body: MoveRequest, response: MoveOutcome, errors: ['villager_not_found', 'villager_inactive', 'move_invalid', 'path_unreachable'] }), async (req) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      const move = parseInput(MoveRequest, req.body, 'body');
      return audited(ctx.audit, req, 'world.move', `agent/${name}`, () => worldOf(ctx).host.submit({ kind: 'move', name, move }), () => ({ details: move }));
    });

    app.post('/agents/:name/action', route('world:act', { summary: 'Make a villager act: talk, use_board, do, rest', params: NameParams, body: ActionRequest, response: Accepted, errors: ['villager_not_found', 'villager_inactive', 'action_invalid'] }), async (req) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      const action = parseInput(ActionRequest, req.body, 'body');
      await audited(ctx.audit, req, 'world.act', `agent/${name}`, () => worldOf(ctx).host.submit({ kind: 'act', name, action }), () => ({ details: { type: action.type } }));
      return { ok: true as const };
    });
  };

/** The `world` block of `GET /v1/agents/{name}`, or null when it does not live in the village. */
export function agentWorld(world: WorldApi | undefined, name: string) {
  const v = world?.host.engine.villager(name);
  if (!world || !v) return null;
  return { x: v.x, y: v.y, activity: v.activity, goal: v.goal, policy: v.policy, model: v.model, status: v.status, recent: world.host.engine.recent(name) };
}
