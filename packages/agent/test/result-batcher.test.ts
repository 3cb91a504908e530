import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, headers, RetentionPolicy, StorageType, type JetStreamManager, type NatsConnection } from 'nats';
import { RESULT_BATCH_MAX, STREAMS, TaskResult, TaskResultBatch, subjects } from '@aiflock/protocol';
import { startNatsServer, type TestNatsServer } from '../../../testkit/nats-server.js';
import { Logger } from '../src/logger.js';
import { ResultBatcher } from '../src/result-batcher.js';
import { encodeResult } from '../src/result-size.js';
import { taskId } from './harness.js';

/**
 * The result batcher stores what finished while its last publish was in flight as one
 * `batch` message, on a real nats-server with the results stream: every result is stored
 * once, each `store` resolves only once its message is stored, no message passes
 * RESULT_BATCH_MAX or the byte bound, a lone result and a traced one go as themselves (under
 * the id `<task>:<attempt>`, with the trace headers), and a runtime that gives up reports
 * what was not stored.
 */
let server: TestNatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: STREAMS.results.name, subjects: [...STREAMS.results.subjects], retention: RetentionPolicy.Limits, storage: StorageType.File });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const log = new Logger({ instanceId: 'rb-test', agent: 'rb', stdout: false });
let seq = 0;
const result = (instanceId: string, pad = 0): TaskResult => ({
  agentId: instanceId,
  taskId: taskId(),
  status: 'completed',
  timestamp: new Date().toISOString(),
  result: `r${++seq}${'x'.repeat(pad)}`,
  attempt: 1,
  durationMs: 1,
});

function batcher(instanceId: string, maxPayload = 1024 * 1024, hardStop = new AbortController().signal): ResultBatcher {
  return new ResultBatcher({ js: nc.jetstream(), instanceId, log, maxPayload: () => maxPayload, publishTimeoutMs: 1_000, hardStop });
}

/** Every message the results stream holds for one instance, oldest first, with its message id. */
async function stored(instanceId: string): Promise<{ id: string; body: unknown; traced: boolean }[]> {
  const out: { id: string; body: unknown; traced: boolean }[] = [];
  const last = (await jsm.streams.info(STREAMS.results.name)).state.last_seq;
  for (let s = 1; s <= last; s++) {
    const m = await jsm.streams.getMessage(STREAMS.results.name, { seq: s });
    if (m.subject !== subjects.results(instanceId)) continue;
    out.push({ id: m.header.get('Nats-Msg-Id'), body: m.json(), traced: m.header.get('traceparent') !== '' });
  }
  return out;
}
const unbatched = (body: unknown): TaskResult[] => (TaskResultBatch.safeParse(body).success ? (body as { results: TaskResult[] }).results : [TaskResult.parse(body)]);

it('stores a burst of 250 results in a few batch messages, each once, each store settled only once stored', async () => {
  const id = 'rb-burst-aaaa1111';
  const b = batcher(id);
  const results = Array.from({ length: 250 }, () => result(id));
  const settled = await Promise.all(results.map((r) => b.store(r.taskId, r.attempt, encodeResult(r, 1024 * 1024), undefined)));
  expect(settled.every(Boolean)).toBe(true);
  const messages = await stored(id);
  // The first few go out alone while the rest queue behind them: far fewer messages than results.
  expect(messages.length).toBeLessThan(12);
  expect(messages.length).toBeGreaterThanOrEqual(Math.ceil(250 / RESULT_BATCH_MAX));
  expect(messages.flatMap((m) => unbatched(m.body)).map((r) => r.taskId)).toEqual(results.map((r) => r.taskId));
  expect(messages.filter((m) => TaskResultBatch.safeParse(m.body).success).length).toBeGreaterThanOrEqual(2);
  for (const m of messages) {
    if (TaskResultBatch.safeParse(m.body).success) {
      expect(m.id).toMatch(new RegExp(`^batch:${id}:[0-9a-f]{12}:\\d+$`));
      expect((m.body as { results: unknown[] }).results.length).toBeLessThanOrEqual(RESULT_BATCH_MAX);
    } else {
      // Alone, a result is a plain TaskResult under its own id, as before batches.
      expect(m.id).toBe(`${TaskResult.parse(m.body).taskId}:1`);
    }
  }
});

it('keeps every message under the byte bound, and sends a traced result alone with its headers', async () => {
  const id = 'rb-bound-bbbb2222';
  const maxPayload = 12 * 1024;
  const b = batcher(id, maxPayload);
  const results = Array.from({ length: 40 }, () => result(id, 1_000));
  const traced = result(id);
  const h = headers();
  h.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  const all = [...results.slice(0, 20).map((r) => b.store(r.taskId, 1, encodeResult(r, maxPayload), undefined)), b.store(traced.taskId, 1, encodeResult(traced, maxPayload), h), ...results.slice(20).map((r) => b.store(r.taskId, 1, encodeResult(r, maxPayload), undefined))];
  expect((await Promise.all(all)).every(Boolean)).toBe(true);
  const messages = await stored(id);
  for (const m of messages) expect(new TextEncoder().encode(JSON.stringify(m.body)).byteLength).toBeLessThanOrEqual(maxPayload - 4 * 1024);
  const alone = messages.filter((m) => m.traced);
  expect(alone).toHaveLength(1);
  expect(alone[0]!.id).toBe(`${traced.taskId}:1`);
  expect(TaskResult.parse(alone[0]!.body).taskId).toBe(traced.taskId);
  expect(messages.flatMap((m) => unbatched(m.body)).map((r) => r.taskId)).toEqual([...results.slice(0, 20), traced, ...results.slice(20)].map((r) => r.taskId));
});

it('reports results it could not store once the runtime gives up (no stream takes them)', async () => {
  const stop = new AbortController();
  // `agent.rb.orphan.results` is held by no stream (the results stream takes one token there): every publish fails.
  const b = new ResultBatcher({ js: nc.jetstream(), instanceId: 'rb.orphan', log, maxPayload: () => 1024 * 1024, publishTimeoutMs: 300, hardStop: stop.signal });
  const r = result('rb-orphan-cccc3333');
  const pending = [b.store(r.taskId, 1, encodeResult(r, 1024 * 1024), undefined), b.store(`${r.taskId}x`, 1, encodeResult(r, 1024 * 1024), undefined)];
  await new Promise((res) => setTimeout(res, 800));
  stop.abort();
  expect(await Promise.all(pending)).toEqual([false, false]);
});
