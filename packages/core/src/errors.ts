/**
 * Every error code the flock returns, with its HTTP status, in one table. A test guards that
 * every code used is here and that statuses follow the taxonomy (validation/auth/policy are
 * 4xx, upstream and our own faults 5xx).
 */
export const ERROR_CODES = {
  validation_failed: { status: 400, summary: 'The request is not valid' },
  manifest_invalid: { status: 400, summary: 'The agent manifest is not valid' },
  manifest_refused: { status: 422, summary: 'This flock refuses the manifest: a limit no node can give, an image not on the allow-list, or egress the deployer may not open' },
  unsupported_task_type: { status: 400, summary: 'The agent does not handle this task type' },
  unauthenticated: { status: 401, summary: 'A valid bearer token or session is required' },
  forbidden: { status: 403, summary: 'The credentials lack the scope this route needs' },
  origin_forbidden: { status: 403, summary: 'A WebSocket or MCP request from a browser may come only from the daemon\'s own origin or one api.corsOrigins allows' },
  csrf_failed: { status: 403, summary: 'A cookie-authenticated change needs the session CSRF token in x-csrf-token' },
  not_found: { status: 404, summary: 'No such route' },
  mcp_session_not_found: { status: 404, summary: 'No such MCP session: it ended, expired, or belongs to another token; initialize a new one' },
  bus_credentials_not_found: { status: 404, summary: 'No operator bus credentials with that id' },
  token_not_found: { status: 404, summary: 'No such token' },
  agent_not_found: { status: 404, summary: 'No such agent' },
  task_not_found: { status: 404, summary: 'No such task' },
  secret_not_found: { status: 404, summary: 'No such secret' },
  collection_not_found: { status: 404, summary: 'No such context collection' },
  document_not_found: { status: 404, summary: 'No such document in the collection' },
  context_forbidden: { status: 403, summary: 'The caller may not reach this memory or collection' },
  embedding_mismatch: { status: 409, summary: 'The collection was embedded with another model or dimension; re-index it' },
  agent_stopped: { status: 409, summary: 'The agent is stopped' },
  agent_quarantined: { status: 409, summary: 'The agent is quarantined; release it first' },
  task_not_cancellable: { status: 409, summary: 'The task has already finished' },
  task_not_waiting: { status: 409, summary: 'The task is not waiting for a person to answer a question' },
  agent_not_conversational: { status: 409, summary: 'The agent has no `agent` handler (the tool loop), so it cannot chat or answer board posts' },
  idempotency_conflict: { status: 409, summary: 'The Idempotency-Key was used for a different request' },
  bus_auth_disabled: { status: 409, summary: 'The bus runs without authentication, so there are no credentials to issue' },
  backup_unsupported: { status: 409, summary: 'This store is backed up with its own tools (pg_dump)' },
  rpc_unknown_op: { status: 404, summary: 'No such RPC service or op' },
  rpc_unknown_caller: { status: 403, summary: 'The RPC subject names no running instance of this flock' },
  model_not_entitled: { status: 403, summary: "The caller's entitlement (an agent's compute tier, a token's configured limits) does not include this model" },
  llm_unknown_model: { status: 404, summary: 'No such model or alias in the LLM registry' },
  llm_context_length: { status: 400, summary: 'The prompt does not fit the model context window' },
  llm_content_policy: { status: 422, summary: 'The provider refused the content' },
  llm_invalid_request: { status: 400, summary: 'The provider rejected the request as invalid' },
  llm_capability_unsupported: { status: 400, summary: 'The model cannot do what the request asks (tools, JSON output, embeddings); use a model that can' },
  llm_cancelled: { status: 499, summary: 'The caller cancelled the LLM call or went away' },
  quota_exceeded: { status: 429, summary: 'An entitlement of this token or agent (LLM requests/min, tokens/hour, concurrent calls) is used up; retry after the Retry-After seconds' },
  llm_rate_limited: { status: 429, summary: 'Every provider for the model is rate limiting' },
  world_map_invalid: { status: 400, summary: 'The village map (Tiled .tmj/.tsj) is not valid' },
  villager_not_found: { status: 404, summary: 'No such villager: the agent is not in the village' },
  villager_inactive: { status: 409, summary: 'The villager is quarantined, frozen or away, so it stands still' },
  move_invalid: { status: 422, summary: 'The move leaves the map, enters a wall, or is more than one step' },
  path_unreachable: { status: 422, summary: 'No walkable path leads to the target within the search limit' },
  action_invalid: { status: 422, summary: 'The action is not possible where the villager is' },
  insufficient_funds: { status: 409, summary: 'The balance is too low for this transaction' },
  post_not_found: { status: 404, summary: 'No such board post' },
  owner_mismatch: { status: 403, summary: "Only an admin may deploy an agent whose manifest names another person as its owner" },
  task_access_denied: { status: 403, summary: "Only an agent's owner, an admin, or an identity the manifest shares it with (access.runTasks) may run or cancel its tasks" },
  reward_not_allowed: { status: 403, summary: 'This person may not reward or penalize this agent' },
  reward_limit_exceeded: { status: 429, summary: 'A reward or penalty limit was reached' },
  signature_invalid: { status: 401, summary: 'The webhook signature or timestamp does not verify' },
  payload_too_large: { status: 413, summary: 'The request body is too large' },
  unsupported_media_type: { status: 415, summary: 'The request body must be JSON' },
  rate_limited: { status: 429, summary: 'Too many requests for this token; retry after the Retry-After seconds' },
  upstream_failed: { status: 502, summary: 'An upstream provider failed; details name the provider and correlation id' },
  upstream_timeout: { status: 504, summary: 'An upstream provider did not answer in time; details name the provider and correlation id' },
  not_ready: { status: 503, summary: 'A dependency of the control plane is not ready' },
  runtime_unavailable: { status: 503, summary: 'The sandbox runtime does not answer' },
  bus_unavailable: { status: 503, summary: 'The message bus does not answer' },
  llm_unavailable: { status: 503, summary: 'No LLM provider is configured or reachable for the model' },
  llm_provider_auth: { status: 502, summary: 'The provider rejected the gateway credentials' },
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

/**
 * An upstream provider failed (seed 3: 5xx with the provider and a correlation id), so an
 * operator can find the call in the provider's own logs.
 */
export function upstreamError(input: { provider: string; correlationId: string; message: string; timedOut?: boolean; upstreamStatus?: number }): FlockError {
  const code = input.timedOut ? 'upstream_timeout' : 'upstream_failed';
  return new FlockError(code, `${input.provider}: ${input.message} (correlation id ${input.correlationId})`, {
    provider: input.provider,
    correlationId: input.correlationId,
    ...(input.upstreamStatus !== undefined ? { upstreamStatus: input.upstreamStatus } : {}),
  });
}
