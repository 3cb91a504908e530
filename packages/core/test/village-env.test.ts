import { describe, expect, it } from 'vitest';
import { RuntimeEnv, VILLAGE_PERSONA_MAX } from '@aiflock/protocol';
import { parseManifest } from '../src/manifest/parse.js';
import { villageEnv } from '../src/manifest/village-env.js';

const base = { AIFLOCK_INSTANCE_ID: 'baker-ab12cd34', AIFLOCK_AGENT: 'baker', AIFLOCK_NATS_URL: 'nats://127.0.0.1:4222', AIFLOCK_HANDLERS: 'echo' };

describe('AIFLOCK_VILLAGE: a villager manifest as its sandbox learns it', () => {
  it('carries the village section in milliseconds, the persona and the model, and the runtime reads it back', () => {
    const { manifest } = parseManifest('---\nname: baker\nmodel: { name: fast }\nvillage: { policy: llm, every: 5s, decisionTimeout: 2s, home: bakery }\n---\nYou are Bea, the baker.\n', 'baker.agent.md');
    const text = villageEnv(manifest);
    const env = RuntimeEnv.parse({ ...base, AIFLOCK_VILLAGE: text });
    expect(env.AIFLOCK_VILLAGE).toEqual({ policy: 'llm', every: 5000, decisionTimeout: 2000, home: 'bakery', persona: 'You are Bea, the baker.', model: 'fast' });
  });

  it('defaults to rules without a model, and cuts a long persona', () => {
    const { manifest } = parseManifest(`---\nname: baker\nvillage: {}\n---\n${'x'.repeat(VILLAGE_PERSONA_MAX + 50)}\n`, 'baker.agent.md');
    const env = RuntimeEnv.parse({ ...base, AIFLOCK_VILLAGE: villageEnv(manifest) });
    expect(env.AIFLOCK_VILLAGE).toMatchObject({ policy: 'rules', every: 10_000, decisionTimeout: 8_000, model: null });
    expect(env.AIFLOCK_VILLAGE!.persona).toHaveLength(VILLAGE_PERSONA_MAX);
  });

  it('refuses a bad value, naming what is wrong', () => {
    const notJson = RuntimeEnv.safeParse({ ...base, AIFLOCK_VILLAGE: '{policy' });
    expect(notJson.success ? '' : notJson.error.issues[0]!.message).toBe('not JSON');
    const bad = RuntimeEnv.safeParse({ ...base, AIFLOCK_VILLAGE: JSON.stringify({ policy: 'dream', every: 1000, decisionTimeout: 100 }) });
    expect(bad.success ? '' : bad.error.issues[0]!.message).toMatch(/^policy: /);
    expect(bad.success ? [] : bad.error.issues[0]!.path).toEqual(['AIFLOCK_VILLAGE']);
  });

  it('is not set for an agent that does not live in the village', () => {
    const { manifest } = parseManifest('name: worker\n');
    expect(() => villageEnv(manifest)).toThrow(/has no village section/);
    expect(RuntimeEnv.parse(base).AIFLOCK_VILLAGE).toBeUndefined();
  });
});
