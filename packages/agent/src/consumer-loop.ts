import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from 'nats';
import { describe } from './connect.js';
import type { Logger } from './logger.js';
import { backoff, sleep } from './timing.js';

export interface ConsumerLoopOptions {
  js: JetStreamClient;
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

/**
 * Pull tasks from the deployment's durable consumer, never more than `concurrency` at a
 * time: each pull asks only for as many messages as there are free slots, so nothing sits
 * in a client buffer while its ack_wait runs out. The control plane owns the stream and
 * the consumer; if they are missing we wait for them rather than create them.
 */
export async function consumeTasks(o: ConsumerLoopOptions): Promise<void> {
  let consumer: Consumer | null = null;
  let ready = false;
  let failures = 0;
  let current: ConsumerMessages | null = null;
  let taken = 0;
  const left = () => (o.limit ?? Infinity) - taken;
  const stopPulling = (): void => current?.stop();
  o.signal.addEventListener('abort', stopPulling, { once: true });
  const stopped = new Promise<void>((resolve) => o.signal.addEventListener('abort', () => resolve(), { once: true }));

  try {
    while (!o.signal.aborted && left() > 0) {
      if (!consumer) {
        try {
          consumer = await o.js.consumers.get(o.stream, o.consumer);
          const ackWaitNanos = (await consumer.info(true)).config.ack_wait;
          if (ackWaitNanos) o.onAckWait?.(ackWaitNanos / 1e6);
          failures = 0;
          o.log.info(`pulling tasks from ${o.stream}/${o.consumer} (up to ${o.concurrency} at once)`);
          if (!ready) {
            ready = true;
            o.onReady();
          }
        } catch (err) {
          const delay = backoff(failures++, 500, 5_000);
          o.log.warn(`task queue ${o.stream}/${o.consumer} is not available yet (${describe(err)}); retrying in ${delay} ms`);
          await sleep(delay, o.signal);
          continue;
        }
      }

      if (!(await freeSlot(o.inFlight, o.concurrency, o.signal, stopped))) break;
      try {
        current = await consumer.fetch({ max_messages: Math.min(o.concurrency - o.inFlight.size, left()), expires: o.fetchExpiresMs });
        if (o.signal.aborted) current.stop();
        for await (const msg of current) {
          if (o.signal.aborted || left() <= 0) {
            // Arrived as we stopped (or beyond the limit): hand it straight back instead of waiting for ack_wait.
            msg.nak();
            continue;
          }
          taken++;
          if (left() <= 0) current.stop();
          const work: Promise<void> = o.onMessage(msg).finally(() => o.inFlight.delete(work));
          o.inFlight.add(work);
        }
        failures = 0;
      } catch (err) {
        if (o.signal.aborted) break;
        // Typically the consumer was deleted or the bus went away mid-pull; look it up again.
        const delay = backoff(failures++, 500, 5_000);
        o.log.warn(`pulling tasks failed (${describe(err)}); retrying in ${delay} ms`);
        consumer = null;
        await sleep(delay, o.signal);
      } finally {
        current = null;
      }
    }
  } finally {
    o.signal.removeEventListener('abort', stopPulling);
  }
}

/** Wait until fewer than `limit` messages are in flight; false if `signal` aborted. */
async function freeSlot(inFlight: Set<Promise<void>>, limit: number, signal: AbortSignal, stopped: Promise<void>): Promise<boolean> {
  while (inFlight.size >= limit && !signal.aborted) await Promise.race([...inFlight, stopped]);
  return !signal.aborted;
}
