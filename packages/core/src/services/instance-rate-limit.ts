import type { Clock } from '../ports/clock.js';

export interface InstanceRateLimitOptions {
  /** Sustained messages per second an instance may send. */
  perSecond: number;
  /** How many it may send at once above that. */
  burst: number;
  clock: Clock;
  /** A dropping instance is reported at most once in this long (default a minute). */
  reportEveryMs?: number;
}

/** What `take` decided: pass it, drop it and report that, or drop it quietly. */
export type RateDecision = 'pass' | 'drop_first' | 'drop';

/**
 * A token bucket per instance, for what instances publish. An agent that floods (logs in a
 * loop, on purpose or not) gets its excess dropped, not stored: one drop in each
 * `reportEveryMs` is reported (`drop_first`), the rest are dropped quietly (and counted by
 * the caller), so the flood cannot turn into a flood of warnings instead. Buckets of
 * instances that went quiet are forgotten.
 */
export class InstanceRateLimit {
  private readonly buckets = new Map<string, { tokens: number; at: number; reportedAt: number }>();

  constructor(private readonly o: InstanceRateLimitOptions) {}

  take(instanceId: string): RateDecision {
    const now = this.o.clock.now().getTime();
    if (this.buckets.size > 10_000) this.forgetIdle(now);
    const b = this.buckets.get(instanceId) ?? { tokens: this.o.burst, at: now, reportedAt: -Infinity };
    b.tokens = Math.min(this.o.burst, b.tokens + ((now - b.at) / 1000) * this.o.perSecond);
    b.at = now;
    this.buckets.set(instanceId, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'pass';
    }
    if (now - b.reportedAt < (this.o.reportEveryMs ?? 60_000)) return 'drop';
    b.reportedAt = now;
    return 'drop_first';
  }

  private forgetIdle(now: number): void {
    const full = (this.o.burst / this.o.perSecond) * 1000;
    const quiet = Math.max(full, this.o.reportEveryMs ?? 60_000);
    for (const [id, b] of this.buckets) if (now - b.at > quiet) this.buckets.delete(id);
  }
}
