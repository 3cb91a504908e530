import type { AbortReason } from './sdk.js';

export interface RunningTask {
  readonly taskId: string;
  readonly controller: AbortController;
  /** Why the control plane cancelled it, for the result's error text. */
  cancelReason?: string;
}

/** Cancels can race ahead of the delivery they refer to; remember a bounded number. */
const REMEMBERED_CANCELS = 1_000;

/** The tasks this instance is working on, so cancels and heartbeats can find them. */
export class TaskRegistry {
  private readonly running = new Map<string, RunningTask>();
  private readonly cancelledEarly = new Map<string, string>();

  add(taskId: string): RunningTask {
    const entry: RunningTask = { taskId, controller: new AbortController() };
    this.running.set(taskId, entry);
    return entry;
  }

  remove(taskId: string): void {
    this.running.delete(taskId);
  }

  has(taskId: string): boolean {
    return this.running.has(taskId);
  }

  ids(): string[] {
    return [...this.running.keys()];
  }

  get size(): number {
    return this.running.size;
  }

  /** True if the task was running here and is now aborted. */
  cancel(taskId: string, reason: string): boolean {
    const entry = this.running.get(taskId);
    if (!entry) {
      this.cancelledEarly.set(taskId, reason);
      if (this.cancelledEarly.size > REMEMBERED_CANCELS) {
        const oldest = this.cancelledEarly.keys().next();
        if (!oldest.done) this.cancelledEarly.delete(oldest.value);
      }
      return false;
    }
    if (!entry.controller.signal.aborted) {
      entry.cancelReason = reason;
      entry.controller.abort('cancelled' satisfies AbortReason);
    }
    return true;
  }

  /** The reason of a cancel that arrived before the task did, consuming it. */
  takeEarlyCancel(taskId: string): string | undefined {
    const reason = this.cancelledEarly.get(taskId);
    this.cancelledEarly.delete(taskId);
    return reason;
  }

  abortAll(reason: AbortReason): number {
    let n = 0;
    for (const entry of this.running.values()) {
      if (!entry.controller.signal.aborted) {
        entry.controller.abort(reason);
        n++;
      }
    }
    return n;
  }
}
