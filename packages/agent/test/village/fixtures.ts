import type { Landmark, Perception, Villager } from '@aiflock/protocol';
import type { LoopClock } from '../../src/index.js';

export const LANDMARKS: Landmark[] = [
  { name: 'home', kind: 'home', label: 'Home', x: 1, y: 1, width: 3, height: 3, entry: { x: 2, y: 3 } },
  { name: 'cafe', kind: 'cafe', label: 'Café', x: 10, y: 1, width: 4, height: 3, entry: { x: 11, y: 3 } },
  { name: 'market', kind: 'market', label: 'Market', x: 20, y: 5, width: 5, height: 4, entry: { x: 22, y: 8 } },
  { name: 'board', kind: 'board', label: 'Bulletin board', x: 15, y: 12, width: 2, height: 1, entry: { x: 15, y: 13 } },
  { name: 'park', kind: 'park', label: 'Park', x: 3, y: 18, width: 8, height: 6, entry: { x: 6, y: 17 } },
];

export function villager(name: string, over: Partial<Villager> = {}): Villager {
  return { name, x: 2, y: 3, activity: '', goal: null, said: null, policy: 'rules', model: null, status: 'active', ...over };
}

/** A perception with nothing going on, at `at` (or walking), changed by `over`. */
export function perception(name: string, over: Partial<Perception> = {}, self: Partial<Villager> = {}): Perception {
  return {
    tick: 1,
    self: villager(name, self),
    landmarks: LANDMARKS,
    at: null,
    nearby: [],
    heard: [],
    economy: { balanceCents: 1000, tier: 1, tierName: 'basic' },
    replies: [],
    ...over,
  };
}

/**
 * Time under the test's control: `sleep` resolves only when `advance` moves past it. The
 * loop's tests assert on what happened, never on how long it took.
 */
export class ManualClock implements LoopClock {
  private now = 0;
  private timers: { at: number; done: (fired: boolean) => void }[] = [];

  sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const t = { at: this.now + ms, done: resolve };
      this.timers.push(t);
      signal?.addEventListener('abort', () => {
        this.timers = this.timers.filter((x) => x !== t);
        resolve(false);
      }, { once: true });
    });
  }

  /** Timers waiting now. */
  get pending(): number {
    return this.timers.length;
  }

  async advance(ms: number): Promise<void> {
    this.now += ms;
    const due = this.timers.filter((t) => t.at <= this.now);
    this.timers = this.timers.filter((t) => t.at > this.now);
    for (const t of due) t.done(true);
    await settle();
  }
}

/** Let every promise callback that is ready run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}
