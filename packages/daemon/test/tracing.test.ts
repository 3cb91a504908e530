import { randomBytes } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { headers, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAMS, TRACE_HEADERS, formatTraceparent, parseTraceparent, subjects, taskConsumerName, type Task, type TaskResult } from '@aiflock/protocol';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../../testkit/otlp-receiver.js';
import { z } from 'zod';
import { loadConfig } from '../src/config.js';
import { startTracing, type TracingHandle } from '../src/telemetry/otel-sdk.js';
import { TaskTraces, withSpan } from '../src/telemetry/tracing.js';
import { startBusHarness, type BusHarness } from './bus-harness.js';

/**
 * Trace propagation over the real bus: the daemon's NatsBus publishes a task with W3C trace
 * context in the NATS headers, an "instance" (a plain NATS client speaking the wire contract
 * of protocol/trace.ts) makes an RPC and reports its span with the result, and the exporter
 * sends all of it to a real OTLP/HTTP receiver. Also what an instance cannot forge.
 */
const INSTANCE = 'tr-aaaa1111';
const AGENT = 'tr';
const codec = JSONCodec();
let h: BusHarness;
let bus: BusHarness['bus'];
let nc: NatsConnection;
let receiver: OtlpReceiver;
let tracing: TracingHandle;
const results: unknown[] = [];

const newSpanId = () => randomBytes(8).toString('hex');
const task = (id: string): Task => ({
  id,
  type: 'echo',
  data: 'x',
  timestamp: new Date().toISOString(),
  agent: AGENT,
  attempt: 1,
  maxAttempts: 3,
  deadline: new Date(Date.now() + 60_000).toISOString(),
});
const taskId = (n: number) => `t_trace${String(n).padStart(21, '0')}`;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  tracing = startTracing({ endpoint: receiver.url, serviceName: 'aiflock-test', version: '0' });
  h = await startBusHarness({
    name: 'trace',
    instances: [[INSTANCE, AGENT]],
    traces: new TaskTraces(),
    jetstream: true,
    mount: async ({ bus, router }) => {
      await bus.ensureQueue(AGENT, { ackWaitMs: 30_000, maxDeliver: 3 });
      bus.onResult(async (m) => void results.push(m.payload));
      // Work done for the caller, as the gateway's would be: a span in whatever context the RPC runs in.
      router.unary('test', 'work', z.object({}).strict(), () => withSpan('inner work', {}, async () => ({ done: true })));
    },
  });
  bus = h.bus;
  nc = await h.connect();
});

afterAll(async () => {
  await tracing?.shutdown();
  await h?.close();
  await receiver?.close();
});

/** What an instance does: pull the task, returning its message headers. */
async function pull(): Promise<{ task: Task; traceparent: string | undefined }> {
  const consumer = await nc.jetstream().consumers.get(STREAMS.tasks.name, taskConsumerName(AGENT));
  const m = await consumer.next({ expires: 5_000 });
  if (!m) throw new Error('no task delivered');
  m.ack();
  return { task: codec.decode(m.data) as Task, traceparent: m.headers?.get(TRACE_HEADERS.traceparent) };
}

async function rpc(traceparent: string): Promise<void> {
  const h = headers();
  h.set(TRACE_HEADERS.traceparent, traceparent);
  const reply = await nc.request(subjects.rpc(INSTANCE, 'test', 'work'), codec.encode({}), { timeout: 5_000, headers: h });
  expect(codec.decode(reply.data)).toMatchObject({ ok: true });
}

async function report(id: string, traceparent: string, startMs: number): Promise<void> {
  const result: TaskResult = { agentId: INSTANCE, taskId: id, timestamp: new Date().toISOString(), attempt: 1, status: 'completed', result: 'ok', durationMs: 5 };
  const h = headers();
  h.set(TRACE_HEADERS.traceparent, traceparent);
  h.set(TRACE_HEADERS.spanStart, String(startMs));
  await nc.jetstream().publish(subjects.results(INSTANCE), codec.encode(result), { headers: h });
  for (let i = 0; i < 100 && !results.some((r) => (r as TaskResult).taskId === id); i++) await new Promise((r) => setTimeout(r, 50));
}

async function exported(where: (s: ReceivedSpan) => boolean, what: string): Promise<ReceivedSpan> {
  for (let i = 0; i < 50; i++) {
    await tracing.forceFlush();
    const s = receiver.spans.find(where);
    if (s) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} never reached the receiver; it has: ${receiver.spans.map((s) => s.name).join(', ')}; refused: ${receiver.refused.join('; ')}`);
}

describe('traces across the bus', () => {
  it('carries one trace from the publisher through the instance to the work its RPC does', async () => {
    const id = taskId(1);
    let rootTrace = '';
    let rootSpan = '';
    await withSpan('test root', {}, async (span) => {
      rootTrace = span.spanContext().traceId;
      rootSpan = span.spanContext().spanId;
      await bus.enqueue(task(id));
    });
    const { task: delivered, traceparent } = await pull();
    expect(delivered.id).toBe(id);
    const parent = parseTraceparent(traceparent);
    expect(parent, `traceparent header: ${traceparent}`).toMatchObject({ traceId: rootTrace, flags: 1 });

    // The instance's own span, a child of the publish span, named on its RPC and its result.
    const started = Date.now();
    const agentSpan = formatTraceparent({ ...parent!, spanId: newSpanId() });
    await rpc(agentSpan);
    await report(id, agentSpan, started);

    const publish = await exported((s) => s.name === `publish ${subjects.tasks(AGENT)}`, 'the publish span');
    expect(publish).toMatchObject({ traceId: rootTrace, parentSpanId: rootSpan, spanId: parent!.spanId, kind: 4, service: 'aiflock-test' });
    expect(publish.attributes).toMatchObject({ 'messaging.system': 'nats', 'aiflock.task.id': id });
    const agent = await exported((s) => s.name === 'agent task' && s.traceId === rootTrace, 'the agent span');
    expect(agent).toMatchObject({ spanId: parseTraceparent(agentSpan)!.spanId, parentSpanId: publish.spanId, kind: 5 });
    expect(agent.attributes).toMatchObject({ 'aiflock.task.id': id, 'aiflock.instance.id': INSTANCE, 'aiflock.task.status': 'completed' });
    expect(agent.startMs).toBeGreaterThanOrEqual(publish.startMs);
    expect(agent.endMs).toBeGreaterThanOrEqual(agent.startMs);
    const server = await exported((s) => s.name === 'rpc test.work' && s.traceId === rootTrace, 'the RPC span');
    expect(server.parentSpanId).toBe(agent.spanId);
    const inner = await exported((s) => s.name === 'inner work' && s.traceId === rootTrace, 'the work span');
    expect(inner.parentSpanId).toBe(server.spanId);
  });

  it('does not let an instance attach its RPCs or spans to a trace it was never given', async () => {
    const id = taskId(2);
    await withSpan('another root', {}, () => bus.enqueue(task(id)));
    const { traceparent } = await pull();
    const given = parseTraceparent(traceparent)!;
    // Someone else's trace (say, one an operator is investigating).
    const foreign = { traceId: randomBytes(16).toString('hex'), spanId: newSpanId(), flags: 1 };
    await rpc(formatTraceparent(foreign));
    const forgedSpan = newSpanId();
    await report(id, formatTraceparent({ ...foreign, spanId: forgedSpan }), Date.now());
    // The RPC is traced, but as a trace of its own (a root span), not in the foreign one.
    await exported((s) => s.name === 'rpc test.work' && s.parentSpanId === '' && s.traceId !== given.traceId, 'the RPC as a root span');
    expect(receiver.spans.filter((s) => s.traceId === foreign.traceId)).toEqual([]);
    expect(receiver.spans.filter((s) => s.spanId === forgedSpan)).toEqual([]);
    // The task was forgotten with its (refused) report: a second report records nothing either.
    await report(id, formatTraceparent({ ...given, spanId: newSpanId() }), Date.now());
    await tracing.forceFlush();
    expect(receiver.spans.filter((s) => s.name === 'agent task' && s.traceId === given.traceId)).toEqual([]);
  });

  it('starts a trace for a task published outside any request (the outbox sweep)', async () => {
    // Outside any span the publish span is a root; the instance still gets a context to continue.
    const id = taskId(3);
    await bus.enqueue(task(id));
    const { traceparent } = await pull();
    expect(parseTraceparent(traceparent)).not.toBeNull();
    expect(trace.getActiveSpan()).toBeUndefined();
  });
});

describe('TaskTraces', () => {
  const sc = (traceId: string, spanId: string) => ({ traceId, spanId, traceFlags: 1 });
  const T = 'a'.repeat(32);
  const S = 'b'.repeat(16);

  it('takes only the span id and start from a report, and clamps the start to the publish time', () => {
    const t = new TaskTraces();
    t.published('t1', sc(T, S), 1_000);
    expect(t.knows(T)).toBe(true);
    const span = t.finished('t1', { traceparent: `00-${T}-${'c'.repeat(16)}-00`, startMs: '10' }, 2_000);
    expect(span).toEqual({ traceId: T, spanId: 'c'.repeat(16), parentSpanId: S, sampled: true, startMs: 1_000, endMs: 2_000 });
    expect(t.knows(T)).toBe(false);
  });

  it('refuses reports that do not fit what was published', () => {
    const t = new TaskTraces();
    const cases: Array<{ traceparent: string | undefined; startMs: string | undefined }> = [
      { traceparent: undefined, startMs: '1500' },
      { traceparent: 'garbage', startMs: '1500' },
      { traceparent: `00-${'d'.repeat(32)}-${'c'.repeat(16)}-01`, startMs: '1500' }, // another trace
      { traceparent: `00-${T}-${S}-01`, startMs: '1500' }, // the parent's own id
      { traceparent: `00-${T}-${'0'.repeat(16)}-01`, startMs: '1500' }, // invalid id
      { traceparent: `00-${T}-${'c'.repeat(16)}-01`, startMs: 'soon' },
      { traceparent: `00-${T}-${'c'.repeat(16)}-01`, startMs: undefined },
    ];
    for (const [i, c] of cases.entries()) {
      t.published(`t${i}`, sc(T, S), 1_000);
      expect(t.finished(`t${i}`, c, 2_000), JSON.stringify(c)).toBeNull();
    }
    expect(t.finished('never-published', { traceparent: `00-${T}-${'c'.repeat(16)}-01`, startMs: '1500' }, 2_000)).toBeNull();
    expect(t.knows(T)).toBe(false);
  });

  it('ignores the no-op API\'s invalid span and forgets the oldest task beyond its bound', () => {
    const t = new TaskTraces(2);
    t.published('none', sc('0'.repeat(32), '0'.repeat(16)));
    expect(t.knows('0'.repeat(32))).toBe(false);
    t.published('a', sc('1'.repeat(32), S));
    t.published('b', sc('2'.repeat(32), S));
    t.published('c', sc('3'.repeat(32), S));
    expect([t.knows('1'.repeat(32)), t.knows('2'.repeat(32)), t.knows('3'.repeat(32))]).toEqual([false, true, true]);
  });
});

describe('otel config', () => {
  it('reads the standard OTLP endpoint variable, defaults to none, and names a bad value', () => {
    expect(loadConfig({ env: {} }).otel).toEqual({ serviceName: 'aiflock-daemon' });
    expect(loadConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'flock-a' } }).otel).toEqual({ endpoint: 'http://collector:4318', serviceName: 'flock-a' });
    expect(() => loadConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' } })).toThrow(/otel\.endpoint[\s\S]*OTLP/);
  });
});
