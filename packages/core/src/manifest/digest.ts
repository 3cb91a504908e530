import { createHash } from 'node:crypto';
import type { Manifest } from './schema.js';

/**
 * Content address of a manifest: sha256 over its validated form in canonical JSON (sorted
 * keys), so two spellings of the same agent (yaml or md, defaults written or omitted) have
 * the same digest.
 */
export function manifestDigest(manifest: Manifest): string {
  return `sha256:${createHash('sha256').update(canonicalJson(manifest)).digest('hex')}`;
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
