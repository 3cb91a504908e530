import { describe, expect, it } from 'vitest';
import { PathFinder, canStep } from '../../src/index.js';
import { asciiMap } from './ascii-map.js';

describe('A* pathfinding', () => {
  const map = asciiMap([
    '..........',
    '.######...',
    '......#...',
    '####..#...',
    '......#.##',
    '.######.#.',
    '........#.',
  ]);
  const finder = new PathFinder(map);

  it('walks around walls with a shortest path of legal steps', () => {
    const r = finder.find({ x: 0, y: 2 }, { x: 0, y: 4 }, 10_000);
    expect(r.kind).toBe('found');
    if (r.kind !== 'found') return;
    // Through the gap in row 3 without cutting its corners: 4 steps east, down through the gap
    // (4,3) (4,4) orthogonally, then 4 steps west: 10 steps where a straight line is 2.
    expect(r.path.length).toBe(10);
    let at = { x: 0, y: 2 };
    for (const t of r.path) {
      expect(canStep(map, at.x, at.y, t.x - at.x, t.y - at.y), `${at.x},${at.y} -> ${t.x},${t.y}`).toBe(true);
      at = t;
    }
    expect(at).toEqual({ x: 0, y: 4 });
  });

  it('never cuts a wall corner diagonally', () => {
    expect(canStep(map, 0, 0, 1, 1)).toBe(false); // (1,1) is a wall
    expect(canStep(map, 7, 2, 1, -1)).toBe(true);
    expect(canStep(map, 7, 5, -1, 1)).toBe(false); // (6,6) is open but (6,5) is a wall beside the diagonal
  });

  it('reports an unreachable target (walled-off corner) and a wall target', () => {
    expect(finder.find({ x: 0, y: 0 }, { x: 9, y: 6 }, 10_000).kind).toBe('unreachable');
    expect(finder.find({ x: 0, y: 0 }, { x: 1, y: 1 }, 10_000)).toEqual({ kind: 'unreachable', expanded: 0 });
  });

  it('stops at the node budget and finds the same path once given enough', () => {
    const small = finder.find({ x: 0, y: 6 }, { x: 9, y: 0 }, 5);
    expect(small).toEqual({ kind: 'budget', expanded: 5 });
    const a = finder.find({ x: 0, y: 6 }, { x: 9, y: 0 }, 10_000);
    const b = finder.find({ x: 0, y: 6 }, { x: 9, y: 0 }, 10_000);
    expect(a.kind).toBe('found');
    expect(b).toEqual(a);
  });

  it('takes diagonals across open ground (octile distance)', () => {
    const open = new PathFinder(asciiMap(['......', '......', '......', '......']));
    const r = open.find({ x: 0, y: 0 }, { x: 5, y: 3 }, 1000);
    expect(r.kind === 'found' && r.path.length).toBe(5);
  });
});
