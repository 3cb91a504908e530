import type { FastifyPluginAsync } from 'fastify';
import type { WorldDelta } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { route } from '../route-doc.js';
import { WorldFeed, encodeDelta } from '../../world/feed.js';

/**
 * `WS /v1/ws/world`: a `snapshot`, then `delta`s in `seq` order (see `WorldMessage`). Browsers
 * authenticate with the session cookie, other clients with a bearer token.
 */
export const worldStreamRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    // One encoding per delta for every watcher.
    let last: { delta: WorldDelta; text: string } | undefined;
    const encoded = (d: WorldDelta) => (last?.delta === d ? last.text : (last = { delta: d, text: encodeDelta(d) }).text);

    app.get('/ws/world', { websocket: true, ...route('world:read', { summary: 'WebSocket: a world snapshot, then sequenced deltas; a client that falls behind gets a fresh snapshot' }) }, (socket) => {
      const world = ctx.world;
      if (!world) return socket.close(1011, 'the village is not running in this API');
      const feed = new WorldFeed(socket, () => world.host.engine.snapshot(), world.wsBufferLimitBytes);
      const unsubscribe = world.host.subscribe((d) => feed.onDelta(d, encoded(d)));
      world.watchers.add(feed);
      socket.on('close', () => {
        feed.close();
        unsubscribe();
        world.watchers.delete(feed);
      });
    });
  };
