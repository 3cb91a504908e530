import { describe, expect, it } from 'vitest';
import { planAutoscale, replicasFor, type AutoscaleMemory } from '../src/deployment/autoscale-plan.js';

const policy = { min: 1, max: 5, targetQueueDepth: 10 };
const timing = { downWindowMs: 60_000, upCooldownMs: 0 };
const fresh: AutoscaleMemory = { lastChangeAt: null, asked: [] };

describe('replicasFor', () => {
  it('asks for enough replicas to hold about targetQueueDepth tasks each, within min..max', () => {
    expect(replicasFor(policy, 0)).toBe(1);
    expect(replicasFor(policy, 10)).toBe(1);
    expect(replicasFor(policy, 11)).toBe(2);
    expect(replicasFor(policy, 45)).toBe(5);
    expect(replicasFor(policy, 10_000)).toBe(5);
    expect(replicasFor({ ...policy, min: 0 }, 0)).toBe(0);
  });
});

describe('planAutoscale', () => {
  it('scales up at once when the queue grows', () => {
    const r = planAutoscale(policy, 1, 33, fresh, 1_000, timing);
    expect(r.decision).toEqual({ replicas: 4, reason: 'queue depth 33, target 10 per replica' });
    expect(r.memory.lastChangeAt).toBe(1_000);
  });

  it('honours the scale-up cool-down', () => {
    const after = planAutoscale(policy, 2, 50, { lastChangeAt: 1_000, asked: [] }, 3_000, { ...timing, upCooldownMs: 5_000 });
    expect(after.decision).toBeNull();
    expect(planAutoscale(policy, 2, 50, { lastChangeAt: 1_000, asked: [] }, 6_000, { ...timing, upCooldownMs: 5_000 }).decision?.replicas).toBe(5);
  });

  it('scales down only after the window, and only to the most the queue asked for within it', () => {
    let memory: AutoscaleMemory = { lastChangeAt: 0, asked: [] };
    const pass = (t: number, current: number, depth: number) => {
      const r = planAutoscale(policy, current, depth, memory, t, timing);
      memory = r.memory;
      return r.decision;
    };
    expect(pass(10_000, 5, 0)).toBeNull(); // the queue drained: too soon after the last change
    expect(pass(30_000, 5, 25)).toBeNull(); // a burst asks for 3
    expect(pass(61_000, 5, 0)).toEqual({ replicas: 3, reason: expect.stringContaining('no more than 3 asked for in the last 60 s') });
    expect(pass(80_000, 3, 0)).toBeNull(); // the window runs again from that change
    expect(pass(121_000, 3, 0)?.replicas).toBe(1);
  });

  it('does not flap: a queue that comes and goes within the window keeps its replicas', () => {
    let memory: AutoscaleMemory = { lastChangeAt: 0, asked: [] };
    let current = 1;
    const changes: number[] = [];
    for (let t = 5_000; t <= 300_000; t += 5_000) {
      const depth = (t / 5_000) % 4 === 0 ? 40 : 0; // a burst every 20 s
      const r = planAutoscale(policy, current, depth, memory, t, timing);
      memory = r.memory;
      if (r.decision) {
        changes.push(r.decision.replicas);
        current = r.decision.replicas;
      }
    }
    expect(changes).toEqual([4]);
  });

  it('brings a count set outside min..max back within them', () => {
    expect(planAutoscale(policy, 9, 0, fresh, 0, timing).decision).toEqual({ replicas: 5, reason: '9 replicas is outside scaling 1..5' });
    expect(planAutoscale({ ...policy, min: 2 }, 0, 0, fresh, 0, timing).decision?.replicas).toBe(2);
  });
});
