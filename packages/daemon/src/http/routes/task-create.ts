import type { FastifyRequest } from 'fastify';
import type { DeploymentReader } from '@aiflock/core';
import { CreateTaskRequest, IdempotencyKey } from '@aiflock/protocol';
import { withSpan } from '../../telemetry/tracing.js';
import type { ApiContext } from '../context.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';

/** What to create: the request body (or one batch item) checked, and its idempotency key. */
export type CreateInput = () => { body: CreateTaskRequest; key: string | undefined };

/** Create a task (a job) from the request, audited; shared by /tasks and /jobs. */
export function createTask(ctx: ApiContext, req: FastifyRequest): ReturnType<ApiContext['tasks']['create']> {
  return createAudited(ctx, req, req.body, () => {
    const body = parseInput(CreateTaskRequest, req.body, 'body');
    const header = req.headers['idempotency-key'];
    return { body, key: header === undefined ? undefined : parseInput(IdempotencyKey, header, 'body') };
  });
}

/**
 * Create one task, traced and audited (failures too). `raw` is the unchecked body, read only
 * to name the agent in the trace and the audit entry; `input` checks it. `readDeployment`:
 * a batch's shared reader (`TaskService.batchReader`).
 */
export function createAudited(ctx: ApiContext, req: FastifyRequest, raw: unknown, input: CreateInput, readDeployment?: DeploymentReader): ReturnType<ApiContext['tasks']['create']> {
  const agent = (raw as { agent?: unknown } | null | undefined)?.agent;
  const attributes = typeof agent === 'string' ? { 'aiflock.agent': agent.slice(0, 64) } : {};
  return withSpan('job create', { attributes }, async (span) => {
    const r = await audited(
      ctx.audit,
      req,
      'task.create',
      typeof agent === 'string' ? `agent/${agent.slice(0, 64)}` : 'task',
      async () => {
        const { body, key } = input();
        return ctx.tasks.create(body, key, req.actor, undefined, readDeployment);
      },
      (r) => ({ resource: `task/${r.task.id}`, correlationId: r.task.id, details: { agent: r.task.agent, type: r.task.type, created: r.created } }),
    );
    span.setAttributes({ 'aiflock.job.id': r.task.id, 'aiflock.job.created': r.created });
    return r;
  });
}
