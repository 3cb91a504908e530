import { createWriteStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { IngestResult, SearchResult } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson, println, progress, table } from '../output.js';
import { serveMcp } from './mcp.js';
import { toInt } from './shared.js';

const CODE = new Set(['.ts', '.tsx', '.js', '.mjs', '.cjs', '.py', '.go', '.rs', '.java', '.kt', '.c', '.h', '.cc', '.cpp', '.hpp', '.cs', '.rb', '.php', '.sh', '.sql', '.swift', '.scala']);
const TEXT = new Set(['.md', '.markdown', '.txt', '.rst', '.adoc']);
const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', 'build', '.venv', '__pycache__']);
/** Documents per request: well inside the API's body limit for ordinary files. */
const BATCH = 20;

/** Files under the given paths that look like text or code, in a stable order. */
async function collect(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string, explicit: boolean) => {
    let s;
    try {
      s = await stat(p);
    } catch {
      throw new CliError(`no such file or directory: ${p}`, EXIT.usage);
    }
    if (s.isDirectory()) {
      for (const e of (await readdir(p)).sort()) if (!SKIP_DIRS.has(e) && !e.startsWith('.')) await walk(join(p, e), false);
    } else if (explicit || CODE.has(extname(p)) || TEXT.has(extname(p))) out.push(p);
  };
  for (const p of paths) await walk(p, true);
  return out;
}

const tagList = (v: string | undefined) => (v ? v.split(',').map((t) => t.trim()).filter(Boolean) : []);

export function contextCommand(program: Command, client: () => ApiClient): void {
  const ctx = program.command('context').description('the memory and context plane: ingest documents and code, search them, move collections');

  ctx
    .command('ingest')
    .description('ingest files or directories (markdown and text as documents, source files as code); the path is the document id, so re-ingesting replaces')
    .argument('<paths...>', 'files or directories')
    .requiredOption('-c, --collection <name>', 'collection to ingest into (created on first use)')
    .option('--tags <a,b>', 'tags for every document')
    .option('--owner <who>', 'owner recorded with every document')
    .option('--kind <kind>', 'document, note or code (default: by file extension)')
    .option('--json', 'print the ingest results as JSON')
    .action(async (paths: string[], o: { collection: string; tags?: string; owner?: string; kind?: string; json?: boolean }) => {
      if (o.kind && !['document', 'note', 'code'].includes(o.kind)) throw new CliError(`--kind must be document, note or code, got "${o.kind}"`, EXIT.usage);
      const files = await collect(paths);
      if (files.length === 0) throw new CliError('no text or code files found under the given paths', EXIT.usage);
      const results: IngestResult[] = [];
      for (let i = 0; i < files.length; i += BATCH) {
        const batch = files.slice(i, i + BATCH);
        const documents = await Promise.all(
          batch.map(async (f) => {
            const id = relative(process.cwd(), f) || f;
            return { id, source: id, kind: o.kind ?? (CODE.has(extname(f)) ? 'code' : 'document'), text: await readFile(f, 'utf8'), tags: tagList(o.tags), ...(o.owner ? { owner: o.owner } : {}) };
          }),
        );
        results.push(await client().post<IngestResult>('/v1/ingest', { collection: o.collection, documents }));
        if (!o.json) progress(`ingested ${Math.min(i + BATCH, files.length)}/${files.length} files`);
      }
      const docs = results.flatMap((r) => r.documents);
      if (o.json) return printJson({ collection: o.collection, model: results[0]!.model, dimension: results[0]!.dimension, documents: docs });
      const count = (s: string) => docs.filter((d) => d.status === s).length;
      println(`${o.collection}: ${count('created')} created, ${count('updated')} updated, ${count('unchanged')} unchanged; ${docs.reduce((n, d) => n + d.chunks, 0)} chunks embedded with ${results[0]!.model}`);
    });

  ctx
    .command('search')
    .description('hybrid search (BM25 keywords + vectors, fused by reciprocal rank)')
    .argument('<query>', 'what to look for')
    .option('-c, --collection <name>', 'only this collection')
    .option('--tags <a,b>', 'only documents with every one of these tags')
    .option('--source <source>', 'only this source, or a prefix ending in *')
    .option('-k, --top-k <n>', 'how many hits', '10')
    .option('--mode <mode>', 'hybrid, keyword or vector', 'hybrid')
    .option('--json', 'print the result as JSON')
    .action(async (query: string, o: { collection?: string; tags?: string; source?: string; topK: string; mode: string; json?: boolean }) => {
      const q = new URLSearchParams({ q: query, topK: String(toInt(o.topK, '--top-k')), mode: o.mode });
      if (o.collection) q.set('collection', o.collection);
      if (o.tags) q.set('tags', o.tags);
      if (o.source) q.set('source', o.source);
      const res = await client().get<SearchResult>(`/v1/context/search?${q}`);
      if (o.json) return printJson(res);
      for (const n of res.notes) progress(`note: ${n}`);
      if (res.hits.length === 0) return println('no matches');
      println(table(['SCORE', 'COLLECTION', 'SOURCE', 'SNIPPET'], res.hits.map((h) => [h.score.toFixed(4), h.collection, h.heading ? `${h.source} (${h.heading.slice(0, 40)})` : h.source, h.snippet.slice(0, 100)])));
    });

  ctx
    .command('export')
    .description('a collection with its vectors and metadata as JSON lines (to stdout, or -o file)')
    .argument('<collection>', 'collection name')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async (collection: string, o: { output?: string }) => {
      const res = await client().download(`/v1/context/collections/${encodeURIComponent(collection)}/export`);
      const body = Readable.fromWeb(res.body as Parameters<typeof Readable.fromWeb>[0]);
      if (o.output) await pipeline(body, createWriteStream(o.output, { mode: 0o600 }));
      else await pipeline(body, process.stdout, { end: false });
      if (o.output) progress(`collection ${collection} exported to ${o.output}`);
    });

  ctx
    .command('import')
    .description('import a collection exported with `context export` (all lines are checked before anything is written)')
    .argument('<file>', 'the JSON lines file')
    .option('--as <collection>', 'import under another collection name')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, o: { as?: string; json?: boolean }) => {
      const text = await readFile(file, 'utf8').catch(() => {
        throw new CliError(`cannot read ${file}`, EXIT.usage);
      });
      const r = await client().upload<{ collection: string; documents: number; chunks: number }>(`/v1/context/import${o.as ? `?as=${encodeURIComponent(o.as)}` : ''}`, text, 'application/x-ndjson');
      if (o.json) return printJson(r);
      println(`imported ${r.documents} documents (${r.chunks} chunks) into ${r.collection}`);
    });

  ctx
    .command('reindex')
    .description('re-embed a collection with the configured embedding model (incremental resumes; --full redoes everything)')
    .argument('<collection>', 'collection name')
    .option('--full', 're-embed every chunk, not only those from another model')
    .option('--json', 'print the result as JSON')
    .action(async (collection: string, o: { full?: boolean; json?: boolean }) => {
      if (!o.json) progress(`re-indexing ${collection}...`);
      const r = await client().post<{ collection: string; model: string; dimension: number; reembedded: number }>(`/v1/context/collections/${encodeURIComponent(collection)}/reindex`, { mode: o.full ? 'full' : 'incremental' });
      if (o.json) return printJson(r);
      println(`${r.collection}: ${r.reembedded} chunks re-embedded with ${r.model} (dimension ${r.dimension})`);
    });

  ctx
    .command('mcp')
    .description('the same as `aiflock mcp` (kept for existing configurations): the flock\'s Model Context Protocol tools on stdio')
    .action(async () => serveMcp(client, program.version() ?? '0.0.0'));
}
