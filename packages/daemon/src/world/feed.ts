import type { WorldDelta, WorldMessage, WorldSnapshot } from '@aiflock/protocol';

/** Where one watcher's messages go: a WebSocket, seen through what the feed needs of it. */
export interface FeedSink {
  send(text: string): void;
  /** Bytes queued for this client and not yet handed to the network. */
  readonly bufferedAmount: number;
}

/**
 * One watcher of `WS /v1/ws/world`: a snapshot first, then every delta in `seq` order. When
 * the client cannot keep up (its send buffer over `limit`), deltas are no longer queued for
 * it; once the buffer has drained below half the limit it gets one fresh snapshot and the
 * deltas after it, so it never sees a gap and a slow client never grows the daemon's memory
 * without bound. The drain is watched on a timer while the client lags, so a quiet world
 * (no new deltas) still sends the snapshot as soon as the client can take it.
 */
export class WorldFeed {
  private behind = false;
  private watch: ReturnType<typeof setInterval> | undefined;
  /** Fresh snapshots sent because the client fell behind. */
  resyncs = 0;

  constructor(
    private readonly sink: FeedSink,
    private readonly snapshot: () => WorldSnapshot,
    private readonly limit: number,
    private readonly drainCheckMs = 100,
  ) {
    this.send({ type: 'snapshot', snapshot: snapshot() });
  }

  /** Called for every delta, right after the engine made it (so `snapshot()` includes it). */
  onDelta(delta: WorldDelta, encoded?: string): void {
    if (!this.behind && this.sink.bufferedAmount > this.limit) this.fallBehind();
    if (this.behind) {
      this.resyncIfDrained();
      return;
    }
    this.sink.send(encoded ?? JSON.stringify({ type: 'delta', delta } satisfies WorldMessage));
  }

  /** Stops watching the buffer (the socket closed). */
  close(): void {
    clearInterval(this.watch);
    this.watch = undefined;
  }

  private fallBehind(): void {
    this.behind = true;
    // Between ticks the engine is idle, so a snapshot taken here has every delta made so far.
    this.watch ??= setInterval(() => this.resyncIfDrained(), this.drainCheckMs);
    this.watch.unref();
  }

  private resyncIfDrained(): void {
    if (!this.behind || this.sink.bufferedAmount > this.limit / 2) return;
    this.behind = false;
    this.close();
    this.resyncs++;
    this.send({ type: 'snapshot', snapshot: this.snapshot() });
  }

  /** Whether deltas are being skipped for this client until its buffer drains. */
  get lagging(): boolean {
    return this.behind;
  }

  /** Bytes waiting to be sent to it. */
  get buffered(): number {
    return this.sink.bufferedAmount;
  }

  private send(m: WorldMessage): void {
    this.sink.send(JSON.stringify(m));
  }
}

/** A delta encoded once for every watcher. */
export const encodeDelta = (delta: WorldDelta) => JSON.stringify({ type: 'delta', delta } satisfies WorldMessage);
