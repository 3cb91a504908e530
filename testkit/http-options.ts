import type { HttpOptions } from '../packages/daemon/src/http/app.js';

/**
 * HTTP options for an API built in a test or benchmark: no CORS origins, generous body and
 * rate limits (they are tested on their own), the loopback bypass off unless asked for, and
 * undocumented success statuses refused.
 */
export function testHttpOptions(overrides: Partial<HttpOptions> = {}): HttpOptions {
  return {
    corsOrigins: [],
    ownOrigins: () => [],
    bodyLimitBytes: 4 * 1024 * 1024,
    largeBodyLimitBytes: 16 * 1024 * 1024,
    rateLimit: { max: 100_000_000, windowMs: 60_000 },
    devBypassLoopback: false,
    // A success status a route does not document fails the test that meets it.
    strictStatuses: true,
    ...overrides,
  };
}
