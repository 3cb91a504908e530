import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/index.js';

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
      const server = ['internal', 'not_ready', 'runtime_unavailable', 'bus_unavailable', 'llm_unavailable', 'llm_provider_auth', 'llm_upstream', 'llm_timeout'].includes(code);
      expect(status >= 500, code).toBe(server);
      expect(status >= 400 && status < 600, code).toBe(true);
    }
  });
});
