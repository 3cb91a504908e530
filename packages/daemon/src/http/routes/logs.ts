import type { FastifyPluginAsync } from 'fastify';
import { FlockLogsQuery, LogLines } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { parseInput } from '../errors.js';
import { followLogs, logLine } from '../follow.js';
import { route } from '../route-doc.js';

/** The flock's logs across agents (`aiflock logs`): every agent, or those named; NDJSON when following. */
export const logRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/logs', route('agents:read', { summary: 'Log lines of every agent, or of the agents named (NDJSON when following)', query: FlockLogsQuery, response: LogLines }), async (req, reply) => {
      const q = parseInput(FlockLogsQuery, req.query, 'query');
      const scope = { ...(q.agents ? { agents: q.agents } : {}), ...(q.since ? { since: q.since } : {}) };
      if (q.follow === 'true' || q.follow === '1') return followLogs(req, reply, ctx.store, { ...scope, backlog: q.tail }, async () => false);
      const lines = await ctx.store.logs.list({ ...scope, limit: q.tail, tail: true });
      return { lines: lines.map(logLine) };
    });
  };
