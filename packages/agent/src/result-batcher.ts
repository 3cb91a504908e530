import { randomBytes } from 'node:crypto';
import type { JetStreamClient, MsgHdrs } from 'nats';
import { RESULT_BATCH_MAX, subjects } from '@aiflock/protocol/subjects';
import { describe } from './connect.js';
import type { Logger } from './logger.js';
import { backoff, sleep } from './timing.js';

export interface ResultBatcherOptions {
  js: JetStreamClient;
  instanceId: string;
  log: Logger;
  /** Max bytes of one bus message (the server's max_payload). */
  maxPayload: () => number;
  publishTimeoutMs: number;
  /** Aborts once the runtime gives up on in-flight work: what is not stored by then is reported unstored. */
  hardStop: AbortSignal;
}

/** One result waiting to be stored: already encoded to fit a message alone (result-size.ts). */
interface Waiting {
  taskId: string;
  attempt: number;
  bytes: Uint8Array;
  /** A traced result's span headers: such a result travels alone, since headers are per message. */
  headers: MsgHdrs | undefined;
  done: (stored: boolean) => void;
}

/**
 * Result messages one instance has on their way to the server at once. More than one, so a
 * result finishing just after a message left does not wait two round trips (its task's slot
 * is held until its result is stored); few, so that under load results queue behind them and
 * travel together.
 */
const MAX_IN_FLIGHT = 4;
/** Room left in a message for NATS headers and protocol framing (as result-size.ts leaves). */
const HEADROOM = 4 * 1024;
const decoder = new TextDecoder();

/**
 * Stores task results in the results stream, several per message. While MAX_IN_FLIGHT publishes
 * are in flight the results finished meanwhile queue up, and the next publish takes them all as one
 * `batch` message (protocol `TaskResultBatch`): under load one stored message, one
 * acknowledgement from the server and one read by the control plane stand for many tasks; a
 * result alone goes as before, as a plain `TaskResult` under its own message id.
 *
 * A batch is retried whole, under the same message id, until the server confirms it (so a
 * retry after a lost confirmation is refused as its duplicate); the control plane applies each
 * of its results idempotently anyway. `store` resolves true once its result is stored, false if
 * the runtime gave up first (the task then goes back to the queue).
 */
export class ResultBatcher {
  private readonly queue: Waiting[] = [];
  /** Messages being stored now. */
  private inFlight = 0;
  private sent = 0;
  /** Batch ids name this runtime's life, so a restarted instance's batches are never taken for its earlier ones. */
  private readonly life = randomBytes(6).toString('hex');

  constructor(private readonly o: ResultBatcherOptions) {}

  store(taskId: string, attempt: number, bytes: Uint8Array, headers: MsgHdrs | undefined): Promise<boolean> {
    return new Promise<boolean>((done) => {
      this.queue.push({ taskId, attempt, bytes, headers, done });
      this.pump();
    });
  }

  /** Start a publish for what is queued, unless MAX_IN_FLIGHT are already out (then it waits for the next free one). */
  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < MAX_IN_FLIGHT) {
      const chunk = this.take();
      this.inFlight++;
      void this.publish(chunk).then((stored) => {
        this.inFlight--;
        for (const w of chunk) w.done(stored);
        // The runtime gave up: nothing queued will be stored either.
        if (!stored) for (const w of this.queue.splice(0)) w.done(false);
        this.pump();
      });
    }
  }

  /** The next message's results: a traced one alone, else as many untraced ones as fit. */
  private take(): Waiting[] {
    const first = this.queue[0]!;
    if (first.headers) return this.queue.splice(0, 1);
    const limit = Math.max(1024, this.o.maxPayload() - HEADROOM);
    let bytes = first.bytes.byteLength + 32;
    let n = 1;
    while (n < this.queue.length && n < RESULT_BATCH_MAX) {
      const next = this.queue[n]!;
      if (next.headers || bytes + next.bytes.byteLength + 1 > limit) break;
      bytes += next.bytes.byteLength + 1;
      n++;
    }
    return this.queue.splice(0, n);
  }

  /** Publish until JetStream has stored the message; false if the runtime gave up first. */
  private async publish(chunk: Waiting[]): Promise<boolean> {
    const lone = chunk.length === 1 ? chunk[0]! : null;
    const msgID = lone ? `${lone.taskId}:${lone.attempt}` : `batch:${this.o.instanceId}:${this.life}:${++this.sent}`;
    const body = lone ? lone.bytes : `{"type":"batch","results":[${chunk.map((w) => decoder.decode(w.bytes)).join(',')}]}`;
    const what = lone ? `the result of task ${lone.taskId}` : `${chunk.length} results (${chunk[0]!.taskId} and others)`;
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await this.o.js.publish(subjects.results(this.o.instanceId), body, {
          msgID,
          timeout: this.o.publishTimeoutMs,
          ...(lone?.headers ? { headers: lone.headers } : {}),
        });
        if (ack.duplicate) this.o.log.debug(`${what} already stored (duplicate ${msgID})`);
        return true;
      } catch (err) {
        if (this.o.hardStop.aborted) break;
        const delay = backoff(attempt, 250, 5_000);
        this.o.log.warn(`cannot store ${what} yet (${describe(err)}); retrying in ${delay} ms`);
        if (!(await sleep(delay, this.o.hardStop))) break;
      }
    }
    this.o.log.error(`gave up storing ${what} at shutdown; redelivered later`);
    return false;
  }
}
