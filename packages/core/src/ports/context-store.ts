export type DocumentKind = 'document' | 'note' | 'code';
export type MemoryKind = 'observation' | 'action' | 'reply' | 'reflection' | 'summary';

/** A collection per domain (notes, code, runs); every vector in it comes from one model. */
export interface CollectionRecord {
  name: string;
  model: string;
  dimension: number;
  /** Agents (deployment names) that may search it over the bus. People need `context:read`. */
  sharedWith: string[];
  createdAt: string;
  updatedAt: string;
}

export interface DocumentRecord {
  collection: string;
  id: string;
  kind: DocumentKind;
  source: string;
  title: string | null;
  tags: string[];
  owner: string | null;
  /** sha256 of the text: re-ingesting the same text is a no-op. */
  contentHash: string;
  createdAt: string;
  updatedAt: string;
}

export interface ChunkRecord {
  collection: string;
  /** `<documentId>#<ord>`. */
  id: string;
  documentId: string;
  ord: number;
  heading: string | null;
  text: string;
  tokens: number;
  /** The model that produced `embedding`; differs from the collection's while re-indexing. */
  model: string;
  embedding: number[];
}

export interface MemoryRecord {
  id: string;
  agent: string;
  kind: MemoryKind;
  text: string;
  /** 1 (mundane) .. 10 (poignant), as in the Generative Agents paper. */
  importance: number;
  createdAt: string;
  lastAccessedAt: string;
  model: string;
  embedding: number[];
}

export interface ChunkFilter {
  collections: string[];
  /** Every one of these tags. */
  tags?: string[];
  /** Exact source, or a prefix ending in `*`. */
  source?: string;
}

export interface ContextStore {
  collections: {
    get(name: string): Promise<CollectionRecord | undefined>;
    list(): Promise<CollectionRecord[]>;
    upsert(record: CollectionRecord): Promise<void>;
    /** With its documents and chunks. */
    remove(name: string): Promise<void>;
  };
  documents: {
    get(collection: string, id: string): Promise<DocumentRecord | undefined>;
    /** Ordered by id; `afterId` pages. */
    list(collection: string, page: { afterId?: string; limit: number }): Promise<DocumentRecord[]>;
    /** Atomically: the document row, and its chunks replace the old ones. Returns the replaced chunk ids. */
    replace(doc: DocumentRecord, chunks: ChunkRecord[]): Promise<string[]>;
    /** Returns the removed chunk ids; empty when there was no such document. */
    remove(collection: string, id: string): Promise<string[] | undefined>;
  };
  chunks: {
    /** Chunks matching the filter, with their document; without embeddings. */
    find(filter: ChunkFilter): Promise<{ chunk: Omit<ChunkRecord, 'embedding'>; doc: DocumentRecord }[]>;
    /** Ordered by (documentId, ord); `notModel` selects those still to re-embed. */
    list(collection: string, page: { after?: string; limit: number; notModel?: string }): Promise<ChunkRecord[]>;
    /** A document's chunks in order. */
    ofDocument(collection: string, documentId: string): Promise<ChunkRecord[]>;
    setEmbeddings(collection: string, updates: readonly { id: string; model: string; embedding: number[] }[]): Promise<void>;
    count(collection: string, notModel?: string): Promise<number>;
  };
  memories: {
    add(record: MemoryRecord): Promise<void>;
    /** Newest first. */
    list(agent: string, limit?: number): Promise<MemoryRecord[]>;
    count(agent: string): Promise<number>;
    touch(agent: string, ids: readonly string[], at: string): Promise<void>;
    remove(agent: string, ids: readonly string[]): Promise<void>;
  };
}
