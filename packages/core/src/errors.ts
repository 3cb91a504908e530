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
  agent_stopped: { status: 409, summary: 'The agent is stopped' },
  task_not_cancellable: { status: 409, summary: 'The task has already finished' },
  idempotency_conflict: { status: 409, summary: 'The Idempotency-Key was used for a different request' },
  rpc_unknown_op: { status: 404, summary: 'No such RPC service or op' },
  rpc_unknown_caller: { status: 403, summary: 'The RPC subject names no running instance of this flock' },
  llm_model_not_allowed: { status: 403, summary: 'This agent may not use that model' },
  llm_unknown_model: { status: 404, summary: 'No such model or alias in the LLM registry' },
  llm_context_length: { status: 400, summary: 'The prompt does not fit the model context window' },
  llm_content_policy: { status: 422, summary: 'The provider refused the content' },
  llm_invalid_request: { status: 400, summary: 'The provider rejected the request as invalid' },
  llm_cancelled: { status: 499, summary: 'The caller cancelled the LLM call or went away' },
  llm_quota_exceeded: { status: 429, summary: 'An LLM entitlement (requests/min, tokens/hour, concurrent calls) is used up' },
  llm_rate_limited: { status: 429, summary: 'Every provider for the model is rate limiting' },
  payload_too_large: { status: 413, summary: 'The request body is too large' },
  unsupported_media_type: { status: 415, summary: 'The request body must be JSON' },
  not_ready: { status: 503, summary: 'A dependency of the control plane is not ready' },
  runtime_unavailable: { status: 503, summary: 'The sandbox runtime does not answer' },
  bus_unavailable: { status: 503, summary: 'The message bus does not answer' },
  llm_unavailable: { status: 503, summary: 'No LLM provider is configured or reachable for the model' },
  llm_provider_auth: { status: 502, summary: 'The provider rejected the gateway credentials' },
  llm_upstream: { status: 502, summary: 'The LLM provider failed' },
  llm_timeout: { status: 504, summary: 'The LLM provider did not answer in time' },
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
