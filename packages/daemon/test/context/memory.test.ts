import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  FlockError,
  HashingEmbedder,
  LlmGateway,
  MemoryService,
  ModelRegistry,
  extractiveReflector,
  llmReflector,
  llmSummariser,
  mountMemoryOps,
  systemClock,
  type LlmUsageEvent,
  type MemoryRecord,
  type Reflector,
  type Summariser,
} from '@aiflock/core';
import { startFakeLlm, type FakeLlmServer } from '../../../../testkit/llm-wire-servers.js';
import { opCaller } from '../../../../testkit/op-caller.js';
import { OpenAiProvider } from '../../src/adapters/llm/openai.js';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { contextOn, corpusDocuments, fixedClock } from './harness.js';

const HOUR = 3_600_000;

describe('agent memory streams on a real store', () => {
  let dir: string;
  let store: SqlStore;
  const embedder = new HashingEmbedder(256);
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiflock-mem-'));
    store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ranks by recency, importance and relevance together', async () => {
    const clock = fixedClock();
    const mem = new MemoryService({ store: store.context, embedder, clock });
    await mem.add('ada', { kind: 'observation', text: 'saw a red bicycle near the market', importance: 2 });
    clock.advance(48 * HOUR);
    await mem.add('ada', { kind: 'observation', text: 'saw a blue bicycle near the cafe', importance: 2 });
    await mem.add('ada', { kind: 'action', text: 'paid the rent at the town hall', importance: 9 });
    await mem.add('ada', { kind: 'observation', text: 'the weather is mild', importance: 1 });
    clock.advance(HOUR);
    // The recent, relevant bicycle first; the old bicycle still beats the recent, unimportant, unrelated weather.
    const bikes = await mem.recall('ada', 'bicycle', 4);
    expect(bikes[0]!.text).toBe('saw a blue bicycle near the cafe');
    const order = bikes.map((m) => m.text);
    expect(order.indexOf('saw a red bicycle near the market')).toBeLessThan(order.indexOf('the weather is mild'));
    expect(bikes[0]!.relevance).toBeGreaterThan(bikes.find((m) => m.text.includes('weather'))!.relevance);
    expect(bikes.find((m) => m.text.includes('red'))!.recency).toBeLessThan(bikes[0]!.recency);
    // Recall refreshed every returned memory's access time, so recency is now equal for all.
    const other = await mem.recall('ada', 'rent', 4);
    expect(other[0]!.text).toBe('paid the rent at the town hall');
    expect(other.map((m) => m.recency)).toEqual([1, 1, 1, 1]);
    // Recall refreshes access time: the old memory now decays from this moment.
    const red = (await store.context.memories.list('ada')).find((m) => m.text.includes('red'))!;
    expect(red.lastAccessedAt).toBe(clock.now().toISOString());
    // A person inspecting the stream (HTTP) does not refresh anything.
    clock.advance(HOUR);
    await mem.recall('ada', 'bicycle', 4, { touch: false });
    expect((await store.context.memories.list('ada')).find((m) => m.text.includes('red'))!.lastAccessedAt).toBe(red.lastAccessedAt);
    expect(await mem.recall('nobody', 'bicycle')).toEqual([]);
  });

  it('reflects once the importance of new memories adds up, through the injected reflector', async () => {
    const seen: MemoryRecord[][] = [];
    const reflector: Reflector = {
      reflect: async (_agent, recent) => {
        seen.push([...recent]);
        return [{ text: 'I spend a lot of time at the market', importance: 8 }];
      },
    };
    const mem = new MemoryService({ store: store.context, embedder, clock: fixedClock(), reflector, reflectionThreshold: 20 });
    for (let i = 0; i < 3; i++) expect((await mem.add('bo', { kind: 'observation', text: `market visit ${i}`, importance: 6 })).reflected).toBe(0);
    expect((await mem.add('bo', { kind: 'observation', text: 'market visit 3', importance: 6 })).reflected).toBe(1);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.map((m) => m.text)).toEqual(['market visit 3', 'market visit 2', 'market visit 1', 'market visit 0']);
    const newest = (await store.context.memories.list('bo', 1))[0]!;
    expect(newest).toMatchObject({ kind: 'reflection', text: 'I spend a lot of time at the market', importance: 8 });
    // The counter restarts after a reflection.
    expect((await mem.add('bo', { kind: 'observation', text: 'one more', importance: 6 })).reflected).toBe(0);
    expect(seen).toHaveLength(1);
    // A periodic caller can reflect on whatever is new, below the threshold; nothing new, no call.
    expect(await mem.reflect('bo')).toBe(1);
    expect(seen[1]!.map((m) => m.text)).toEqual(['one more']);
    expect(await mem.reflect('bo')).toBe(0);
    expect(seen).toHaveLength(2);
  });

  it('stays within its size bound by folding the oldest memories into a summary', async () => {
    const folded: string[][] = [];
    const summariser: Summariser = {
      summarise: async (_a, oldest) => {
        folded.push(oldest.map((m) => m.text));
        return `summary of ${oldest.length}`;
      },
    };
    const clock = fixedClock();
    const mem = new MemoryService({ store: store.context, embedder, clock, summariser, maxPerAgent: 10 });
    for (let i = 0; i < 25; i++) {
      clock.advance(1000);
      await mem.add('cy', { kind: 'observation', text: `event ${i}` });
      expect(await store.context.memories.count('cy')).toBeLessThanOrEqual(10);
    }
    expect(folded[0]).toEqual(['event 0', 'event 1']);
    const all = await store.context.memories.list('cy');
    expect(all.some((m) => m.kind === 'summary')).toBe(true);
    expect(all[0]!.text).toBe('event 24');
    // Other agents are untouched by cy's trimming.
    await mem.add('dee', { kind: 'observation', text: 'mine' });
    expect(await store.context.memories.count('dee')).toBe(1);
  });

  describe('reflection and summaries through the LLM gateway (OpenAI wire server)', () => {
    let llm: FakeLlmServer;
    const usage: LlmUsageEvent[] = [];
    const fallbacks: string[] = [];
    beforeEach(async () => {
      llm = await startFakeLlm('openai', { model: 'village-brain' });
      usage.length = 0;
      fallbacks.length = 0;
    });
    afterEach(() => llm.close());
    const gw = () =>
      new LlmGateway({
        providers: [new OpenAiProvider('oa', llm.url)],
        registry: new ModelRegistry([{ name: 'default', provider: 'oa', model: 'village-brain', capabilities: ['chat', 'json'], contextWindow: 8192, pricePer1kIn: 0, pricePer1kOut: 0, fallbacks: [] }]),
        policy: { attemptsPerProvider: 1, backoff: { baseMs: 1, maxMs: 1 }, deadlineMs: 10_000, attemptTimeoutMs: 5_000, breaker: { failureThreshold: 100, cooldownMs: 1_000 }, defaultMaxTokens: 64 },
        entitlementFor: () => ({}),
        clock: systemClock,
        sleep: async () => undefined,
        random: () => 0.5,
        newId: () => 'corr',
        observer: { usage: (e) => usage.push(e) },
      });
    const opts = { model: 'default', onFallback: (agent: string, what: string) => fallbacks.push(`${agent}:${what}`) };

    it('the model reads the recent memories and its insights become reflections, paid for by the agent', async () => {
      llm.next({ kind: 'reply', text: JSON.stringify({ insights: [{ text: 'Ada cares about the market more than the cafe', importance: 8 }, { text: 'Ada is short of money', importance: 6 }] }) });
      const mem = new MemoryService({ store: store.context, embedder, clock: fixedClock(), reflector: llmReflector(gw(), opts), reflectionThreshold: 10 });
      await mem.add('ada', { kind: 'observation', text: 'sold apples at the market', importance: 5 });
      expect((await mem.add('ada', { kind: 'action', text: 'skipped coffee to save money', importance: 5 })).reflected).toBe(2);
      const req = llm.requests.find((r) => r.path === '/v1/chat/completions')!;
      expect(req.body.response_format.type).toBe('json_schema');
      const prompt = JSON.stringify(req.body.messages);
      expect(prompt).toContain('sold apples at the market');
      expect(prompt).toContain('skipped coffee to save money');
      const reflections = (await store.context.memories.list('ada')).filter((m) => m.kind === 'reflection');
      expect(reflections.map((m) => [m.text, m.importance]).sort()).toEqual([
        ['Ada cares about the market more than the cafe', 8],
        ['Ada is short of money', 6],
      ]);
      expect(usage.map((u) => [u.caller, u.agent])).toEqual([['ada', 'ada']]);
      expect(fallbacks).toEqual([]);
    });

    it('a failing or off-shape model leaves an extractive reflection instead, and says so', async () => {
      const mem = new MemoryService({ store: store.context, embedder, clock: fixedClock(), reflector: llmReflector(gw(), opts), reflectionThreshold: 1_000 });
      await mem.add('bo', { kind: 'observation', text: 'the bridge collapsed', importance: 9 });
      await mem.add('bo', { kind: 'observation', text: 'ate lunch', importance: 1 });
      llm.next({ kind: 'error', status: 500, message: 'boom' });
      expect(await mem.reflect('bo')).toBe(1);
      llm.next({ kind: 'reply', text: 'Once upon a time there was a bridge' });
      await mem.add('bo', { kind: 'observation', text: 'a boat passed', importance: 2 });
      expect(await mem.reflect('bo')).toBe(1);
      expect(fallbacks).toEqual(['bo:reflect', 'bo:reflect']);
      const [latest, first] = (await store.context.memories.list('bo')).filter((m) => m.kind === 'reflection');
      expect(first!.text).toBe('What stood out among my last 2 memories: the bridge collapsed; ate lunch');
      expect(first!.importance).toBe(10);
      expect(latest!.text).toBe('What stood out among my last 1 memories: a boat passed');
    });

    it('summaries of folded memories come from the model, or are extractive when it fails', async () => {
      llm.setDefault({ kind: 'reply', text: 'Cy spent the week counting events.' });
      const clock = fixedClock();
      const mem = new MemoryService({ store: store.context, embedder, clock, summariser: llmSummariser(gw(), opts), maxPerAgent: 10 });
      for (let i = 0; i < 11; i++) {
        clock.advance(1000);
        await mem.add('cy', { kind: 'observation', text: `event ${i}` });
      }
      const summary = (await store.context.memories.list('cy')).find((m) => m.kind === 'summary')!;
      expect(summary.text).toBe('Summary of 2 earlier memories: Cy spent the week counting events.');
      expect(JSON.stringify(llm.requests.at(-1)!.body.messages)).toContain('event 0');
      llm.setDefault({ kind: 'error', status: 503, message: 'overloaded' });
      for (let i = 11; i < 13; i++) {
        clock.advance(1000);
        await mem.add('cy', { kind: 'observation', text: `event ${i}` });
      }
      expect(fallbacks).toContain('cy:summarise');
      expect((await store.context.memories.list('cy')).filter((m) => m.kind === 'summary').some((m) => m.text.startsWith('Summary of') && m.text.includes('[observation]'))).toBe(true);
      expect(await store.context.memories.count('cy')).toBeLessThanOrEqual(10);
    });

    it('without any model, reflection is extractive (what the daemon uses with no LLM)', async () => {
      const mem = new MemoryService({ store: store.context, embedder, clock: fixedClock(), reflector: extractiveReflector, reflectionThreshold: 12 });
      await mem.add('dee', { kind: 'observation', text: 'met Ada', importance: 4 });
      await mem.add('dee', { kind: 'observation', text: 'lost my key', importance: 7 });
      expect((await mem.add('dee', { kind: 'observation', text: 'found a coin', importance: 2 })).reflected).toBe(1);
      expect((await store.context.memories.list('dee', 1))[0]).toMatchObject({ kind: 'reflection', text: 'What stood out among my last 3 memories: lost my key; met Ada; found a coin', importance: 8 });
    });
  });

  describe('over the bus (through the RPC router, by the catalogue)', () => {
    const setup = async () => {
      const { service: context } = await contextOn(store);
      const memory = new MemoryService({ store: store.context, embedder, clock: fixedClock() });
      await context.ingest({ collection: 'shared', documents: corpusDocuments(), delete: [] });
      await context.ingest({ collection: 'secret', documents: [{ id: 's', kind: 'note', source: 'vault', text: 'the launch code is 1234', tags: [] }], delete: [] });
      await context.configureCollection('shared', ['scout']);
      return opCaller((rpc) => mountMemoryOps(rpc, { memory, context }));
    };
    const scout = { instanceId: 'scout-abcd1234', agent: 'scout' };
    const spy = { instanceId: 'spy-abcd1234', agent: 'spy' };
    const failure = async (p: Promise<unknown>) => p.then(() => null, (e: unknown) => (e instanceof FlockError ? e.code : String(e)));

    it('an agent reads and writes only its own memory stream', async () => {
      const h = await setup();
      await h(scout, 'memory.add', { kind: 'observation', text: 'the password is under the mat' });
      expect((await h(scout, 'memory.recall', { query: 'password' })).memories[0]!.text).toBe('the password is under the mat');
      expect((await h(spy, 'memory.recall', { query: 'password' })).memories).toEqual([]);
      // Naming another agent in the input is refused, and nothing is written.
      expect(await failure(h(spy, 'memory.add', { kind: 'observation', text: 'x', agent: 'scout' }))).toBe('validation_failed');
      expect(await failure(h(spy, 'memory.recall', { query: 'password', agent: 'scout' }))).toBe('validation_failed');
      expect(await failure(h(spy, 'memory.add', { kind: 'summary', text: 'x' }))).toBe('validation_failed');
      expect(await store.context.memories.count('scout')).toBe(1);
      expect(await store.context.memories.count('spy')).toBe(0);
    });

    it('memory.reflect reflects on what is new in the caller\'s own stream only', async () => {
      const { service: context } = await contextOn(store);
      const seen: string[] = [];
      const memory = new MemoryService({ store: store.context, embedder, clock: fixedClock(), reflector: { reflect: async (agent, recent) => (seen.push(`${agent}:${recent.length}`), [{ text: `${agent} thought`, importance: 5 }]) } });
      const h = opCaller((rpc) => mountMemoryOps(rpc, { memory, context }));
      await h(scout, 'memory.add', { kind: 'observation', text: 'a fox crossed the road' });
      await h(spy, 'memory.add', { kind: 'observation', text: 'nothing happened' });
      expect(await h(scout, 'memory.reflect', {})).toEqual({ reflections: 1 });
      expect(seen).toEqual(['scout:1']);
      expect(await h(scout, 'memory.reflect', {})).toEqual({ reflections: 0 });
      expect(await failure(h(scout, 'memory.reflect', { agent: 'spy' }))).toBe('validation_failed');
      expect(seen).toEqual(['scout:1']);
      expect((await store.context.memories.list('spy')).map((m) => m.kind)).toEqual(['observation']);
    });

    it('an agent searches only collections shared with it, and cannot tell missing from forbidden', async () => {
      const h = await setup();
      const res = await h(scout, 'context.search', { q: 'token bucket', collection: 'shared' });
      expect(res.hits[0]!.documentId).toBe('ratelimit.py');
      expect(await failure(h(scout, 'context.search', { q: 'launch code', collection: 'secret' }))).toBe('context_forbidden');
      expect(await failure(h(spy, 'context.search', { q: 'token', collection: 'shared' }))).toBe('context_forbidden');
      expect(await failure(h(scout, 'context.search', { q: 'x', collection: 'does-not-exist' }))).toBe('context_forbidden');
      expect(await failure(h(scout, 'context.search', { q: 'x', collection: '../secret' }))).toBe('validation_failed');
    });
  });
});
