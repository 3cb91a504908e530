import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SystemStatus, TaskStep, TaskView } from '@aiflock/protocol';
import { upFlock } from '../testkit/agents.js';
import { eventually, REPO_ROOT, testFlock, type TestFlock } from '../testkit/flock.js';

/**
 * The agent loop with the embedded GGUF model, a story model far too small to call tools:
 * the gateway has no tool-capable route for it, the loop asks again without tools, and the
 * task ends with the model's text as its answer. Status says no model can call tools.
 */
const MODEL = resolve(REPO_ROOT, '..', 'shared', 'models', 'stories260K.gguf');
let flock: TestFlock;

beforeAll(async () => {
  flock = await testFlock();
  // No Ollama where the daemon would look (a closed loopback port); the embedded model only.
  Object.assign(flock.env, { AIFLOCK_LLM_MODEL_FILE: MODEL, AIFLOCK_OLLAMA_URL: 'http://127.0.0.1:9' });
  await upFlock(flock);
  const file = join(flock.home, 'teller.agent.md');
  await writeFile(file, '---\nname: teller\nhandlers: [agent]\ntools: { shell: true, files: true }\nresources: { cpu: 0.5, memory: 192Mi, pids: 64, taskTimeout: 90s }\n---\nYou tell short stories.\n');
  const r = await flock.cli(['agent', 'deploy', file]);
  expect(r.code, r.stderr).toBe(0);
  await eventually(async () => (await flock.api('/v1/agents/teller')).body?.replicas?.ready === 1, 'teller ready', 120_000);
});

afterAll(async () => {
  await flock?.cleanup();
});

describe('agent loop with the embedded model', () => {
  it('says in status that no model can call tools', async () => {
    const s = await flock.cliJson<SystemStatus>(['status']);
    expect(s.llm).toMatchObject({ available: true, toolModels: [] });
    expect((await flock.cli(['status'])).stdout).toMatch(/^tools: +no model can call tools/m);
  });

  it('runs end to end and stops with an answer from a model that calls no tool', async () => {
    const run = await flock.cli(['task', 'run', 'teller', '--type', 'agent', '--input', 'Once upon a time', '--wait', '--json'], { timeoutMs: 150_000 });
    const t = JSON.parse(run.stdout) as TaskView;
    expect(t.status, t.error ?? '').toBe('completed');
    expect(t.result!.trim().length).toBeGreaterThan(0);
    expect(t.output).toMatchObject({ stop: 'answer', steps: 1, usage: { tokensOut: expect.any(Number) } });
    const steps = (await flock.api(`/v1/jobs/${t.id}/steps`)).body.steps as TaskStep[];
    expect(steps.map((s) => s.kind)).toEqual(['answer']);
    expect(steps[0]!.text).toBe(t.result);
    const logs = await flock.cli(['task', 'logs', t.id]);
    expect(logs.stdout).toMatch(/the model cannot call tools .*asking it for an answer without tools/);
    expect(logs.stdout).toMatch(/STEP  #0 answer: /);
  });
});
