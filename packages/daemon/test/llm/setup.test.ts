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
