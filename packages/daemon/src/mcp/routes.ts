import type { IncomingMessage } from 'node:http';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Gauge, type Registry } from 'prom-client';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { FlockError } from '@aiflock/core';
import { McpMessage } from '@aiflock/protocol';
import { parseInput } from '../http/errors.js';
import { route } from '../http/route-doc.js';
import { checkOrigin, type OriginPolicy } from '../http/ws-origin.js';
import { callerHeaders, injectedApi, type McpCaller } from './route-api.js';
import { flockMcpServer } from './server.js';
import { McpSessions, type SessionLimits } from './sessions.js';

const SESSION_HEADER = 'mcp-session-id';
const HEADERS = {
  'mcp-session-id': 'the session, from the answer to initialize (every request after it)',
  'mcp-protocol-version': 'the MCP version the client negotiated',
  accept: 'application/json, text/event-stream',
};

/** Passed to the MCP server with each HTTP request, so each tool call acts as whoever sent that request. */
interface CallerAuth extends AuthInfo {
  extra: { caller: McpCaller };
}

/**
 * The Model Context Protocol over streamable HTTP (the specification's current transport):
 * `POST /v1/mcp` carries the client's messages (initialize opens a session), `GET` a stream
 * of the server's, `DELETE` ends the session. The endpoint needs the `mcp` scope; each tool then needs its route's.
 */
export const mcpRoutes =
  (opts: { origins: OriginPolicy; sessions: SessionLimits; bodyLimit: number; registry: Registry }): FastifyPluginAsync =>
  async (app) => {
    const sessions = new McpSessions(opts.sessions);
    new Gauge({ name: 'aiflock_mcp_sessions', help: 'Open MCP (streamable HTTP) sessions', registers: [opts.registry], collect() { this.set(sessions.size); } });
    // Open streams would hold the daemon's shutdown until they end.
    app.addHook('preClose', async () => sessions.closeAll());
    // MCP's guard against DNS rebinding: a browser's request must come from an allowed origin.
    app.addHook('onRequest', async (req) => checkOrigin(req.headers.origin, req.headers.host, opts.origins, 'an MCP request'));

    const newServer = () => flockMcpServer((authInfo) => injectedApi(app, (authInfo as CallerAuth).extra.caller), app.log);

    const serve = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const actor = req.actor;
      // The route's scope check has run: an actor is always there (dev bypass included).
      if (!actor) throw new FlockError('unauthenticated', 'the MCP endpoint needs a bearer token');
      const sessionId = req.headers[SESSION_HEADER];
      let transport;
      if (typeof sessionId === 'string') transport = sessions.use(sessionId, actor.id);
      else if (req.method === 'POST' && isInitializeRequest(req.body)) transport = await sessions.open(actor.id, newServer());
      else throw new FlockError('validation_failed', 'send the Mcp-Session-Id header the answer to initialize gave, or POST initialize without one to open a session', { field: SESSION_HEADER });

      const auth: CallerAuth = { token: '', clientId: actor.id, scopes: [...actor.scopes], extra: { caller: { headers: callerHeaders(req.headers), remoteAddress: req.socket.remoteAddress ?? '127.0.0.1' } } };
      (req.raw as IncomingMessage & { auth?: AuthInfo }).auth = auth;
      // The transport writes the response itself; headers set so far (request id, CORS) go with it.
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value);
      reply.hijack();
      await transport.handleRequest(req.raw, reply.raw, req.body);
    };

    app.post('/mcp', route('mcp', { summary: 'Model Context Protocol (streamable HTTP): send a JSON-RPC message; initialize opens a session', body: McpMessage, headers: HEADERS, produces: 'application/json, text/event-stream', errors: ['mcp_session_not_found', 'origin_forbidden'] }, { bodyLimit: opts.bodyLimit }), async (req, reply) => {
      parseInput(McpMessage, req.body, 'body');
      return serve(req, reply);
    });
    app.get('/mcp', route('mcp', { summary: "Model Context Protocol (streamable HTTP): the session's stream of server messages (text/event-stream)", headers: HEADERS, produces: 'text/event-stream', errors: ['mcp_session_not_found', 'origin_forbidden'] }), serve);
    app.delete('/mcp', route('mcp', { summary: 'Model Context Protocol (streamable HTTP): end the session', headers: HEADERS, body: null, produces: 'application/json', errors: ['mcp_session_not_found', 'origin_forbidden'] }), serve);
  };
