import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalModelList, ModelPullProgress, SystemStatus, TaskView } from '@aiflock/protocol';
import { launchBrowser, signIn } from '../testkit/browser.js';
import { eventually, testFlock, type TestFlock } from '../testkit/flock.js';
import { startFakeLlm, type FakeLlmServer } from '../testkit/llm-wire-servers.js';
import type { OllamaModelStore } from '../testkit/ollama-models.js';
import { startScriptedModel, type ScriptedModel } from '../testkit/scripted-model.js';

/**
 * Model management for the local provider against an Ollama-wire server (testkit): `aiflock
 * models list|pull|rm` through the daemon, pinned versions checked at start, warm-up at start,
 * and the provider policy reloaded without a restart (`aiflock llm reload` and SIGHUP), shown
 * by the next request following a changed route; and the web UI's job form sending an `llm`
 * job to the cloud provider only, which the gateway honours (a real sandbox, Chromium).
 */
let flock: TestFlock;
let local: ScriptedModel;
let store: OllamaModelStore;
let cloud: FakeLlmServer;
const WRONG_PIN = `sha256:${'0'.repeat(64)}`;

/** The llm section with `default` on `route` (local or cloud). */
const config = (route: 'local' | 'cloud', extra = '') => `llm:
  providers:
    local: { kind: ollama, url: "${local.url}" }
    cloud: { kind: openai, url: "${cloud.url}" }
  models:
    default: { provider: ${route}, model: ${route === 'local' ? 'qwen2.5:7b' : 'gpt-test'}, capabilities: [chat, stream, json], fallbacks: [${route === 'local' ? 'cloudy' : ''}] }
    cloudy: { provider: cloud, model: gpt-test, capabilities: [chat, stream, json] }
    qwen: { provider: local, model: "qwen2.5:7b", digest: "sha256:${store.digestOf({ name: 'qwen2.5:7b' })}", warmUp: true, keepAlive: 24h, capabilities: [chat, stream, json] }
    old: { provider: local, model: "old:1b", digest: "${WRONG_PIN}", capabilities: [chat] }
${extra}`;
const writeConfig = (text: string) => writeFile(join(flock.home, 'config.yaml'), text);
const providerOfNextCall = async () => {
  // The local model answers from its script; the cloud one with its default reply.
  local.script({ text: 'local says hi' });
  const r = await flock.api('/v1/llm/infer', { method: 'POST', body: { model: 'default', input: [{ role: 'user', content: 'hi' }] } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.provider as string;
};

beforeAll(async () => {
  local = await startScriptedModel('ollama');
  store = local.models!;
  store.hold({ name: 'qwen2.5:7b' });
  // Held, but not the version the config pins.
  store.hold({ name: 'old:1b', parameterSize: '1B' });
  store.offer({ name: 'nomic-embed-text', layers: [1 << 20, 2048], family: 'nomic-bert', parameterSize: '137M', quantization: 'F16' });
  cloud = await startFakeLlm('openai');
  flock = await testFlock();
  await writeConfig(config('local'));
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
}, 400_000);

afterAll(async () => {
  await flock?.cleanup();
  await local?.close();
  await cloud?.close();
});

describe('local models at start', () => {
  it('warms up the models that ask for it, with their keep_alive, and says so in the log', async () => {
    await flock.logShowing(/warming up model qwen2\.5:7b \(qwen\) on local, keep_alive 24h/);
    await flock.logShowing(/model qwen2\.5:7b \(qwen\) on local is loaded/);
    expect(store.loaded).toContainEqual({ model: 'qwen2.5:7b', keepAlive: '24h' });
    // Only the one that asked.
    expect(store.loaded.map((l) => l.model)).not.toContain('old:1b');
  });

  it('checks pinned versions: a matching pin is ok, another digest is flagged in the log and in status', async () => {
    await flock.logShowing(/model old:1b \(old\) on local is not the pinned version/);
    const status = await flock.cliJson<SystemStatus>(['status']);
    expect(status.llm?.pins).toEqual(
      expect.arrayContaining([
        { alias: 'qwen', digest: `sha256:${store.digestOf({ name: 'qwen2.5:7b' })}`, state: 'ok' },
        { alias: 'old', digest: WRONG_PIN, state: 'mismatch' },
      ]),
    );
    const text = await flock.cli(['status']);
    expect(text.stdout).toMatch(/pin: +old is NOT the pinned version/);
    expect(text.stdout).not.toMatch(/pin: +qwen/);
  });
});

describe('aiflock models', () => {
  it('list shows what the server holds, its digests and the aliases using each', async () => {
    const list = await flock.cliJson<LocalModelList>(['models', 'list']);
    expect(list.provider).toBe('local');
    const qwen = list.models.find((m) => m.name === 'qwen2.5:7b');
    expect(qwen).toMatchObject({ digest: `sha256:${store.digestOf({ name: 'qwen2.5:7b' })}`, family: 'qwen2', quantization: 'Q4_K_M', aliases: ['default', 'qwen'] });
    const text = await flock.cli(['models', 'list']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/qwen2\.5:7b +sha256:/);
    expect(text.stdout).toMatch(/pin old: MISMATCH/);
  });

  it('pull streams progress to the end and the model is then listed', async () => {
    const r = await flock.cli(['models', 'pull', 'nomic-embed-text']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/pulling manifest/);
    expect(r.stderr).toMatch(/pulling [0-9a-f]{12} 50% of 1 MB/);
    expect(r.stderr).toMatch(/100% of 1 MB/);
    const digest = `sha256:${store.digestOf({ name: 'nomic-embed-text' })}`;
    expect(r.stdout).toContain(`pulled nomic-embed-text (${digest})`);
    const list = await flock.cliJson<LocalModelList>(['models', 'list']);
    expect(list.models.map((m) => m.name)).toContain('nomic-embed-text:latest');
    // --json: Ollama's own lines, then success with the digest the server now holds.
    store.offer({ name: 'tiny:1m', layers: [100] });
    const json = await flock.cli(['models', 'pull', 'tiny:1m', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as ModelPullProgress);
    expect(lines[0]).toEqual({ status: 'pulling manifest' });
    expect(lines.some((l) => l.total === 100 && l.completed === 100)).toBe(true);
    expect(lines.at(-1)).toEqual({ status: 'success', digest: `sha256:${store.digestOf({ name: 'tiny:1m' })}` });
  });

  it('pull of a name the registry lacks fails with not-found and pulls nothing', async () => {
    const before = store.held().length;
    const r = await flock.cli(['models', 'pull', 'no-such-model:9b']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/has no model "no-such-model:9b".*file does not exist/);
    expect(store.held()).toHaveLength(before);
  });

  it('rm removes a model; removing it again is not found', async () => {
    const r = await flock.cli(['models', 'rm', 'nomic-embed-text']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/removed nomic-embed-text from local/);
    expect(store.held().map((m) => m.name)).not.toContain('nomic-embed-text:latest');
    const again = await flock.cli(['models', 'rm', 'nomic-embed-text', '--json']);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/llm_local_model_not_found/);
  });

  it('refuses a provider that is not Ollama, and one that does not exist, clearly', async () => {
    const cloudList = await flock.cli(['models', 'list', '--provider', 'cloud']);
    expect(cloudList.code).toBe(6);
    expect(cloudList.stderr).toMatch(/provider "cloud" is openai: only an Ollama provider's models/);
    const none = await flock.cli(['models', 'pull', 'x', '--provider', 'nope']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no LLM provider "nope"; configured: local \(ollama\), cloud \(openai\)/);
    // Admin only: a token without admin is refused.
    const token = await flock.cliJson<{ token: string }>(['token', 'create', '--name', 'reader', '--scope', 'llm:invoke']);
    const denied = await flock.api('/v1/llm/models', { token: token.token });
    expect(denied.status).toBe(403);
  });

  it('--help describes each command', async () => {
    for (const args of [['models', '--help'], ['models', 'pull', '--help'], ['llm', 'reload', '--help']]) {
      const r = await flock.cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/--json|pull|list/);
    }
  });
});

describe('reloading the provider policy', () => {
  it('aiflock llm reload applies a changed route to the next request', async () => {
    expect(await providerOfNextCall()).toBe('local');
    await writeConfig(config('cloud'));
    const r = await flock.cli(['llm', 'reload']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/reloaded: 4 models on cloud, local/);
    expect(await providerOfNextCall()).toBe('cloud');
    expect(cloud.requests.some((q) => q.path === '/v1/chat/completions' && q.body?.model === 'gpt-test')).toBe(true);
  });

  it('a bad llm section is refused, naming the fault, and changes nothing', async () => {
    const good = await readFile(join(flock.home, 'config.yaml'), 'utf8');
    await writeConfig(good.replace('default: { provider: cloud', 'default: { provider: nowhere'));
    const r = await flock.cli(['llm', 'reload']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown provider "nowhere"/);
    expect(await providerOfNextCall()).toBe('cloud');
    await writeConfig(good);
  });

  it('SIGHUP re-reads the file too', async () => {
    await writeConfig(config('local'));
    const { pid } = JSON.parse(await readFile(join(flock.home, 'daemon.json'), 'utf8')) as { pid: number };
    const reloads = ((await readFile(join(flock.home, 'daemon.log'), 'utf8')).match(/LLM gateway reloaded/g) ?? []).length;
    process.kill(pid, 'SIGHUP');
    await eventually(async () => ((await readFile(join(flock.home, 'daemon.log'), 'utf8')).match(/LLM gateway reloaded/g) ?? []).length > reloads, 'the daemon to log a second reload');
    expect(await providerOfNextCall()).toBe('local');
  });
});

describe("the web UI's per-request provider override", () => {
  it('an llm job created with "cloud only" is answered by the cloud provider, though local is the configured route', async () => {
    // After the reloads above `default` is local first, with the cloud model as its fallback.
    const file = join(flock.home, 'asker.agent.md');
    await writeFile(file, '---\nname: asker\nhandlers: [llm]\nresources: { cpu: 0.25, memory: 128Mi, pids: 32 }\n---\n');
    const d = await flock.cli(['agent', 'deploy', file]);
    expect(d.code, d.stderr).toBe(0);
    await eventually(async () => (await flock.api('/v1/agents/asker')).body?.replicas?.ready === 1, 'asker ready', 120_000);
    const browser = await launchBrowser('llm-override');
    try {
      const page = await browser.page();
      await signIn(page, flock.apiUrl, await flock.adminToken());
      await page.goto(`${flock.apiUrl}/#/admin/jobs`);
      const form = page.getByRole('form', { name: 'Create a job' });
      await form.getByLabel('Type (optional)').fill('llm');
      // Offered for llm jobs only.
      await form.getByLabel('LLM provider').selectOption('cloud');
      await form.getByLabel('Input (JSON or text)').fill('Say hello');
      const cloudCalls = cloud.requests.length;
      // Local would answer if asked (it is the configured route and is up): the override must skip it.
      local.script({ text: 'local answer' });
      await form.getByRole('button', { name: 'Create job' }).click();
      const queued = await eventually(async () => /queued (\S+)/.exec((await form.getByRole('status').textContent()) ?? '')?.[1], 'the job to be queued');
      const job = await eventually(async () => {
        const t = (await flock.api(`/v1/jobs/${queued}`)).body as TaskView;
        return t.status === 'completed' || t.status === 'failed' ? t : null;
      }, 'the llm job to end', 90_000);
      expect(job.status, job.error ?? '').toBe('completed');
      expect(job.input).toEqual({ prompt: 'Say hello', policy: 'cloud' });
      expect((job.output as { provider?: string }).provider).toBe('cloud');
      expect(cloud.requests.length).toBeGreaterThan(cloudCalls);
      expect(local.remaining).toBe(1);
      await browser.screenshot(page, 'job-provider-override');
      // The same job without the override follows the configured route.
      const plain = await flock.cli(['task', 'run', 'asker', '--type', 'llm', '--input', 'Say hello', '--wait', '--json'], { timeoutMs: 120_000 });
      const ran = JSON.parse(plain.stdout) as TaskView;
      expect(ran.status, ran.error ?? plain.stderr).toBe('completed');
      expect((ran.output as { provider?: string }).provider).toBe('local');
      expect(ran.result).toBe('local answer');
    } finally {
      await browser.close();
    }
  });
});
