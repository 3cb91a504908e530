import { z } from 'zod';
import { CollectionName, ContextTag, DocumentId } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import type { ChunkRecord, DocumentRecord } from '../ports/context-store.js';

const Instant = z.string().min(1).max(40);
const Header = z
  .object({
    type: z.literal('collection'),
    format: z.literal('aiflock-context/1'),
    name: CollectionName,
    model: z.string().min(1).max(200),
    dimension: z.number().int().min(1).max(16_384),
    sharedWith: z.array(z.string()).max(1000),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .strict();

const Doc = z
  .object({
    collection: z.string(),
    id: DocumentId,
    kind: z.enum(['document', 'note', 'code']),
    source: z.string().min(1).max(500),
    title: z.string().max(300).nullable(),
    tags: z.array(ContextTag).max(32),
    owner: z.string().max(200).nullable(),
    contentHash: z.string().regex(/^[0-9a-f]{64}$/),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .strict();

const Chunk = z
  .object({
    id: z.string().min(1).max(320),
    ord: z.number().int().min(0),
    heading: z.string().nullable(),
    text: z.string(),
    tokens: z.number().int().min(0),
    model: z.string().min(1).max(200),
    embedding: z.array(z.number()),
  })
  .strict();

const DocLine = z.object({ type: z.literal('document'), document: Doc, chunks: z.array(Chunk) }).strict();

export interface ParsedExport {
  header: z.output<typeof Header>;
  documents: { document: DocumentRecord; chunks: Omit<ChunkRecord, 'collection' | 'documentId'>[] }[];
}

/**
 * Validate a whole export before anything is written, so a bad file changes nothing. Errors
 * name the line number and the field.
 */
export function parseExport(lines: readonly string[]): ParsedExport {
  const bad = (line: number, message: string): never => {
    throw new FlockError('validation_failed', `import line ${line}: ${message}`, { line });
  };
  const body = lines.map((l, i) => ({ n: i + 1, text: l.trim() })).filter((l) => l.text !== '');
  if (body.length === 0) bad(1, 'empty file; expected a collection header line');
  const parse = <T>(schema: z.ZodType<T>, n: number, text: string): T => {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return bad(n, 'not valid JSON');
    }
    const r = schema.safeParse(raw);
    if (!r.success) return bad(n, r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
    return r.data;
  };
  const header = parse(Header, body[0]!.n, body[0]!.text);
  const seen = new Set<string>();
  const documents = body.slice(1).map(({ n, text }) => {
    const d = parse(DocLine, n, text);
    if (seen.has(d.document.id)) bad(n, `document "${d.document.id}" appears twice`);
    seen.add(d.document.id);
    d.chunks.forEach((c, i) => {
      if (c.embedding.length !== header.dimension) bad(n, `chunks.${i}.embedding has ${c.embedding.length} numbers, the header's dimension is ${header.dimension}`);
      if (c.id !== `${d.document.id}#${c.ord}`) bad(n, `chunks.${i}.id must be "${d.document.id}#${c.ord}"`);
    });
    return { document: d.document as DocumentRecord, chunks: d.chunks };
  });
  return { header, documents };
}
