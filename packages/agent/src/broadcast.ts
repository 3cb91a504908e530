import type { NatsConnection, Subscription } from 'nats';
import { BroadcastMessage } from '@aiflock/protocol/broadcast';
import { subjects } from '@aiflock/protocol/subjects';
import { describe } from './connect.js';
import type { Logger } from './logger.js';

const decoder = new TextDecoder();

/**
 * Announcements from the control plane on `broadcast` (only it may publish there). Each is
 * logged, so it shows in the agent's logs, and handed to the agent's `onBroadcast`, if any.
 * Anything invalid is logged and ignored; a failing handler does not stop the next one.
 */
export function subscribeBroadcast(nc: NatsConnection, log: Logger, onBroadcast?: (m: BroadcastMessage) => void | Promise<void>): Subscription {
  return nc.subscribe(subjects.broadcast, {
    callback: (err, msg) => {
      if (err) return log.error(`broadcast subscription failed: ${describe(err)}`);
      let raw: unknown;
      try {
        raw = JSON.parse(decoder.decode(msg.data));
      } catch {
        return log.warn('ignored a broadcast that is not JSON');
      }
      const parsed = BroadcastMessage.safeParse(raw);
      if (!parsed.success) return log.warn('ignored an invalid broadcast');
      const m = parsed.data;
      log.info(`broadcast from ${m.from}: ${m.text}`, { broadcastId: m.id });
      if (!onBroadcast) return;
      void Promise.resolve()
        .then(() => onBroadcast(m))
        .catch((e: unknown) => log.warn(`onBroadcast failed: ${describe(e)}`));
    },
  });
}
