import { parse as parseYaml } from 'yaml';
import { canonicalJson } from './digest.js';
import { ManifestError, type ManifestIssue } from './parse.js';

const PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * Apply `--set path=value` overrides (Helm's spelling) to a manifest document in our dialect:
 * the value is read as YAML, so `replicas=2` is a number and `resources.memory=1Gi` a string.
 * Returns a new document; the caller validates the whole of it again.
 */
export function applyOverrides(document: Record<string, unknown>, sets: string[]): Record<string, unknown> {
  const out = structuredClone(document);
  const issues: ManifestIssue[] = [];
  for (const set of sets) {
    const eq = set.indexOf('=');
    const path = eq < 0 ? set : set.slice(0, eq);
    if (eq < 0 || !PATH.test(path)) {
      issues.push({ field: '--set', value: set, expected: 'path=value, e.g. resources.memory=1Gi or replicas=2' });
      continue;
    }
    let value: unknown;
    try {
      value = parseYaml(set.slice(eq + 1));
    } catch {
      value = set.slice(eq + 1);
    }
    const keys = path.split('.');
    let cur: Record<string, unknown> = out;
    for (const k of keys.slice(0, -1)) {
      const next = cur[k];
      if (next === undefined) cur[k] = {};
      else if (typeof next !== 'object' || next === null || Array.isArray(next)) {
        issues.push({ field: path, value: next, expected: `a mapping at "${k}" to set a field inside it` });
        break;
      }
      cur = cur[k] as Record<string, unknown>;
    }
    cur[keys[keys.length - 1]!] = value;
  }
  if (issues.length > 0) throw new ManifestError('--set', issues);
  return out;
}

/** Dotted paths of the fields that differ between two manifests (lists compared whole). */
export function changedFields(before: unknown, after: unknown, prefix = ''): string[] {
  if (isMapping(before) && isMapping(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => changedFields(before[k], after[k], prefix === '' ? k : `${prefix}.${k}`));
  }
  return canonicalJson(before ?? null) === canonicalJson(after ?? null) ? [] : [prefix];
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
