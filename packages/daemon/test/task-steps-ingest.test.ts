import { JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, Presence, TaskIngest, systemClock, type Store, type TaskRecord } from '@aiflock/core';
import { subjects, type TaskStep } from '@aiflock/protocol';
import { HmacFileAnchor } from '../src/adapters/audit-anchor/hmac-file-anchor.js';
import { recordingJobEvents } from '../src/jobs/recording-store.js';
import { toolCallAuditor } from '../src/jobs/tool-call-audit.js';
import { startBusHarness, type BusHarness } from './bus-harness.js';
import { task as taskFixture } from './store-contract/fixtures.js';

/**
 * `task.step` events through a real nats-server into the daemon's ingest: recorded (store,
 * job stream, one audit entry per tool result with the call's arguments) only for a task
 * of the publishing instance's own agent; another agent's instance is refused.
 */
const CODER = 'coder-aaaa1111';
const INTRUDER = 'other-bbbb2222';
const MINE = 't_mine000000000000000000001';
const THEIRS = 't_theirs0000000000000000001';
const codec = JSONCodec();
let h: BusHarness;
let store: Store;
let audit: AuditLog;
let nc: NatsConnection;
const warnings: string[] = [];

const step = (taskId: string, seq: number, over: Partial<TaskStep>): TaskStep => ({ type: 'task.step', ts: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(), taskId, seq, kind: 'thought', ...over }) as TaskStep;
const send = (instance: string, s: TaskStep) => nc.publish(subjects.events(instance), codec.encode(s));

beforeAll(async () => {
  const log = (level: string, msg: string) => void (level !== 'info' && warnings.push(msg));
  h = await startBusHarness({
    name: 'steps',
    instances: [
      [CODER, 'coder'],
      [INTRUDER, 'other'],
    ],
    log,
    jetstream: true,
    mount: ({ store: sql, bus, dir }) => {
      audit = new AuditLog({ store: sql.audit, anchor: new HmacFileAnchor(dir), clock: systemClock });
      let onStep: ReturnType<typeof toolCallAuditor> = () => undefined;
      store = recordingJobEvents(sql, () => new Date().toISOString(), undefined, (r) => onStep(r));
      onStep = toolCallAuditor(audit, store.taskSteps, log);
      const ingest = new TaskIngest({ store, bus, clock: systemClock, log, presence: new Presence() });
      bus.onEvent(ingest.onEvent);
    },
  });
  const rec = (id: string, agent: string, instanceId: string): TaskRecord => taskFixture({ id, agent, type: 'agent', status: 'running', instanceId });
  await store.tasks.insert(rec(MINE, 'coder', CODER));
  await store.tasks.insert(rec(THEIRS, 'other', INTRUDER));
  nc = await h.connect();
});

afterAll(async () => {
  await h?.close();
});

async function eventually<T>(check: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} never happened; warnings: ${warnings.slice(-3).join(' | ')}`);
}

describe('task.step ingest', () => {
  it("refuses steps for another agent's task, and records, streams and audits its own", { timeout: 20_000 }, async () => {
    // The intruder tries to write into coder's transcript, and coder into the intruder's.
    send(INTRUDER, step(MINE, 0, { text: 'forged thought' }));
    send(CODER, step(THEIRS, 0, { text: 'forged too' }));
    const call = step(MINE, 0, { kind: 'tool_call', tool: 'shell', callId: 'c1', args: { command: 'node --test', cwd: 'calc' } });
    const result = step(MINE, 1, { kind: 'tool_result', tool: 'shell', callId: 'c1', result: { ok: true, durationMs: 40, cwd: 'calc', exitCode: 0, stdout: 'ok\n', stdoutSha256: 'a'.repeat(64), stderrSha256: 'b'.repeat(64) } });
    send(CODER, call);
    send(CODER, result);
    // The bus redelivering a step (a daemon restart) records it once.
    send(CODER, result);
    send(CODER, step(MINE, 2, { kind: 'answer', text: 'done' }));

    const recorded = await eventually(async () => {
      const r = await store.taskSteps.list(MINE, 100);
      return r.length === 3 ? r : undefined;
    }, 'three steps of coder');
    expect(recorded.map((r) => [r.instanceId, r.step.kind])).toEqual([
      [CODER, 'tool_call'],
      [CODER, 'tool_result'],
      [CODER, 'answer'],
    ]);
    expect(await store.taskSteps.list(THEIRS, 100)).toEqual([]);
    expect(warnings.filter((w) => w.includes('task.step: task'))).toEqual([
      `refused event from ${INTRUDER}: task.step: task ${MINE} is not for agent other`,
      `refused event from ${CODER}: task.step: task ${THEIRS} is not for agent coder`,
    ]);
    const streamed = (await store.jobEvents.list({ jobId: MINE, afterSeq: 0, limit: 100 })).filter((e) => e.type === 'step');
    expect(streamed.map((e) => (e.payload as TaskStep).seq)).toEqual([0, 1, 2]);

    const entries = await eventually(async () => {
      const e = await store.audit.list({ action: 'tool.call', limit: 10 });
      return e.length > 0 ? e : undefined;
    }, 'the tool.call audit entry');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actor: `instance:${CODER}`,
      resource: `task/${MINE}`,
      outcome: 'ok',
      details: { agent: 'coder', instance: CODER, task: MINE, tool: 'shell', args: { command: 'node --test', cwd: 'calc' }, cwd: 'calc', exitCode: 0, durationMs: 40, stdoutSha256: 'a'.repeat(64), stderrSha256: 'b'.repeat(64), urls: [] },
    });
  });
});
