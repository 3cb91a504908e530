import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorldSnapshot } from '@aiflock/protocol';
import { REPO_ROOT, eventually, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * An `llm` villager in a real sandbox deciding through the daemon's gateway with the
 * embedded GGUF model: it declares the model that answers, and what it decides moves it in
 * the world. (The village e2e test runs the same villager in a flock with no model.)
 */
const MODEL = resolve(REPO_ROOT, '..', 'shared', 'models', 'stories260K.gguf');
let flock: TestFlock;

beforeAll(async () => {
  flock = await testFlock();
  Object.assign(flock.env, { AIFLOCK_LLM_MODEL_FILE: MODEL, AIFLOCK_OLLAMA_URL: 'http://127.0.0.1:9' });
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  const r = await flock.cli(['agent', 'deploy', join(REPO_ROOT, 'examples', 'village', 'scholar.agent.md')]);
  expect(r.code, r.stderr).toBe(0);
}, 400_000);

afterAll(async () => {
  await flock?.cleanup();
});

describe('an llm villager with the embedded model', () => {
  it('declares the model that decides for it, and acts on its decisions', async () => {
    const scholar = await eventually(async () => {
      const w = (await flock.api('/v1/world')).body as WorldSnapshot;
      const v = w.villagers.find((x) => x.name === 'scholar');
      return v?.policy === 'llm' && v.model === 'embedded/default' ? v : null;
    }, 'the scholar to declare embedded/default', 180_000);
    expect(scholar.status).toBe('active');
    // Its decisions reach the world: the agent view's world block shows what it did.
    const detail = await eventually(async () => {
      const a = (await flock.api('/v1/agents/scholar')).body as { world?: { recent?: { what: string }[] } };
      return (a.world?.recent?.length ?? 0) > 0 ? a.world : null;
    }, 'the scholar to do something', 120_000);
    expect(detail.recent!.length).toBeGreaterThan(0);
  }, 320_000);
});
