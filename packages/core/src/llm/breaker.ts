import type { Clock } from '../ports/clock.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerOptions {
  /** Consecutive failures (errors or 429s) that open the circuit. */
  failureThreshold: number;
  /** How long the circuit stays open before one probe is let through. */
  cooldownMs: number;
}

/**
 * A circuit breaker for one provider deployment: closed → open after `failureThreshold`
 * consecutive failures → half-open after the cool-down, when exactly one probe may pass;
 * the probe's success closes it, its failure opens it again for another cool-down.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | null = null;
  private probing = false;

  constructor(
    readonly provider: string,
    private readonly opts: BreakerOptions,
    private readonly clock: Clock,
    private readonly onChange: (provider: string, state: BreakerState) => void = () => undefined,
  ) {}

  state(): BreakerState {
    if (this.openedAt === null) return 'closed';
    return this.clock.now().getTime() - this.openedAt >= this.opts.cooldownMs ? 'half_open' : 'open';
  }

  /** May a call go through now? In half-open, only the first caller gets the probe. */
  tryAcquire(): boolean {
    const s = this.state();
    if (s === 'closed') return true;
    if (s === 'open' || this.probing) return false;
    this.probing = true;
    this.onChange(this.provider, 'half_open');
    return true;
  }

  /** Milliseconds until a probe may pass (0 when closed). */
  retryInMs(): number {
    if (this.openedAt === null) return 0;
    return Math.max(0, this.opts.cooldownMs - (this.clock.now().getTime() - this.openedAt));
  }

  /** The probe's call ended without a verdict (cancelled): let the next caller probe. */
  releaseProbe(): void {
    this.probing = false;
  }

  success(): void {
    const wasOpen = this.openedAt !== null;
    this.failures = 0;
    this.openedAt = null;
    this.probing = false;
    if (wasOpen) this.onChange(this.provider, 'closed');
  }

  failure(): void {
    this.failures += 1;
    if (this.probing || this.failures >= this.opts.failureThreshold) {
      this.openedAt = this.clock.now().getTime();
      this.probing = false;
      this.onChange(this.provider, 'open');
    }
  }
}
