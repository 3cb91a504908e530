/** What a manifest's `scaling` asks: replicas within min..max, about `targetQueueDepth` tasks each. */
export interface ScalingPolicy {
  min: number;
  max: number;
  targetQueueDepth: number;
}

/** How quickly replicas may follow the queue (config `autoscale`). */
export interface AutoscaleTiming {
  /**
   * Scale-down stabilisation: replicas fall only to the highest count the queue asked for
   * during this window, and not within it after the last change. Work that arrives in bursts
   * then keeps its replicas between bursts instead of starting and stopping them each time.
   */
  downWindowMs: number;
  /** Least time between two scale-ups; 0 lets replicas follow a growing queue at once. */
  upCooldownMs: number;
}

/** What the autoscaler remembers of one agent between passes. */
export interface AutoscaleMemory {
  lastChangeAt: number | null;
  /** What the queue asked for at each recent pass, newest last, within the down window. */
  asked: { at: number; replicas: number }[];
}

export interface AutoscaleDecision {
  replicas: number;
  reason: string;
}

/** Replicas the queue asks for: enough that each has about `targetQueueDepth` tasks, within min..max. */
export function replicasFor(policy: ScalingPolicy, queueDepth: number): number {
  const wanted = Math.ceil(Math.max(0, queueDepth) / policy.targetQueueDepth);
  return Math.min(policy.max, Math.max(policy.min, wanted));
}

/**
 * One autoscaling pass for one agent. Pure: the autoscaler gathers the queue depth and the
 * current replicas, this decides (or returns null to leave them), and returns what to
 * remember for the next pass. Scaling up answers a growing queue quickly; scaling down waits
 * out the window so the count does not flap.
 */
export function planAutoscale(
  policy: ScalingPolicy,
  current: number,
  queueDepth: number,
  memory: AutoscaleMemory,
  now: number,
  timing: AutoscaleTiming,
): { decision: AutoscaleDecision | null; memory: AutoscaleMemory } {
  const ask = replicasFor(policy, queueDepth);
  const asked = [...memory.asked.filter((a) => now - a.at < timing.downWindowMs), { at: now, replicas: ask }];
  const since = memory.lastChangeAt === null ? Infinity : now - memory.lastChangeAt;
  const keep = (decision: AutoscaleDecision | null) => ({ decision, memory: { lastChangeAt: decision ? now : memory.lastChangeAt, asked } });

  // Out of bounds (deployed or scaled by hand outside min..max): back within them at once.
  if (current < policy.min || current > policy.max) {
    const replicas = Math.min(policy.max, Math.max(policy.min, current));
    return keep({ replicas, reason: `${current} replicas is outside scaling ${policy.min}..${policy.max}` });
  }
  const depthSays = `queue depth ${queueDepth}, target ${policy.targetQueueDepth} per replica`;
  if (ask > current) {
    return since >= timing.upCooldownMs ? keep({ replicas: ask, reason: depthSays }) : keep(null);
  }
  const highest = Math.max(...asked.map((a) => a.replicas));
  if (highest < current && since >= timing.downWindowMs) {
    return keep({ replicas: highest, reason: `${depthSays}; no more than ${highest} asked for in the last ${Math.round(timing.downWindowMs / 1000)} s` });
  }
  return keep(null);
}
