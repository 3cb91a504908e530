import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { isTerminal } from '@aiflock/core';
import { CreateTaskBatchRequest, CreateTaskRequest, LogLines, MAX_TASK_BATCH, TaskBatchResponse, TaskIdParams as IdParams, TaskList, TaskListQuery as ListQuery, TaskLogsQuery as FollowQuery, TaskView, TaskWaitQuery as WaitQuery } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';
import { followLogs, logLine } from '../follow.js';
import { createTaskBatch } from './task-batch.js';
import { createTask } from './task-create.js';


/** Cancel the task named in the path, audited; shared by /tasks and /jobs. */
export function cancelTask(ctx: ApiContext, req: FastifyRequest): Promise<TaskView> {
  const { id } = parseInput(IdParams, req.params, 'params');
  return audited(ctx.audit, req, 'task.cancel', `task/${id}`, () => ctx.tasks.cancel(id, undefined, req.actor), () => ({ correlationId: id }));
}

export const taskRoutes =
  (ctx: ApiContext, limits: { largeBody: number }): FastifyPluginAsync =>
  async (app) => {
    app.post('/tasks', route('jobs:write', { summary: 'Queue a task (a job)', body: CreateTaskRequest, response: TaskView, status: [201, 200], errors: ['agent_not_found', 'unsupported_task_type', 'task_access_denied', 'idempotency_conflict', 'agent_quarantined', 'bus_unavailable'], headers: { 'idempotency-key': 'retries with the same key and body return the same task; another body is a 409' } }, { bodyLimit: limits.largeBody }), async (req, reply) => {
      const { task, created } = await createTask(ctx, req);
      return reply.status(created ? 201 : 200).send(task);
    });

    // `::` is Fastify's escape for a literal colon: the path is /v1/tasks:batch.
    app.post('/tasks::batch', route('jobs:write', { summary: `Queue up to ${MAX_TASK_BATCH} tasks at once; each item succeeds or fails on its own (results by index)`, body: CreateTaskBatchRequest, response: TaskBatchResponse }, { bodyLimit: limits.largeBody }), async (req) =>
      createTaskBatch(ctx, req),
    );

    app.get('/tasks', route('jobs:read', { summary: 'List tasks, newest first', query: ListQuery, response: TaskList }), async (req) => {
      const q = parseInput(ListQuery, req.query, 'query');
      return ctx.tasks.list({ agent: q.agent, status: q.status, limit: q.limit, before: q.cursor, parentId: q.parent });
    });

    app.get('/tasks/:id', route('jobs:read', { summary: 'One task', params: IdParams, response: TaskView, errors: ['task_not_found'] }), async (req) => ctx.tasks.get(parseInput(IdParams, req.params, 'params').id));

    /** Long poll: answers when the task finishes or the timeout passes, whichever is first. */
    app.get('/tasks/:id/wait', route('jobs:read', { summary: 'Long poll until the task finishes or the timeout passes', params: IdParams, query: WaitQuery, response: TaskView, errors: ['task_not_found'] }), async (req) => {
      const { id } = parseInput(IdParams, req.params, 'params');
      const { timeoutMs } = parseInput(WaitQuery, req.query, 'query');
      const until = Date.now() + timeoutMs;
      let closed = false;
      req.raw.on('close', () => (closed = true));
      for (;;) {
        const task = await ctx.tasks.get(id);
        if (isTerminal(task.status) || Date.now() >= until || closed) return task;
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    app.post('/tasks/:id/cancel', route('jobs:write', { summary: 'Cancel a task', params: IdParams, body: null, response: TaskView, errors: ['task_not_found', 'task_not_cancellable', 'task_access_denied'] }), async (req) => {
      return cancelTask(ctx, req);
    });

    app.get('/tasks/:id/logs', route('jobs:read', { summary: 'Log lines of a task (NDJSON when following)', params: IdParams, query: FollowQuery, response: LogLines, produces: 'application/x-ndjson', errors: ['task_not_found'] }), async (req, reply) => {
      const { id } = parseInput(IdParams, req.params, 'params');
      const q = parseInput(FollowQuery, req.query, 'query');
      await ctx.tasks.get(id);
      if (q.follow === 'true' || q.follow === '1') {
        // Once the task is finished, a last read picks up lines recorded with its result.
        let finishedReads = 0;
        return followLogs(req, reply, ctx.store, { taskId: id }, async () => {
          if (isTerminal((await ctx.tasks.get(id)).status)) finishedReads++;
          return finishedReads > 1;
        });
      }
      return { lines: (await ctx.store.logs.list({ taskId: id, limit: 10_000 })).map(logLine) };
    });
  };
