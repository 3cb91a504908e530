import type { FastifyPluginAsync } from 'fastify';
import { isTerminal } from '@aiflock/core';
import { CreateTaskRequest, CreatedJob, JobList, JobSteps, JobStreamQuery as StreamQuery, StreamClientMessage, StreamTicket, StreamTicketRequest, TaskIdParams as IdParams, TaskListQuery as ListQuery, TaskView, type StreamMessage } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';
import { cancelTask } from './tasks.js';
import { createTask } from './task-create.js';

const POLL_MS = 200;

/**
 * Seed 3's job API. Jobs are the tasks of the foundation (one table, one service); these
 * routes give them the job-shaped contract: `{jobId}` on create, and a resumable stream.
 */
export const jobRoutes =
  (ctx: ApiContext, limits: { largeBody: number }): FastifyPluginAsync =>
  async (app) => {
    const idem = { 'idempotency-key': 'retries with the same key and body return the same job; another body is a 409' };

    app.post('/jobs', route('jobs:write', { summary: 'Create a job', body: CreateTaskRequest, response: CreatedJob, status: [202, 200], errors: ['agent_not_found', 'unsupported_task_type', 'task_access_denied', 'idempotency_conflict', 'agent_quarantined', 'bus_unavailable'], headers: idem }, { bodyLimit: limits.largeBody }), async (req, reply) => {
      const { task, created } = await createTask(ctx, req);
      return reply.status(created ? 202 : 200).send({ jobId: task.id, status: task.status, created });
    });

    app.get('/jobs', route('jobs:read', { summary: 'List jobs, newest first; page with nextCursor', query: ListQuery, response: JobList }), async (req) => {
      const q = parseInput(ListQuery, req.query, 'query');
      const page = await ctx.tasks.list({ agent: q.agent, status: q.status, limit: q.limit, before: q.cursor, parentId: q.parent });
      return { jobs: page.tasks, nextCursor: page.nextCursor };
    });

    app.get('/jobs/:id', route('jobs:read', { summary: 'Status and summary of a job', params: IdParams, response: TaskView, errors: ['task_not_found'] }), async (req) =>
      ctx.tasks.get(parseInput(IdParams, req.params, 'params').id),
    );

    app.get('/jobs/:id/steps', route('jobs:read', { summary: "An agent loop job's steps (thought, tool call, tool result, answer), oldest first", params: IdParams, response: JobSteps, errors: ['task_not_found'] }), async (req) => {
      const { id } = parseInput(IdParams, req.params, 'params');
      await ctx.tasks.get(id);
      return { steps: (await ctx.store.taskSteps.list(id, 10_000)).map((r) => r.step) };
    });

    app.post('/jobs/:id/cancel', route('jobs:write', { summary: 'Cancel a job', params: IdParams, body: null, response: TaskView, errors: ['task_not_found', 'task_not_cancellable', 'task_access_denied'] }), async (req) => cancelTask(ctx, req));

    app.post('/stream/tickets', route('jobs:read', { summary: 'A one-shot ticket to open a job stream from a browser', body: StreamTicketRequest, response: StreamTicket, status: 201 }), async (req, reply) => {
      const { jobId } = parseInput(StreamTicketRequest, req.body, 'body');
      await ctx.tasks.get(jobId);
      return reply.status(201).send(ctx.auth.issueTicket(req.actor!, jobId));
    });

    app.get(
      '/stream/:id',
      {
        websocket: true,
        ...route('jobs:read', { summary: 'WebSocket: the job\'s log, step, status, result, error and heartbeat messages; resume with ?after=<id> or {"type":"resume","after":<id>}', params: IdParams, query: StreamQuery }, { ticket: true }),
      },
      async (socket, req) => {
        const send = (m: StreamMessage) => socket.send(JSON.stringify(m));
        const fail = (code: number, message: string) => {
          send({ id: 0, type: 'error', ts: new Date().toISOString(), payload: { code: 'stream_refused', message } });
          socket.close(code, message.slice(0, 120));
        };
        const params = IdParams.safeParse(req.params);
        const query = StreamQuery.safeParse(req.query);
        if (!params.success || !query.success) return fail(4400, 'invalid job id or query (after must be a whole number)');
        const jobId = params.data.id;
        if (!(await ctx.store.tasks.get(jobId))) return fail(4404, `no job with id "${jobId}"`);

        let last = query.data.after;
        let open = true;
        socket.on('close', () => (open = false));
        socket.on('message', (data) => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(String(data));
          } catch {
            parsed = undefined;
          }
          const m = StreamClientMessage.safeParse(parsed);
          if (m.success) last = m.data.after;
          else send({ id: last, type: 'error', ts: new Date().toISOString(), payload: { code: 'validation_failed', message: 'expected {"type":"resume","after":<id>}' } });
        });
        const heartbeat = setInterval(() => send({ id: last, type: 'heartbeat', ts: new Date().toISOString(), payload: {} }), ctx.wsHeartbeatMs);
        try {
          // A finished job may still get a last event written just after its status changed,
          // so the stream ends only after two quiet reads in a row once the job is finished.
          let quietFinished = 0;
          while (open && quietFinished < 2) {
            const events = await ctx.store.jobEvents.list({ jobId, afterSeq: last, limit: 500 });
            for (const e of events) {
              if (!open) break;
              send({ id: e.seq, type: e.type, ts: e.ts, payload: e.payload });
              last = e.seq;
            }
            if (events.length) {
              quietFinished = 0;
              continue;
            }
            const task = await ctx.store.tasks.get(jobId);
            quietFinished = task && isTerminal(task.status) ? quietFinished + 1 : 0;
            await new Promise((r) => setTimeout(r, POLL_MS));
          }
        } finally {
          clearInterval(heartbeat);
        }
        if (open) socket.close(1000, 'job finished');
      },
    );
  };
