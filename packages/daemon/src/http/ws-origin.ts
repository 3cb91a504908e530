import type { FastifyInstance } from 'fastify';
import { FlockError } from '@aiflock/core';

/**
 * WebSocket upgrades are not covered by CORS: a page on any site can open a socket to the
 * daemon, and the browser sends the session cookie with it. So an upgrade that carries an
 * `Origin` (browsers always send one) must come from the daemon's own host or from an origin
 * the configuration allows (`api.corsOrigins`; `*` allows any). Clients that are not browsers
 * (the CLI, SDKs) send no Origin and are judged by their credentials alone.
 */
export function checkWebSocketOrigin(app: FastifyInstance, allowed: { corsOrigins: readonly string[]; ownOrigins: () => readonly string[] }): void {
  app.addHook('onRequest', async (req) => {
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') return;
    const origin = req.headers.origin;
    if (origin === undefined) return;
    if (allowed.corsOrigins.includes('*') || allowed.corsOrigins.includes(origin) || allowed.ownOrigins().includes(origin)) return;
    if (sameHost(origin, req.headers.host)) return;
    throw new FlockError('origin_forbidden', `a WebSocket from origin ${JSON.stringify(origin.slice(0, 200))} is refused: only the daemon's own origin and api.corsOrigins may open one`, { origin: origin.slice(0, 200) });
  });
}

function sameHost(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
