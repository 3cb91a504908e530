import { lstat, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import * as z from 'zod';
import { jsonSchemaOf, parseArgs } from './args.js';
import { boundText, sha256 } from './bound.js';
import { globToRegExp } from './glob.js';
import { ToolError, type AgentTool, type ToolOutcome } from './tool.js';
import { applyUnifiedDiff } from './unified-diff.js';
import { insideWorkspace, shown } from './workspace.js';

/** Largest file the tool reads or edits whole; bigger ones are read by line range. */
const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** What the model reads back of one file or listing. */
const CONTENT_MAX = 64 * 1024;
/** Directories a recursive list or search does not walk into. */
const SKIP_DIRS = new Set(['.git', 'node_modules']);

const Path = z.string().min(1).max(4096);
const Args = z.discriminatedUnion('op', [
  z.object({ op: z.literal('read'), path: Path, startLine: z.number().int().min(1).optional(), endLine: z.number().int().min(1).optional() }).strict(),
  z.object({ op: z.literal('write'), path: Path, content: z.string().max(MAX_FILE_BYTES) }).strict(),
  z.object({ op: z.literal('list'), path: Path.default('.'), recursive: z.boolean().default(false), maxEntries: z.number().int().min(1).max(5000).default(500) }).strict(),
  z
    .object({
      op: z.literal('search'),
      pattern: z.string().min(1).max(1000).describe('A JavaScript regular expression'),
      path: Path.default('.'),
      glob: z.string().min(1).max(200).optional().describe('Only files whose path matches, e.g. "*.js" or "src/**/*.ts"'),
      maxHits: z.number().int().min(1).max(2000).default(200),
    })
    .strict(),
  z
    .object({
      op: z.literal('edit'),
      path: Path,
      search: z.string().min(1).optional().describe('Exact text that must occur exactly once'),
      replace: z.string().optional().describe('What replaces `search`'),
      diff: z.string().min(1).optional().describe('A unified diff of this file, instead of search/replace'),
    })
    .strict(),
]);
type Args = z.output<typeof Args>;

/** Read, write, list, search and edit files, inside the workspace only (see workspace.ts). */
export const filesTool: AgentTool = {
  name: 'files',
  description:
    'Work with files in the workspace: op "read" (path, optional startLine/endLine), "write" (path, content), "list" (path, recursive), "search" (regex pattern, optional glob), "edit" (path with search+replace that must match exactly once, or a unified diff). Paths are relative to the workspace; nothing outside it can be reached.',
  parameters: jsonSchemaOf(Args),
  async run(raw, ctx) {
    const started = performance.now();
    const args = parseArgs('files', Args, raw);
    const root = await insideWorkspace(ctx.workspace, '.');
    const path = await insideWorkspace(ctx.workspace, args.path);
    const text = await OPS[args.op](args as never, path, root);
    const bounded = boundText(text, CONTENT_MAX);
    const step = boundText(text);
    return {
      content: bounded.text,
      summary: { ok: true, durationMs: Math.round(performance.now() - started), stdout: step.text, stdoutSha256: sha256(text), truncated: step.truncated },
    } satisfies ToolOutcome;
  },
};

type Op<K extends Args['op']> = (args: Extract<Args, { op: K }>, path: string, root: string) => Promise<string>;

const OPS: { [K in Args['op']]: Op<K> } = {
  async read(a, path) {
    const text = await readText(path, a.path);
    if (a.startLine === undefined && a.endLine === undefined) return text;
    const lines = text.split('\n');
    const from = a.startLine ?? 1;
    const to = Math.min(a.endLine ?? lines.length, lines.length);
    if (from > to) throw new ToolError(`line range ${from}-${a.endLine ?? ''} is empty: "${a.path}" has ${lines.length} lines`);
    return lines
      .slice(from - 1, to)
      .map((l, i) => `${from + i}: ${l}`)
      .join('\n');
  },

  async write(a, path) {
    if (await stat(path).then((s) => s.isDirectory(), () => false)) throw new ToolError(`"${a.path}" is a directory`);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, a.content);
    return `wrote ${Buffer.byteLength(a.content)} bytes to ${a.path}`;
  },

  async list(a, path, root) {
    const out: string[] = [];
    let more = false;
    await walk(path, a.recursive, async (abs, kind) => {
      if (out.length >= a.maxEntries) return (more = true), false;
      const name = shown(root, abs);
      out.push(kind === 'dir' ? `${name}/` : kind === 'link' ? `${name}@` : `${name}\t${(await lstat(abs).catch(() => null))?.size ?? '?'}`);
      return true;
    });
    return out.join('\n') + (more ? `\n… more entries not shown (limit ${a.maxEntries})` : '') || '(empty)';
  },

  async search(a, path, root) {
    let re: RegExp;
    try {
      re = new RegExp(a.pattern);
    } catch (err) {
      throw new ToolError(`pattern is not a valid regular expression: ${(err as Error).message}`);
    }
    const only = a.glob ? globToRegExp(a.glob) : null;
    const hits: string[] = [];
    await walk(path, true, async (abs, kind) => {
      // Symlinks are not read through: they may lead out of the workspace.
      if (kind !== 'file' || hits.length >= a.maxHits) return hits.length < a.maxHits;
      const rel = relative(root, abs);
      if (only && !only.test(rel)) return true;
      const s = await stat(abs).catch(() => null);
      if (!s || s.size > MAX_FILE_BYTES) return true;
      const buf = await readFile(abs).catch(() => null);
      if (!buf || buf.includes(0)) return true; // unreadable or binary
      buf
        .toString('utf8')
        .split('\n')
        .forEach((line, i) => {
          if (hits.length < a.maxHits && re.test(line)) hits.push(`${rel}:${i + 1}: ${line.slice(0, 500)}`);
        });
      return true;
    });
    return hits.length ? hits.join('\n') + (hits.length >= a.maxHits ? `\n… stopped at ${a.maxHits} hits` : '') : 'no matches';
  },

  async edit(a, path) {
    const text = await readText(path, a.path);
    let next: string;
    if (a.diff !== undefined) {
      if (a.search !== undefined) throw new ToolError('give either search/replace or diff, not both');
      next = applyUnifiedDiff(text, a.diff);
    } else {
      if (a.search === undefined || a.replace === undefined) throw new ToolError('edit needs search and replace, or diff');
      const count = text.split(a.search).length - 1;
      if (count !== 1) throw new ToolError(`search text occurs ${count} times in "${a.path}"; it must occur exactly once (add surrounding lines to make it unique)`);
      next = text.replace(a.search, () => a.replace!);
    }
    await writeFile(path, next);
    return `edited ${a.path}`;
  },
};

async function readText(path: string, shownPath: string): Promise<string> {
  const s = await stat(path).catch(() => null);
  if (!s) throw new ToolError(`"${shownPath}" does not exist`);
  if (s.isDirectory()) throw new ToolError(`"${shownPath}" is a directory; use op "list"`);
  if (s.size > MAX_FILE_BYTES) throw new ToolError(`"${shownPath}" is ${s.size} bytes; read it by line range (startLine/endLine) or search it`);
  return readFile(path, 'utf8');
}

type Kind = 'dir' | 'file' | 'link';

/**
 * Visit entries under `dir` (breadth first, sorted), never following symlinks: each entry
 * is reported with its kind; `visit` returns false to stop.
 */
async function walk(dir: string, recursive: boolean, visit: (abs: string, kind: Kind) => Promise<boolean>): Promise<void> {
  if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) {
    await visit(dir, 'file');
    return;
  }
  const queue = [dir];
  while (queue.length > 0) {
    const cur = queue.shift()!;
    const entries = (await readdir(cur, { withFileTypes: true }).catch(() => [])).sort((x, y) => x.name.localeCompare(y.name));
    for (const e of entries) {
      const abs = join(cur, e.name);
      const kind: Kind = e.isSymbolicLink() ? 'link' : e.isDirectory() ? 'dir' : 'file';
      if (!(await visit(abs, kind))) return;
      if (kind === 'dir' && recursive && !SKIP_DIRS.has(e.name)) queue.push(abs);
    }
  }
}
