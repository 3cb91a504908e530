/**
 * Where the village is kept between runs: the latest snapshot of the engine's state and the
 * inputs applied since, one row per tick that had any. Restoring is loading the snapshot and
 * replaying the rows; saving a snapshot drops the rows it covers.
 */
export interface WorldStore {
  latestSnapshot(): Promise<{ tick: number; state: unknown } | undefined>;
  /** Replaces the snapshot and deletes input rows at or before `tick`, in one transaction. */
  saveSnapshot(tick: number, state: unknown): Promise<void>;
  appendInputs(tick: number, inputs: unknown[]): Promise<void>;
  /** Input rows after `tick`, oldest first. */
  inputsAfter(tick: number): Promise<{ tick: number; inputs: unknown[] }[]>;
}
