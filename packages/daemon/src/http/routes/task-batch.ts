import type { FastifyRequest } from 'fastify';
import type { DeploymentReader } from '@aiflock/core';
import { CreateTaskBatchItem, TaskBatchEnvelope, type TaskBatchItemResult, type TaskBatchResponse } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { parseInput, toApiError, zodToFlock } from '../errors.js';
import { createAudited } from './task-create.js';

/**
 * `POST /v1/tasks:batch`: every item is created as `POST /v1/tasks` would create it (checked,
 * authorized, audited, idempotent by its own key), all at once, so the store's group commit
 * writes them in a few transactions instead of one each.
 */
export async function createTaskBatch(ctx: ApiContext, req: FastifyRequest): Promise<TaskBatchResponse> {
  const { tasks } = parseInput(TaskBatchEnvelope, req.body, 'body');
  // One deployment read per agent named, for the whole batch.
  const read = ctx.tasks.batchReader();
  const results = await Promise.all(tasks.map((item, index) => createItem(ctx, req, item, index, read)));
  const ok = results.filter((r) => r.ok);
  return {
    results,
    created: ok.filter((r) => r.created).length,
    existing: ok.filter((r) => !r.created).length,
    failed: results.length - ok.length,
  };
}

async function createItem(ctx: ApiContext, req: FastifyRequest, item: unknown, index: number, read: DeploymentReader): Promise<TaskBatchItemResult> {
  try {
    const { task, created } = await createAudited(ctx, req, item, () => {
      const parsed = CreateTaskBatchItem.safeParse(item);
      if (!parsed.success) throw zodToFlock(parsed.error, `tasks[${index}]`);
      const { idempotencyKey, ...body } = parsed.data;
      return { body, key: idempotencyKey };
    }, read);
    return { index, ok: true, created, task };
  } catch (err) {
    const { status, body } = toApiError(err, req.id);
    if (status >= 500) req.log.error({ err, index }, 'batch item not created');
    const { requestId: _requestId, ...error } = body.error;
    return { index, ok: false, status, error };
  }
}
