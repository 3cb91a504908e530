import type { HttpOptions } from '../packages/daemon/src/http/app.js';

/**
 * HTTP options for an API built in a test or benchmark: no CORS origins, generous body and
 * rate limits (they are tested on their own), and the loopback bypass off unless asked for.
 */
export function testHttpOptions(overrides: Partial<HttpOptions> = {}): HttpOptions {
  return {
    corsOrigins: [],
    ownOrigins: () => [],
    bodyLimitBytes: 4 * 1024 * 1024,
    largeBodyLimitBytes: 16 * 1024 * 1024,
    rateLimit: { max: 100_000_000, windowMs: 60_000 },
    devBypassLoopback: false,
    ...overrides,
  };
}
