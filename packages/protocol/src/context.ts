import { z } from 'zod';
import { AgentName } from './names.js';

/** Collection names are path segments and export file names: no slashes, dots or spaces. */
export const CollectionName = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'a lower-case name of 1-63 letters, digits, - and _, starting with a letter');
/** Document ids are chosen by the caller (a path, a URL, a note id); printable, no control characters. */
export const DocumentId = z.string().min(1).max(300).regex(/^[^\s\p{Cc}#][^\p{Cc}#]*$/u, 'printable text without # or control characters, not starting with a space');
export const ContextTag = z.string().regex(/^[a-z0-9][a-z0-9._:-]{0,62}$/, 'a lower-case tag of 1-63 letters, digits and . _ : -');

export const IngestDocument = z
  .object({
    /** Same id again replaces the document's chunks. Default: the source. */
    id: DocumentId.optional(),
    kind: z.enum(['document', 'note', 'code']).default('document'),
    /** Where it came from: a path, URL or system name. Shown with every hit. */
    source: z.string().min(1).max(500),
    title: z.string().max(300).optional(),
    text: z.string().max(2_000_000),
    tags: z.array(ContextTag).max(32).default([]),
    owner: z.string().min(1).max(200).optional(),
  })
  .strict();
export type IngestDocument = z.output<typeof IngestDocument>;

export const IngestRequest = z
  .object({
    collection: CollectionName,
    documents: z.array(IngestDocument).max(1000).default([]),
    /** Document ids to delete from the collection. */
    delete: z.array(DocumentId).max(1000).default([]),
  })
  .strict()
  .refine((r) => r.documents.length + r.delete.length > 0, { message: 'nothing to do: give documents and/or delete', path: ['documents'] });
export type IngestRequest = z.output<typeof IngestRequest>;

export interface IngestResult {
  collection: string;
  model: string;
  dimension: number;
  /** `chunks`: how many chunks this request wrote for the document (0 when unchanged). */
  documents: { id: string; chunks: number; status: 'created' | 'updated' | 'unchanged' }[];
  deleted: { id: string; found: boolean }[];
}

const TagList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(ContextTag).max(32));

export const SearchQuery = z
  .object({
    q: z.string().min(1).max(2000),
    collection: z.union([CollectionName, z.array(CollectionName).max(32)]).optional(),
    tags: TagList.optional(),
    /** Exact source, or a prefix ending in `*`. */
    source: z.string().min(1).max(500).optional(),
    topK: z.coerce.number().int().min(1).max(100).default(10),
    mode: z.enum(['hybrid', 'keyword', 'vector']).default('hybrid'),
  })
  .strict();
export type SearchQuery = z.output<typeof SearchQuery>;

export interface SearchHit {
  id: string;
  collection: string;
  documentId: string;
  source: string;
  title: string | null;
  heading: string | null;
  tags: string[];
  /** Fused (RRF) score; higher is better. */
  score: number;
  keywordRank: number | null;
  vectorRank: number | null;
  snippet: string;
}

export interface SearchResult {
  query: string;
  mode: 'hybrid' | 'keyword' | 'vector';
  hits: SearchHit[];
  /** Why part of the search was skipped (e.g. a collection still embedded with another model). */
  notes: string[];
}

export const ContextPackQuery = z
  .object({
    budget: z.coerce.number().int().min(16).max(200_000).default(2000),
    collection: z.union([CollectionName, z.array(CollectionName).max(32)]).optional(),
  })
  .strict();

export interface ContextPackItem {
  id: string;
  text: string;
  tokens: number;
  score: number;
  provenance: { collection: string; documentId: string; source: string; title: string | null; heading: string | null };
}

export interface ContextPack {
  jobId: string;
  query: string;
  budget: number;
  used: number;
  items: ContextPackItem[];
  skipped: { id: string; reason: 'duplicate' | 'over_budget' }[];
}

export const CollectionSettings = z
  .object({
    name: CollectionName,
    /** Agents (deployment names) allowed to search it over the bus. */
    sharedWith: z.array(AgentName).max(1000).default([]),
  })
  .strict();

export const ReindexRequest = z.object({ mode: z.enum(['full', 'incremental']).default('incremental') }).strict();

/** Memory stream (bus `memory.*` and `context.search`): the caller's identity comes from the subject. */
export const MemoryKindSchema = z.enum(['observation', 'action', 'reply', 'reflection']);
export const MemoryAddInput = z
  .object({
    kind: MemoryKindSchema,
    text: z.string().min(1).max(8000),
    /** 1..10; when omitted the memory plane's importance scorer decides. */
    importance: z.number().int().min(1).max(10).optional(),
  })
  .strict();
export type MemoryAddInput = z.output<typeof MemoryAddInput>;

export const MemoryRecallInput = z
  .object({
    query: z.string().min(1).max(2000),
    k: z.number().int().min(1).max(50).default(10),
  })
  .strict();
export type MemoryRecallInput = z.output<typeof MemoryRecallInput>;

/** `memory.reflect`: reflect now on what is new since the last reflection (a periodic caller, e.g. the village loop at day's end). */
export const MemoryReflectInput = z.object({}).strict();
export type MemoryReflectInput = z.output<typeof MemoryReflectInput>;

export const ContextSearchInput = z
  .object({
    q: z.string().min(1).max(2000),
    collection: CollectionName,
    tags: z.array(ContextTag).max(32).optional(),
    topK: z.number().int().min(1).max(50).default(10),
  })
  .strict();
export type ContextSearchInput = z.output<typeof ContextSearchInput>;

export interface RecalledMemory {
  id: string;
  kind: string;
  text: string;
  importance: number;
  createdAt: string;
  score: number;
  recency: number;
  relevance: number;
}

/** Export line shapes (JSON lines): one header, then one line per document with its chunks. */
export interface ExportHeader {
  type: 'collection';
  format: 'aiflock-context/1';
  name: string;
  model: string;
  dimension: number;
  sharedWith: string[];
  createdAt: string;
  updatedAt: string;
}
