import type { NatsConnection } from 'nats';
import type { AgentEvent } from '@aiflock/protocol';
import { EVENT_BATCH_MAX } from '@aiflock/protocol/subjects';


/**
 * Publishes events on `agent.<id>.events` through a bounded queue. Publishing pauses while
 * the bus is away and each batch waits for the server's flush, so a slow or absent bus
 * costs at most `maxQueued` events of memory: beyond that the oldest log lines are
 * dropped (and the drop is reported once the bus is back).
 */
export class EventSink {
  private readonly queue: AgentEvent[] = [];
  private nc: NatsConnection | null = null;
  private connected = false;
  private pumping = false;
  private dropped = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly subject: string,
    private readonly maxQueued = 1000,
    /** Most bytes (UTF-16 units, near enough) of events one batch message carries: well under NATS' 1 MiB max payload. */
    private readonly maxBatchBytes = 256 * 1024,
  ) {}

  attach(nc: NatsConnection): void {
    this.nc = nc;
    this.setConnected(true);
  }

  setConnected(connected: boolean): void {
    this.connected = connected;
    if (connected) void this.pump();
  }

  push(event: AgentEvent): void {
    if (this.queue.length >= this.maxQueued) {
      // Lifecycle and task.started events matter more than any single log line.
      const i = this.queue.findIndex((e) => e.type === 'log');
      this.queue.splice(i === -1 ? 0 : i, 1);
      this.dropped++;
    }
    this.queue.push(event);
    void this.pump();
  }

  get size(): number {
    return this.queue.length;
  }

  /** Wait until everything queued reached the server, or `timeoutMs` passed. */
  async flush(timeoutMs: number): Promise<void> {
    if (this.queue.length === 0 && !this.pumping) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  private async pump(): Promise<void> {
    if (this.pumping || !this.nc || !this.connected) return;
    const nc = this.nc;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && this.connected && !nc.isClosed()) {
        if (this.dropped > 0) {
          const n = this.dropped;
          this.dropped = 0;
          this.publish(nc, {
            type: 'log',
            ts: new Date().toISOString(),
            level: 'warn',
            msg: `${n} event(s) were dropped because the bus was slow or unreachable`,
          });
        }
        this.publishBatch(nc, this.queue.splice(0, EVENT_BATCH_MAX));
        await nc.flush();
      }
    } catch {
      // Disconnected or closed mid-batch: whatever did not make it stays best effort.
    } finally {
      this.pumping = false;
      if (this.queue.length === 0 || !this.connected || nc.isClosed()) {
        for (const wake of this.idleWaiters.splice(0)) wake();
      }
    }
    // Events pushed while the last flush was in flight.
    if (this.queue.length > 0 && this.connected && !nc.isClosed()) void this.pump();
  }

  /**
   * What queued up, in as few messages as fit (each a `batch` of events, or one event alone):
   * every message is a stored JetStream message and a read by the control plane, so a task's
   * log lines that pile up while the last flush was in flight go together.
   */
  private publishBatch(nc: NatsConnection, events: AgentEvent[]): void {
    let chunk: string[] = [];
    let bytes = 0;
    const send = () => {
      if (chunk.length === 1) this.publishRaw(nc, chunk[0]!);
      else if (chunk.length > 1) this.publishRaw(nc, `{"type":"batch","events":[${chunk.join(',')}]}`);
      chunk = [];
      bytes = 0;
    };
    for (const event of events) {
      const text = JSON.stringify(event);
      if (chunk.length > 0 && bytes + text.length > this.maxBatchBytes) send();
      chunk.push(text);
      bytes += text.length + 1;
    }
    send();
  }

  private publish(nc: NatsConnection, event: AgentEvent): void {
    this.publishRaw(nc, JSON.stringify(event));
  }

  private publishRaw(nc: NatsConnection, text: string): void {
    try {
      nc.publish(this.subject, text);
    } catch {
      // Closed connection or an oversized event: lost log lines, not a crash.
    }
  }
}
