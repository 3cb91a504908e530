import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type TestNatsServer } from '../../../testkit/nats-server.js';
import { coalesceFlushes } from '../src/adapters/nats/coalesced-flush.js';

/**
 * The daemon's NATS connection writes what it publishes once per event-loop turn: 200
 * publishes made by 200 separate promise continuations (as acks after a group commit are)
 * leave in a handful of socket writes instead of about one each, and every message still
 * arrives, in order. Real nats-server; the socket writes are counted at the transport.
 */
describe('coalesceFlushes', () => {
  let server: TestNatsServer;
  let sink: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    sink = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await sink?.close();
    await server?.stop();
  });

  /** Publish `n` messages, each from its own continuation; how many socket writes it took and what arrived. */
  async function burst(nc: NatsConnection, subject: string, n: number): Promise<{ writes: number; got: string[] }> {
    const got: string[] = [];
    const sub = sink.subscribe(subject, { max: n, callback: (_e, m) => got.push(m.string()) });
    await sink.flush();
    const transport = (nc as unknown as { protocol: { transport: { send(b: Uint8Array): void } } }).protocol.transport;
    const send = transport.send.bind(transport);
    let writes = 0;
    transport.send = (b) => {
      writes++;
      send(b);
    };
    let chain = Promise.resolve();
    for (let i = 0; i < n; i++) chain = chain.then(async () => void nc.publish(subject, String(i)));
    await chain;
    await new Promise((r) => setImmediate(r));
    const during = writes;
    transport.send = send;
    await nc.flush();
    await sub.closed;
    return { writes: during, got };
  }

  it('writes a burst of separately scheduled publishes in a few writes, all delivered in order', async () => {
    const plain = await connect({ servers: server.url });
    const coalesced = await connect({ servers: server.url });
    try {
      expect(coalesceFlushes(coalesced)).toBe(true);
      const before = await burst(plain, 'flush.plain', 200);
      const after = await burst(coalesced, 'flush.coalesced', 200);
      const expected = Array.from({ length: 200 }, (_, i) => String(i));
      expect(before.got).toEqual(expected);
      expect(after.got).toEqual(expected);
      // nats.js alone: about a write per publish; coalesced: the burst shares one.
      expect(before.writes).toBeGreaterThan(50);
      expect(after.writes).toBeLessThanOrEqual(2);
    } finally {
      await plain.close();
      await coalesced.close();
    }
  });

  it('keeps request/reply and JetStream publish-with-ack working', async () => {
    const nc = await connect({ servers: server.url });
    try {
      expect(coalesceFlushes(nc)).toBe(true);
      sink.subscribe('flush.echo', { callback: (_e, m) => m.respond(m.data) });
      await sink.flush();
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => nc.request('flush.echo', String(i), { timeout: 5_000 })));
      expect(answers.map((a) => a.string())).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: 'FLUSHTEST', subjects: ['flushtest.>'] });
      const acks = await Promise.all(Array.from({ length: 100 }, (_, i) => nc.jetstream().publish('flushtest.x', String(i), { msgID: `m${i}` })));
      expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    } finally {
      await nc.close();
    }
  });

  it('leaves a connection it does not recognise alone', () => {
    expect(coalesceFlushes({} as NatsConnection)).toBe(false);
  });
});
