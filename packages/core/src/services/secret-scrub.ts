/** A secret an agent holds: its name and plaintext value. */
export interface HeldSecret {
  name: string;
  value: string;
}

/** What a secret's value is replaced with: says which secret was there, never what it was. */
export const scrubbedMarker = (name: string): string => `[secret:${name}]`;

/**
 * Replaces every occurrence of every secret value in `value` (strings anywhere in a JSON-like
 * tree, object keys included) with `[secret:<name>]`. The control plane runs everything an
 * instance sends through this before storing or streaming it: a task may print a secret the
 * agent holds (`cat /run/secrets/x`), and its output, result, logs and events are readable by
 * more people than the secret is. Values are also matched without surrounding whitespace (a
 * file read by `cat` and printed by `echo $(...)` loses its trailing newline). Longer values go
 * first, so a secret that contains another is replaced whole. Pure: returns a new tree.
 */
export function scrubSecrets<T>(value: T, secrets: readonly HeldSecret[], opts: { keep?: readonly string[] } = {}): T {
  return compileScrubber(secrets)(value, opts.keep);
}

/** `scrubSecrets` with its secrets fixed: what the control plane caches per agent (see SecretService.scrubberFor). */
export type Scrubber = <T>(value: T, keep?: readonly string[]) => T;

/** The needles (each value, and each value trimmed, longest first) worked out once for many scrubs. */
export function compileScrubber(secrets: readonly HeldSecret[]): Scrubber {
  const needles = needlesOf(secrets);
  return <T>(value: T, keepNames: readonly string[] = []): T => {
    if (needles.length === 0) return value;
    const keep = new Set(keepNames);
    if (keep.size === 0 || value === null || typeof value !== 'object' || Array.isArray(value)) return walk(value, needles) as T;
    // Top-level identifiers (`keep`: type, ids, timestamps) stay as sent: they are checked, not shown.
    return Object.fromEntries(Object.entries(value).map(([k, v]) => (keep.has(k) ? [k, v] : [replaceAll(k, needles), walk(v, needles)]))) as T;
  };
}

function needlesOf(secrets: readonly HeldSecret[]): [needle: string, marker: string][] {
  const out = new Map<string, string>();
  for (const s of secrets) {
    for (const v of [s.value, s.value.trim()]) if (v.length > 0 && !out.has(v)) out.set(v, scrubbedMarker(s.name));
  }
  return [...out].sort((a, b) => b[0].length - a[0].length);
}

function walk(v: unknown, needles: readonly [string, string][]): unknown {
  if (typeof v === 'string') return replaceAll(v, needles);
  if (Array.isArray(v)) return v.map((x) => walk(x, needles));
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [replaceAll(k, needles), walk(x, needles)]));
  }
  return v;
}

function replaceAll(s: string, needles: readonly [string, string][]): string {
  let out = s;
  for (const [needle, marker] of needles) if (out.includes(needle)) out = out.split(needle).join(marker);
  return out;
}
