import { INSTANCE_JS_API_PREFIX, STREAMS, subjects, taskConsumerName } from './subjects.js';

export interface SubjectPermissions {
  pub: { allow: string[] };
  sub: { allow: string[] };
}

/**
 * Everything one instance may do on the bus, and nothing more (DESIGN.md, bus contract):
 * publish under its own `agent.<id>.>`; read its own deployment's work queue's settings and
 * acknowledge on it; receive the tasks pulled for it (`deliveries.<id>.*`), control
 * messages and broadcasts; and read replies only under its private inbox prefix. Pulling
 * itself is asked of the control plane (`tasks.pull`), which pulls only from the caller's queue. The server enforces this, so the subject an instance
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
        // Ack, nak, in-progress and term of messages of its own deployment's queue.
        `$JS.ACK.${stream}.${consumer}.>`,
      ],
    },
    sub: {
      allow: [`${subjects.inbox(instanceId)}.>`, `${subjects.deliveries(instanceId)}.*`, subjects.control(instanceId), subjects.broadcast],
    },
  };
}
