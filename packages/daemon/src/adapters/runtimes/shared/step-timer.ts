/**
 * Where the time of a multi-step operation went (a warm claim: storage, mounts, rename...),
 * for its log line: `mark(name)` closes the step that began at the previous mark.
 */
export class StepTimer {
  private last = performance.now();
  private readonly began = this.last;
  private readonly steps: [string, number][] = [];

  mark(step: string): void {
    const now = performance.now();
    this.steps.push([step, now - this.last]);
    this.last = now;
  }

  totalMs(): number {
    return performance.now() - this.began;
  }

  /** `{ storage: 812.3, mounts: 40.1 }`, in ms with one decimal. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.steps.map(([s, ms]) => [s, Math.round(ms * 10) / 10]));
  }

  toString(): string {
    return this.steps.map(([s, ms]) => `${s} ${ms.toFixed(1)} ms`).join(', ');
  }
}
