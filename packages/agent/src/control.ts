import type { NatsConnection, Subscription } from 'nats';
import { ControlMessage } from '@aiflock/protocol/events';
import { subjects } from '@aiflock/protocol/subjects';
import { describe } from './connect.js';
import type { Logger } from './logger.js';
import type { TaskRegistry } from './registry.js';

const decoder = new TextDecoder();

/**
 * Orders from the control plane on `ctl.<id>`. Anything invalid is logged and ignored.
 * `onStop` is the runtime's graceful stop, with the grace the order gives.
 */
export function subscribeControl(nc: NatsConnection, instanceId: string, registry: TaskRegistry, log: Logger, onStop: (graceMs: number) => void): Subscription {
  return nc.subscribe(subjects.control(instanceId), {
    callback: (err, msg) => {
      if (err) {
        log.error(`control subscription failed: ${describe(err)}`);
        return;
      }
      let raw: unknown;
      try {
        raw = JSON.parse(decoder.decode(msg.data));
      } catch (e) {
        log.warn(`ignored a control message that is not JSON (${describe(e)})`);
        return;
      }
      const parsed = ControlMessage.safeParse(raw);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
        log.warn(`ignored an invalid control message: ${issues}`);
        return;
      }
      const order = parsed.data;
      switch (order.type) {
        case 'cancel': {
          const found = registry.cancel(order.taskId, order.reason);
          log.forTask(order.taskId).info(found ? `cancelling: ${order.reason}` : 'cancel received for a task not running here; remembered in case it arrives');
          break;
        }
        case 'stop': {
          log.info(`asked to stop: ${order.reason}`);
          onStop(order.graceMs);
          break;
        }
      }
    },
  });
}
