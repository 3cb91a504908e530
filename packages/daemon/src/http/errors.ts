import { ERROR_CODES, FlockError, type ErrorCode } from '@aiflock/core';
import type { ApiError } from '@aiflock/protocol';
import type { FastifyError } from 'fastify';
import { ZodError, type ZodType } from 'zod';

/** Parse a request part with a zod schema; the error names the part and every bad field. */
export function parseInput<T>(schema: ZodType<T>, value: unknown, part: 'body' | 'query' | 'params'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw zodToFlock(result.error, part);
}

export function zodToFlock(err: ZodError, part: string): FlockError {
  const issues = err.issues.map((i) => ({ field: i.path.join('.') || '(root)', message: i.message }));
  const summary = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
  return new FlockError('validation_failed', `invalid request ${part}: ${summary}`, { part, issues });
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'validation_failed',
  FST_ERR_CTP_INVALID_JSON_BODY: 'validation_failed',
};

/** Map anything thrown in a handler to the API's error envelope and status. */
export function toApiError(err: unknown, requestId: string): { status: number; body: ApiError } {
  let flock: FlockError;
  if (err instanceof FlockError) flock = err;
  else if (err instanceof ZodError) flock = zodToFlock(err, 'body');
  else if (isFastifyError(err) && err.code && FASTIFY_CODES[err.code]) flock = new FlockError(FASTIFY_CODES[err.code]!, err.message);
  else if (isFastifyError(err) && err.statusCode && err.statusCode >= 400 && err.statusCode < 500) flock = new FlockError('validation_failed', err.message);
  else flock = new FlockError('internal', 'internal error; see the daemon log with this request id');
  const body: ApiError = { error: { code: flock.code, message: flock.message, requestId } };
  if (flock.details !== undefined) body.error.details = flock.details;
  return { status: ERROR_CODES[flock.code].status, body };
}

function isFastifyError(err: unknown): err is FastifyError {
  return err instanceof Error && 'code' in err;
}
