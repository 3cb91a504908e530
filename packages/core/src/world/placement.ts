import type { Tile } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import type { WorldMap } from './map.js';
import { nextRandom, type WorldState } from './state.js';

/** A walkable tile nobody stands on, drawn from the state's RNG (any walkable tile if all are taken). */
export function freeTile(map: WorldMap, state: WorldState): Tile {
  const taken = new Set(state.villagers.map((v) => v.y * map.width + v.x));
  const free: number[] = [];
  const all: number[] = [];
  for (let i = 0; i < map.walkable.length; i++) {
    if (map.walkable[i] !== 1) continue;
    all.push(i);
    if (!taken.has(i)) free.push(i);
  }
  const pool = free.length > 0 ? free : all;
  if (pool.length === 0) throw new FlockError('world_map_invalid', `village map ${map.name} has no walkable tile`);
  const r = nextRandom(state.rng);
  state.rng = r.state;
  const i = pool[Math.floor(r.value * pool.length)]!;
  return { x: i % map.width, y: Math.floor(i / map.width) };
}
