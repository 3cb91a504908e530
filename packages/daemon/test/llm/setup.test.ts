import { systemClock } from '@aiflock/core';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlmServer } from '../../../../testkit/llm-wire-servers.js';
import { freePort } from '../../../../testkit/ports.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createLlmMetrics } from '../../src/llm/metrics.js';
import { setupLlm, type LlmSetup } from '../../src/llm/setup.js';
import { STORIES_MODEL } from './model-file.js';

const opened: Array<LlmSetup | FakeLlmServer> = [];
afterEach(async () => {
  while (opened.length) await opened.pop()!.close();
});

async function setup(env: Record<string, string>, fileText?: string) {
  const cfg = loadConfig({ env: { AIFLOCK_HOME: '/tmp/x', ...env }, fileText });
  const s = await setupLlm(cfg.llm, { clock: systemClock, log: () => undefined, metrics: createLlmMetrics(new Registry()) });
  opened.push(s);
  return s;
}

describe('LLM configuration and the embedded default', () => {
  it('uses Ollama on localhost when it answers, its first chat model behind the aliases', async () => {
    const ol = await startFakeLlm('ollama', { model: 'llama3' });
    opened.push(ol);
    const s = await setup({ AIFLOCK_OLLAMA_URL: ol.url });
    expect(s.gateway?.registry.names()).toEqual(['default', 'fast', 'coder', 'small', 'medium', 'large']);
    expect(s.gateway?.registry.get('default')).toMatchObject({ provider: 'ollama', model: 'llama3:latest' });
    expect(s.detail).toMatch(/^Ollama at http:\/\/127\.0\.0\.1:\d+, model llama3:latest/);
  });

  it('uses the embedded model when Ollama does not answer', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const s = await setup({ AIFLOCK_OLLAMA_URL: dead, AIFLOCK_LLM_MODEL_FILE: STORIES_MODEL });
    expect(s.gateway?.registry.names()).toEqual(['default', 'fast', 'coder', 'small', 'medium', 'large', 'embed']);
    expect(s.detail).toContain(`embedded model ${STORIES_MODEL}`);
    expect(s.detail).toContain(`Ollama did not answer at ${dead}`);
    const r = await s.gateway!.chat({ model: 'default', messages: [{ role: 'user', content: 'Once upon a time' }], maxTokens: 8 }, { id: 't' });
    expect(r.provider).toBe('embedded');
    expect(r.content.length).toBeGreaterThan(0);
  });

  it('says plainly when there is no LLM at all', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const s = await setup({ AIFLOCK_OLLAMA_URL: dead });
    expect(s.gateway).toBeNull();
    expect(s.detail).toMatch(/^no LLM provider: Ollama did not answer at .*; no embedded model is configured \(AIFLOCK_LLM_MODEL_FILE\)\. Agents use their non-LLM policy\.$/);
  });

  it('takes a registry from the config file as written', async () => {
    const s = await setup(
      {},
      `llm:
  providers:
    cloud: { kind: openai, url: "http://127.0.0.1:9/v1", apiKey: sk-x }
    claude: { kind: anthropic, url: "http://127.0.0.1:9" }
  models:
    default: { provider: cloud, model: gpt-4o-mini, fallbacks: [smart], pricePer1kIn: 0.15, pricePer1kOut: 0.6 }
    smart: { provider: claude, model: claude-sonnet, capabilities: [chat, tools] }
  entitlements:
    default: { requestsPerMinute: 10 }
    callers: { scout: { models: [default], concurrent: 2 } }
`,
    );
    expect(s.gateway?.registry.plan('default').map((r) => r.provider)).toEqual(['cloud', 'claude']);
    expect(s.detail).toMatch(/2 models on cloud, claude \(configured\)/);
  });

  it('names every bad field of a bad llm section', () => {
    const bad = () =>
      loadConfig({
        env: {},
        fileText: `llm:
  providers:
    x: { kind: openai }
    e: { kind: embedded }
  models:
    default: { provider: nowhere, model: m, fallbacks: [ghost] }
`,
      });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/llm\.providers\.x\.url: a openai provider needs url/);
    expect(bad).toThrow(/llm\.providers\.e\.modelFile: an embedded provider needs modelFile/);
    expect(bad).toThrow(/llm\.models\.default\.provider: unknown provider "nowhere"/);
    expect(bad).toThrow(/llm\.models\.default\.fallbacks: unknown model "ghost"/);
  });
});

describe('local model settings and reload', () => {
  it('refuses pins and warm-ups where they would do nothing: on a provider that is not Ollama, keepAlive without warmUp', () => {
    const load = (models: string) =>
      loadConfig({
        env: { AIFLOCK_HOME: '/tmp/x' },
        fileText: `llm:\n  providers:\n    cloud: { kind: openai, url: "http://127.0.0.1:9/v1" }\n    ollama: { url: "http://127.0.0.1:9" }\n  models:\n${models}`,
      });
    expect(() => load(`    default: { provider: cloud, model: m, digest: "sha256:${'a'.repeat(64)}" }\n`)).toThrow(/models\.default\.digest: digest needs an ollama provider; "cloud" is openai/);
    expect(() => load('    default: { provider: cloud, model: m, warmUp: true }\n')).toThrow(/warmUp needs an ollama provider/);
    expect(() => load('    default: { provider: ollama, model: m, keepAlive: 24h }\n')).toThrow(/keepAlive is how long the warm-up keeps the model loaded: set warmUp: true/);
    expect(() => load('    default: { provider: ollama, model: m, digest: "sha256:short" }\n')).toThrow(/a sha256 digest/);
    // A bare hex digest is the same pin with its prefix.
    expect(load(`    default: { provider: ollama, model: m, digest: "${'A'.repeat(64)}", warmUp: true, keepAlive: 24h }\n`).llm.models['default']).toMatchObject({ digest: `sha256:${'a'.repeat(64)}`, warmUp: true, keepAlive: '24h' });
  });

  it('reload swaps providers and routes for the next call; an invalid one changes nothing', async () => {
    const a = await startFakeLlm('openai', { model: 'a' });
    const b = await startFakeLlm('openai', { model: 'b' });
    opened.push(a, b);
    const file = (provider: string) => `llm:\n  providers:\n    pa: { kind: openai, url: "${a.url}" }\n    pb: { kind: openai, url: "${b.url}" }\n  models:\n    default: { provider: ${provider}, model: m }\n`;
    const s = await setup({}, file('pa'));
    const call = async () => (await s.gateway!.chat({ model: 'default', messages: [{ role: 'user', content: 'hi' }] }, { id: 't' })).provider;
    expect(await call()).toBe('pa');
    const reloaded = await s.reload(loadConfig({ env: { AIFLOCK_HOME: '/tmp/x' }, fileText: file('pb') }).llm);
    expect(reloaded).toMatchObject({ providers: ['pa', 'pb'], models: ['default'] });
    expect(await call()).toBe('pb');
    // What the schema would refuse, to show the gateway's own check holds too.
    const good = loadConfig({ env: { AIFLOCK_HOME: '/tmp/x' }, fileText: file('pb') }).llm;
    const broken = { ...good, models: { default: { ...good.models['default']!, provider: 'gone' } } };
    await expect(s.reload(broken)).rejects.toThrow(/"default" uses unknown provider "gone"/);
    expect(await call()).toBe('pb');
    expect(s.detail).toMatch(/on pb \(configured\)/);
  });
});
