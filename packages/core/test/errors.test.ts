import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, upstreamError } from '../src/index.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (f === 'node_modules' || f === 'dist' || f === 'test') return [];
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('error code table', () => {
  it('holds every code the packages throw', () => {
    const root = join(import.meta.dirname, '..', '..');
    const used = new Set<string>();
    for (const file of sources(root)) {
      for (const m of readFileSync(file, 'utf8').matchAll(/FlockError\(\s*'([a-z_]+)'/g)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(5);
    for (const code of used) expect(Object.keys(ERROR_CODES), `code ${code}`).toContain(code);
  });

  it('follows the taxonomy: caller faults are 4xx, ours and upstream 5xx', () => {
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      const server = ['internal', 'not_ready', 'runtime_unavailable', 'bus_unavailable', 'upstream_failed', 'upstream_timeout', 'llm_unavailable', 'llm_provider_auth', 'manifest_integrity_failed'].includes(code);
      expect(status >= 500, code).toBe(server);
      expect(status >= 400 && status < 600, code).toBe(true);
    }
  });

  it('upstream failures are 5xx naming the provider and the correlation id', () => {
    const e = upstreamError({ provider: 'ollama', correlationId: 'req-42', message: 'model not loaded', upstreamStatus: 500 });
    expect(e.status).toBe(502);
    expect(e.message).toContain('ollama');
    expect(e.message).toContain('req-42');
    expect(e.details).toEqual({ provider: 'ollama', correlationId: 'req-42', upstreamStatus: 500 });
    expect(upstreamError({ provider: 'openai', correlationId: 'c', message: 'slow', timedOut: true }).code).toBe('upstream_timeout');
  });

  it('auth and policy refusals are 401, 403 and 429', () => {
    expect(ERROR_CODES.unauthenticated.status).toBe(401);
    expect(ERROR_CODES.forbidden.status).toBe(403);
    expect(ERROR_CODES.csrf_failed.status).toBe(403);
    expect(ERROR_CODES.rate_limited.status).toBe(429);
    expect(ERROR_CODES.quota_exceeded.status).toBe(429);
  });

  it('has one code per meaning: the LLM-specific twins of quota, upstream and model refusals are gone', () => {
    // The gateway and the economy once answered the same failure with different codes;
    // clients switch on codes, so each meaning has exactly one.
    for (const retired of ['llm_quota_exceeded', 'llm_upstream', 'llm_timeout', 'llm_model_not_allowed']) expect(Object.keys(ERROR_CODES)).not.toContain(retired);
    const summaries = Object.values(ERROR_CODES).map((c) => c.summary);
    expect(new Set(summaries).size).toBe(summaries.length);
  });
});
