/**
 * Every error code the flock returns, with its HTTP status, in one table. A test guards that
 * every code used is here and that statuses follow the taxonomy (validation/auth/policy are
 * 4xx, upstream and our own faults 5xx).
 */
export const ERROR_CODES = {
  validation_failed: { status: 400, summary: 'The request is not valid' },
  manifest_invalid: { status: 400, summary: 'The agent manifest is not valid' },
  unsupported_task_type: { status: 400, summary: 'The agent does not handle this task type' },
  not_found: { status: 404, summary: 'No such route' },
  agent_not_found: { status: 404, summary: 'No such agent' },
  task_not_found: { status: 404, summary: 'No such task' },
  collection_not_found: { status: 404, summary: 'No such context collection' },
  document_not_found: { status: 404, summary: 'No such document in the collection' },
  context_forbidden: { status: 403, summary: 'The caller may not reach this memory or collection' },
  embedding_mismatch: { status: 409, summary: 'The collection was embedded with another model or dimension; re-index it' },
  agent_stopped: { status: 409, summary: 'The agent is stopped' },
  task_not_cancellable: { status: 409, summary: 'The task has already finished' },
  idempotency_conflict: { status: 409, summary: 'The Idempotency-Key was used for a different request' },
  backup_unsupported: { status: 409, summary: 'This store is backed up with its own tools (pg_dump)' },
  payload_too_large: { status: 413, summary: 'The request body is too large' },
  unsupported_media_type: { status: 415, summary: 'The request body must be JSON' },
  not_ready: { status: 503, summary: 'A dependency of the control plane is not ready' },
  runtime_unavailable: { status: 503, summary: 'The sandbox runtime does not answer' },
  bus_unavailable: { status: 503, summary: 'The message bus does not answer' },
  internal: { status: 500, summary: 'Internal error' },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class FlockError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'FlockError';
    this.status = ERROR_CODES[code].status;
  }
}
