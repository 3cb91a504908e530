import type { SearchHit, SearchQuery } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import type { CollectionRecord, DocumentRecord } from '../ports/context-store.js';
import type { Embedder } from '../ports/embedder.js';
import type { VectorIndex } from '../ports/vector-index.js';
import type { Catalog } from './catalog.js';
import { embedAll } from './embedding.js';
import { reciprocalRankFusion, vectorWeight } from './fusion.js';
import { snippet } from './snippet.js';

const matches = (doc: DocumentRecord, tags: readonly string[] | undefined, source: string | undefined): boolean =>
  (!tags?.length || tags.every((t) => doc.tags.includes(t))) &&
  (source === undefined || (source.endsWith('*') ? doc.source.startsWith(source.slice(0, -1)) : doc.source === source));

export type RankedHit = SearchHit & { text: string };

/**
 * Hybrid ranking over the given collections: BM25 over each catalog's keyword index and
 * vector search over the index, each cut to a depth, then fused by RRF. Hits carry their
 * chunk's full text (for packs); `notes` say where a signal was left out and why.
 */
export async function rankChunks(
  q: SearchQuery,
  cats: readonly { c: CollectionRecord; cat: Catalog }[],
  deps: { embedder: Embedder; index: VectorIndex; vectorWeight?: number | 'auto' },
): Promise<{ hits: RankedHit[]; notes: string[] }> {
  const { embedder, index } = deps;
  const notes: string[] = [];
  const filtered = Boolean(q.tags?.length) || q.source !== undefined;
  const depth = Math.max(q.topK * 5, 50);
  const lists: { id: string; score: number }[][] = [];
  const key = (c: string, id: string) => `${c}\u0000${id}`;
  const allowedOf = (cat: Catalog) => (filtered ? new Set(cat.rows.filter((r) => matches(r.doc, q.tags, q.source)).map((r) => r.chunk.id)) : undefined);
  const allowedBy = new Map(cats.map(({ c, cat }) => [c.name, allowedOf(cat)]));
  if (q.mode !== 'vector') {
    // Scores from per-collection indexes are merged by value: BM25 of the same query is on a comparable scale.
    const kw = cats.flatMap(({ c, cat }) => cat.keyword.search(q.q, depth, allowedBy.get(c.name)).map((h) => ({ id: key(c.name, h.id), score: h.score })));
    lists.push(kw.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1)).slice(0, depth));
  }
  // The query's vector. When the embedder's service is down, a hybrid search still answers
  // by keywords and says why; a vector-only search fails with that reason.
  let qv: number[] | undefined;
  if (q.mode !== 'keyword') {
    try {
      await embedder.ready?.();
      [qv] = await embedAll(embedder, [q.q]);
    } catch (err) {
      if (q.mode === 'vector' || !(err instanceof FlockError) || err.code !== 'llm_unavailable') throw err;
      notes.push(`keyword results only: ${err.message}`);
    }
  }
  if (qv) {
    const vectorHits: { id: string; score: number }[] = [];
    for (const { c, cat } of cats) {
      if (c.model !== embedder.model || c.dimension !== embedder.dimension) {
        notes.push(`collection "${c.name}" is embedded with ${c.model}, not the configured ${embedder.model}: keyword results only until it is re-indexed`);
        continue;
      }
      // Only chunks already embedded with the collection's model are comparable (mid re-index).
      const filter = allowedBy.get(c.name);
      const stale = cat.rows.some((r) => r.chunk.model !== c.model);
      const allowed = filter || stale ? new Set(cat.rows.filter((r) => r.chunk.model === c.model && (!filter || filter.has(r.chunk.id))).map((r) => r.chunk.id)) : undefined;
      if (allowed?.size === 0 || cat.rows.length === 0) continue;
      for (const h of await index.query(c.name, qv, depth, allowed)) vectorHits.push({ id: key(c.name, h.id), score: h.score });
    }
    vectorHits.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
    lists.push(vectorHits.slice(0, depth));
  }
  const catOf = new Map(cats.map(({ c, cat }) => [c.name, cat]));
  const rowOf = (k: string) => {
    const at = k.indexOf('\u0000');
    return catOf.get(k.slice(0, at))?.byId.get(k.slice(at + 1));
  };
  // A vector index shared with another writer may know a chunk this catalog does not yet: skip it.
  // Weights matter only when both lists are there (hybrid); the vector list is pushed last.
  const weights = q.mode === 'hybrid' && lists.length === 2 ? [1, vectorWeight(deps.vectorWeight, embedder.semantic === true)] : undefined;
  const fused = reciprocalRankFusion(
    lists.map((l) => l.filter((h) => rowOf(h.id) !== undefined)),
    { weights },
  ).slice(0, q.topK);
  const hits = fused.map((f) => {
    const r = rowOf(f.id)!;
    const ranks = q.mode === 'hybrid' ? f.ranks : q.mode === 'keyword' ? [f.ranks[0]!, null] : [null, f.ranks[0]!];
    return {
      id: r.chunk.id,
      collection: r.chunk.collection,
      documentId: r.doc.id,
      source: r.doc.source,
      title: r.doc.title,
      heading: r.chunk.heading,
      tags: r.doc.tags,
      score: Number(f.score.toFixed(6)),
      keywordRank: ranks[0] ?? null,
      vectorRank: ranks[1] ?? null,
      snippet: snippet(r.chunk.text, q.q),
      text: r.chunk.text,
    };
  });
  return { hits, notes };
}
