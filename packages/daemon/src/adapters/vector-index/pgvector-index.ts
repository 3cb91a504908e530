import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { ContextStore, VectorHit, VectorIndex } from '@aiflock/core';
import type { Database } from '../store-sql/tables.js';

const literal = (v: readonly number[]) => `[${v.join(',')}]`;

export interface PgvectorOptions {
  /** `hnsw`: an approximate HNSW index per collection; `exact`: a scan of the collection. */
  ann: 'hnsw' | 'exact';
  /** HNSW candidate list size at query time (at least the number of results asked for). */
  efSearch: number;
}

/** pgvector indexes at most 2,000 dimensions of the `vector` type; wider collections are scanned. */
const HNSW_MAX_DIMENSION = 2000;
/** pgvector's upper bound of hnsw.ef_search. */
const MAX_EF_SEARCH = 1000;
/** One graph per collection and dimension; a hash keeps any collection name within PostgreSQL's 63-byte identifiers. */
const hnswIndexName = (collection: string, dimension: number) =>
  `context_vectors_hnsw_${createHash('sha256').update(collection).digest('hex').slice(0, 16)}_${dimension}`;

/**
 * Vectors in PostgreSQL with the pgvector extension: a `context_vectors` table beside the
 * chunk rows, searched by cosine distance (`<=>`) in the database. The table is an index,
 * not the truth: `init` rebuilds any collection whose vector count differs from its chunk
 * count, which is what makes switching from the in-process index a configuration change.
 * The column has no fixed dimension because collections differ, so the HNSW index (`ann:
 * hnsw`, the default) is one partial expression index per collection and dimension:
 * `(embedding::vector(D))` where the row is that collection's and has D dimensions. Rows of
 * another dimension (a collection mid re-index to a new model) are outside it rather than an
 * error. Queries restricted to a set of ids scan those rows exactly instead.
 */
export class PgvectorIndex implements VectorIndex {
  readonly kind = 'pgvector';

  /** Collections (and dimensions) whose HNSW index is known to exist. */
  private readonly indexed = new Set<string>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly store: ContextStore,
    private readonly log: (msg: string) => void = () => undefined,
    private readonly options: PgvectorOptions = { ann: 'hnsw', efSearch: 100 },
  ) {}

  private get raw(): Kysely<unknown> {
    return this.db as unknown as Kysely<unknown>;
  }

  async init(): Promise<void> {
    try {
      await sql`create extension if not exists vector`.execute(this.raw);
    } catch (err) {
      throw new Error(
        `context.vectorIndex is pgvector but the database cannot enable the "vector" extension (${String((err as Error).message)}): install pgvector on the PostgreSQL server (Debian/Ubuntu: postgresql-<major>-pgvector) or set context.vectorIndex to store`,
      );
    }
    await sql`create table if not exists context_vectors (collection varchar(63) not null, id varchar(320) not null, embedding vector not null, primary key (collection, id))`.execute(this.raw);
    for (const c of await this.store.collections.list()) {
      const want = await this.store.chunks.count(c.name);
      const have = await sql<{ n: string }>`select count(*) as n from context_vectors where collection = ${c.name}`.execute(this.raw);
      if (Number(have.rows[0]?.n ?? 0) === want) continue;
      this.log(`pgvector: rebuilding the vectors of collection ${c.name} (${want} chunks) from the store`);
      await this.dropCollection(c.name);
      for (let after: string | undefined; ; ) {
        const page = await this.store.chunks.list(c.name, { after, limit: 500 });
        await this.upsert(c.name, page.map((ch) => ({ id: ch.id, vector: ch.embedding })));
        if (page.length < 500) break;
        after = page[page.length - 1]!.id;
      }
    }
    if (this.options.ann === 'exact') {
      // Switched to exact by configuration: inserts should not keep paying for the graphs.
      for (const name of await this.hnswIndexes()) await sql`drop index if exists ${sql.id(name)}`.execute(this.raw);
      return;
    }
    for (const c of await this.store.collections.list()) await this.ensureHnsw(c.name, c.dimension);
  }

  private async hnswIndexes(prefix = 'context_vectors_hnsw_'): Promise<string[]> {
    const res = await sql<{ indexname: string }>`select indexname from pg_indexes where tablename = 'context_vectors' and starts_with(indexname, ${prefix})`.execute(this.raw);
    return res.rows.map((r) => r.indexname);
  }

  private async ensureHnsw(collection: string, dimension: number): Promise<void> {
    if (this.options.ann !== 'hnsw' || dimension > HNSW_MAX_DIMENSION) return;
    const name = hnswIndexName(collection, dimension);
    if (this.indexed.has(name)) return;
    if (!(await this.hnswIndexes(name)).includes(name)) {
      this.log(`pgvector: building the HNSW index of collection ${collection} (dimension ${dimension})`);
      await sql`create index if not exists ${sql.id(name)} on context_vectors using hnsw ((embedding::vector(${sql.lit(dimension)})) vector_cosine_ops) where collection = ${sql.lit(collection)} and vector_dims(embedding) = ${sql.lit(dimension)}`.execute(this.raw);
    }
    this.indexed.add(name);
  }

  async upsert(collection: string, entries: readonly { id: string; vector: readonly number[] }[]): Promise<void> {
    // Before the rows, so a new collection's vectors go into its graph as they arrive.
    for (const d of new Set(entries.map((e) => e.vector.length))) await this.ensureHnsw(collection, d);
    for (let i = 0; i < entries.length; i += 200) {
      const rows = entries.slice(i, i + 200).map((e) => sql`(${collection}, ${e.id}, ${literal(e.vector)}::vector)`);
      await sql`insert into context_vectors (collection, id, embedding) values ${sql.join(rows)} on conflict (collection, id) do update set embedding = excluded.embedding`.execute(this.raw);
    }
  }

  async remove(collection: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await sql`delete from context_vectors where collection = ${collection} and id = any(${[...ids]}::text[])`.execute(this.raw);
  }

  async dropCollection(collection: string): Promise<void> {
    await sql`delete from context_vectors where collection = ${collection}`.execute(this.raw);
    // Its graphs stay: they are empty, and a collection that is rebuilt fills them again.
  }

  async query(collection: string, vector: readonly number[], k: number, allowed?: ReadonlySet<string>): Promise<VectorHit[]> {
    const q = literal(vector);
    const d = vector.length;
    // Filtered queries (tags, source, a collection mid re-index) scan the allowed rows: exact.
    // So do queries for more rows than HNSW can return (pgvector caps ef_search at 1,000).
    if (allowed || this.options.ann !== 'hnsw' || d > HNSW_MAX_DIMENSION || k > MAX_EF_SEARCH) {
      const filter = allowed ? sql`and id = any(${[...allowed]}::text[])` : sql``;
      const res = await sql<{ id: string; score: number }>`
        select id, 1 - (embedding <=> ${q}::vector) as score from context_vectors
        where collection = ${collection} and vector_dims(embedding) = ${d} ${filter}
        order by embedding <=> ${q}::vector, id limit ${k}`.execute(this.raw);
      return res.rows.map((r) => ({ id: r.id, score: Number(r.score) }));
    }
    // The partial index matches only a query whose conditions are the index's own, so the
    // collection and dimension are literals. ef_search bounds how many rows HNSW can return.
    const efSearch = Math.max(this.options.efSearch, k);
    const dim = sql.lit(d);
    return this.db.transaction().execute(async (trx) => {
      await sql`select set_config('hnsw.ef_search', ${String(efSearch)}, true)`.execute(trx);
      const res = await sql<{ id: string; distance: number }>`
        select id, (embedding::vector(${dim})) <=> ${q}::vector(${dim}) as distance from context_vectors
        where collection = ${sql.lit(collection)} and vector_dims(embedding) = ${dim}
        order by (embedding::vector(${dim})) <=> ${q}::vector(${dim}) limit ${k}`.execute(trx);
      // Ties in distance are ordered by id, as the exact scan and the in-process index do.
      return res.rows
        .map((r) => ({ id: r.id, score: 1 - Number(r.distance) }))
        .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    });
  }
}
