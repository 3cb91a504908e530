import type { NatsConnection } from 'nats';

/** The parts of nats.js's protocol handler (nats 2.x, not public API) this module touches. */
interface ProtocolInternals {
  sendCommand(cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
  flushPending(): void;
  outbound: { length(): number; size(): number; fill(buf: Uint8Array, ...payloads: Uint8Array[]): void };
  pendingLimit: number;
}

const encoder = new TextEncoder();

/**
 * Write what the connection publishes once per turn of the event loop instead of once per
 * microtask checkpoint. nats.js schedules a socket write in a microtask after the first
 * command of a burst, so publishes made by separate promise continuations (each ack, each
 * verified result, each task publish after a group commit) mostly go out one `write()` each;
 * a profile of the daemon under load had a fifth to a third of its CPU in those writes. Here
 * the first command of a burst schedules the write with `setImmediate`: everything published
 * until the loop next checks for I/O shares one write. Nothing waits longer than that turn,
 * and a buffer past nats.js's own limit (`pendingLimit`) is still written at once; `flush()`
 * (PING) writes everything immediately, as before, so ordering is unchanged.
 *
 * This replaces one method of the client's protocol handler. If that handler is not shaped as
 * expected (another nats.js version), the connection is left as it is and `false` returned.
 */
export function coalesceFlushes(nc: NatsConnection): boolean {
  const protocol = (nc as unknown as { protocol?: Partial<ProtocolInternals> }).protocol;
  if (!isProtocol(protocol)) return false;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    protocol.flushPending();
  };
  protocol.sendCommand = (cmd, ...payloads) => {
    protocol.outbound.fill(typeof cmd === 'string' ? encoder.encode(cmd) : cmd, ...payloads);
    if (protocol.outbound.size() >= protocol.pendingLimit) protocol.flushPending();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return true;
}

function isProtocol(p: Partial<ProtocolInternals> | undefined): p is ProtocolInternals {
  return (
    !!p &&
    typeof p.sendCommand === 'function' &&
    typeof p.flushPending === 'function' &&
    typeof p.pendingLimit === 'number' &&
    typeof p.outbound?.fill === 'function' &&
    typeof p.outbound.size === 'function'
  );
}
