import type { FastifyPluginAsync } from 'fastify';
import { AgentNameParams as NameParams, WorldSight, WorldSightQuery } from '@aiflock/protocol';
import { FlockError } from '@aiflock/core';
import type { ApiContext } from '../context.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';

/**
 * What a villager perceives, for people and outside agents watching it (`world:read`). It is
 * the engine's perception as the agent gets it, read without the agent's cursor, so looking
 * takes nothing from what the agent itself will perceive next.
 */
export const worldSightRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/agents/:name/sight', route('world:read', { summary: 'What a villager perceives now (itself, its landmark, who is near, what it heard), without consuming its own perception', params: NameParams, query: WorldSightQuery, response: WorldSight }), async (req) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      const { heardSince } = parseInput(WorldSightQuery, req.query, 'query');
      if (!ctx.world) throw new FlockError('not_ready', 'the village is not running in this API');
      return ctx.world.host.engine.perceive(name, heardSince);
    });
  };
