import { ToolError } from './tool.js';

interface Hunk {
  oldStart: number;
  lines: string[];
}

/**
 * Applies a unified diff of one file (`---`/`+++` headers optional) to `text`. Each hunk's
 * context and removed lines must match: at the line the header names, else at exactly one
 * other place (line numbers written by a model are often off). Anything else is refused
 * with the hunk that did not apply, and nothing is changed.
 */
export function applyUnifiedDiff(text: string, diff: string): string {
  const hunks = parseHunks(diff);
  if (hunks.length === 0) throw new ToolError('the diff has no hunks (lines starting with "@@ -a,b +c,d @@")');
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text.split(/\r?\n/);
  let shift = 0;
  hunks.forEach((h, n) => {
    const before = h.lines.filter((l) => !l.startsWith('+')).map((l) => l.slice(1));
    const after = h.lines.filter((l) => !l.startsWith('-')).map((l) => l.slice(1));
    const want = Math.max(0, h.oldStart - 1 + shift);
    let at = matches(lines, before, want) ? want : -1;
    if (at === -1) {
      const all = [...Array(Math.max(0, lines.length - before.length + 1)).keys()].filter((i) => matches(lines, before, i));
      if (all.length !== 1) throw new ToolError(`hunk ${n + 1} (@@ -${h.oldStart}) ${all.length === 0 ? 'does not match the file' : `matches ${all.length} places`}; read the file again and send a diff against its current text`);
      at = all[0]!;
    }
    lines.splice(at, before.length, ...after);
    shift += after.length - before.length;
  });
  return lines.join(eol);
}

function matches(lines: string[], want: string[], at: number): boolean {
  if (at + want.length > lines.length) return false;
  return want.every((l, i) => lines[at + i] === l);
}

function parseHunks(diff: string): Hunk[] {
  const hunks: Hunk[] = [];
  let cur: Hunk | null = null;
  for (const line of diff.split(/\r?\n/)) {
    const head = /^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@/.exec(line);
    if (head) {
      cur = { oldStart: Number(head[1]), lines: [] };
      hunks.push(cur);
    } else if (cur && /^[ +-]/.test(line) && !line.startsWith('--- ') && !line.startsWith('+++ ')) cur.lines.push(line);
    else if (cur && line === '') cur.lines.push(' ');
    else if (line.startsWith('\\')) continue;
  }
  // A trailing empty line after the last hunk is the diff's own newline, not context.
  for (const h of hunks) while (h.lines.length > 0 && h.lines[h.lines.length - 1] === ' ') h.lines.pop();
  return hunks;
}
