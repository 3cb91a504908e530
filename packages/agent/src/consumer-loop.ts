import type { Consumer, JsMsg, Msg, NatsConnection, Subscription } from 'nats';
// nats.js makes its JsMsg (ack, nak, working, delivery info) from a delivered message here;
// its public API hands JsMsg out only through its own pull requests, which we do not make.
import { toJsMsg } from 'nats/lib/jetstream/jsmsg.js';
import { describe } from './connect.js';
import type { Logger } from './logger.js';
import { backoff, sleep } from './timing.js';

/** Has a pull request made for us (`tasks.pull`, or our own while the control plane is away); rejects when refused. */
export type PullCall = (input: { batch: number; expiresMs: number; request: string }) => Promise<unknown>;

export interface ConsumerLoopOptions {
  nc: NatsConnection;
  /** Where the tasks pulled for this instance arrive: `<deliveries>.<request>`. */
  deliveries: string;
  /** `tasks.pull`. */
  pull: PullCall;
  /** Looks the consumer up (its ack wait, and that it exists). */
  lookup: () => Promise<Consumer>;
  /** For messages: the queue's stream and consumer. */
  stream: string;
  consumer: string;
  concurrency: number;
  log: Logger;
  /** Aborting stops taking new tasks; work already taken continues. */
  signal: AbortSignal;
  /** How long one pull request waits on the server for work. */
  fetchExpiresMs: number;
  /** Handles one message; must not reject. */
  onMessage: (msg: JsMsg) => Promise<void>;
  /** Called once, when the queue was found and pulling starts. */
  onReady: () => void;
  /** The queue's ack wait, whenever the consumer is (re)looked up. */
  onAckWait?: (ms: number) => void;
  /** Every message being handled, so shutdown can wait for them. */
  inFlight: Set<Promise<void>>;
  /** Take at most this many tasks in all, then return (an instance of a `lifecycle: job` agent takes one). */
  limit?: number;
}

/** How long past its expiry a pull request may go unanswered before it is taken as over. */
const REQUEST_GRACE_MS = 1_000;
/** How long a stopping loop keeps listening, so a delivery already on its way is handed back, not lost. */
const STOP_LINGER_MS = 500;

/**
 * Take tasks from the deployment's durable consumer, never more than `concurrency` at a
 * time: each pull asks only for as many tasks as there are free slots, so nothing waits in
 * this instance while another could run it.
 *
 * `pull` has the control plane make each pull request for us (`tasks.pull`, see the
 * protocol's task-claim.ts for why), or makes it itself while the control plane does not
 * answer; either way its reply subject is under our `deliveries`, which we listen on for the
 * loop's life. A request the server answers late, or one we stopped counting on, still
 * lands here: what comes beyond the free slots waits for one, kept alive meanwhile. The
 * control plane owns the stream and the consumer; if they are missing we wait for them.
 */
export async function consumeTasks(o: ConsumerLoopOptions): Promise<void> {
  await new TaskPuller(o).run();
}

class TaskPuller {
  private sub: Subscription | null = null;
  /** The open pull request: its reply subject and how many tasks it may still deliver. */
  private request: { reply: string; left: number; timer: NodeJS.Timeout } | null = null;
  private requests = 0;
  /** Delivered while every slot was busy (a late answer to an earlier request); run first. */
  private readonly waiting: JsMsg[] = [];
  private keepAlive: NodeJS.Timeout | null = null;
  private workingMs = 10_000;
  private taken = 0;
  /** Why pulling stopped working (a refused pull, the consumer gone): look it up again. */
  private lost: string | null = null;
  private wake: () => void = () => {};

  constructor(private readonly o: ConsumerLoopOptions) {}

  async run(): Promise<void> {
    const o = this.o;
    let ready = false;
    let failures = 0;
    const stopped = new Promise<void>((resolve) => (o.signal.aborted ? resolve() : o.signal.addEventListener('abort', () => resolve(), { once: true })));
    try {
      while (!o.signal.aborted && this.left() > 0) {
        if (!this.sub || this.sub.isClosed()) this.sub = o.nc.subscribe(`${o.deliveries}.*`, { callback: (err, m) => (err ? this.fail(`the deliveries subscription ended: ${describe(err)}`) : this.receive(m)) });
        try {
          const info = await (await o.lookup()).info(true);
          const ackWait = (info.config.ack_wait ?? 0) / 1e6;
          if (ackWait) {
            o.onAckWait?.(ackWait);
            this.workingMs = Math.max(100, Math.min(5_000, Math.floor(ackWait / 3)));
          }
        } catch (err) {
          const delay = backoff(failures++, 500, 5_000);
          o.log.warn(`task queue ${o.stream}/${o.consumer} is not available yet (${describe(err)}); retrying in ${delay} ms`);
          await sleep(delay, o.signal);
          continue;
        }
        o.log.info(`pulling tasks from ${o.stream}/${o.consumer} (up to ${o.concurrency} at once)`);
        if (!ready) {
          ready = true;
          o.onReady();
        }
        this.lost = null;
        // Pull whenever a slot is free and no request is open, until stopped or pulling fails.
        while (!o.signal.aborted && this.left() > 0 && !this.lost) {
          this.pump();
          await Promise.race([new Promise<void>((r) => (this.wake = r)), stopped]);
        }
        if (this.lost && !o.signal.aborted) {
          const delay = backoff(failures++, 500, 5_000);
          o.log.warn(`pulling tasks failed (${this.lost}); retrying in ${delay} ms`);
          await sleep(delay, o.signal);
        } else failures = 0;
      }
    } finally {
      await this.close();
    }
  }

  private left(): number {
    return (this.o.limit ?? Infinity) - this.taken;
  }

  /** Start what waits while slots are free, then ask for as many tasks as slots are still free. */
  private pump(): void {
    const o = this.o;
    while (this.waiting.length > 0 && o.inFlight.size < o.concurrency) this.start(this.waiting.shift()!);
    if (this.waiting.length === 0) this.stopKeepAlive();
    if (this.request || this.lost || o.signal.aborted) return;
    const free = Math.min(o.concurrency - o.inFlight.size - this.waiting.length, this.left());
    if (free <= 0) return;
    const request = String(++this.requests);
    const reply = `${o.deliveries}.${request}`;
    const timer = setTimeout(() => this.requestOver(reply), o.fetchExpiresMs + REQUEST_GRACE_MS);
    this.request = { reply, left: free, timer };
    o.pull({ batch: free, expiresMs: o.fetchExpiresMs, request }).catch((err: unknown) => {
      if (this.request?.reply === reply) this.fail(describe(err));
    });
  }

  private receive(m: Msg): void {
    const status = m.headers?.code ?? 0;
    if (m.data.length === 0 && status > 0) return this.status(m, status);
    const msg = toJsMsg(m);
    const from = queueOf(msg);
    if (from !== `${this.o.stream}/${this.o.consumer}`) {
      // Another instance of the agents account may name our deliveries as its own pull's reply:
      // a message of another queue (or none) is not ours to run, nor could we acknowledge it.
      this.o.log.warn(`ignored a message on our deliveries that is not of our queue (${from ?? 'no queue'})`);
      return;
    }
    // A task message carries its own subject, not the request's: count it against the open one.
    if (this.request && --this.request.left <= 0) this.requestOver(this.request.reply);
    if (this.o.signal.aborted || this.left() <= 0) {
      // Arrived as we stopped (or beyond the limit): hand it straight back instead of waiting for ack_wait.
      msg.nak();
      return;
    }
    this.taken++;
    if (this.o.inFlight.size < this.o.concurrency) this.start(msg);
    else {
      // More than we asked for (an earlier request answered late): keep it until a slot frees.
      this.waiting.push(msg);
      this.keepAlive ??= setInterval(() => this.waiting.forEach((w) => w.working()), this.workingMs);
    }
    this.wake();
  }

  /** A status message: the end of a request (404, 408, 409), or the consumer gone. */
  private status(m: Msg, code: number): void {
    if (code === 100) return;
    const description = (m.headers?.description ?? '').toLowerCase();
    if (code === 409 && description.includes('consumer deleted')) this.fail(`the consumer was deleted (${code})`);
    else if (code === 503) this.fail('no responders: the stream or the consumer is gone');
    else if (code !== 404 && code !== 408 && code !== 409) this.o.log.warn(`a pull request was answered ${code} ${description}`);
    this.requestOver(m.subject);
  }

  private requestOver(reply: string): void {
    if (this.request?.reply !== reply) return;
    clearTimeout(this.request.timer);
    this.request = null;
    this.wake();
  }

  private fail(why: string): void {
    this.lost = why;
    if (this.request) this.requestOver(this.request.reply);
    this.wake();
  }

  private start(msg: JsMsg): void {
    const work: Promise<void> = this.o.onMessage(msg).finally(() => {
      this.o.inFlight.delete(work);
      this.wake();
    });
    this.o.inFlight.add(work);
  }

  private stopKeepAlive(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
  }

  /** Hand back what waits, and listen a moment longer for deliveries already on their way. */
  private async close(): Promise<void> {
    for (const msg of this.waiting.splice(0)) msg.nak();
    this.stopKeepAlive();
    const open = this.request;
    if (open) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, STOP_LINGER_MS);
        this.wake = () => {
          if (this.request !== open) {
            clearTimeout(t);
            resolve();
          }
        };
      });
      if (this.request) clearTimeout(this.request.timer);
      this.request = null;
    }
    this.sub?.unsubscribe();
  }
}

/** `<stream>/<consumer>` of a delivered JetStream message, from its ack subject; null when it has none. */
function queueOf(msg: JsMsg): string | null {
  try {
    return `${msg.info.stream}/${msg.info.consumer}`;
  } catch {
    return null;
  }
}
