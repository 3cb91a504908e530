import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContextService, HashingEmbedder, type Clock, type Embedder, type VectorIndex } from '@aiflock/core';
import type { IngestDocument } from '@aiflock/protocol';
import type { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { openVectorIndex } from '../../src/adapters/vector-index/open.js';

export const CORPUS = join(import.meta.dirname, '..', '..', '..', '..', 'test', 'fixtures', 'context-corpus');

/** The labelled corpus as ingest documents: markdown as documents, the rest as code. */
export function corpusDocuments(): IngestDocument[] {
  return readdirSync(join(CORPUS, 'docs'))
    .sort()
    .map((f) => ({ id: f, kind: f.endsWith('.md') ? 'document' : 'code', source: `corpus/${f}`, text: readFileSync(join(CORPUS, 'docs', f), 'utf8'), tags: [f.endsWith('.md') ? 'docs' : 'code'] }));
}

export interface Labelled {
  floors: { recallAt5: number; mrr: number };
  storyModelFloors: { recallAt5: number; mrr: number };
  queries: { q: string; relevant: string[] }[];
}
export const labelled = (): Labelled => JSON.parse(readFileSync(join(CORPUS, 'queries.json'), 'utf8')) as Labelled;

export const fixedClock = (start = '2026-03-01T00:00:00Z'): Clock & { advance(ms: number): void } => {
  let t = Date.parse(start);
  return { now: () => new Date(t), advance: (ms) => void (t += ms) };
};

export async function contextOn(store: SqlStore, opts: { index?: 'store' | 'pgvector'; embedder?: Embedder; clock?: Clock; reindexBatch?: number; vectorWeight?: number | 'auto' } = {}): Promise<{ service: ContextService; index: VectorIndex }> {
  const index = await openVectorIndex(opts.index ?? 'store', store, () => undefined);
  const service = new ContextService({
    store: store.context,
    tasks: store.tasks,
    embedder: opts.embedder ?? new HashingEmbedder(256),
    index,
    clock: opts.clock ?? fixedClock(),
    reindexBatch: opts.reindexBatch,
    vectorWeight: opts.vectorWeight,
  });
  return { service, index };
}

/** Recall@5 and MRR (by document) of labelled queries, each answered by `relevant` documents. */
export async function rankQuality(service: ContextService, queries: readonly { q: string; relevant: string[] }[], mode: 'hybrid' | 'keyword' | 'vector', topK = 20): Promise<{ recallAt5: number; mrr: number; firstRight: number }> {
  let recall = 0;
  let rr = 0;
  let firstRight = 0;
  for (const { q, relevant } of queries) {
    const docs = [...new Set((await service.search({ q, topK, mode })).hits.map((h) => h.documentId))];
    recall += relevant.filter((r) => docs.slice(0, 5).includes(r)).length / relevant.length;
    const first = docs.findIndex((d) => relevant.includes(d));
    rr += first >= 0 ? 1 / (first + 1) : 0;
    if (first === 0) firstRight += 1;
  }
  return { recallAt5: recall / queries.length, mrr: rr / queries.length, firstRight };
}
