import type { NatsConnection } from 'nats';
import type { Heartbeat } from '@aiflock/protocol';
import { subjects } from '@aiflock/protocol/subjects';
import { RUNTIME_VERSION } from './version.js';

export type HeartbeatState = Heartbeat['state'];

export interface HeartbeatOptions {
  nc: NatsConnection;
  instanceId: string;
  agent: string;
  intervalMs: number;
  runningTasks: () => string[];
  /** Heartbeats queued while disconnected would arrive stale and in a burst; skip them. */
  connected: () => boolean;
}

/** Liveness on `agent.<id>.heartbeat` (core NATS: a missed beat is superseded by the next). */
export class HeartbeatPublisher {
  private timer: NodeJS.Timeout | null = null;
  private readonly startedAt = performance.now();
  state: 'starting' | 'ready' | 'stopping' = 'starting';

  constructor(private readonly o: HeartbeatOptions) {}

  start(): void {
    this.timer ??= setInterval(() => this.beat(), this.o.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Publish one heartbeat now (on ready and on stopping, besides the interval). */
  beat(): void {
    if (!this.o.connected() || this.o.nc.isClosed()) return;
    const running = this.o.runningTasks();
    const state: HeartbeatState = this.state === 'ready' ? (running.length > 0 ? 'busy' : 'idle') : this.state;
    const hb: Heartbeat = {
      instanceId: this.o.instanceId,
      agent: this.o.agent,
      ts: new Date().toISOString(),
      state,
      runningTasks: running,
      uptimeMs: Math.round(performance.now() - this.startedAt),
      rssBytes: process.memoryUsage.rss(),
      runtimeVersion: RUNTIME_VERSION,
    };
    try {
      this.o.nc.publish(subjects.heartbeat(this.o.instanceId), JSON.stringify(hb));
    } catch {
      // Connection closing; the next beat (if any) will tell.
    }
  }
}
