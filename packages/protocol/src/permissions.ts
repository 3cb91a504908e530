import { INSTANCE_JS_API_PREFIX, STREAMS, subjects, taskConsumerName } from './subjects.js';

export interface SubjectPermissions {
  pub: { allow: string[] };
  sub: { allow: string[] };
}

/**
 * Everything one instance may do on the bus, and nothing more (DESIGN.md, bus contract):
 * publish under its own `agent.<id>.>`; pull from, and acknowledge on, its own deployment's
 * work queue; receive the tasks pulled for it (`deliveries.<id>.*`), the answers to its RPC
 * requests (`replies.<id>.*`), control messages and broadcasts; and read other replies only
 * under its private inbox prefix. It may publish on none of these. It pulls itself only
 * while the control plane, which otherwise pulls for it (`tasks.pull`), does not answer. The server enforces this, so the subject an instance
 * publishes on proves who it is. The consumer calls go through the instances' account's
 * import of the flock's JetStream API (INSTANCE_JS_API_PREFIX).
 */
export function instancePermissions(instanceId: string, agent: string): SubjectPermissions {
  const stream = STREAMS.tasks.name;
  const consumer = taskConsumerName(agent);
  return {
    pub: {
      allow: [
        `agent.${instanceId}.>`,
        `${INSTANCE_JS_API_PREFIX}.CONSUMER.INFO.${stream}.${consumer}`,
        // Only while the control plane is away (it pulls for instances otherwise, `tasks.pull`).
        `${INSTANCE_JS_API_PREFIX}.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
        // Ack, nak, in-progress and term of messages of its own deployment's queue.
        `$JS.ACK.${stream}.${consumer}.>`,
      ],
    },
    sub: {
      allow: [`${subjects.inbox(instanceId)}.>`, `${subjects.deliveries(instanceId)}.*`, `${subjects.replies(instanceId)}.*`, subjects.control(instanceId), subjects.broadcast],
    },
  };
}
