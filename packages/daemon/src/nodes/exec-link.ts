import type { NodeExecFrame } from '@aiflock/protocol';

type Sequenced = Extract<NodeExecFrame, { seq: number }>;
/** A data frame before it is numbered. */
export type Unnumbered<T extends Sequenced> = T extends unknown ? Omit<T, 'seq'> : never;

export interface ExecLinkTiming {
  /** Unacknowledged data frames on the bus at most (each at most NODE_EXEC_CHUNK_BYTES of payload). */
  window: number;
  /** A ping when nothing else was sent for this long. */
  pingMs: number;
  /** The other side is gone after this long without a frame from it. */
  deadMs: number;
  /** Unacknowledged frames are sent again after this long without progress. */
  resendMs: number;
}

export const EXEC_LINK_TIMING: ExecLinkTiming = { window: 16, pingMs: 2_000, deadMs: 15_000, resendMs: 3_000 };

/**
 * One side of an exec session over core NATS (no JetStream: a session lives as long as its
 * command, and either side ending ends it). What it sends is numbered and kept until the other
 * side acknowledges it, at most `window` frames at once: a command writing faster than the
 * client reads waits on the node, not on the bus or in the daemon. What it receives is
 * delivered in order and once (a frame sent again is dropped, one ahead of a gap waits for
 * it), and acknowledged only once `deliver` says it was handed on. Silence for `deadMs` is
 * the other side's end (a node agent killed, a control plane gone), said once by `onDead`.
 */
export class ExecLink<Out extends Sequenced, In extends Sequenced> {
  private nextSeq = 1;
  /** Sent, not yet acknowledged, oldest first. */
  private unacked: Out[] = [];
  /** Not yet sent: the window is full. */
  private queued: Unnumbered<Out>[] = [];
  private delivered = 0;
  private acked = 0;
  /** What the other side has received (holding it for its reader): not sent again. */
  private got = 0;
  private readonly ahead = new Map<number, In>();
  private lastHeard = Date.now();
  private lastSent = Date.now();
  private lastProgress = Date.now();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** Frames received but not yet handed on (`deliver` returned false): acknowledged once they are. */
  private held: In[] = [];

  constructor(
    private readonly publish: (frame: NodeExecFrame) => void,
    private readonly handlers: {
      /** Hand one frame on; false: nobody takes it yet (keep it, unacknowledged, until `flush`). */
      deliver: (frame: In) => boolean;
      cancel?: () => void;
      onDead: () => void;
      /** Frames waiting for room in the window changed (the sender may slow its source, or let it go on). */
      onBacklog?: (waiting: number) => void;
    },
    private readonly timing: ExecLinkTiming = EXEC_LINK_TIMING,
  ) {
    this.timer = setInterval(() => this.tick(), Math.max(50, Math.min(timing.pingMs, timing.resendMs) / 2));
    this.timer.unref();
  }

  send(frame: Unnumbered<Out>): void {
    if (this.closed) return;
    this.queued.push(frame);
    this.pump();
  }

  /** Frames waiting for room in the window. */
  get backlog(): number {
    return this.queued.length;
  }

  /** Everything sent was acknowledged, and nothing waits to be sent. */
  get idle(): boolean {
    return this.unacked.length === 0 && this.queued.length === 0;
  }

  /** A frame from the other side (validated by the caller). */
  receive(frame: NodeExecFrame): void {
    if (this.closed) return;
    this.lastHeard = Date.now();
    if (frame.k === 'ping') return;
    if (frame.k === 'cancel') return this.handlers.cancel?.();
    if (frame.k === 'ack') return this.onAck(frame.seq, frame.got ?? frame.seq);
    const f = frame as In;
    if (f.seq <= this.delivered + this.held.length) return this.ack();
    // Beyond what the window lets the other side send: not ours to buffer.
    if (f.seq > this.delivered + this.held.length + this.timing.window) return;
    this.ahead.set(f.seq, f);
    for (let next = this.ahead.get(this.delivered + this.held.length + 1); next; next = this.ahead.get(this.delivered + this.held.length + 1)) {
      this.ahead.delete(next.seq);
      this.held.push(next);
    }
    const before = this.delivered;
    this.flush();
    // Held, not delivered: say it arrived, so it is not sent again while the reader catches up.
    if (this.delivered === before) this.ack();
  }

  /** Hand on what was held (a listener arrived), acknowledging what was. */
  flush(): void {
    const before = this.delivered;
    while (this.held.length > 0 && !this.closed && this.handlers.deliver(this.held[0]!)) {
      this.held.shift();
      this.delivered++;
    }
    if (this.delivered > before) this.ack();
  }

  /** Said outside the sequence (a cancel): not kept, not sent again. */
  signal(frame: Extract<NodeExecFrame, { k: 'cancel' }>): void {
    if (!this.closed) this.publish(frame);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }

  private ack(): void {
    this.emit({ k: 'ack', seq: this.delivered, got: this.delivered + this.held.length });
  }

  private onAck(seq: number, got: number): void {
    if (got > this.got) {
      this.got = got;
      this.lastProgress = Date.now();
    }
    if (seq <= this.acked) return;
    this.acked = seq;
    this.lastProgress = Date.now();
    while (this.unacked.length > 0 && this.unacked[0]!.seq <= seq) this.unacked.shift();
    this.pump();
  }

  private pump(): void {
    while (this.queued.length > 0 && this.unacked.length < this.timing.window) {
      const frame = { ...this.queued.shift()!, seq: this.nextSeq++ } as Out;
      if (this.unacked.length === 0) this.lastProgress = Date.now();
      this.unacked.push(frame);
      this.emit(frame);
    }
    this.handlers.onBacklog?.(this.queued.length);
  }

  private emit(frame: NodeExecFrame): void {
    this.lastSent = Date.now();
    this.publish(frame);
  }

  private tick(): void {
    if (this.closed) return;
    const now = Date.now();
    if (now - this.lastHeard > this.timing.deadMs) {
      this.close();
      this.handlers.onDead();
      return;
    }
    // Lost on the way (a reconnect, a server gone): what was not received, again; the receiver drops repeats.
    if (this.unacked.length > 0 && now - this.lastProgress > this.timing.resendMs) {
      this.lastProgress = now;
      for (const f of this.unacked) if (f.seq > this.got) this.emit(f);
    }
    if (now - this.lastSent >= this.timing.pingMs) this.emit({ k: 'ping' });
  }
}
