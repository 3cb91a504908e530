/** A box on the canvas, in canvas pixels. */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export const overlaps = (a: Rect, b: Rect): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/**
 * Places labels and speech bubbles so that none covers another and none is cut at the canvas
 * edge. Each caller gives the spots it prefers, best first (e.g. under the villager's feet,
 * then lower, then above its head); the first spot that fits inside the canvas and clear of
 * everything placed before wins. When none does, the label goes where it overlaps least, so
 * a crowd on one tile still shows every name, stacked.
 */
export class LabelLayout {
  readonly placed: Rect[] = [];

  constructor(private readonly bounds: { width: number; height: number }) {}

  /** Reserve a box that labels must avoid (a villager's body). */
  block(r: Rect): void {
    this.placed.push(r);
  }

  place(candidates: Rect[]): Rect {
    let best: { r: Rect; cost: number } | null = null;
    for (const c of candidates) {
      const r = this.clamp(c);
      const cost = this.placed.reduce((sum, p) => sum + overlapArea(r, p), 0);
      if (cost === 0) return this.keep(r);
      if (!best || cost < best.cost) best = { r, cost };
    }
    return this.keep(best ? this.stackBelow(best.r) : this.clamp(candidates[0]!));
  }

  private keep(r: Rect): Rect {
    this.placed.push(r);
    return r;
  }

  /** Slide down, then up, a line at a time, until clear (bounded: a crowd has a limit). */
  private stackBelow(r: Rect): Rect {
    for (let i = 1; i <= 12; i++) {
      for (const dir of [1, -1]) {
        const moved = this.clamp({ ...r, y: r.y + dir * i * (r.h + 1) });
        if (!this.placed.some((p) => overlaps(moved, p))) return moved;
      }
    }
    return r;
  }

  private clamp(r: Rect): Rect {
    const x = Math.min(Math.max(0, r.x), Math.max(0, this.bounds.width - r.w));
    const y = Math.min(Math.max(0, r.y), Math.max(0, this.bounds.height - r.h));
    return { ...r, x, y };
  }
}

function overlapArea(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

/** Breaks text into at most `maxLines` lines no wider than `maxWidth`, ending in "…" when cut. */
export function wrapText(text: string, maxWidth: number, measure: (s: string) => number, maxLines = 3): string[] {
  const words = text.replace(/\s+/g, ' ').trim().split(' ');
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    const next = line ? `${line} ${word}` : word;
    if (measure(next) <= maxWidth || !line) {
      line = next;
      continue;
    }
    lines.push(line);
    line = word;
    if (lines.length === maxLines) break;
  }
  if (lines.length < maxLines && line) lines.push(line);
  const cut = lines.length === maxLines && lines.join(' ').length < text.replace(/\s+/g, ' ').trim().length;
  return lines.map((l, i) => (i === lines.length - 1 && cut ? ellipsize(l, maxWidth, measure) : fit(l, maxWidth, measure)));
}

function ellipsize(line: string, maxWidth: number, measure: (s: string) => number): string {
  let l = line;
  while (l.length > 1 && measure(`${l}…`) > maxWidth) l = l.slice(0, -1);
  return `${l.trimEnd()}…`;
}

/** One word longer than the bubble is cut rather than left to spill out. */
function fit(line: string, maxWidth: number, measure: (s: string) => number): string {
  return measure(line) <= maxWidth ? line : ellipsize(line, maxWidth, measure);
}
