import { JSONCodec } from 'nats';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Presence, TaskClaims, TaskIngest, systemClock, type InboundMessage, type Store } from '@aiflock/core';
import { subjects, type AgentEvent, type TaskResult } from '@aiflock/protocol';
import { startBusHarness, type BusHarness } from './bus-harness.js';
import { task as taskFixture } from './store-contract/fixtures.js';

/**
 * `tasks.claim` answers only from what it has read: a start or result an instance stored in
 * JetStream but the control plane has not recorded yet (its reading held back, as when a NATS
 * server is lost) makes it say "wait", not "run" — else a task that ran would run again.
 * A real nats-server and the daemon's NatsBus; the handlers are held back on purpose.
 */
const FIRST = 'coder-aaaa1111';
const SECOND = 'coder-bbbb2222';
const codec = JSONCodec();
let h: BusHarness;
let store: Store;
let claims: TaskClaims;
let presence: Presence;
/** Opens the held-back ingest. */
let release: () => void;

beforeAll(async () => {
  const held = new Promise<void>((r) => (release = r));
  h = await startBusHarness({
    name: 'claims',
    instances: [
      [FIRST, 'coder'],
      [SECOND, 'coder'],
    ],
    jetstream: true,
    mount: ({ store: sql, bus }) => {
      store = sql;
      presence = new Presence();
      const ingest = new TaskIngest({ store, bus, clock: systemClock, log: () => undefined, presence });
      const later = (fn: (m: InboundMessage) => Promise<void>) => async (m: InboundMessage) => {
        await held;
        await fn(m);
      };
      bus.onEvent(later(ingest.onEvent));
      bus.onResult(later(ingest.onResult));
      claims = new TaskClaims({ store, clock: systemClock, presence, caughtUp: () => bus.ingestCaughtUp(300) });
    },
  });
});

afterAll(async () => {
  release?.();
  await h?.close();
});

const beat = (instanceId: string) =>
  presence.record({ instanceId, agent: 'coder', ts: new Date().toISOString(), state: 'busy', runningTasks: [], uptimeMs: 1, rssBytes: 1, runtimeVersion: 't' }, new Date());

it('says wait while a stored start or result is unread, and answers from the record once it is read', async () => {
  const started = taskFixture({ id: 't_started0000000000000000001', agent: 'coder', status: 'queued', instanceId: null });
  const done = taskFixture({ id: 't_finished000000000000000001', agent: 'coder', status: 'queued', instanceId: null });
  const fresh = taskFixture({ id: 't_neverrun000000000000000001', agent: 'coder', status: 'queued', instanceId: null });
  for (const t of [started, done, fresh]) await store.tasks.insert(t);
  beat(FIRST);
  const js = (await h.connect()).jetstream();
  const start: AgentEvent = { type: 'task.started', ts: new Date().toISOString(), taskId: started.id, attempt: 1 };
  await js.publish(subjects.events(FIRST), codec.encode(start));
  const result: TaskResult = { agentId: FIRST, taskId: done.id, status: 'completed', result: 'ok', durationMs: 1, timestamp: new Date().toISOString(), attempt: 1 };
  await js.publish(subjects.results(FIRST), codec.encode(result));

  // The second instance, given both again, may run neither while the control plane has not read them.
  const asked = (id: string) => claims.claim({ agent: 'coder', instanceId: SECOND }, { taskId: id, delivery: 2 });
  expect(await asked(started.id)).toMatchObject({ verdict: 'wait', status: 'queued' });
  expect(await asked(done.id)).toMatchObject({ verdict: 'wait', status: 'queued' });
  expect(await asked(fresh.id)).toMatchObject({ verdict: 'wait' });

  release();
  await expect.poll(() => asked(started.id), { timeout: 10_000 }).toEqual({ verdict: 'held', status: 'running', holder: FIRST });
  expect(await asked(done.id)).toEqual({ verdict: 'finished', status: 'completed', holder: FIRST });
  // Nothing unread and nobody's start: it runs.
  expect(await asked(fresh.id)).toEqual({ verdict: 'run', status: 'queued', holder: null });
});
