import type { InstanceStatus, AgentStatus } from '@aiflock/protocol';
import type { SandboxState } from '../ports/sandbox-runtime.js';

/** An instance is unhealthy after this many heartbeat intervals of silence. */
export const MISSED_HEARTBEATS = 3;

/** Time a new instance gets to connect and send its first heartbeat, on top of the misses. */
export const STARTUP_GRACE_MS = 60_000;

/**
 * `silentSince`: when we started expecting heartbeats from it without having had one (its
 * start, or the daemon's, whichever is later): an instance that never speaks is unhealthy
 * too, after a grace period.
 */
export function instanceStatus(state: SandboxState, lastHeartbeat: Date | null, heartbeatMs: number, now: Date, silentSince?: Date, startupGraceMs = STARTUP_GRACE_MS): InstanceStatus {
  if (state === 'exited' || state === 'dead') return 'exited';
  if (state === 'paused') return 'paused';
  if (state !== 'running') return 'starting';
  const limit = MISSED_HEARTBEATS * heartbeatMs;
  if (!lastHeartbeat) {
    return silentSince && now.getTime() - silentSince.getTime() > limit + startupGraceMs ? 'unhealthy' : 'starting';
  }
  return now.getTime() - lastHeartbeat.getTime() > limit ? 'unhealthy' : 'running';
}

export function agentStatus(active: boolean, desired: number, statuses: InstanceStatus[], quarantined = false): AgentStatus {
  if (quarantined) return 'quarantined';
  if (!active || desired === 0) return 'stopped';
  const ready = statuses.filter((s) => s === 'running').length;
  if (ready >= desired) return 'running';
  if (statuses.some((s) => s === 'unhealthy' || s === 'exited')) return 'degraded';
  return 'deploying';
}
