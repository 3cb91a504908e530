import { FlockError, type ErrorCode } from '../errors.js';
import { LlmProviderError, type LlmErrorKind } from '../ports/llm-provider.js';

const KIND_TO_CODE: Record<LlmErrorKind, ErrorCode> = {
  validation: 'llm_invalid_request',
  auth: 'llm_provider_auth',
  rate_limit: 'llm_rate_limited',
  context_length: 'llm_context_length',
  content_policy: 'llm_content_policy',
  upstream: 'upstream_failed',
  timeout: 'upstream_timeout',
};

/** Worth trying the next provider for: it may have other keys, limits or a larger window. */
export const FAILOVER_KINDS: ReadonlySet<LlmErrorKind> = new Set<LlmErrorKind>(['rate_limit', 'upstream', 'timeout', 'auth', 'context_length']);

/** Anything an adapter throws becomes a classified provider error (unknown = upstream). */
export function asProviderError(err: unknown, provider: string): LlmProviderError {
  if (err instanceof LlmProviderError) return err;
  return new LlmProviderError('upstream', provider, err instanceof Error ? err.message : String(err));
}

/** The error the caller sees: the table's code for the kind, with provider, kind and correlation id in the details. */
export function toFlockError(e: LlmProviderError, correlationId: string, message?: string): FlockError {
  const details: Record<string, unknown> = { provider: e.provider, kind: e.kind, correlationId };
  if (e.opts.status !== undefined) details['providerStatus'] = e.opts.status;
  if (e.opts.retryAfterMs !== undefined) details['retryAfterMs'] = e.opts.retryAfterMs;
  return new FlockError(KIND_TO_CODE[e.kind], message ?? `${e.provider}: ${e.message}`, details);
}
