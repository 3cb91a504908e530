import { z } from 'zod';
import { AgentName, Tile, Villager } from '@aiflock/protocol';

/**
 * The engine's whole state, plain JSON, so a snapshot is just this object and a restore is
 * its parse. It holds more than the wire `WorldSnapshot`: paths being walked, path searches
 * waiting for budget, what each villager heard, its last actions and the RNG state, because
 * all of them decide what later ticks do.
 */
export const Heard = z.object({ from: AgentName, text: z.string(), tick: z.number().int() });
export type Heard = z.infer<typeof Heard>;

export const RecentAction = z.object({ tick: z.number().int(), what: z.string() });
export type RecentAction = z.infer<typeof RecentAction>;

export const VillagerState = Villager.extend({
  /** Tiles still to walk, next first. */
  path: z.array(Tile),
  heard: z.array(Heard),
  recent: z.array(RecentAction),
});
export type VillagerState = z.infer<typeof VillagerState>;

export const PathRequest = z.object({ input: z.number().int(), name: AgentName, target: Tile, label: z.string() });
export type PathRequest = z.infer<typeof PathRequest>;

export const WorldState = z.object({
  version: z.literal(1),
  map: z.string(),
  tick: z.number().int().min(0),
  seq: z.number().int().min(0),
  /** mulberry32 state: the only source of randomness (where a villager without a home appears). */
  rng: z.number().int(),
  /** Id of the next queued input; outcomes of deferred moves are reported against it. */
  nextInput: z.number().int().min(1),
  /** In join order, which is also the order villagers move in each tick. */
  villagers: z.array(VillagerState),
  pathQueue: z.array(PathRequest),
});
export type WorldState = z.infer<typeof WorldState>;

/** mulberry32: small, fast, and its whole state is one 32-bit integer kept in the world state. */
export function nextRandom(state: number): { value: number; state: number } {
  const s = (state + 0x6d2b79f5) | 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { value: ((t ^ (t >>> 14)) >>> 0) / 4294967296, state: s };
}
