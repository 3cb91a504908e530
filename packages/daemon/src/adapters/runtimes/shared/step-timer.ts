/**
 * When each step of a multi-step operation (a warm claim: storage, mounts, Docker calls...)
 * was done, in ms since it began, for its log line. Offsets rather than durations: some steps
 * run at the same time, and "done at" reads right either way.
 */
export class StepTimer {
  private readonly began = performance.now();
  private readonly steps: [string, number][] = [];

  mark(step: string): void {
    this.steps.push([step, performance.now() - this.began]);
  }

  totalMs(): number {
    return performance.now() - this.began;
  }

  /** `{ storage: 12.3, mounts: 40.1 }`: ms since the start, one decimal. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.steps.map(([s, ms]) => [s, Math.round(ms * 10) / 10]));
  }

  toString(): string {
    return this.steps.map(([s, ms]) => `${s} at ${ms.toFixed(1)}`).join(', ');
  }
}
