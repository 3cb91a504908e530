import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import type { AuthService } from '@aiflock/core';
// The decoration `request.actor` is declared (and set) by the auth layer.
import type {} from './auth.js';

const ACTOR = Symbol('aiflock.wsActor');
/** Close code for a socket whose token was revoked (4000-4999: the application's own). */
export const WS_REVOKED = 4401;

/**
 * Every open WebSocket (world, board, job streams, any later one), by the token that opened
 * it, so revoking a token ends its live sessions at once instead of letting them stream on.
 * Sockets are found as the WebSocket server accepts them, whatever the route, so a new
 * streaming route is covered without doing anything.
 */
export function trackLiveSockets(app: FastifyInstance, auth: AuthService): void {
  const byToken = new Map<string, Set<WebSocket>>();
  // After authentication: remember on the raw request who is upgrading.
  app.addHook('preHandler', async (req) => {
    if (req.ws && req.actor) (req.raw as unknown as Record<symbol, string>)[ACTOR] = req.actor.id;
  });
  app.addHook('onReady', async () => {
    app.websocketServer.on('connection', (socket: WebSocket, raw: unknown) => {
      const id = (raw as Record<symbol, string | undefined>)[ACTOR];
      if (!id) return;
      const set = byToken.get(id) ?? new Set<WebSocket>();
      set.add(socket);
      byToken.set(id, set);
      socket.once('close', () => {
        set.delete(socket);
        if (set.size === 0 && byToken.get(id) === set) byToken.delete(id);
      });
    });
  });
  const stop = auth.onRevoked((tokenId) => {
    for (const socket of byToken.get(tokenId) ?? []) {
      socket.close(WS_REVOKED, 'token revoked');
      // A client that does not answer the close handshake is cut off anyway.
      setTimeout(() => socket.terminate(), 1_000).unref();
    }
  });
  app.addHook('onClose', async () => void stop());
}
