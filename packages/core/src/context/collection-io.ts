import type { ExportHeader } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { CollectionRecord, ContextStore } from '../ports/context-store.js';
import type { VectorIndex } from '../ports/vector-index.js';
import { parseExport } from './export-format.js';

/** JSON lines: the collection header, then each document with its chunks and vectors. */
export async function* exportLines(store: ContextStore, c: CollectionRecord): AsyncGenerator<string> {
  const header: ExportHeader = { type: 'collection', format: 'aiflock-context/1', name: c.name, model: c.model, dimension: c.dimension, sharedWith: c.sharedWith, createdAt: c.createdAt, updatedAt: c.updatedAt };
  yield JSON.stringify(header);
  for (let afterId: string | undefined; ; ) {
    const docs = await store.documents.list(c.name, { afterId, limit: 200 });
    for (const d of docs) {
      const chunks = await store.chunks.ofDocument(c.name, d.id);
      yield JSON.stringify({ type: 'document', document: d, chunks: chunks.map(({ collection: _c, documentId: _d, ...rest }) => rest) });
    }
    if (docs.length < 200) break;
    afterId = docs[docs.length - 1]!.id;
  }
}

/**
 * Writes an export into collection `name`: the collection is created with the file's model
 * and dimension, or must already have the same ones. Every line is checked before anything
 * is written. `existed` tells the caller whether it changed a collection or made a new one.
 */
export async function importLines(
  deps: { store: ContextStore; index: VectorIndex; clock: Clock },
  lines: readonly string[],
  as: string | undefined,
): Promise<{ collection: string; documents: number; chunks: number; existed: boolean }> {
  const parsed = parseExport(lines);
  const name = as ?? parsed.header.name;
  const { store, index, clock } = deps;
  const have = await store.collections.get(name);
  if (have && (have.model !== parsed.header.model || have.dimension !== parsed.header.dimension)) {
    throw new FlockError('embedding_mismatch', `collection "${name}" holds vectors from ${have.model} (dimension ${have.dimension}); the file has ${parsed.header.model} (dimension ${parsed.header.dimension})`, {
      collection: name,
      collectionModel: have.model,
      fileModel: parsed.header.model,
    });
  }
  if (!have) {
    const h = parsed.header;
    await store.collections.upsert({ name, model: h.model, dimension: h.dimension, sharedWith: h.sharedWith, createdAt: h.createdAt, updatedAt: h.updatedAt ?? clock.now().toISOString() });
  }
  let chunkCount = 0;
  for (const { document, chunks } of parsed.documents) {
    const doc = { ...document, collection: name };
    const rows = chunks.map((c) => ({ ...c, collection: name, documentId: doc.id }));
    const replaced = await store.documents.replace(doc, rows);
    await index.remove(name, replaced);
    await index.upsert(name, rows.map((c) => ({ id: c.id, vector: c.embedding })));
    chunkCount += rows.length;
  }
  return { collection: name, documents: parsed.documents.length, chunks: chunkCount, existed: have !== undefined };
}
