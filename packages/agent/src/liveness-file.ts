import { writeFileSync } from 'node:fs';

/**
 * The sandbox's own health check (Docker's HEALTHCHECK, see the daemon's container-spec.ts)
 * reads this file: it holds the Unix second by which the runtime promises to write it again.
 * It is rewritten on a timer of the event loop, so a frozen process (stopped, or a handler
 * that never yields) lets the promise lapse and the check fails, while the process is still
 * "running" as far as the container engine can see.
 */
export class LivenessFile {
  private timer: NodeJS.Timeout | null = null;
  private failing = false;

  /** `graceIntervals`: how many intervals may pass without a write before the check fails. */
  constructor(
    private readonly path: string,
    private readonly intervalMs: number,
    private readonly onError: (message: string) => void,
    private readonly graceIntervals = 2,
  ) {}

  start(): void {
    this.touch();
    this.timer ??= setInterval(() => this.touch(), this.intervalMs);
    // A runtime that has nothing else to do must still exit when asked.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private touch(): void {
    const due = Math.ceil((Date.now() + this.graceIntervals * this.intervalMs) / 1000);
    try {
      writeFileSync(this.path, `${due}\n`);
      this.failing = false;
    } catch (err) {
      // Said once until it works again; the health check then fails, which is the truth.
      if (!this.failing) this.onError(`cannot write the liveness file ${this.path}: ${(err as Error).message}`);
      this.failing = true;
    }
  }
}
