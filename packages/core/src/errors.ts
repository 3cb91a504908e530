import { ERROR_CODES, type ErrorCode } from '@aiflock/protocol';

// The table is part of the wire contract (clients read codes and statuses), so it lives in protocol.
export { ERROR_CODES, type ErrorCode };

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
