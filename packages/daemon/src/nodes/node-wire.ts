import type { NatsConnection } from 'nats';

/**
 * The bus as the control plane and a node agent talk over it about the node's sandboxes
 * (exec sessions, stats): JSON bodies on core NATS subjects. Both sides use their own
 * connection, whose credentials decide which subjects they may use.
 */
export interface NodeWire {
  /** One answer; rejects when none comes within `timeoutMs`. */
  request(subject: string, body: unknown, timeoutMs: number): Promise<unknown>;
  publish(subject: string, body: unknown): void;
  /** Bodies as they come (undecodable ones are dropped); returns how to stop. */
  subscribe(subject: string, onMessage: (body: unknown, reply: ((answer: unknown) => void) | null) => void): () => void;
}

const encode = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const decode = (d: Uint8Array): unknown => {
  try {
    return JSON.parse(new TextDecoder().decode(d)) as unknown;
  } catch {
    return undefined;
  }
};

export function natsNodeWire(nc: NatsConnection): NodeWire {
  return {
    request: async (subject, body, timeoutMs) => decode((await nc.request(subject, encode(body), { timeout: timeoutMs })).data),
    publish: (subject, body) => {
      // A closed connection publishes nothing: the other side hears silence and ends the session.
      if (!nc.isClosed()) nc.publish(subject, encode(body));
    },
    subscribe: (subject, onMessage) => {
      const sub = nc.subscribe(subject, {
        callback: (err, m) => {
          if (err) return;
          const body = decode(m.data);
          if (body !== undefined) onMessage(body, m.reply ? (answer) => void m.respond(encode(answer)) : null);
        },
      });
      return () => sub.unsubscribe();
    },
  };
}
