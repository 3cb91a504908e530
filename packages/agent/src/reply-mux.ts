import { ErrorCode, headers as natsHeaders, NatsError, nuid, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';
import { RPC_REPLY_HEADER, subjects } from '@aiflock/protocol/subjects';

/**
 * Answers to this instance's RPC requests, on `replies.<id>.<token>` (one subscription per
 * connection and instance, `replies.<id>.*`, and a waiter per token). The control plane
 * publishes an answer there when the request names it in the RPC_REPLY_HEADER; it reaches us
 * as a stream of the flock account, which an update of the agents account (every revocation
 * of any instance) leaves alone, where the server's reply route for the request is dropped.
 *
 * The request still names the same subject as its NATS reply: an older control plane, which
 * answers on the route, then lands on the same subscription and waiter; the server's "no
 * responders" status (the control plane is away) arrives at once rather than as a timeout;
 * and the control plane tells a request from a notification as before. Tokens are NUIDs, so
 * nobody can aim at a waiter; a message for a token nobody waits on is dropped.
 */
export class ReplyMux {
  private readonly waiters = new Map<string, ReplyChannel>();
  private readonly sub: Subscription;
  private readonly prefix: string;
  /** Why the server refused the subscription (credentials without `replies.<id>.*`, from a control plane older than this SDK): every call fails with it, at once. */
  private refused: unknown = null;

  constructor(
    private readonly nc: NatsConnection,
    instanceId: string,
  ) {
    this.prefix = `${subjects.replies(instanceId)}.`;
    this.sub = nc.subscribe(`${this.prefix}*`, {
      callback: (err, m) => {
        if (err) {
          this.refused = err;
          for (const w of this.waiters.values()) w.fail(err);
          return;
        }
        this.waiters.get(m.subject.slice(this.prefix.length))?.push(m);
      },
    });
  }

  /** A new reply subject and the messages that arrive on it, until `close`. */
  open(): ReplyChannel {
    const token = nuid.next();
    const ch = new ReplyChannel(`${this.prefix}${token}`, () => this.waiters.delete(token));
    this.waiters.set(token, ch);
    if (this.refused) ch.fail(this.refused);
    return ch;
  }

  /** Calls waiting for an answer (for tests: a timed-out call leaves none). */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Publish a request whose answers come to `ch`: its subject as the reply and in the header. */
  send(subject: string, data: Uint8Array, ch: ReplyChannel, h: MsgHdrs = natsHeaders()): void {
    h.set(RPC_REPLY_HEADER, ch.subject);
    this.nc.publish(subject, data, { reply: ch.subject, headers: h });
  }

  /** One request, one answer: `nc.request`'s contract (a TIMEOUT or 503 NatsError on failure). */
  async request(subject: string, data: Uint8Array, o: { timeout: number; headers?: MsgHdrs }): Promise<Msg> {
    const ch = this.open();
    const timer = setTimeout(() => ch.fail(NatsError.errorForCode(ErrorCode.Timeout)), o.timeout);
    try {
      this.send(subject, data, ch, o.headers);
      for await (const m of ch) return m;
      throw NatsError.errorForCode(ErrorCode.Timeout);
    } finally {
      clearTimeout(timer);
      ch.close();
    }
  }

  /** Stop listening (the connection's end does it too). */
  close(): void {
    for (const w of this.waiters.values()) w.close();
    if (!this.sub.isClosed()) this.sub.unsubscribe();
  }
}

/**
 * The messages arriving on one reply subject, read with `for await`. A "no responders" status
 * is an error (code 503), as with `nc.request`. `close` (or `fail`) ends the reading and
 * removes the waiter, so a timed-out call leaves nothing behind.
 */
export class ReplyChannel implements AsyncIterable<Msg> {
  private readonly queue: Msg[] = [];
  private wake: (() => void) | null = null;
  private done = false;
  private error: unknown = null;

  constructor(
    readonly subject: string,
    private readonly remove: () => void,
  ) {}

  push(m: Msg): void {
    if (this.done) return;
    if (m.headers?.hasError && m.headers.code === 503) return this.fail(NatsError.errorForCode(ErrorCode.NoResponders));
    this.queue.push(m);
    this.notify();
  }

  fail(err: unknown): void {
    if (this.done) return;
    this.error = err;
    this.close();
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.remove();
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Msg> {
    for (;;) {
      const m = this.queue.shift();
      if (m) {
        yield m;
        continue;
      }
      if (this.done) {
        if (this.error) throw this.error;
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

/** One mux per connection and instance: one subscription, however many clients. */
const muxes = new WeakMap<NatsConnection, Map<string, ReplyMux>>();

export function replyMux(nc: NatsConnection, instanceId: string): ReplyMux {
  let byId = muxes.get(nc);
  if (!byId) muxes.set(nc, (byId = new Map()));
  // A refused mux is kept: subscribing again would be refused again.
  let mux = byId.get(instanceId);
  if (!mux) byId.set(instanceId, (mux = new ReplyMux(nc, instanceId)));
  return mux;
}
