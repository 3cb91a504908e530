import type { InstanceStatus, AgentStatus } from '@aiflock/protocol';
import type { SandboxState } from '../ports/sandbox-runtime.js';

/** An instance is unhealthy after this many heartbeat intervals of silence. */
export const MISSED_HEARTBEATS = 3;

export function instanceStatus(state: SandboxState, lastHeartbeat: Date | null, heartbeatMs: number, now: Date): InstanceStatus {
  if (state === 'exited' || state === 'dead') return 'exited';
  if (state === 'paused') return 'paused';
  if (state !== 'running') return 'starting';
  if (!lastHeartbeat) return 'starting';
  return now.getTime() - lastHeartbeat.getTime() > MISSED_HEARTBEATS * heartbeatMs ? 'unhealthy' : 'running';
}

export function agentStatus(active: boolean, desired: number, statuses: InstanceStatus[], quarantined = false): AgentStatus {
  if (quarantined) return 'quarantined';
  if (!active || desired === 0) return 'stopped';
  const ready = statuses.filter((s) => s === 'running').length;
  if (ready >= desired) return 'running';
  if (statuses.some((s) => s === 'unhealthy' || s === 'exited')) return 'degraded';
  return 'deploying';
}
