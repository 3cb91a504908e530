import { parse as parseYaml, stringify as toYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { ManifestSchema, type Manifest } from './schema.js';
import { manifestDigest } from './digest.js';
import { translateDialect, type DialectNote } from './cim-dialect.js';

export interface ManifestIssue {
  /** Dotted path of the field, e.g. "resources.memory"; "" for the document itself. */
  field: string;
  /** The value found there (undefined when missing). */
  value: unknown;
  /** What was expected. */
  expected: string;
}

/** At most this many characters of a bad value are quoted back, and this many issues listed. */
export const QUOTE_CHARS = 200;
const MAX_ISSUES = 20;

export class ManifestError extends Error {
  readonly issues: ManifestIssue[];
  constructor(
    readonly source: string,
    issues: ManifestIssue[],
  ) {
    // A bad value is quoted, never echoed whole: a 900 KB string must not come back in the
    // error (nor the log lines and audit entries that carry it).
    const shown = issues.slice(0, MAX_ISSUES).map((i) => ({ ...i, value: quoted(i.value) }));
    const more = issues.length > MAX_ISSUES ? `\n  - and ${issues.length - MAX_ISSUES} more` : '';
    super(`${source}: invalid agent manifest\n${shown.map((i) => `  - ${describeIssue(i)}`).join('\n')}${more}`);
    this.name = 'ManifestError';
    this.issues = shown;
  }
}

/** A value as it may be quoted back: unchanged if short, else its first characters and its size. */
function quoted(value: unknown): unknown {
  if (value === undefined) return undefined;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (text === undefined || text.length <= QUOTE_CHARS) return value;
  return `${text.slice(0, QUOTE_CHARS)}… (${text.length} characters)`;
}

export function describeIssue(i: ManifestIssue): string {
  const where = i.field === '' ? 'the manifest' : `"${i.field}"`;
  const got = i.value === undefined ? 'nothing' : JSON.stringify(i.value)?.slice(0, QUOTE_CHARS + 40);
  return `${where}: got ${got}; expected ${i.expected}`;
}

export interface ParsedManifest {
  manifest: Manifest;
  digest: string;
  /** Which dialect the text was written in (`cim`: the users' CIM agent.md, translated). */
  dialect: 'aiflock' | 'cim';
  /**
   * The manifest as written in our dialect, before defaults: what is stored as a revision, so
   * that a later deploy can change one field of it (`--set`) and validate the whole again.
   */
  document: Record<string, unknown>;
  /** What the translation kept without effect, and why (empty for our own dialect). */
  notes: DialectNote[];
}

const FRONT_MATTER = /^---\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n([\s\S]*))?$/;

/**
 * Parse `agent.yaml` or `agent.md` text. For Markdown, the YAML front matter is the manifest
 * and the body is the persona (system prompt), unless the front matter sets `persona` itself.
 */
export function parseManifest(text: string, source = 'agent.yaml'): ParsedManifest {
  const isMarkdown = /\.md$/i.test(source) || text.startsWith('---');
  let raw: unknown;
  if (isMarkdown) {
    const m = FRONT_MATTER.exec(text.replace(/^\uFEFF/, ''));
    if (!m) {
      throw new ManifestError(source, [
        { field: '', value: text.slice(0, 40), expected: 'YAML front matter between two "---" lines, then the prompt' },
      ]);
    }
    raw = loadYaml(m[1]!, source);
    const body = (m[2] ?? '').trim();
    if (isPlainObject(raw) && body !== '' && raw['persona'] === undefined) raw = { ...raw, persona: body };
  } else {
    raw = loadYaml(text, source);
  }
  return validateManifest(raw, source);
}

export function validateManifest(raw: unknown, source = 'manifest'): ParsedManifest {
  if (!isPlainObject(raw)) {
    throw new ManifestError(source, [{ field: '', value: raw, expected: 'a mapping of manifest fields (name, handlers, resources, ...)' }]);
  }
  const translated = translateDialect(raw);
  if ('issues' in translated) throw new ManifestError(source, translated.issues);
  const document = translated.raw;
  const result = ManifestSchema.safeParse(document);
  if (!result.success) throw new ManifestError(source, result.error.issues.map((i) => toIssue(i, document)));
  return { manifest: result.data, digest: manifestDigest(result.data), dialect: translated.dialect, document, notes: translated.notes };
}

/**
 * A manifest document as an author of our dialect writes it: `agent.md` (front matter, then
 * the persona as the body) when it has a persona, else `agent.yaml`.
 */
export function manifestText(document: Record<string, unknown>): string {
  const { persona, ...rest } = document;
  if (typeof persona !== 'string' || persona === '') return toYaml(document, { lineWidth: 0 });
  return `---\n${toYaml(rest, { lineWidth: 0 })}---\n\n${persona}\n`;
}

function loadYaml(text: string, source: string): unknown {
  try {
    return parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    const detail = err instanceof YAMLParseError ? `${err.message.split('\n')[0]} (line ${err.linePos?.[0]?.line ?? '?'})` : String(err);
    throw new ManifestError(source, [{ field: '', value: undefined, expected: `valid YAML: ${detail}` }]);
  }
}

function toIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): ManifestIssue {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys;
    const field = [...path, keys[0] ?? ''].join('.');
    return { field, value: valueAt(raw, [...path, keys[0] ?? '']), expected: `no such field (unknown key${keys.length > 1 ? `s: ${keys.join(', ')}` : ''}); check the spelling` };
  }
  const value = valueAt(raw, path);
  return { field: path.join('.'), value, expected: expectedOf(issue, value) };
}

function expectedOf(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return value === undefined ? `a value (required: ${issue.expected})` : `a ${issue.expected}`;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return issue.message.startsWith('Too small') ? `at least ${String(issue.minimum)}` : issue.message;
    case 'too_big':
      return issue.message.startsWith('Too big') ? `at most ${String(issue.maximum)}` : issue.message;
    case 'invalid_format':
      return issue.message.startsWith('Invalid') ? `a ${issue.format}` : issue.message;
    case 'invalid_key':
      return `a valid key: ${issue.issues.map((i) => i.message).join('; ')}`;
    default:
      return issue.message.replace(/^expected /, '');
  }
}

function valueAt(root: unknown, path: string[]): unknown {
  let cur: unknown = root;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
