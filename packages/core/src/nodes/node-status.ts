/**
 * A node's status from its heartbeats: `pending` until the first one, `ready` while they
 * come, `lost` once it has been silent for longer than `lostAfterMs` (the grace period:
 * a few missed beats are a slow network, not a dead host).
 */
export type NodeStatus = 'pending' | 'ready' | 'lost';

export function nodeStatus(lastHeartbeatAt: string | null, now: Date, lostAfterMs: number): NodeStatus {
  if (lastHeartbeatAt === null) return 'pending';
  return now.getTime() - Date.parse(lastHeartbeatAt) > lostAfterMs ? 'lost' : 'ready';
}
