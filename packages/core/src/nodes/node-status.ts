/**
 * A node's status from its heartbeats: `pending` until the first one, `ready` while they
 * come, `lost` once it has been silent for longer than `lostAfterMs` (the grace period:
 * a few missed beats are a slow network, not a dead host).
 */
export type NodeStatus = 'pending' | 'ready' | 'lost';

export function nodeStatus(lastHeartbeatAt: string | null, now: Date, lostAfterMs: number, hearingSince?: Date): NodeStatus {
  if (lastHeartbeatAt === null) return 'pending';
  // Silence is only counted from when the control plane could hear it: after a restart of the
  // control plane, a node gets a whole grace to be heard again before it counts as lost.
  const from = Math.max(Date.parse(lastHeartbeatAt), hearingSince?.getTime() ?? -Infinity);
  return now.getTime() - from > lostAfterMs ? 'lost' : 'ready';
}
