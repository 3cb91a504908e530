import type { Tile } from '@aiflock/protocol';
import { isWalkable, type WorldMap } from './map.js';

/**
 * A* on the tile grid with eight neighbours. A diagonal step may not cut a wall's corner
 * (both orthogonal neighbours must be walkable), the same rule the engine applies to a single
 * step, so every path found is one the engine accepts tile by tile. Costs are integers (10 for
 * a straight step, 14 for a diagonal) and ties break on insertion order, so the same map and
 * endpoints always give the same path.
 */
export type PathResult =
  | { kind: 'found'; path: Tile[]; expanded: number }
  | { kind: 'unreachable'; expanded: number }
  /** Stopped after `budget` expansions without an answer. */
  | { kind: 'budget'; expanded: number };

/** The eight steps, straight ones (cost 10) first, then diagonals (cost 14). */
const STEPS: ReadonlyArray<readonly [number, number]> = [
  [0, -1], [1, 0], [0, 1], [-1, 0],
  [1, -1], [1, 1], [-1, 1], [-1, -1],
];

/** Whether a one-tile step from (x,y) by (dx,dy) is allowed on this map. */
export function canStep(map: WorldMap, x: number, y: number, dx: number, dy: number): boolean {
  if (dx === 0 && dy === 0) return false;
  if (!isWalkable(map, x + dx, y + dy)) return false;
  return dx === 0 || dy === 0 || (isWalkable(map, x + dx, y) && isWalkable(map, x, y + dy));
}

const octile = (ax: number, ay: number, bx: number, by: number) => {
  const dx = Math.abs(ax - bx);
  const dy = Math.abs(ay - by);
  return 10 * Math.max(dx, dy) + 4 * Math.min(dx, dy);
};

/** Reusable scratch space for one map, so a search allocates almost nothing. */
export class PathFinder {
  private readonly g: Int32Array;
  private readonly parent: Int32Array;
  /** Generation stamps: a tile is seen/closed in this search when its stamp equals `gen`. */
  private readonly seen: Uint32Array;
  private readonly closed: Uint32Array;
  private gen = 0;
  /** A binary heap whose entries carry their own keys (f, h, insertion order) and tile index. */
  private heap: Int32Array;
  private size = 0;
  private counter = 0;
  /** Per tile, bit k set when STEPS[k] is a legal step from it (the map is fixed, so once). */
  private readonly moves: Uint8Array;
  private readonly offsets: Int32Array;

  constructor(private readonly map: WorldMap) {
    const n = map.width * map.height;
    this.moves = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const x = i % map.width;
      const y = (i - x) / map.width;
      let mask = 0;
      STEPS.forEach(([dx, dy], k) => {
        if (canStep(map, x, y, dx, dy)) mask |= 1 << k;
      });
      this.moves[i] = mask;
    }
    this.offsets = Int32Array.from(STEPS.map(([dx, dy]) => dy * map.width + dx));
    this.g = new Int32Array(n);
    this.parent = new Int32Array(n);
    this.seen = new Uint32Array(n);
    this.closed = new Uint32Array(n);
    this.heap = new Int32Array(4 * Math.max(16, n));
  }

  find(from: Tile, to: Tile, budget: number): PathResult {
    const { map } = this;
    const w = map.width;
    if (!isWalkable(map, to.x, to.y)) return { kind: 'unreachable', expanded: 0 };
    if (from.x === to.x && from.y === to.y) return { kind: 'found', path: [], expanded: 0 };
    this.gen++;
    this.size = 0;
    this.counter = 0;
    const goal = to.y * w + to.x;
    const start = from.y * w + from.x;
    this.g[start] = 0;
    this.seen[start] = this.gen;
    const h0 = octile(from.x, from.y, to.x, to.y);
    this.push(h0, h0, start);
    let expanded = 0;
    while (this.size > 0) {
      const cur = this.pop();
      if (this.closed[cur] === this.gen) continue; // a stale entry: a cheaper one was expanded
      if (cur === goal) return { kind: 'found', path: this.walkBack(start, goal), expanded };
      if (expanded >= budget) return { kind: 'budget', expanded };
      expanded++;
      this.closed[cur] = this.gen;
      const mask = this.moves[cur]!;
      for (let k = 0; k < 8; k++) {
        if ((mask & (1 << k)) === 0) continue;
        const n = cur + this.offsets[k]!;
        if (this.closed[n] === this.gen) continue;
        const g = this.g[cur]! + (k < 4 ? 10 : 14);
        if (this.seen[n] === this.gen && g >= this.g[n]!) continue;
        this.seen[n] = this.gen;
        this.g[n] = g;
        this.parent[n] = cur;
        const nx = n % w;
        const h = octile(nx, (n - nx) / w, to.x, to.y);
        this.push(g + h, h, n); // lazy decrease-key: the older entry is skipped when popped
      }
    }
    return { kind: 'unreachable', expanded };
  }

  private push(f: number, h: number, idx: number): void {
    if ((this.size + 1) * 4 > this.heap.length) {
      const bigger = new Int32Array(this.heap.length * 2);
      bigger.set(this.heap);
      this.heap = bigger;
    }
    let k = this.size++;
    this.set(k, f, h, this.counter++, idx);
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (!this.less(k, p)) break;
      this.swap(k, p);
      k = p;
    }
  }

  private pop(): number {
    const top = this.heap[3]!;
    const last = --this.size;
    if (last > 0) {
      this.heap.copyWithin(0, last * 4, last * 4 + 4);
      let k = 0;
      for (;;) {
        const l = 2 * k + 1;
        const r = l + 1;
        let m = k;
        if (l < this.size && this.less(l, m)) m = l;
        if (r < this.size && this.less(r, m)) m = r;
        if (m === k) break;
        this.swap(k, m);
        k = m;
      }
    }
    return top;
  }

  private set(k: number, f: number, h: number, order: number, idx: number): void {
    const o = k * 4;
    this.heap[o] = f;
    this.heap[o + 1] = h;
    this.heap[o + 2] = order;
    this.heap[o + 3] = idx;
  }

  private swap(a: number, b: number): void {
    const h = this.heap;
    const i = a * 4;
    const j = b * 4;
    const f = h[i]!, hh = h[i + 1]!, o = h[i + 2]!, x = h[i + 3]!; // prettier-ignore
    h[i] = h[j]!;
    h[i + 1] = h[j + 1]!;
    h[i + 2] = h[j + 2]!;
    h[i + 3] = h[j + 3]!;
    h[j] = f;
    h[j + 1] = hh;
    h[j + 2] = o;
    h[j + 3] = x;
  }

  /** Lower f first; on a tie the one nearer the goal; then the older entry. */
  private less(a: number, b: number): boolean {
    const h = this.heap;
    const i = a * 4;
    const j = b * 4;
    if (h[i] !== h[j]) return h[i]! < h[j]!;
    if (h[i + 1] !== h[j + 1]) return h[i + 1]! < h[j + 1]!;
    return h[i + 2]! < h[j + 2]!;
  }

  private walkBack(start: number, goal: number): Tile[] {
    const w = this.map.width;
    const path: Tile[] = [];
    for (let i = goal; i !== start; i = this.parent[i]!) path.push({ x: i % w, y: Math.floor(i / w) });
    return path.reverse();
  }
}
