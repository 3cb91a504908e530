import Dockerode from 'dockerode';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SystemStatus, TaskView } from '@aiflock/protocol';
import { execIn } from '../testkit/docker.js';
import { REPO_ROOT, testFlock, type TestFlock } from '../testkit/flock.js';
import { freePort } from '../testkit/ports.js';
import { deployWriter, upFlock } from '../testkit/agents.js';

/**
 * An agent in a real sandbox completes an LLM task through the daemon's gateway (embedded
 * GGUF model, over the bus), and neither the provider key nor any provider address is
 * visible inside the sandbox: not in its environment, its files, or `docker inspect`.
 */
const MODEL = resolve(REPO_ROOT, '..', 'shared', 'models', 'stories260K.gguf');
const CANARY_KEY = `sk-canary-${Math.random().toString(36).slice(2, 12)}`;
const docker = new Dockerode();
let flock: TestFlock;
let ollamaUrl: string;
let openaiUrl: string;

beforeAll(async () => {
  flock = await testFlock({ env: { AIFLOCK_EMBEDDER: 'auto' } });
  // A configured cloud provider with a key, and an Ollama address: the daemon knows both;
  // no sandbox may ever see them.
  ollamaUrl = `http://127.0.0.1:${await freePort()}`;
  openaiUrl = `http://127.0.0.1:${await freePort()}/v1`;
  Object.assign(flock.env, { AIFLOCK_LLM_MODEL_FILE: MODEL, AIFLOCK_OLLAMA_URL: ollamaUrl, AIFLOCK_OPENAI_URL: openaiUrl, AIFLOCK_OPENAI_API_KEY: CANARY_KEY });
  await upFlock(flock);
  await deployWriter(flock, 'Writes stories through the gateway.');
});

afterAll(async () => {
  await flock?.cleanup();
});

describe('LLM for agents in sandboxes', () => {
  it('says in status which model serves the flock', async () => {
    const s = await flock.cliJson<SystemStatus>(['status']);
    expect(s.llm).toMatchObject({ available: true, models: ['default', 'fast', 'coder', 'small', 'medium', 'large', 'embed'] });
    expect(s.llm!.detail).toContain('embedded model');
    const human = await flock.cli(['status']);
    expect(human.stdout).toMatch(/^llm: +default, fast, coder, small, medium, large, embed - embedded model /m);
    // The embedded chat model also sits behind "embed", but search does not use a story
    // model's vectors unless told to: status says which embedder the context plane uses and why
    // (MiniLM, once its worker has loaded it).
    const detail = 'all-MiniLM-L6-v2 (dimension 384): sentence embeddings in a worker thread, because the gateway\'s "embed" alias is only its embedded chat model (embedded)';
    await expect.poll(async () => (await flock.cliJson<SystemStatus>(['status'])).checks['context'], { timeout: 60_000, interval: 1_000 }).toEqual({ ok: true, detail: expect.stringContaining(detail) });
    expect((await flock.cli(['status'])).stdout).toMatch(/^context: +ok - all-MiniLM-L6-v2 \(dimension 384\)/m);
  });

  it('completes an llm task through the gateway with the embedded model', async () => {
    const input = JSON.stringify({ prompt: 'Once upon a time', params: { maxTokens: 24 } });
    const run = await flock.cli(['task', 'run', 'writer', '--type', 'llm', '--input', input, '--wait', '--json'], { timeoutMs: 120_000 });
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const t = JSON.parse(run.stdout) as TaskView;
    expect(t.status).toBe('completed');
    expect(t.result!.trim().length).toBeGreaterThan(10);
    expect(t.output).toMatchObject({ provider: 'embedded', model: 'default', usage: { tokensIn: expect.any(Number), tokensOut: expect.any(Number) } });
  });

  it('gets structured output that parses from the embedded model via the task handler', async () => {
    const schema = { type: 'object', properties: { mood: { enum: ['happy', 'sad'] }, steps: { type: 'integer' } }, required: ['mood', 'steps'] };
    const input = JSON.stringify({ prompt: 'Lily was', params: { maxTokens: 120, format: { schema } } });
    const run = await flock.cli(['task', 'run', 'writer', '--type', 'llm', '--input', input, '--wait', '--json'], { timeoutMs: 120_000 });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const t = JSON.parse(run.stdout) as TaskView;
    expect(t.status).toBe('completed');
    const parsed = JSON.parse(t.result!) as { mood: string; steps: number };
    expect(['happy', 'sad']).toContain(parsed.mood);
    expect(Number.isInteger(parsed.steps)).toBe(true);
  });

  it('shows no provider key or address inside the sandbox: env, files, docker inspect', async () => {
    const [c] = await docker.listContainers({ filters: { label: [`aiflock.flock=${flock.name}`, 'aiflock.agent=writer'] } });
    expect(c).toBeDefined();
    const container = docker.getContainer(c!.Id);
    const secrets = [CANARY_KEY, ollamaUrl.replace('http://', ''), openaiUrl.replace('http://', '').replace('/v1', ''), 'stories260K', ':11434'];
    const inspected = JSON.stringify(await container.inspect());
    for (const s of secrets) expect(inspected, `docker inspect shows ${s}`).not.toContain(s);
    const env = await execIn(container, ['env']);
    expect(env.exitCode).toBe(0);
    expect(env.stdout).toContain('AIFLOCK_INSTANCE_ID');
    for (const s of secrets) expect(env.stdout, `env shows ${s}`).not.toContain(s);
    // Every readable file outside the kernel's pseudo file systems (unreadable ones are skipped).
    const scan = (needle: string) => execIn(container, ['sh', '-c', `grep -rIls -e '${needle}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev; echo scanned`], 120_000);
    // The scan works: it finds what the runtime bundle really contains.
    expect((await scan('AIFLOCK_INSTANCE_ID')).stdout.trim().split('\n').length).toBeGreaterThan(1);
    for (const s of [CANARY_KEY, 'stories260K', ollamaUrl.replace('http://', '')]) {
      expect((await scan(s)).stdout.trim(), `files containing ${s}`).toBe('scanned');
    }
  });
});
