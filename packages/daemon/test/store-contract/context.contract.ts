import { beforeEach, describe, expect, it } from 'vitest';
import { HashingEmbedder, type ChunkRecord, type DocumentRecord, type MemoryRecord, type Store } from '@aiflock/core';

/** Collections, documents, chunks and agent memories: the same behaviour on every backend. */
export function contract(open: () => Promise<Store>): void {
  describe('context store', () => {
    let store: Store;
    const emb = new HashingEmbedder(32);
    const ts = '2026-03-01T00:00:00.000Z';
    const doc = (over: Partial<DocumentRecord> = {}): DocumentRecord => ({
      collection: 'notes',
      id: 'a.md',
      kind: 'document',
      source: 'docs/a.md',
      title: 'A',
      tags: ['ops', 'x'],
      owner: null,
      contentHash: 'a'.repeat(64),
      createdAt: ts,
      updatedAt: ts,
      ...over,
    });
    const chunk = (docId: string, ord: number, text: string, over: Partial<ChunkRecord> = {}): ChunkRecord => ({
      collection: 'notes',
      id: `${docId}#${ord}`,
      documentId: docId,
      ord,
      heading: ord ? `H${ord}` : null,
      text,
      tokens: text.length,
      model: emb.model,
      embedding: emb.embedOne(text),
      ...over,
    });

    beforeEach(async () => {
      store = await open();
      await store.context.collections.upsert({ name: 'notes', model: emb.model, dimension: 32, sharedWith: ['scout'], createdAt: ts, updatedAt: ts });
    });

    it('keeps collections with their model, dimension and sharing', async () => {
      expect(await store.context.collections.get('notes')).toEqual({ name: 'notes', model: emb.model, dimension: 32, sharedWith: ['scout'], createdAt: ts, updatedAt: ts });
      await store.context.collections.upsert({ name: 'notes', model: 'm2', dimension: 8, sharedWith: [], createdAt: ts, updatedAt: ts });
      expect((await store.context.collections.list()).map((c) => [c.name, c.model, c.dimension])).toEqual([['notes', 'm2', 8]]);
      expect(await store.context.collections.get('nope')).toBeUndefined();
    });

    it('replaces a document and its chunks atomically, returning the old chunk ids; vectors round-trip exactly', async () => {
      const first = [chunk('a.md', 0, 'alpha one'), chunk('a.md', 1, 'alpha two'), chunk('a.md', 2, 'alpha three')];
      expect(await store.context.documents.replace(doc(), first)).toEqual([]);
      const back = await store.context.chunks.ofDocument('notes', 'a.md');
      expect(back).toEqual(first);
      const second = [chunk('a.md', 0, 'alpha new')];
      expect((await store.context.documents.replace(doc({ title: 'A2' }), second)).sort()).toEqual(['a.md#0', 'a.md#1', 'a.md#2']);
      expect(await store.context.chunks.ofDocument('notes', 'a.md')).toEqual(second);
      expect((await store.context.documents.get('notes', 'a.md'))?.title).toBe('A2');
      expect(await store.context.chunks.count('notes')).toBe(1);
    });

    it('removes a document with its chunks; a missing one is reported as undefined', async () => {
      await store.context.documents.replace(doc(), [chunk('a.md', 0, 'x'), chunk('a.md', 1, 'y')]);
      await store.context.documents.replace(doc({ id: 'b.md' }), [chunk('b.md', 0, 'z')]);
      expect((await store.context.documents.remove('notes', 'a.md'))?.sort()).toEqual(['a.md#0', 'a.md#1']);
      expect(await store.context.documents.remove('notes', 'a.md')).toBeUndefined();
      expect(await store.context.documents.get('notes', 'a.md')).toBeUndefined();
      expect((await store.context.chunks.list('notes', { limit: 10 })).map((c) => c.id)).toEqual(['b.md#0']);
    });

    it('finds chunks by collection, every given tag, and exact or prefix source', async () => {
      await store.context.collections.upsert({ name: 'code', model: emb.model, dimension: 32, sharedWith: [], createdAt: ts, updatedAt: ts });
      await store.context.documents.replace(doc(), [chunk('a.md', 0, 'a')]);
      await store.context.documents.replace(doc({ id: 'b.md', source: 'docs/sub/b.md', tags: ['ops'] }), [chunk('b.md', 0, 'b')]);
      await store.context.documents.replace(doc({ collection: 'code', id: 'c.ts', source: 'src/c.ts', tags: [] }), [chunk('c.ts', 0, 'c', { collection: 'code' })]);
      const ids = async (f: Parameters<Store['context']['chunks']['find']>[0]) => (await store.context.chunks.find(f)).map((r) => `${r.chunk.collection}:${r.chunk.id}`);
      expect(await ids({ collections: ['notes'] })).toEqual(['notes:a.md#0', 'notes:b.md#0']);
      expect(await ids({ collections: ['notes', 'code'] })).toEqual(['code:c.ts#0', 'notes:a.md#0', 'notes:b.md#0']);
      expect(await ids({ collections: ['notes'], tags: ['ops', 'x'] })).toEqual(['notes:a.md#0']);
      expect(await ids({ collections: ['notes'], source: 'docs/sub/*' })).toEqual(['notes:b.md#0']);
      expect(await ids({ collections: ['notes'], source: 'docs/sub' })).toEqual([]);
      expect(await ids({ collections: [] })).toEqual([]);
      const [hit] = await store.context.chunks.find({ collections: ['code'] });
      expect(hit!.doc).toEqual(doc({ collection: 'code', id: 'c.ts', source: 'src/c.ts', tags: [] }));
    });

    it('pages chunks, selects those on another model and updates their vectors', async () => {
      await store.context.documents.replace(doc(), [chunk('a.md', 0, 'x', { model: 'old' }), chunk('a.md', 1, 'y'), chunk('a.md', 2, 'z', { model: 'old' })]);
      expect((await store.context.chunks.list('notes', { limit: 2 })).map((c) => c.id)).toEqual(['a.md#0', 'a.md#1']);
      expect((await store.context.chunks.list('notes', { limit: 2, after: 'a.md#1' })).map((c) => c.id)).toEqual(['a.md#2']);
      expect((await store.context.chunks.list('notes', { limit: 10, notModel: emb.model })).map((c) => c.id)).toEqual(['a.md#0', 'a.md#2']);
      expect(await store.context.chunks.count('notes', emb.model)).toBe(2);
      const v = emb.embedOne('fresh');
      await store.context.chunks.setEmbeddings('notes', [{ id: 'a.md#0', model: emb.model, embedding: v }]);
      expect(await store.context.chunks.count('notes', emb.model)).toBe(1);
      expect((await store.context.chunks.ofDocument('notes', 'a.md'))[0]!.embedding).toEqual(v);
    });

    it('removes a collection with everything in it', async () => {
      await store.context.documents.replace(doc(), [chunk('a.md', 0, 'x')]);
      await store.context.collections.remove('notes');
      expect(await store.context.collections.get('notes')).toBeUndefined();
      expect(await store.context.documents.get('notes', 'a.md')).toBeUndefined();
      expect(await store.context.chunks.count('notes')).toBe(0);
    });

    it('keeps each agent memory stream apart: list, count, touch and remove are scoped to the agent', async () => {
      const mem = (id: string, agent: string, at: string): MemoryRecord => ({
        id,
        agent,
        kind: 'observation',
        text: `saw ${id}`,
        importance: 3,
        createdAt: at,
        lastAccessedAt: at,
        model: emb.model,
        embedding: emb.embedOne(id),
      });
      await store.context.memories.add(mem('m1', 'alice', '2026-03-01T00:00:01.000Z'));
      await store.context.memories.add(mem('m2', 'alice', '2026-03-01T00:00:02.000Z'));
      await store.context.memories.add(mem('m3', 'bob', '2026-03-01T00:00:03.000Z'));
      expect((await store.context.memories.list('alice')).map((m) => m.id)).toEqual(['m2', 'm1']);
      expect((await store.context.memories.list('alice', 1)).map((m) => m.id)).toEqual(['m2']);
      expect(await store.context.memories.count('bob')).toBe(1);
      // bob's agent name cannot touch or delete alice's memories
      await store.context.memories.touch('bob', ['m1'], '2026-04-01T00:00:00.000Z');
      await store.context.memories.remove('bob', ['m1', 'm2']);
      expect(await store.context.memories.list('alice')).toEqual([mem('m2', 'alice', '2026-03-01T00:00:02.000Z'), mem('m1', 'alice', '2026-03-01T00:00:01.000Z')]);
      await store.context.memories.touch('alice', ['m1'], '2026-04-01T00:00:00.000Z');
      expect((await store.context.memories.list('alice'))[1]!.lastAccessedAt).toBe('2026-04-01T00:00:00.000Z');
      await store.context.memories.remove('alice', ['m1']);
      expect((await store.context.memories.list('alice')).map((m) => m.id)).toEqual(['m2']);
    });
  });
}
