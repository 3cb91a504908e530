import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { AgentEventBatch, EVENT_BATCH_MAX, type AgentEvent } from '@aiflock/protocol';
import { startNatsServer, type TestNatsServer } from '../../../testkit/nats-server.js';
import { EventSink } from '../src/event-sink.js';

/**
 * The event sink sends what queued up while its last flush was in flight as `batch` messages
 * (one stored message instead of one per event), on a real nats-server: every event arrives
 * once and in order, no message passes the byte bound or EVENT_BATCH_MAX, and a lone event
 * still goes as itself.
 */
let server: TestNatsServer;
let nc: NatsConnection;
let watcher: NatsConnection;
beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  watcher = await connect({ servers: server.url });
});
afterAll(async () => {
  await nc?.close();
  await watcher?.close();
  await server?.stop();
});

const log = (i: number, pad = 0): AgentEvent => ({ type: 'log', ts: new Date().toISOString(), level: 'info', msg: `line ${i}${'x'.repeat(pad)}`, taskId: 'tsk_01J0000000000000000000000A' });

async function collect(subject: string, push: (sink: EventSink) => void, maxBatchBytes?: number): Promise<{ messages: unknown[]; events: AgentEvent[] }> {
  const messages: unknown[] = [];
  const sub = watcher.subscribe(subject, { callback: (_err, m) => messages.push(JSON.parse(new TextDecoder().decode(m.data))) });
  await watcher.flush();
  const sink = new EventSink(subject, 1_000, maxBatchBytes);
  sink.attach(nc);
  push(sink);
  await sink.flush(10_000);
  // The server has every publish once the publisher's flush returns; the watcher has every
  // delivery once its own flush after that returns.
  await nc.flush();
  await watcher.flush();
  sub.unsubscribe();
  const events = messages.flatMap((m) => (AgentEventBatch.safeParse(m).success ? (m as { events: AgentEvent[] }).events : [m as AgentEvent]));
  return { messages, events };
}

it('sends a burst of 250 events in a few batch messages, each event once and in order', async () => {
  const { messages, events } = await collect('agent.sink-a.events', (sink) => {
    for (let i = 0; i < 250; i++) sink.push(log(i));
  });
  expect(events.map((e) => (e as { msg: string }).msg)).toEqual(Array.from({ length: 250 }, (_, i) => `line ${i}`));
  // The first event goes out while the rest queue behind its flush: far fewer messages than events.
  expect(messages.length).toBeLessThan(10);
  for (const m of messages) if ((m as { type: string }).type === 'batch') expect((m as { events: unknown[] }).events.length).toBeLessThanOrEqual(EVENT_BATCH_MAX);
});

it('keeps every batch message under its byte bound, and sends a lone event as itself', async () => {
  const bound = 20_000;
  const { messages, events } = await collect(
    'agent.sink-b.events',
    (sink) => {
      for (let i = 0; i < 40; i++) sink.push(log(i, 3_000));
    },
    bound,
  );
  expect(events).toHaveLength(40);
  expect(messages.length).toBeGreaterThan(5);
  for (const m of messages) expect(JSON.stringify(m).length).toBeLessThan(bound + 4_000);

  const lone = await collect('agent.sink-c.events', (sink) => sink.push(log(7)));
  expect(lone.messages).toHaveLength(1);
  expect(lone.messages[0]).toMatchObject({ type: 'log', msg: 'line 7' });
});
