import { at } from './timing.js';

/**
 * A task's deadline timer that can stand still: while a person is asked (`ask_human` with a
 * paused deadline) the task must not time out here either. Resuming moves the deadline by
 * the time paused, or to the deadline the control plane computed, when it says one.
 */
export class DeadlineTimer {
  private cancel: () => void;
  private pausedAt: number | null = null;

  constructor(
    private deadline: number,
    private readonly expire: () => void,
  ) {
    this.cancel = at(deadline, expire);
  }

  /** Stop the clock; the returned function starts it again (once). */
  pause(): (deadline?: string) => void {
    if (this.pausedAt !== null) return () => undefined;
    this.cancel();
    const since = (this.pausedAt = Date.now());
    let resumed = false;
    return (given) => {
      if (resumed) return;
      resumed = true;
      this.pausedAt = null;
      const parsed = given === undefined ? NaN : Date.parse(given);
      this.deadline = Number.isFinite(parsed) ? parsed : this.deadline + (Date.now() - since);
      this.cancel = at(this.deadline, this.expire);
    };
  }

  stop(): void {
    this.cancel();
  }
}
