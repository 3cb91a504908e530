import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { FallbackEmbedder, FlockError, HashingEmbedder, dot } from '@aiflock/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINILM_DIMENSION, MINILM_MODEL, MiniLmEmbedder } from '../../src/adapters/embedding/minilm-embedder.js';

/**
 * MiniLM (all-MiniLM-L6-v2 run by @lat.md/embed's WASM engine) in its worker thread: the
 * vectors are the model's (the model card's reference similarities), the daemon's event loop
 * does not run the forward passes, requests are batched and bounded, and a dead worker is
 * reported and replaced. One model load for most of the file.
 */
describe('MiniLM embedder', { timeout: 120_000 }, () => {
  const e = new MiniLmEmbedder();
  beforeAll(() => e.ready(), 60_000);
  afterAll(() => e.close());

  it('reproduces the model card\'s reference similarities (sentence-transformers all-MiniLM-L6-v2)', async () => {
    const [weather, sunny, stadium] = await e.embed(['The weather is lovely today.', "It's so sunny outside!", 'He drove to the stadium.']);
    expect(e.model).toBe(MINILM_MODEL);
    for (const v of [weather!, sunny!, stadium!]) {
      expect(v).toHaveLength(MINILM_DIMENSION);
      expect(dot(v, v)).toBeCloseTo(1, 5);
    }
    // From the model card: tensor([[1.0000, 0.6660, 0.1046], [0.6660, 1.0000, 0.1411], ...]).
    expect(dot(weather!, sunny!)).toBeCloseTo(0.666, 2);
    expect(dot(weather!, stadium!)).toBeCloseTo(0.1046, 2);
    expect(dot(sunny!, stadium!)).toBeCloseTo(0.1411, 2);
    // What hashing cannot do: a paraphrase with no shared word is closer than an unrelated sentence.
    const [reset, forgot, cat] = await e.embed(['reset my password', 'forgot my login', 'the cat sat on the mat']);
    expect(dot(reset!, forgot!)).toBeGreaterThan(dot(reset!, cat!) + 0.3);
  });

  it('runs the forward passes off the event loop: the main thread stays mostly idle while 40 sentences are embedded', async () => {
    const texts = Array.from({ length: 40 }, (_, i) => `sentence number ${i} about backups, ledgers and villagers`);
    const before = performance.eventLoopUtilization();
    const vectors = await e.embed(texts);
    const elu = performance.eventLoopUtilization(before);
    expect(vectors).toHaveLength(40);
    // Inline, the engine would hold the loop for the whole call (utilisation near 1).
    expect(elu.utilization).toBeLessThan(0.5);
  });

  it('coalesces concurrent requests into batches and answers each with its own vectors, in order', async () => {
    const requests = Array.from({ length: 10 }, (_, i) => [`first text of request ${i}`, `second text of request ${i}`]);
    const alone = await e.embed(requests[7]!);
    const sent = e.stats.batches;
    const answers = await Promise.all(requests.map((r) => e.embed(r)));
    expect(e.stats.batches - sent).toBeLessThan(requests.length);
    expect(answers.map((a) => a.length)).toEqual(requests.map(() => 2));
    for (let i = 0; i < 2; i++) expect(dot(answers[7]![i]!, alone[i]!)).toBeCloseTo(1, 5);
  });

  it('refuses at once, changing nothing, when more texts wait than the queue holds', async () => {
    const small = new MiniLmEmbedder({ maxQueued: 5 });
    try {
      const err = await small.embed(Array.from({ length: 6 }, (_, i) => `text ${i}`)).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(FlockError);
      expect((err as FlockError).code).toBe('rate_limited');
      expect((err as FlockError).message).toMatch(/has 0 texts waiting \(at most 5\); try again/);
      expect(small.stats.batches).toBe(0);
    } finally {
      await small.close();
    }
  });
});

describe('MiniLM worker failures', { timeout: 120_000 }, () => {
  it('a worker that dies fails the request it was embedding with a clear error, and a new worker serves the rest', async () => {
    const events: string[] = [];
    const e = new MiniLmEmbedder({ workerPath: fileURLToPath(new URL('./fixtures/dying-worker.mjs', import.meta.url)), batch: 2, onEvent: (l, m) => events.push(`${l} ${m}`) });
    try {
      await e.ready();
      const doomed = e.embed(['a sentence', 'exit now']);
      const queued = e.embed(['a later sentence']); // waits behind it, in its own batch
      await expect(doomed).rejects.toThrow(/the MiniLM embedding worker died \(exit code 3\) while embedding this request; it is being restarted/);
      const [v] = await queued;
      expect(v).toHaveLength(MINILM_DIMENSION);
      expect(e.stats.restarts).toBe(1);
      expect(events).toContain('warn context: the MiniLM embedding worker died (exit code 3); restarting it for the queued requests');
      expect((await e.embed(['and another']))[0]).toHaveLength(MINILM_DIMENSION);
    } finally {
      await e.close();
    }
  }, 120_000);

  it('a model that cannot load rejects ready() with the reason; under auto the hashing embedder takes over and says why', async () => {
    const broken = () => new MiniLmEmbedder({ files: async () => ({ weightsPath: '/nonexistent/model.safetensors', tokenizerPath: '/nonexistent/tokenizer.json', configPath: '/nonexistent/config.json', maxTokens: 256 }) });
    const alone = broken();
    await expect(alone.ready()).rejects.toThrow(/the MiniLM model did not load: .*nonexistent/);
    await expect(alone.embed(['x'])).rejects.toThrow(/did not load/);
    const auto = new FallbackEmbedder(broken(), new HashingEmbedder(256));
    const [v] = await auto.embed(['reset my password']);
    expect(auto.model).toBe('hashing-v1-256');
    expect(v).toEqual(new HashingEmbedder(256).embedOne('reset my password'));
    expect(auto.fellBack).toMatch(/did not load: .*nonexistent/);
  });

  it('a missing model package is a clear error', async () => {
    const e = new MiniLmEmbedder({ files: () => import('@lat.md/not-installed' as string) as never });
    await expect(e.ready()).rejects.toThrow(/the MiniLM model files cannot be found/);
  });
});
