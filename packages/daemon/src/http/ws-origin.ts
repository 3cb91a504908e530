import type { FastifyInstance } from 'fastify';
import { FlockError } from '@aiflock/core';

/** Browser origins allowed besides the daemon's own host: `api.corsOrigins` (`*` allows any) and the daemon's listening origins. */
export interface OriginPolicy {
  corsOrigins: readonly string[];
  ownOrigins: () => readonly string[];
}

/**
 * Neither WebSocket upgrades nor the MCP endpoint are covered by CORS the way a JSON API is (a
 * page on any site can open a socket, and a DNS-rebound name reaches a loopback daemon with
 * the browser's cookies). So a request that carries an `Origin` (browsers always send one)
 * must come from the daemon's own host or an origin the configuration allows. Clients that
 * are not browsers (the CLI, SDKs, MCP clients) send no Origin and are judged by their
 * credentials alone.
 */
export function checkOrigin(origin: string | undefined, host: string | undefined, allowed: OriginPolicy, what: string): void {
  if (origin === undefined) return;
  if (allowed.corsOrigins.includes('*') || allowed.corsOrigins.includes(origin) || allowed.ownOrigins().includes(origin)) return;
  if (sameHost(origin, host)) return;
  throw new FlockError('origin_forbidden', `${what} from origin ${JSON.stringify(origin.slice(0, 200))} is refused: only the daemon's own origin and api.corsOrigins may send one`, { origin: origin.slice(0, 200) });
}

/** WebSocket upgrades pass `checkOrigin` before anything else runs. */
export function checkWebSocketOrigin(app: FastifyInstance, allowed: OriginPolicy): void {
  app.addHook('onRequest', async (req) => {
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') return;
    checkOrigin(req.headers.origin, req.headers.host, allowed, 'a WebSocket');
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
