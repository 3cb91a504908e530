import type { Tile, WorldDelta } from '@aiflock/protocol';
import type { FlockError } from '../errors.js';
import type { WorldInput } from './inputs.js';

export type MoveOutcome = { goal: Tile | null; path: number };
export type Outcome = { id: number; ok: true; value: MoveOutcome | { ok: true } } | { id: number; ok: false; error: FlockError };

export interface TickResult {
  tick: number;
  /** The changes this tick made, or null when nothing changed (an idle tick). */
  delta: WorldDelta | null;
  /** The inputs taken from the queue this tick, in the order applied: the input log's row. */
  applied: WorldInput[];
  /** Answers for inputs settled this tick (a move to a target may settle ticks after it was queued). */
  outcomes: Outcome[];
}
