import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RuntimeEnv } from '@aiflock/protocol';

const SRC = join(import.meta.dirname, '..', 'src');
const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

describe('the runtime environment contract', () => {
  it('every AIFLOCK_* variable the agent runtime names is declared in RuntimeEnv', () => {
    const named = new Set(sources(SRC).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\bAIFLOCK_[A-Z0-9_]+\b/g)].map((m) => m[0])));
    expect(named.size).toBeGreaterThan(5);
    const declared = new Set(Object.keys(RuntimeEnv.shape));
    expect([...named].filter((n) => !declared.has(n)).sort()).toEqual([]);
  });
});
