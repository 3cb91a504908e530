export interface WorldOptions {
  /** Only reported to clients (the daemon owns the clock). */
  tickMs: number;
  /** A* node expansions per tick, shared by every villager's search; a search that finds the budget spent waits a tick. */
  pathBudget: number;
  /** Talk is heard within this many tiles (Chebyshev distance). */
  hearingRadius: number;
  /** Other villagers within this many tiles are `nearby` in a perception. */
  sightRadius: number;
  /** Seed of the state's RNG for a new world. */
  seed: number;
}

export const DEFAULT_WORLD_OPTIONS: WorldOptions = { tickMs: 250, pathBudget: 4_000, hearingRadius: 5, sightRadius: 8, seed: 1 };
