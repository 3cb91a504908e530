import { describe, expect, it } from 'vitest';
import { CircuitBreaker, EntitlementLimiter, FlockError, ModelRegistry, backoffDelay, priceUsage, type Clock, type RegistryEntry } from '../src/index.js';

const manualClock = (start = 1_700_000_000_000) => {
  let t = start;
  const clock: Clock & { advance(ms: number): void } = { now: () => new Date(t), advance: (ms) => (t += ms) };
  return clock;
};

const entry = (name: string, provider: string, extra: Partial<RegistryEntry> = {}): RegistryEntry => ({
  name,
  provider,
  model: `${name}-model`,
  capabilities: ['chat', 'stream'],
  contextWindow: 4096,
  pricePer1kIn: 1,
  pricePer1kOut: 2,
  fallbacks: [],
  ...extra,
});

describe('model registry', () => {
  const reg = new ModelRegistry([
    entry('default', 'ollama', { fallbacks: ['cloud', 'embedded'] }),
    entry('cloud', 'openai', { capabilities: ['chat', 'tools'], fallbacks: ['default'] }),
    entry('embedded', 'embedded'),
    entry('embed', 'ollama', { capabilities: ['embed'] }),
  ]);

  it('plans the entry then its fallbacks, each once even when they loop', () => {
    expect(reg.plan('default').map((r) => r.name)).toEqual(['default', 'cloud', 'embedded']);
    expect(reg.plan('cloud').map((r) => r.name)).toEqual(['cloud', 'default', 'embedded']);
  });

  it('drops routes without a needed capability, and reorders by a policy override', () => {
    expect(reg.plan('default', { need: ['tools'] }).map((r) => r.name)).toEqual(['cloud']);
    expect(reg.plan('default', { providerOrder: ['embedded', 'ollama'] }).map((r) => r.name)).toEqual(['embedded', 'default']);
  });

  it('names the unknown model and the known ones', () => {
    expect(() => reg.plan('gpt-9')).toThrow(/unknown model "gpt-9"; known: default, cloud, embedded, embed/);
  });

  it('rejects duplicate names and fallbacks to nowhere', () => {
    expect(() => new ModelRegistry([entry('a', 'x'), entry('a', 'y')])).toThrow(/appears twice/);
    expect(() => new ModelRegistry([entry('a', 'x', { fallbacks: ['b'] })])).toThrow(/unknown model "b"/);
  });

  it('prices usage per 1k tokens in and out', () => {
    expect(priceUsage({ pricePer1kIn: 0.5, pricePer1kOut: 1.5 }, 2000, 1000)).toBe(2.5);
    expect(priceUsage({ pricePer1kIn: 0, pricePer1kOut: 0 }, 5000, 5000)).toBe(0);
  });
});

describe('backoff', () => {
  it('is jittered under an exponential ceiling', () => {
    const opts = { baseMs: 100, maxMs: 1000 };
    expect(backoffDelay(1, opts, () => 0.999)).toBe(99);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(200);
    expect(backoffDelay(10, opts, () => 0.999)).toBe(999);
    expect(backoffDelay(2, opts, () => 0)).toBe(0);
  });

  it('never waits less than Retry-After', () => {
    expect(backoffDelay(1, { baseMs: 100, maxMs: 1000 }, () => 0.5, 3000)).toBe(3000);
  });
});

describe('circuit breaker', () => {
  it('opens after repeated failures, lets one probe through after the cool-down, and closes on success', () => {
    const clock = manualClock();
    const changes: string[] = [];
    const b = new CircuitBreaker('p', { failureThreshold: 3, cooldownMs: 1000 }, clock, (_p, s) => changes.push(s));
    b.failure();
    b.failure();
    expect(b.tryAcquire()).toBe(true);
    b.failure();
    expect(b.state()).toBe('open');
    expect(b.tryAcquire()).toBe(false);
    expect(b.retryInMs()).toBe(1000);
    clock.advance(1000);
    expect(b.state()).toBe('half_open');
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false); // only one probe
    b.success();
    expect(b.state()).toBe('closed');
    expect(changes).toEqual(['open', 'half_open', 'closed']);
  });

  it('lets the next caller probe when the probe ended without a verdict (cancelled)', () => {
    const clock = manualClock();
    const b = new CircuitBreaker('p', { failureThreshold: 1, cooldownMs: 500 }, clock);
    b.failure();
    clock.advance(500);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    b.releaseProbe();
    expect(b.tryAcquire()).toBe(true);
  });

  it('re-opens when the probe fails', () => {
    const clock = manualClock();
    const b = new CircuitBreaker('p', { failureThreshold: 1, cooldownMs: 500 }, clock);
    b.failure();
    clock.advance(500);
    expect(b.tryAcquire()).toBe(true);
    b.failure();
    expect(b.state()).toBe('open');
    expect(b.retryInMs()).toBe(500);
  });
});

describe('entitlement limiter', () => {
  const quota = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(FlockError);
      return err as FlockError;
    }
    throw new Error('expected a quota error');
  };

  it('holds requests/min exactly and says when to come back', () => {
    const clock = manualClock();
    const l = new EntitlementLimiter(clock);
    for (let i = 0; i < 5; i++) {
      l.reserve('a', { requestsPerMinute: 5 }, 1).settle(1);
      clock.advance(1000);
    }
    const e = quota(() => l.reserve('a', { requestsPerMinute: 5 }, 1));
    expect(e.code).toBe('quota_exceeded');
    expect(e.details).toMatchObject({ limit: 'requests_per_minute', retryAfterMs: 55_000 });
    clock.advance(55_000);
    expect(() => l.reserve('a', { requestsPerMinute: 5 }, 1)).not.toThrow();
  });

  it('holds concurrency, freeing a slot on settle or release', () => {
    const l = new EntitlementLimiter(manualClock());
    const r1 = l.reserve('a', { concurrent: 2 }, 1);
    const r2 = l.reserve('a', { concurrent: 2 }, 1);
    expect(quota(() => l.reserve('a', { concurrent: 2 }, 1)).details).toMatchObject({ limit: 'concurrent' });
    r1.settle(10);
    r1.settle(10); // twice is harmless
    const r3 = l.reserve('a', { concurrent: 2 }, 1);
    r2.release();
    r3.release();
    expect(l.usage('a').inFlight).toBe(0);
  });

  it('reserves the estimate against tokens/hour, then settles to the real use', () => {
    const clock = manualClock();
    const l = new EntitlementLimiter(clock);
    const r = l.reserve('a', { tokensPerHour: 1000 }, 800);
    expect(quota(() => l.reserve('a', { tokensPerHour: 1000 }, 300)).details).toMatchObject({ limit: 'tokens_per_hour' });
    r.settle(100);
    expect(l.usage('a').tokensLastHour).toBe(100);
    l.reserve('a', { tokensPerHour: 1000 }, 300).settle(300);
    clock.advance(3_600_000);
    expect(l.usage('a').tokensLastHour).toBe(0);
  });

  it('keeps callers apart and checks allowed models', () => {
    const l = new EntitlementLimiter(manualClock());
    l.reserve('a', { concurrent: 1 }, 1);
    expect(() => l.reserve('b', { concurrent: 1 }, 1)).not.toThrow();
    expect(() => l.checkModel('a', { models: ['fast'] }, 'coder')).toThrow(/may not use model "coder"; allowed: fast/);
    expect(() => l.checkModel('a', {}, 'coder')).not.toThrow();
  });
});
