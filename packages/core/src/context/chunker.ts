import type { DocumentKind } from '../ports/context-store.js';
import { estimateTokens } from './tokens.js';

export interface Chunk {
  /** Markdown: the heading trail (`Install > Debian`); code: the block's first line. */
  heading: string | null;
  text: string;
  tokens: number;
}

/** A unit that is never split unless it alone exceeds the limit (a fenced block, a top-level code block). */
interface Piece {
  heading: string | null;
  text: string;
  /** Starts a new chunk even when the previous one has room (a new markdown section). */
  boundary: boolean;
}

const FENCE = /^\s{0,3}(```|~~~)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;

/**
 * Split a document into chunks of at most `maxTokens` (estimated) that follow its
 * structure: markdown by heading sections, never cutting a fenced code block unless the
 * block alone is too big; code by top-level blocks (a declaration and its body); plain
 * notes by paragraphs. Small neighbours are merged up to the limit within one section.
 */
export function chunkDocument(text: string, kind: DocumentKind, maxTokens = 400): Chunk[] {
  const pieces = kind === 'code' ? codePieces(text) : markdownPieces(text);
  const out: Chunk[] = [];
  let cur: { heading: string | null; parts: string[]; tokens: number } | null = null;
  const flush = () => {
    if (cur && cur.parts.length) {
      const body = cur.parts.join('\n\n').trim();
      if (body) out.push({ heading: cur.heading, text: body, tokens: estimateTokens(body) });
    }
    cur = null;
  };
  for (const piece of pieces) {
    for (const part of splitOversized(piece.text, maxTokens)) {
      const t = estimateTokens(part);
      // A merged chunk keeps its first piece's heading; markdown sections never merge (boundary).
      if (!cur || piece.boundary || cur.tokens + t > maxTokens) {
        flush();
        cur = { heading: piece.heading, parts: [], tokens: 0 };
      }
      cur.parts.push(part);
      cur.tokens += t + 1;
      piece.boundary = false;
    }
  }
  flush();
  return out;
}

function markdownPieces(text: string): Piece[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const trail: string[] = [];
  const pieces: Piece[] = [];
  let buf: string[] = [];
  let boundary = true;
  let fence: string | null = null;
  const heading = () => (trail.length ? trail.filter(Boolean).join(' > ') : null);
  const emit = () => {
    const t = buf.join('\n').trim();
    if (t) pieces.push({ heading: heading(), text: t, boundary });
    if (t) boundary = false;
    buf = [];
  };
  for (const line of lines) {
    const f = FENCE.exec(line);
    if (fence) {
      buf.push(line);
      if (f && f[1] === fence) {
        fence = null;
        emit(); // a fenced block is one piece
      }
      continue;
    }
    if (f) {
      emit();
      fence = f[1]!;
      buf.push(line);
      continue;
    }
    const h = HEADING.exec(line);
    if (h) {
      emit();
      const level = h[1]!.length;
      trail.length = level - 1;
      trail[level - 1] = h[2]!;
      boundary = true;
      buf.push(line);
      continue;
    }
    if (line.trim() === '') {
      // A blank line ends a paragraph, except right after the heading line itself.
      if (buf.length && !(buf.length === 1 && HEADING.test(buf[0]!))) emit();
      continue;
    }
    buf.push(line);
  }
  emit();
  return pieces;
}

/**
 * Top-level blocks of source code in most brace and indentation languages: a block starts at
 * a line with no indentation that is not a closing bracket, after a blank line or the end of
 * the previous top-level block. Leading comments stay with the declaration they describe.
 */
function codePieces(text: string): Piece[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const pieces: Piece[] = [];
  let buf: string[] = [];
  let prevBlank = true;
  let inComment = false;
  const emit = () => {
    const t = buf.join('\n').replace(/^\n+|\s+$/g, '');
    if (t) {
      const first = t.split('\n').find((l) => !/^\s*(\/\/|#|\/\*|\*|--)/.test(l)) ?? t.split('\n')[0]!;
      pieces.push({ heading: first.trim().slice(0, 120), text: t, boundary: false });
    }
    buf = [];
  };
  for (const line of lines) {
    const topLevel = /^\S/.test(line) && !/^[)}\]]/.test(line) && !/^(end|fi|done|esac)\b/.test(line);
    const comment = /^(\/\/|#(?!include)|\/\*|--)/.test(line);
    if (topLevel && prevBlank && !inComment) emit();
    else if (topLevel && comment && !inComment && buf.length && !/^(\/\/|#|\/\*|\*|--)/.test(buf[buf.length - 1]!.trimStart())) emit();
    if (/\/\*/.test(line) && !/\*\//.test(line)) inComment = true;
    else if (/\*\//.test(line)) inComment = false;
    buf.push(line);
    prevBlank = line.trim() === '' || /^[)}\]];?\s*$/.test(line);
  }
  emit();
  return pieces;
}

/** A piece over the limit is cut at line boundaries (or hard-wrapped for a giant line). */
function splitOversized(text: string, maxTokens: number): string[] {
  if (estimateTokens(text) <= maxTokens) return [text];
  const out: string[] = [];
  let buf: string[] = [];
  let tokens = 0;
  const lines = text.split('\n').flatMap((l) => (estimateTokens(l) > maxTokens ? hardWrap(l, maxTokens) : [l]));
  for (const line of lines) {
    const t = estimateTokens(line) + 1;
    if (buf.length && tokens + t > maxTokens) {
      out.push(buf.join('\n'));
      buf = [];
      tokens = 0;
    }
    buf.push(line);
    tokens += t;
  }
  if (buf.length) out.push(buf.join('\n'));
  return out.filter((s) => s.trim());
}

function hardWrap(line: string, maxTokens: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const word of line.split(/(?<=\s)/)) {
    if (cur && estimateTokens(cur + word) > maxTokens) {
      out.push(cur);
      cur = '';
    }
    // A single "word" longer than the limit (minified code): cut by characters.
    if (estimateTokens(word) > maxTokens) {
      for (let i = 0; i < word.length; i += maxTokens * 2) out.push(word.slice(i, i + maxTokens * 2));
      continue;
    }
    cur += word;
  }
  if (cur) out.push(cur);
  return out;
}
