import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FallbackEmbedder, FlockError, GatewayEmbedder, LlmGateway, ModelRegistry, systemClock, type LlmProvider, type RegistryEntry } from '@aiflock/core';
import { startFakeLlm, type FakeLlmServer } from '../../../../testkit/llm-wire-servers.js';
import { OpenAiProvider } from '../../src/adapters/llm/openai.js';
import { OllamaProvider } from '../../src/adapters/llm/ollama.js';
import { EmbeddedProvider } from '../../src/adapters/llm/embedded.js';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { MiniLmEmbedder } from '../../src/adapters/embedding/minilm-embedder.js';
import { chooseEmbedder, contextPlane } from '../../src/context-plane.js';
import { loadConfig } from '../../src/config.js';
import { openVectorIndex } from '../../src/adapters/vector-index/open.js';
import { contextOn, corpusDocuments, fixedClock } from './harness.js';

const entry = (name: string, provider: string, model: string, fallbacks: string[] = []): RegistryEntry => ({
  name,
  provider,
  model,
  capabilities: ['embed'],
  contextWindow: 8192,
  pricePer1kIn: 0,
  pricePer1kOut: 0,
  fallbacks,
});

function gateway(providers: LlmProvider[], entries: RegistryEntry[]): LlmGateway {
  return new LlmGateway({
    providers,
    registry: new ModelRegistry(entries),
    policy: { attemptsPerProvider: 1, backoff: { baseMs: 1, maxMs: 1 }, deadlineMs: 10_000, attemptTimeoutMs: 5_000, breaker: { failureThreshold: 100, cooldownMs: 1_000 }, defaultMaxTokens: 16 },
    entitlementFor: () => ({}),
    clock: systemClock,
    sleep: async () => undefined,
    random: () => 0.5,
    newId: () => 'corr',
  });
}

const failure = async (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => {
      if (e instanceof FlockError) return { code: e.code, message: e.message };
      throw e;
    },
  );

const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

describe('context plane embedding through the LLM gateway (OpenAI-compatible and Ollama wire servers)', () => {
  let dir: string;
  let store: SqlStore;
  const servers: FakeLlmServer[] = [];
  const fake = async (wire: 'openai' | 'ollama', opts: { model?: string; embedDim?: number }) => {
    const s = await startFakeLlm(wire, opts);
    servers.push(s);
    return s;
  };
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiflock-gwemb-'));
    store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  });
  afterEach(async () => {
    await store.close();
    for (const s of servers.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records the served model and its dimension per collection; vectors are normalised and come from /v1/embeddings', async () => {
    const oa = await fake('openai', { model: 'text-embed-small', embedDim: 24 });
    const embedder = new GatewayEmbedder(gateway([new OpenAiProvider('oa', oa.url, 'sk-test')], [entry('embed', 'oa', 'text-embed-small')]));
    const { service } = await contextOn(store, { embedder });
    const r = await service.ingest({ collection: 'notes', documents: corpusDocuments().slice(0, 3), delete: [] });
    expect(r).toMatchObject({ collection: 'notes', model: 'oa/text-embed-small', dimension: 24 });
    expect(await store.context.collections.get('notes')).toMatchObject({ model: 'oa/text-embed-small', dimension: 24 });
    const chunks = await store.context.chunks.list('notes', { limit: 100 });
    expect(chunks.length).toBeGreaterThan(2);
    for (const c of chunks) {
      expect(c.model).toBe('oa/text-embed-small');
      expect(c.embedding).toHaveLength(24);
      expect(norm(c.embedding)).toBeCloseTo(1, 5);
    }
    const embeds = oa.requests.filter((q) => q.path === '/v1/embeddings');
    // One probe, then the chunks in batches: every text the store holds went over the wire.
    expect(embeds[0]!.body).toEqual({ model: 'text-embed-small', input: ['dimension probe'] });
    expect(embeds.slice(1).flatMap((q) => q.body.input as string[])).toHaveLength(chunks.length);
    expect(embeds.every((q) => q.headers.authorization === 'Bearer sk-test')).toBe(true);
    const res = await service.search({ q: 'backups', topK: 3, mode: 'vector' });
    expect(res.hits.length).toBeGreaterThan(0);
    expect(res.hits.every((h) => h.vectorRank !== null)).toBe(true);
  });

  it('a dimension change under the same model name is a clear error that stores nothing', async () => {
    const a = await fake('ollama', { model: 'nomic-embed-text', embedDim: 16 });
    const { service } = await contextOn(store, { embedder: new GatewayEmbedder(gateway([new OllamaProvider('ollama', a.url)], [entry('embed', 'ollama', 'nomic-embed-text')])) });
    await service.ingest({ collection: 'notes', documents: corpusDocuments().slice(0, 2), delete: [] });
    const before = await store.context.chunks.count('notes');
    const b = await fake('ollama', { model: 'nomic-embed-text', embedDim: 32 });
    const { service: wider } = await contextOn(store, { embedder: new GatewayEmbedder(gateway([new OllamaProvider('ollama', b.url)], [entry('embed', 'ollama', 'nomic-embed-text')])) });
    const err = await failure(wider.ingest({ collection: 'notes', documents: [{ id: 'new', kind: 'note', source: 'x', text: 'something new', tags: [] }], delete: [] }));
    expect(err.code).toBe('embedding_mismatch');
    expect(err.message).toContain('holds vectors from model ollama/nomic-embed-text (dimension 16)');
    expect(err.message).toContain('the configured embedder is ollama/nomic-embed-text (dimension 32)');
    expect(err.message).toContain('aiflock context reindex notes');
    expect(await store.context.chunks.count('notes')).toBe(before);
    expect(await store.context.documents.get('notes', 'new')).toBeUndefined();
  });

  it('after the model changes: keyword results with a note, then incremental and full re-indexing onto the new model', async () => {
    const old = await fake('openai', { model: 'old-embedder', embedDim: 8 });
    const { service } = await contextOn(store, { embedder: new GatewayEmbedder(gateway([new OpenAiProvider('oa', old.url)], [entry('embed', 'oa', 'old-embedder')])) });
    await service.ingest({ collection: 'corpus', documents: corpusDocuments(), delete: [] });
    const total = await store.context.chunks.count('corpus');
    const next = await fake('openai', { model: 'new-embedder', embedDim: 12 });
    const { service: now } = await contextOn(store, { embedder: new GatewayEmbedder(gateway([new OpenAiProvider('oa', next.url)], [entry('embed', 'oa', 'new-embedder')])) });
    const stale = await now.search({ q: 'token bucket', topK: 3, mode: 'hybrid' });
    expect(stale.notes[0]).toContain('embedded with oa/old-embedder, not the configured oa/new-embedder');
    expect(stale.hits.every((h) => h.vectorRank === null)).toBe(true);
    expect(await now.reindex('corpus', 'incremental')).toEqual({ collection: 'corpus', model: 'oa/new-embedder', dimension: 12, reembedded: total });
    expect(await store.context.chunks.count('corpus', 'oa/new-embedder')).toBe(0);
    expect((await now.reindex('corpus', 'incremental')).reembedded).toBe(0);
    expect((await now.reindex('corpus', 'full')).reembedded).toBe(total);
    const fresh = await now.search({ q: 'token bucket', topK: 3, mode: 'hybrid' });
    expect(fresh.notes).toEqual([]);
    expect(fresh.hits.some((h) => h.vectorRank !== null)).toBe(true);
    // The old model's service saw no re-index traffic.
    const oldTexts = old.requests.flatMap((q) => q.body.input as string[]);
    expect(oldTexts.length).toBe(1 + total + 0);
  });

  it('never fails over to another provider (its vectors would not compare): an outage is a clear error, hybrid search falls back to keywords, and the next call recovers', async () => {
    const main = await fake('openai', { model: 'emb-a', embedDim: 8 });
    const other = await fake('ollama', { model: 'emb-b', embedDim: 8 });
    const gw = gateway([new OpenAiProvider('main', main.url), new OllamaProvider('other', other.url)], [entry('embed', 'main', 'emb-a', ['embed-b']), entry('embed-b', 'other', 'emb-b')]);
    const embedder = new GatewayEmbedder(gw);
    const { service } = await contextOn(store, { embedder });
    main.next({ kind: 'error', status: 503, message: 'model is loading' });
    const down = await failure(service.ingest({ collection: 'notes', documents: corpusDocuments().slice(0, 1), delete: [] }));
    expect(down.code).toBe('llm_unavailable');
    expect(down.message).toMatch(/the context plane embeds with the LLM gateway's "embed" alias, which cannot answer now: .*model is loading/);
    expect(other.requests).toEqual([]);
    expect(await store.context.collections.get('notes')).toBeUndefined();
    // Recovers on the next call (the probe is retried).
    await service.ingest({ collection: 'notes', documents: corpusDocuments().slice(0, 2), delete: [] });
    expect(await store.context.collections.get('notes')).toMatchObject({ model: 'main/emb-a', dimension: 8 });
    // Deleting needs no model (it works while the model is down): no request reaches it.
    const asked = main.requests.length;
    const gone = corpusDocuments()[0]!.id!;
    expect((await service.ingest({ collection: 'notes', documents: [], delete: [gone] })).deleted).toEqual([{ id: gone, found: true }]);
    expect(main.requests.length).toBe(asked);
    // Down again: a hybrid search answers by keywords and says why; a vector search fails.
    main.next({ kind: 'error', status: 500, message: 'GPU fell over' });
    const kw = await service.search({ q: 'backup', topK: 3, mode: 'hybrid' });
    expect(kw.notes[0]).toMatch(/^keyword results only: .*GPU fell over/);
    expect(kw.hits.length).toBeGreaterThan(0);
    main.next({ kind: 'error', status: 500, message: 'GPU fell over' });
    expect((await failure(service.search({ q: 'backup', topK: 3, mode: 'vector' }))).code).toBe('llm_unavailable');
    expect(other.requests).toEqual([]);
  });

  it('config decides: hashing only when chosen, MiniLM under auto without an embedding model behind the embed alias (said plainly); gateway without the alias refuses to start', async () => {
    const cfg = (embedder: string) => loadConfig({ env: { AIFLOCK_HOME: dir, AIFLOCK_EMBEDDER: embedder } }).context;
    expect(loadConfig({ env: { AIFLOCK_HOME: dir } }).context.embedder).toBe('auto');
    const oa = await fake('openai', { model: 'emb', embedDim: 8 });
    const withAlias = gateway([new OpenAiProvider('oa', oa.url)], [entry('embed', 'oa', 'emb')]);
    const withoutAlias = gateway([new OpenAiProvider('oa', oa.url)], [{ ...entry('default', 'oa', 'chat'), capabilities: ['chat'] }]);
    expect(chooseEmbedder(cfg('auto'), withAlias).embedder).toBeInstanceOf(GatewayEmbedder);
    expect(chooseEmbedder(cfg('gateway'), withAlias).embedder).toBeInstanceOf(GatewayEmbedder);
    const plain = chooseEmbedder(cfg('auto'), withoutAlias);
    // MiniLM, with hashing behind it only if the model cannot load (minilm-embedder.test.ts).
    expect(plain.embedder).toBeInstanceOf(FallbackEmbedder);
    expect((plain.embedder as FallbackEmbedder).preferred).toBeInstanceOf(MiniLmEmbedder);
    expect(plain.embedder.model).toBe('all-MiniLM-L6-v2');
    expect(plain.detail).toBe('all-MiniLM-L6-v2 (dimension 384): sentence embeddings in a worker thread, because the LLM gateway has no "embed" alias (context.embedder: auto); configure llm.models.embed to use another model');
    expect(chooseEmbedder(cfg('auto'), null).embedder.model).toBe('all-MiniLM-L6-v2');
    // Chosen explicitly, there is no fallback: a model that cannot load is an error, not hashing.
    expect(chooseEmbedder(cfg('minilm'), withAlias).embedder).toBeInstanceOf(MiniLmEmbedder);
    expect(chooseEmbedder(cfg('hashing'), withAlias).detail).toBe('hashing-v1-256: lexical feature hashing, no model (context.embedder: hashing)');
    expect(() => chooseEmbedder(cfg('gateway'), null)).toThrow(/context.embedder is gateway but the LLM gateway has no "embed" alias/);
    expect(() => chooseEmbedder(cfg('gateway'), withoutAlias)).toThrow(/configure llm.models.embed/);
    expect(() => chooseEmbedder(cfg('gateway'), null)).toThrow(/or set context.embedder to minilm, hashing or auto/);
    expect(() => cfg('magic')).toThrow(/context\.embedder/);
    // With no registry configured, the embedded chat model sits behind "embed" too; auto does not embed with it.
    const implied = loadConfig({ env: { AIFLOCK_HOME: dir, AIFLOCK_LLM_MODEL_FILE: '/models/chat.gguf' } }).llm;
    const chatOnly = gateway([new EmbeddedProvider('embedded', { modelPath: '/models/chat.gguf', threads: 1, contextSize: 512 })], [entry('embed', 'embedded', 'embedded')]);
    const skipped = chooseEmbedder(cfg('auto'), chatOnly, implied);
    expect(skipped.embedder.model).toBe('all-MiniLM-L6-v2');
    expect(skipped.detail).toContain('all-MiniLM-L6-v2 (dimension 384): sentence embeddings in a worker thread, because the gateway\'s "embed" alias is only its embedded chat model (embedded), whose vectors are not fit for search');
    expect(chooseEmbedder(cfg('gateway'), chatOnly, implied).embedder).toBeInstanceOf(GatewayEmbedder);
    // Configured on purpose (llm.models.embed), auto uses it.
    const chosen = { ...implied, models: { embed: { ...entry('embed', 'embedded', 'embedded'), capabilities: ['embed' as const] } } };
    expect(chooseEmbedder(cfg('auto'), chatOnly, chosen).embedder).toBeInstanceOf(GatewayEmbedder);
  });

  it('the daemon\'s context plane says which embedder it uses, and names collections embedded with another model at startup', async () => {
    const { service: before } = await contextOn(store);
    await before.ingest({ collection: 'old-notes', documents: corpusDocuments().slice(0, 1), delete: [] });
    const oa = await fake('openai', { model: 'emb', embedDim: 8 });
    const logs: string[] = [];
    const config = loadConfig({ env: { AIFLOCK_HOME: dir, AIFLOCK_EMBEDDER: 'gateway' } });
    const plane = contextPlane({
      config: config.context,
      llm: config.llm,
      store: store.context,
      tasks: store.tasks,
      index: await openVectorIndex('store', store, () => undefined),
      gateway: gateway([new OpenAiProvider('oa', oa.url)], [entry('embed', 'oa', 'emb')]),
      clock: fixedClock(),
      log: (level, msg) => logs.push(`${level} ${msg}`),
    });
    expect(await plane.check()).toEqual({ ok: true, detail: 'oa/emb (dimension 8) from the LLM gateway\'s "embed" alias (oa)' });
    await expect.poll(() => logs.find((l) => l.includes('old-notes'))).toBe(
      'warn context: collection old-notes is embedded with hashing-v1-256 (dimension 256), the embedder is now oa/emb (dimension 8); search uses keywords only there until it is re-indexed: aiflock context reindex old-notes',
    );
    expect(logs).toContain('info memory: reflections and summaries are extractive (no LLM model "default")');
    // A model that never answered: status says so at once instead of waiting for it.
    const dead = await fake('openai', { model: 'emb', embedDim: 8 });
    dead.setDefault({ kind: 'hang' });
    const stuck = contextPlane({ ...{ config: config.context, llm: config.llm, store: store.context, tasks: store.tasks, clock: fixedClock(), log: () => undefined }, index: await openVectorIndex('store', store, () => undefined), gateway: gateway([new OpenAiProvider('oa', dead.url)], [entry('embed', 'oa', 'emb')]) });
    expect(await stuck.check()).toMatchObject({ ok: false, detail: expect.stringContaining('has not answered yet') });
  });
});
