import { describe, expect, it } from 'vitest';
import { LabelLayout, overlaps, wrapText } from '../src/village/label-layout.js';

const box = (x: number, y: number, w = 40, h = 14) => ({ x, y, w, h });

describe('label layout', () => {
  it('keeps the preferred spot when it is clear', () => {
    const l = new LabelLayout({ width: 400, height: 300 });
    expect(l.place([box(100, 100)])).toEqual(box(100, 100));
  });

  it('takes the next spot rather than cover a label already placed', () => {
    const l = new LabelLayout({ width: 400, height: 300 });
    l.place([box(100, 100)]);
    expect(l.place([box(110, 105), box(110, 130)])).toEqual(box(110, 130));
  });

  it('never leaves the canvas: labels at an edge are pulled inside', () => {
    const l = new LabelLayout({ width: 400, height: 300 });
    expect(l.place([box(-20, -5)])).toEqual(box(0, 0));
    expect(l.place([box(390, 295)])).toEqual(box(360, 286));
  });

  it('stacks a crowd on one tile so that every name shows and none covers another', () => {
    const l = new LabelLayout({ width: 400, height: 300 });
    const placed = Array.from({ length: 8 }, () => l.place([box(100, 100), box(100, 115)]));
    for (let i = 0; i < placed.length; i++) for (let j = i + 1; j < placed.length; j++) expect(overlaps(placed[i]!, placed[j]!), `${i} and ${j}`).toBe(false);
  });

  it('keeps labels off the bodies it was told to avoid', () => {
    const l = new LabelLayout({ width: 400, height: 300 });
    l.block(box(100, 100, 20, 30));
    expect(overlaps(l.place([box(95, 110), box(95, 140)]), box(100, 100, 20, 30))).toBe(false);
  });
});

describe('wrapText', () => {
  const measure = (s: string) => s.length * 6;
  it('wraps at word boundaries within the width', () => {
    expect(wrapText('Fresh bread at the cafe this morning', 66, measure)).toEqual(['Fresh bread', 'at the cafe', 'this…']);
    expect(wrapText('Hello there', 120, measure)).toEqual(['Hello there']);
  });

  it('cuts what does not fit in the lines it may use, and a word wider than the bubble', () => {
    const lines = wrapText('one two three four five six seven eight nine ten', 48, measure, 2);
    expect(lines).toHaveLength(2);
    expect(lines[1]!.endsWith('…')).toBe(true);
    for (const l of lines) expect(measure(l)).toBeLessThanOrEqual(48);
    expect(wrapText('Supercalifragilistic', 48, measure)).toEqual(['Superca…']);
  });
});
