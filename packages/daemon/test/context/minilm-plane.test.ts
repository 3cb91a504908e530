import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashingEmbedder, MemoryService } from '@aiflock/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVectorIndex } from '../../src/adapters/vector-index/open.js';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { loadConfig } from '../../src/config.js';
import { contextPlane, type ContextPlane } from '../../src/context-plane.js';
import { contextOn, fixedClock } from './harness.js';

/**
 * The daemon's context plane with the default configuration (context.embedder: auto, no LLM
 * gateway): it embeds with MiniLM, says so in status, gives villagers' memories the same
 * model's relevance, and does not mix a hashing-embedded collection's vectors with MiniLM's
 * (keywords only there until re-indexed).
 */
describe('context plane with MiniLM by default', { timeout: 120_000 }, () => {
  let dir: string;
  let store: SqlStore;
  let plane: ContextPlane;
  const logs: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiflock-minilm-plane-'));
    store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
    // A collection written before, with the hashing embedder.
    const { service: before } = await contextOn(store);
    await before.ingest({ collection: 'old-notes', documents: [{ id: 'login', kind: 'note', source: 'notes/login', text: 'Forgot your login? Ask for a recovery link by email and pick a new secret phrase.', tags: [] }, { id: 'router', kind: 'note', source: 'notes/router', text: 'Hold the reset button on the router for ten seconds to restore factory settings.', tags: [] }], delete: [] });
    const config = loadConfig({ env: { AIFLOCK_HOME: dir } });
    expect(config.context.embedder).toBe('auto');
    plane = contextPlane({ config: config.context, llm: config.llm, store: store.context, tasks: store.tasks, index: await openVectorIndex('store', store, () => undefined), gateway: null, clock: fixedClock(), log: (level, msg) => void logs.push(`${level} ${msg}`) });
  }, 60_000);
  afterAll(async () => {
    await plane?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('status says MiniLM is in use and why, once its worker has loaded it', async () => {
    expect(logs).toContain('info context embedder: all-MiniLM-L6-v2 (dimension 384): sentence embeddings in a worker thread, because the LLM gateway has no "embed" alias (context.embedder: auto); configure llm.models.embed to use another model');
    await expect.poll(() => plane.check(), { timeout: 60_000, interval: 500 }).toEqual({
      ok: true,
      detail: 'all-MiniLM-L6-v2 (dimension 384): sentence embeddings in a worker thread, because the LLM gateway has no "embed" alias (context.embedder: auto); configure llm.models.embed to use another model',
    });
  }, 70_000);

  it('names the collection embedded with another model, searches it by keywords only, and re-indexing makes it semantic', async () => {
    await expect.poll(() => logs.find((l) => l.includes('old-notes'))).toBe(
      'warn context: collection old-notes is embedded with hashing-v1-256 (dimension 256), the embedder is now all-MiniLM-L6-v2 (dimension 384); search uses keywords only there until it is re-indexed: aiflock context reindex old-notes',
    );
    const stale = await plane.context.search({ q: 'reset my password', topK: 2, mode: 'hybrid' });
    expect(stale.notes.join(' ')).toContain('collection "old-notes" is embedded with hashing-v1-256, not the configured all-MiniLM-L6-v2: keyword results only until it is re-indexed');
    expect(stale.hits.map((h) => h.documentId)).toEqual(['router']); // the only shared word: "reset"
    expect(await plane.context.reindex('old-notes', 'full')).toEqual({ collection: 'old-notes', model: 'all-MiniLM-L6-v2', dimension: 384, reembedded: 2 });
    const fresh = await plane.context.search({ q: 'reset my password', topK: 2, mode: 'vector' });
    expect(fresh.notes).toEqual([]);
    expect(fresh.hits[0]!.documentId).toBe('login');
  }, 60_000);

  it('villagers\' memories are embedded by the same model: relevance follows meaning, where hashing follows shared words', async () => {
    const memories = ['I forgot my login to the town hall terminal', 'The blacksmith had to reset the anvil on its stand', 'Bought bread at the bakery this morning'];
    for (const text of memories) await plane.memory.add('villager-ada', { kind: 'observation', text, importance: 5 });
    const recalled = await plane.memory.recall('villager-ada', 'reset my password', 3);
    const relevance = (rs: typeof recalled, text: string) => rs.find((r) => r.text === text)!.relevance;
    expect(relevance(recalled, memories[0]!)).toBeGreaterThan(relevance(recalled, memories[1]!));
    expect(recalled[0]!.text).toBe(memories[0]);
    expect(await store.context.memories.list('villager-ada')).toSatisfy((ms: { model: string }[]) => ms.length === 3 && ms.every((m) => m.model === 'all-MiniLM-L6-v2'));
    // The same stream with the lexical embedder ranks the other "reset" first.
    const lexical = new MemoryService({ store: store.context, embedder: new HashingEmbedder(256), clock: fixedClock() });
    for (const text of memories) await lexical.add('villager-bo', { kind: 'observation', text, importance: 5 });
    const byWords = await lexical.recall('villager-bo', 'reset my password', 3);
    expect(relevance(byWords, memories[1]!)).toBeGreaterThan(relevance(byWords, memories[0]!));
  }, 60_000);
});
