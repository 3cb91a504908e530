import type { CollectionRecord, ContextStore } from '../ports/context-store.js';
import { KeywordIndex } from './bm25.js';
import { embedText } from './embedding.js';

export type CatalogRow = Awaited<ReturnType<ContextStore['chunks']['find']>>[number];

/** One collection's chunks with their keyword index, valid while the collection's revision (updatedAt) is unchanged. */
export interface Catalog {
  revision: string;
  rows: CatalogRow[];
  byId: Map<string, CatalogRow>;
  keyword: KeywordIndex;
}

/**
 * Keyword indexes per collection, rebuilt when the collection's revision changes. Every
 * write through the context service bumps the revision, so other services on the same store
 * see the change too.
 */
export class Catalogs {
  private readonly byName = new Map<string, Catalog>();

  constructor(private readonly store: ContextStore) {}

  async of(c: CollectionRecord): Promise<Catalog> {
    const have = this.byName.get(c.name);
    if (have && have.revision === c.updatedAt) return have;
    const rows = await this.store.chunks.find({ collections: [c.name] });
    const cat: Catalog = {
      revision: c.updatedAt,
      rows,
      byId: new Map(rows.map((r) => [r.chunk.id, r])),
      keyword: KeywordIndex.build(rows.map((r) => ({ id: r.chunk.id, text: embedText(r.doc.title, r.chunk.heading, r.chunk.text) }))),
    };
    this.byName.set(c.name, cat);
    return cat;
  }

  /** Drops our own copy; the next search rebuilds it. */
  forget(name: string): void {
    this.byName.delete(name);
  }
}
