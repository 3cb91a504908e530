import * as z from 'zod';
import { AgentName, TaskId } from './names.js';

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

export const IngestResult = z.object({
  collection: z.string(),
  model: z.string(),
  dimension: z.number().int(),
  /** `chunks`: how many chunks this request wrote for the document (0 when unchanged). */
  documents: z.array(z.object({ id: z.string(), chunks: z.number().int(), status: z.enum(['created', 'updated', 'unchanged']) })),
  deleted: z.array(z.object({ id: z.string(), found: z.boolean() })),
});
export type IngestResult = z.infer<typeof IngestResult>;

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

export const SearchHit = z.object({
  id: z.string(),
  collection: z.string(),
  documentId: z.string(),
  source: z.string(),
  title: z.string().nullable(),
  heading: z.string().nullable(),
  tags: z.array(z.string()),
  /** Fused (RRF) score; higher is better. */
  score: z.number(),
  keywordRank: z.number().int().nullable(),
  vectorRank: z.number().int().nullable(),
  snippet: z.string(),
});
export type SearchHit = z.infer<typeof SearchHit>;

export const SearchResult = z.object({
  query: z.string(),
  mode: z.enum(['hybrid', 'keyword', 'vector']),
  hits: z.array(SearchHit),
  /** Why part of the search was skipped (e.g. a collection still embedded with another model). */
  notes: z.array(z.string()),
});
export type SearchResult = z.infer<typeof SearchResult>;

export const ContextPackQuery = z
  .object({
    budget: z.coerce.number().int().min(16).max(200_000).default(2000),
    collection: z.union([CollectionName, z.array(CollectionName).max(32)]).optional(),
  })
  .strict();

export const ContextPackItem = z.object({
  id: z.string(),
  text: z.string(),
  tokens: z.number().int(),
  score: z.number(),
  provenance: z.object({ collection: z.string(), documentId: z.string(), source: z.string(), title: z.string().nullable(), heading: z.string().nullable() }),
});
export type ContextPackItem = z.infer<typeof ContextPackItem>;

export const ContextPack = z.object({
  jobId: z.string(),
  query: z.string(),
  budget: z.number().int(),
  used: z.number().int(),
  items: z.array(ContextPackItem),
  skipped: z.array(z.object({ id: z.string(), reason: z.enum(['duplicate', 'over_budget']) })),
});
export type ContextPack = z.infer<typeof ContextPack>;

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

export const RecalledMemory = z.object({
  id: z.string(),
  kind: z.string(),
  text: z.string(),
  importance: z.number(),
  createdAt: z.string(),
  score: z.number(),
  recency: z.number(),
  relevance: z.number(),
});
export type RecalledMemory = z.infer<typeof RecalledMemory>;

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

/** The HTTP routes' own shapes (`/v1/ingest`, `/v1/context/*`, `/v1/memory/*`). */
export const CollectionView = z.object({
  name: z.string(),
  model: z.string(),
  dimension: z.number().int(),
  /** Agents (deployment names) that may search it over the bus. People need `context:read`. */
  sharedWith: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type CollectionView = z.infer<typeof CollectionView>;
export const CollectionList = z.object({ collections: z.array(CollectionView) });
export const CollectionParams = z.object({ name: CollectionName }).strict();
export const DocumentParams = z.object({ name: CollectionName, id: DocumentId }).strict();
export const ContextJobParams = z.object({ jobId: TaskId }).strict();
/** `POST /v1/context/import`'s body: an export as `GET .../export` gives it (JSON lines). */
export const ContextExportText = z.string({ message: 'send the export as application/x-ndjson' }).describe('the export: JSON lines, as `GET .../export` gives them');
export const ImportQuery = z.object({ as: CollectionName.optional() }).strict();
export const ReindexResult = z.object({ collection: z.string(), model: z.string(), dimension: z.number().int(), reembedded: z.number().int() });
export const ImportResult = z.object({ collection: z.string(), documents: z.number().int(), chunks: z.number().int() });
export const MemoryParams = z.object({ agent: AgentName }).strict();
export const MemoryQuery = z.object({ q: z.string().min(1).max(2000), k: z.coerce.number().int().min(1).max(50).default(10) }).strict();
export const MemoryRecall = z.object({ agent: z.string(), memories: z.array(RecalledMemory) });
/** `PUT /v1/context/collections/{name}`. */
export const CollectionUpdate = CollectionSettings.omit({ name: true });
