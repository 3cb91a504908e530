import fc from 'fast-check';
import { JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Presence, TaskIngest, systemClock, type TaskRecord } from '@aiflock/core';
import { RpcReply, subjects, TaskResult } from '@aiflock/protocol';
import { registerLlmOps } from '../src/llm/rpc-ops.js';
import { startBusHarness, type BusHarness } from './bus-harness.js';

/**
 * Property-based fuzzing of what instances can send the control plane: results, events,
 * heartbeats and RPC requests with arbitrary, malformed and oversized payloads, through a
 * real nats-server into the daemon's real handlers and a real SQLite store. The control
 * plane must stay up, answer every RPC with a well-formed error, and record nothing a
 * valid message would not have recorded.
 */
const INSTANCE = 'fuzz-aaaa1111';
const TARGET = 't_target00000000000000000001';
const SENTINEL = 't_sentinel000000000000000001';
const TARGET2 = 't_target00000000000000000002';

function safeJson(b: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(b));
  } catch {
    return undefined;
  }
}
const codec = JSONCodec();
let h: BusHarness;
let store: BusHarness['store'];
let nc: NatsConnection;
const warnings: string[] = [];

const task = (id: string): TaskRecord => ({
  id,
  agent: 'fuzz',
  type: 'echo',
  status: 'running',
  input: 'x',
  result: null,
  output: null,
  error: null,
  attempt: 1,
  maxAttempts: 3,
  instanceId: INSTANCE,
  idempotencyKey: null,
  requestHash: 'h',
  createdAt: new Date().toISOString(),
  startedAt: new Date().toISOString(),
  finishedAt: null,
  deadline: new Date(Date.now() + 3_600_000).toISOString(),
  queueSeq: null,
});

beforeAll(async () => {
  const log = (level: string, msg: string) => void (level !== 'info' && warnings.push(msg.slice(0, 200)));
  h = await startBusHarness({
    name: 'fuzz',
    instances: [[INSTANCE, 'fuzz']],
    log,
    jetstream: true,
    mount: ({ store, bus, router }) => {
      const ingest = new TaskIngest({ store, bus, clock: systemClock, log, presence: new Presence() });
      bus.onResult(ingest.onResult);
      bus.onEvent(ingest.onEvent);
      bus.onHeartbeat(ingest.onHeartbeat);
      registerLlmOps(router, { gateway: null, detail: 'no provider in this test' }, store, () => 'corr');
    },
  });
  store = h.store;
  nc = await h.connect();
});

afterAll(async () => {
  await h?.close();
});

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} was never recorded; last daemon warnings:\n${warnings.slice(-5).join('\n')}`);
}

/** Anything at all, and things that look almost like a result. */
const payload = fc.oneof(
  fc.jsonValue(),
  fc.string(),
  fc.record(
    {
      agentId: fc.oneof(fc.constant(INSTANCE), fc.constant('other-bbbb2222'), fc.string()),
      taskId: fc.oneof(fc.constant(TARGET), fc.constant('t_missingmissingmissing0000'), fc.string()),
      status: fc.oneof(fc.constantFrom('completed', 'failed', 'dead_lettered', 'queued'), fc.string()),
      result: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
      durationMs: fc.oneof(fc.integer(), fc.double(), fc.string()),
      timestamp: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string()),
      attempt: fc.oneof(fc.integer(), fc.constant(-1)),
      type: fc.constantFrom('log', 'lifecycle', 'task.started', 'bogus'),
      level: fc.constantFrom('info', 'warn', 'nope'),
      msg: fc.string(),
      ts: fc.string(),
    },
    { requiredKeys: [] },
  ),
);

/** Raw bytes that are not JSON at all. */
const garbage = fc.uint8Array({ minLength: 1, maxLength: 2_048 }).filter((b) => {
  try {
    JSON.parse(new TextDecoder().decode(b));
    return false;
  } catch {
    return true;
  }
});

describe('instances sending arbitrary payloads', () => {
  it('results, events and heartbeats: nothing invalid is recorded, and the daemon keeps working', async () => {
    await store.tasks.insert(task(TARGET));
    // The oracle: the first schema-valid result for the target from its own instance is the
    // only thing allowed to finish it.
    let firstValid: TaskResult | null = null;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(payload.map((p) => codec.encode(p)), garbage), { minLength: 1, maxLength: 8 }), fc.constantFrom('results', 'events', 'heartbeat'), async (messages, kind) => {
        const subject = kind === 'results' ? subjects.results(INSTANCE) : kind === 'events' ? subjects.events(INSTANCE) : subjects.heartbeat(INSTANCE);
        for (const m of messages) {
          if (kind === 'results' && !firstValid) {
            const r = TaskResult.safeParse(safeJson(m));
            if (r.success && r.data.taskId === TARGET && r.data.agentId === INSTANCE) firstValid = r.data;
          }
          nc.publish(subject, m);
        }
        await nc.flush();
      }),
      { numRuns: 150 },
    );
    // Oversized, too: near the server's limit, and deeply nested.
    nc.publish(subjects.results(INSTANCE), codec.encode({ agentId: INSTANCE, taskId: TARGET, status: 'completed', result: 'x'.repeat(900_000) }));
    nc.publish(subjects.events(INSTANCE), new TextEncoder().encode('['.repeat(100_000)));
    await nc.flush();
    // Each stream is consumed in order: once a valid result and a valid log line sent after
    // the fuzz are recorded, everything before them has been handled.
    await store.tasks.insert(task(SENTINEL));
    const sentinel: TaskResult = { agentId: INSTANCE, taskId: SENTINEL, status: 'completed', result: 'sentinel', durationMs: 1, timestamp: new Date().toISOString(), attempt: 1 };
    nc.publish(subjects.results(INSTANCE), codec.encode(sentinel));
    nc.publish(subjects.events(INSTANCE), codec.encode({ type: 'log', ts: new Date().toISOString(), level: 'info', msg: 'sentinel' }));
    await until(async () => (await store.tasks.get(SENTINEL))?.status === 'completed', 'the sentinel result');
    await until(async () => (await store.logs.list({ limit: 10_000 })).some((l) => l.msg === 'sentinel'), 'the sentinel log line');
    // The target task was finished by the first schema-valid result from its own instance, or not at all.
    const target = await store.tasks.get(TARGET);
    const expected = firstValid as TaskResult | null;
    if (expected) expect(target).toMatchObject({ status: expected.status, result: expected.result, error: expected.error ?? null });
    else expect(target).toMatchObject({ status: 'running', result: null, output: null, error: null });
    // Every log line that was recorded is a well-formed one.
    for (const line of await store.logs.list({ limit: 10_000 })) {
      expect(['debug', 'info', 'warn', 'error']).toContain(line.level);
      expect(line.instanceId).toBe(INSTANCE);
    }
    expect(warnings.some((w) => /refused result/.test(w))).toBe(true);
    // And the daemon still works: a valid result finishes a task.
    if (expected) await store.tasks.insert(task(TARGET2));
    const valid: TaskResult = { agentId: INSTANCE, taskId: expected ? TARGET2 : TARGET, status: 'completed', result: 'ok', durationMs: 1, timestamp: new Date().toISOString(), attempt: 1 };
    nc.publish(subjects.results(INSTANCE), codec.encode(valid));
    await until(async () => (await store.tasks.get(valid.taskId))?.result === 'ok', 'the valid result');
    expect(await store.tasks.get(valid.taskId)).toMatchObject({ status: 'completed', result: 'ok' });
  }, 120_000);

  it('RPC: every request, however malformed, gets a well-formed error reply and changes nothing', async () => {
    const before = await store.tasks.countByStatus();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(payload.map((p) => codec.encode(p)), garbage),
        fc.constantFrom(['llm', 'chat'], ['llm', 'models'], ['llm', 'embed'], ['nope', 'nope'], ['board', 'post']),
        fc.constantFrom(INSTANCE, 'ghost-cccc3333'),
        async (data, [service, op], caller) => {
          const reply = await nc.request(subjects.rpc(caller, service!, op!), data, { timeout: 5_000 });
          const parsed = RpcReply.safeParse(codec.decode(reply.data));
          expect(parsed.success).toBe(true);
          // Unknown callers and unknown services are never served.
          if (parsed.success && (caller !== INSTANCE || service !== 'llm')) expect(parsed.data.ok).toBe(false);
        },
      ),
      { numRuns: 150 },
    );
    const big = await nc.request(subjects.rpc(INSTANCE, 'llm', 'chat'), codec.encode({ prompt: 'x'.repeat(900_000) }), { timeout: 5_000 });
    expect(RpcReply.parse(codec.decode(big.data))).toMatchObject({ ok: false });
    expect(await store.tasks.countByStatus()).toEqual(before);
  }, 120_000);
});
