import type { Landmark } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import { inside, type WorldMap } from './map.js';
import type { WorldOptions } from './options.js';
import type { VillagerState, WorldState } from './state.js';

/**
 * The engine's state as its rule modules see it. The engine builds this once and hands it to
 * every rule it runs; the rules keep nothing of their own and change it only while the engine
 * calls them, so the engine stays the one writer and a tick stays deterministic.
 */
export interface Village {
  readonly map: WorldMap;
  readonly options: WorldOptions;
  readonly state: WorldState;
  /** The same villager objects as `state.villagers`, by name. */
  readonly byName: Map<string, VillagerState>;
}

export function requireVillager(w: Village, name: string): VillagerState {
  const v = w.byName.get(name);
  if (!v) throw new FlockError('villager_not_found', `"${name}" is not in the village (deploy it with a village section in its manifest)`, { name });
  return v;
}

export function activeVillager(w: Village, name: string): VillagerState {
  const v = requireVillager(w, name);
  if (v.status !== 'active') throw new FlockError('villager_inactive', `"${name}" is ${v.status} and stands still`, { name, status: v.status });
  return v;
}

export function findLandmark(map: WorldMap, name: string): Landmark | undefined {
  return map.landmarks.find((l) => l.name === name);
}

export function landmarkAt(map: WorldMap, x: number, y: number): Landmark | undefined {
  return map.landmarks.find((l) => inside(l, x, y));
}

/** Chebyshev distance: the radii for hearing and sight count diagonal tiles as one. */
export function tilesApart(a: { x: number; y: number }, b: { x: number; y: number }): number {
  return Math.max(Math.abs(a.x - b.x), Math.abs(a.y - b.y));
}
