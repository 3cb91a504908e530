import type { ContextStore } from '../ports/context-store.js';
import type { VectorHit, VectorIndex } from '../ports/vector-index.js';
import { dot } from './vectors.js';

/**
 * The default vector index: exact cosine search in process over float32 copies of the
 * vectors, which stay persisted in the store's chunk rows. A collection is loaded on first
 * use and kept in line by upsert/remove, so a restart only costs one read per collection.
 * Exact search is right at the sizes one daemon holds (100k × 256 floats = 100 MB); larger
 * fleets configure pgvector.
 */
export class InProcessVectorIndex implements VectorIndex {
  readonly kind = 'store';
  private readonly loaded = new Map<string, Map<string, Float32Array>>();
  private readonly loading = new Map<string, Promise<Map<string, Float32Array>>>();

  constructor(private readonly store: ContextStore) {}

  async init(): Promise<void> {
    this.loaded.clear();
  }

  private async collection(name: string): Promise<Map<string, Float32Array>> {
    const have = this.loaded.get(name);
    if (have) return have;
    let p = this.loading.get(name);
    if (!p) {
      p = (async () => {
        const m = new Map<string, Float32Array>();
        for (let after: string | undefined; ; ) {
          const page = await this.store.chunks.list(name, { after, limit: 1000 });
          for (const c of page) m.set(c.id, Float32Array.from(c.embedding));
          if (page.length < 1000) break;
          after = page[page.length - 1]!.id;
        }
        this.loaded.set(name, m);
        this.loading.delete(name);
        return m;
      })();
      this.loading.set(name, p);
    }
    return p;
  }

  /** The loaded copy, waiting for a load in flight so a write during it is not lost. */
  private async ifLoaded(collection: string): Promise<Map<string, Float32Array> | undefined> {
    return this.loaded.get(collection) ?? (await this.loading.get(collection));
  }

  async upsert(collection: string, entries: readonly { id: string; vector: readonly number[] }[]): Promise<void> {
    const m = await this.ifLoaded(collection);
    // Not loaded yet: the first query reads the store, which already holds these vectors.
    if (!m) return;
    for (const e of entries) m.set(e.id, Float32Array.from(e.vector));
  }

  async remove(collection: string, ids: readonly string[]): Promise<void> {
    const m = await this.ifLoaded(collection);
    if (m) for (const id of ids) m.delete(id);
  }

  async dropCollection(collection: string): Promise<void> {
    await this.loading.get(collection);
    this.loaded.delete(collection);
  }

  async query(collection: string, vector: readonly number[], k: number, allowed?: ReadonlySet<string>): Promise<VectorHit[]> {
    const m = await this.collection(collection);
    const q = Float32Array.from(vector) as unknown as number[];
    // Keep only the best k, sorted, instead of scoring objects for every vector and sorting them all.
    const top: VectorHit[] = [];
    const better = (a: VectorHit, b: VectorHit) => a.score > b.score || (a.score === b.score && a.id < b.id);
    const offer = (id: string, v: Float32Array) => {
      const hit = { id, score: dot(q, v as unknown as number[]) };
      if (top.length === k && !better(hit, top[k - 1]!)) return;
      let i = Math.min(top.length, k - 1);
      if (top.length < k) top.push(hit);
      while (i > 0 && better(hit, top[i - 1]!)) {
        top[i] = top[i - 1]!;
        i--;
      }
      top[i] = hit;
    };
    if (k <= 0) return [];
    if (allowed) {
      for (const id of allowed) {
        const v = m.get(id);
        if (v) offer(id, v);
      }
    } else {
      for (const [id, v] of m) offer(id, v);
    }
    return top;
  }
}
