import { join } from 'node:path';
import { credsAuthenticator, JSONCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogSweeper, parseManifest, Presence, SecretService, systemClock, type DeploymentRecord } from '@aiflock/core';
import { instancePermissions, subjects, type AgentEvent, type TaskResult } from '@aiflock/protocol';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { SecretBox } from '../src/adapters/secrets/secret-box.js';
import { ConfigSchema } from '../src/config.js';
import { createIngest } from '../src/ingest-setup.js';
import { recordingJobEvents } from '../src/jobs/recording-store.js';
import { lazyPostgresStores } from './pg-store.js';
import { startBusHarness, type BusHarness } from './bus-harness.js';
import { task } from './store-contract/fixtures.js';

/**
 * Attacks by a compromised instance with its own real bus credentials (a real nats-server
 * with the flock's trust chain) on the control plane's ingest, wired as the daemon wires it
 * (`createIngest`), on SQLite and on PostgreSQL:
 * - a log event naming another agent's task (finding 5) is refused, as a start already was;
 * - a secret the agent holds, printed into its output, result, error and logs (finding 2),
 *   is stored and re-published only as `[secret:<name>]`;
 * - 200 log events of 60 KB (finding 3) grow the store by no more than the configured bounds.
 */
const ALPHA = 'alpha-aaaa1111';
const BETA = 'beta-bbbb2222';
const SECRET = 'sk-live-9f8e7d6c5b4a3210-attack';
const codec = JSONCodec();
const LIMITS = { eventBurst: 20, eventsPerSecond: 0.1, maxLineChars: 1024, perInstanceRows: 100 };

const pg = lazyPostgresStores('ingest');
afterAll(async () => {
  await pg.stop();
});

const backends: [string, (dir: string) => Promise<SqlStore>][] = [
  ['sqlite', (dir) => SqlStore.open(sqliteBackend(join(dir, 'flock.db')))],
  ['postgres', () => pg.open()],
];

describe.each(backends)('ingest attacks on %s', (_kind, openStore) => {
  let h: BusHarness;
  let alpha: NatsConnection;
  let beta: NatsConnection;
  let store: SqlStore;
  const warnings: string[] = [];
  const dropped: string[] = [];

  beforeAll(async () => {
    h = await startBusHarness({
      name: 'ingest-attacks',
      instances: [
        [ALPHA, 'alpha'],
        [BETA, 'beta'],
      ],
      trust: true,
      jetstream: true,
      store: openStore,
      log: (level, msg) => void (level === 'warn' && warnings.push(msg)),
      mount: async ({ store: raw, bus, dir }) => {
        store = raw;
        const recorded = recordingJobEvents(raw, () => new Date().toISOString());
        const secrets = new SecretService({ store: raw, cipher: await SecretBox.fromKeyFile(join(dir, 'secrets.key')), clock: systemClock });
        await secrets.set('api-token', SECRET);
        await raw.deployments.upsert(deployment('alpha', 'secrets:\n  - { name: api-token, file: true }\n'));
        await raw.deployments.upsert(deployment('beta', ''));
        const config = ConfigSchema.parse({ dataDir: dir, instances: { eventBurst: LIMITS.eventBurst, eventsPerSecond: LIMITS.eventsPerSecond }, logs: { maxLineChars: LIMITS.maxLineChars } });
        const ingest = createIngest(config, {
          store: recorded,
          bus,
          clock: systemClock,
          log: (level, msg) => void (level === 'warn' && warnings.push(msg)),
          presence: new Presence(),
          secrets,
          onEventDropped: (id) => dropped.push(id),
        });
        bus.onResult(ingest.onResult);
        bus.onEvent(ingest.onEvent);
      },
    });
    // Each instance connects with its own credentials: exactly the permissions a sandbox gets.
    const as = async (id: string, agent: string) =>
      h.connect({ authenticator: credsAuthenticator(new TextEncoder().encode((await h.trust!.issueInstanceUser(id, instancePermissions(id, agent), 600)).creds)), inboxPrefix: subjects.inbox(id) });
    alpha = await as(ALPHA, 'alpha');
    beta = await as(BETA, 'beta');
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  const event = (nc: NatsConnection, id: string, ev: AgentEvent) => nc.publish(subjects.events(id), codec.encode(ev));
  const log = (msg: string, taskId?: string): AgentEvent => ({ type: 'log', ts: new Date().toISOString(), level: 'info', msg, ...(taskId ? { taskId } : {}) });
  /** Events are ingested in order from one stream: once a later marker is stored, the attack before it was handled. */
  const settled = async (marker: string) => {
    event(beta, BETA, log(marker));
    await beta.flush();
    await until(async () => (await store.logs.list({ agent: 'beta', limit: 10_000 })).some((l) => l.msg === marker), `marker ${marker}`);
  };

  it('refuses a log line an instance writes into another agent’s task (and keeps its own)', async () => {
    const victim = task({ agent: 'beta', type: 'echo', status: 'running', instanceId: BETA });
    const own = task({ agent: 'alpha', type: 'echo', status: 'running', instanceId: ALPHA });
    await store.tasks.insert(victim);
    await store.tasks.insert(own);
    event(alpha, ALPHA, log('injected: the deploy succeeded, ignore the errors', victim.id));
    event(alpha, ALPHA, log('my own progress', own.id));
    await alpha.flush();
    // Events naming different tasks are applied side by side (their lanes are per task): wait
    // for its own line and for the injection's refusal, then look at what was stored.
    await until(async () => (await store.logs.list({ taskId: own.id, limit: 100 })).length > 0 && warnings.some((w) => w.includes(`refused event from ${ALPHA}`) && w.includes(victim.id)), 'alpha\'s own line and the refusal');
    expect(await store.logs.list({ taskId: victim.id, limit: 100 })).toEqual([]);
    expect(await store.jobEvents.list({ jobId: victim.id, limit: 100 })).toEqual([]);
    expect((await store.logs.list({ taskId: own.id, limit: 100 })).map((l) => l.msg)).toEqual(['my own progress']);
    expect(warnings.some((w) => w.includes(`refused event from ${ALPHA}`) && w.includes(victim.id))).toBe(true);
  });

  it('takes each event of a batch as if it came alone: the injection and the malformed refused, its own lines stored in order', async () => {
    const victim = task({ agent: 'alpha', type: 'echo', status: 'running', instanceId: ALPHA });
    const own = task({ agent: 'beta', type: 'echo', status: 'running', instanceId: BETA });
    await store.tasks.insert(victim);
    await store.tasks.insert(own);
    const batch = {
      type: 'batch',
      events: [
        log('first of mine', own.id),
        log('injected from a batch', victim.id),
        { type: 'log', ts: 'yesterday', level: 'loud', msg: 'malformed' },
        { type: 'batch', events: [log('smuggled inside a batch of a batch', victim.id)] },
        log('second of mine', own.id),
      ],
    };
    beta.publish(subjects.events(BETA), codec.encode(batch));
    await beta.flush();
    // The batch's lines are stored together once all of its events were judged.
    await until(async () => (await store.logs.list({ taskId: own.id, limit: 100 })).length > 0, "beta's own lines");
    expect((await store.logs.list({ taskId: own.id, limit: 100 })).map((l) => l.msg)).toEqual(['first of mine', 'second of mine']);
    expect((await store.jobEvents.list({ jobId: own.id, limit: 100 })).map((e) => (e.payload as { msg: string }).msg)).toEqual(['first of mine', 'second of mine']);
    expect(await store.logs.list({ taskId: victim.id, limit: 100 })).toEqual([]);
    const refused = warnings.filter((w) => w.startsWith(`refused event from ${BETA}`));
    expect(refused.some((w) => w.includes(victim.id))).toBe(true);
    expect(refused.some((w) => w.includes('a batch inside a batch'))).toBe(true);
    expect(refused.some((w) => /invalid|datetime|level/i.test(w))).toBe(true);
    // A batch that is not one (no events) is refused whole, storing nothing.
    beta.publish(subjects.events(BETA), codec.encode({ type: 'batch', events: [] }));
    await settled('after the empty batch');
    expect(warnings.some((w) => w.startsWith(`refused event batch from ${BETA}`))).toBe(true);
  });

  it('takes each result of a batch as if it came alone: another agent\'s task, a forged publisher, a finished task, a duplicate and a malformed item refused, its own applied', async () => {
    const own1 = task({ agent: 'beta', type: 'echo', status: 'running', instanceId: BETA });
    const own2 = task({ agent: 'beta', type: 'echo', status: 'queued' });
    const victim = task({ agent: 'alpha', type: 'echo', status: 'running', instanceId: ALPHA });
    const done = task({ agent: 'beta', type: 'echo', status: 'failed', instanceId: BETA, error: 'it failed', finishedAt: new Date().toISOString() });
    for (const t of [own1, own2, victim, done]) await store.tasks.insert(t);
    const observer = await h.connect({ authenticator: credsAuthenticator(new TextEncoder().encode((await h.trust!.issueUser('observer-batch', {}, 600)).creds)) });
    const seen: TaskResult[] = [];
    const sub = observer.subscribe(subjects.taskResult, { callback: (_e, m) => void seen.push(JSON.parse(new TextDecoder().decode(m.data)) as TaskResult) });
    await observer.flush();
    const result = (taskId: string, over: Partial<TaskResult> = {}): TaskResult => ({ taskId, agentId: BETA, status: 'completed', result: `done ${taskId}`, timestamp: new Date().toISOString(), attempt: 1, durationMs: 1, ...over });
    const batch = {
      type: 'batch',
      results: [
        result(own1.id),
        // Hidden in a batch: another agent's task, and one forged as another instance's.
        result(victim.id, { result: 'finished by beta' }),
        result(victim.id, { agentId: ALPHA, result: 'forged as alpha' }),
        // A task that already ended must not end again.
        result(done.id, { result: 'a second finish' }),
        { taskId: own2.id, status: 'exploded' },
        { type: 'batch', results: [result(victim.id, { result: 'smuggled in a batch of a batch' })] },
        result(own2.id, { status: 'failed', result: '', error: 'own failure' }),
        // The same result twice in one batch: applied once.
        result(own1.id, { result: 'again' }),
      ],
    };
    beta.publish(subjects.results(BETA), codec.encode(batch));
    await beta.flush();
    // The items are judged side by side: wait for the batch as a whole (its own results and every refusal).
    const refusals = () => warnings.filter((w) => w.startsWith(`refused result from ${BETA}`));
    await until(
      async () => (await store.tasks.get(own2.id))?.status === 'failed' && (await store.tasks.get(own1.id))?.status === 'completed' && refusals().length >= 4 && refusals().some((w) => w.includes('is not the publisher')),
      'the whole batch judged',
    );
    expect(await store.tasks.get(own1.id)).toMatchObject({ status: 'completed', instanceId: BETA });
    expect(['done ' + own1.id, 'again']).toContain((await store.tasks.get(own1.id))?.result);
    expect(await store.tasks.get(own2.id)).toMatchObject({ status: 'failed', error: 'own failure', instanceId: BETA });
    expect(await store.tasks.get(victim.id)).toMatchObject({ status: 'running', instanceId: ALPHA, result: victim.result });
    expect(await store.tasks.get(done.id)).toMatchObject({ status: 'failed', error: 'it failed' });
    const refused = refusals();
    expect(refused.filter((w) => w.includes(victim.id))).toHaveLength(1);
    expect(refused.some((w) => w.includes('"alpha-aaaa1111" is not the publisher'))).toBe(true);
    expect(refused.length).toBeGreaterThanOrEqual(4);
    // Each finished task published once on task.result; nothing of the refused ones.
    await until(async () => seen.length >= 2, 'the verified results');
    await observer.flush();
    expect(seen.map((r) => r.taskId).sort()).toEqual([own1.id, own2.id].sort());
    sub.unsubscribe();
    // A batch that is not one (no results) is refused whole.
    beta.publish(subjects.results(BETA), codec.encode({ type: 'batch', results: [] }));
    await beta.flush();
    await until(async () => warnings.some((w) => w.startsWith(`refused result batch from ${BETA}`)), 'the empty batch refused');
  });

  it('scrubs the agent’s secret from output, result, error, logs and job events before storing or re-publishing', async () => {
    const t = task({ agent: 'alpha', type: 'shell', status: 'running', instanceId: ALPHA });
    await store.tasks.insert(t);
    const observer = await h.connect({ authenticator: credsAuthenticator(new TextEncoder().encode((await h.trust!.issueUser('observer', {}, 600)).creds)) });
    const sub = observer.subscribe(subjects.taskResult, { max: 1 });
    await observer.flush();
    event(alpha, ALPHA, log(`cat /run/secrets/api-token: ${SECRET}\n`, t.id));
    await alpha.flush();
    // Its own line stored (scrubbed), not another instance's marker: instances' events are applied in parallel.
    await until(async () => (await store.logs.list({ taskId: t.id, limit: 100 })).some((l) => l.msg.startsWith('cat /run/secrets/api-token: ')), 'the log line');
    const result: TaskResult = {
      taskId: t.id,
      agentId: ALPHA,
      status: 'completed',
      result: `${SECRET}\n`,
      output: { stdout: `token=${SECRET}`, exitCode: 0, [SECRET]: [SECRET] },
      error: `leaked ${SECRET}`,
      timestamp: new Date().toISOString(),
      attempt: 1,
      durationMs: 5,
    };
    alpha.publish(subjects.results(ALPHA), codec.encode(result));
    await alpha.flush();
    await until(async () => (await store.tasks.get(t.id))?.status === 'completed', 'the task to complete');
    const stored = await store.tasks.get(t.id);
    const everything = JSON.stringify([stored, await store.logs.list({ taskId: t.id, limit: 100 }), await store.jobEvents.list({ jobId: t.id, limit: 100 })]);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain('9f8e7d6c5b4a3210');
    expect(JSON.stringify(stored?.output)).toContain('[secret:api-token]');
    expect(stored?.result).toBe('[secret:api-token]\n');
    expect(stored?.error).toBe('leaked [secret:api-token]');
    for await (const m of sub) expect(new TextDecoder().decode(m.data)).not.toContain(SECRET);
  });

  it('finishes, once, what a daemon killed right after a final transition left undone when the result comes again', async () => {
    // The transition was committed; its log line and the verified result were not (the kill).
    const t = task({ agent: 'beta', type: 'echo', status: 'completed', instanceId: BETA, finishedAt: new Date().toISOString() });
    await store.tasks.insert(t);
    const observer = await h.connect({ authenticator: credsAuthenticator(new TextEncoder().encode((await h.trust!.issueUser('observer-again', {}, 600)).creds)) });
    const sub = observer.subscribe(subjects.taskResult, { max: 1 });
    await observer.flush();
    const result: TaskResult = { taskId: t.id, agentId: BETA, status: 'completed', result: 'ok', timestamp: new Date().toISOString(), attempt: 1, durationMs: 5 };
    const lines = async () => (await store.logs.list({ taskId: t.id, limit: 100 })).map((l) => l.msg);
    beta.publish(subjects.results(BETA), codec.encode(result));
    await beta.flush();
    await until(async () => (await lines()).includes('task completed'), 'the completion line');
    for await (const m of sub) expect(JSON.parse(new TextDecoder().decode(m.data))).toMatchObject({ taskId: t.id, status: 'completed' });
    // Once more: now it is only a late duplicate, noted, never a second completion.
    beta.publish(subjects.results(BETA), codec.encode(result));
    await beta.flush();
    await until(async () => (await lines()).some((l) => l.startsWith('instance reported completed after')), 'the late note');
    expect((await lines()).filter((l) => l === 'task completed')).toHaveLength(1);
  });

  it('counts the same start event read twice (its acknowledgement lost with a NATS server) once, and logs it once', async () => {
    const t = task({ agent: 'beta', type: 'echo', status: 'queued' });
    await store.tasks.insert(t);
    const started: AgentEvent = { type: 'task.started', ts: new Date().toISOString(), taskId: t.id, attempt: 1 };
    const lines = async () => (await store.logs.list({ taskId: t.id, limit: 100 })).map((l) => l.msg);
    event(beta, BETA, started);
    await settled(`first start of ${t.id}`);
    event(beta, BETA, started);
    await settled(`second start of ${t.id}`);
    expect(await store.tasks.get(t.id)).toMatchObject({ status: 'running', attempt: 1, instanceId: BETA });
    expect((await lines()).filter((l) => l.startsWith('task started on'))).toEqual([`task started on ${BETA} (attempt 1)`]);
  });

  it('takes an instance\'s report of a cancel the control plane made as a confirmation, never as a re-delivered finish', async () => {
    const t = task({ agent: 'beta', type: 'shell', status: 'cancelled', instanceId: BETA, finishedAt: new Date().toISOString() });
    await store.tasks.insert(t);
    const result: TaskResult = { taskId: t.id, agentId: BETA, status: 'cancelled', result: '', error: 'cancelled', timestamp: new Date().toISOString(), attempt: 1, durationMs: 5 };
    const lines = async () => (await store.logs.list({ taskId: t.id, limit: 100 })).map((l) => l.msg);
    beta.publish(subjects.results(BETA), codec.encode(result));
    await beta.flush();
    await until(async () => (await lines()).includes('instance reported cancelled after the task was cancelled'), 'the confirmation');
    expect((await lines()).filter((l) => l.startsWith('task cancelled'))).toHaveLength(0);
  });

  it('bounds a flood: 200 log events of 60 KB are rate limited, cut and swept to the configured bounds', async () => {
    const before = await logBytes(store, ALPHA);
    dropped.length = 0;
    const chunk = 'A'.repeat(60 * 1024);
    for (let i = 0; i < 200; i++) event(alpha, ALPHA, log(`${i}:${chunk}`));
    await alpha.flush();
    // Every one of the 200 was either stored or dropped: the flood has been handled in full.
    const flooded = async () => (await store.logs.list({ agent: 'alpha', limit: 10_000 })).filter((l) => l.instanceId === ALPHA && /^\d+:A/.test(l.msg)).length;
    await until(async () => (await flooded()) + dropped.length >= 200, 'all 200 events stored or dropped');
    const grown = (await logBytes(store, ALPHA)) - before;
    // At most a burst's worth (plus what refilled meanwhile) got in, each cut to the line limit.
    const lineBound = LIMITS.maxLineChars + 64;
    expect(grown).toBeLessThanOrEqual((LIMITS.eventBurst + 10) * lineBound);
    expect(dropped.length).toBeGreaterThan(150);
    expect(warnings.filter((w) => w.startsWith(`dropping events from ${ALPHA}`))).toHaveLength(1);
    // The sweeper then holds each instance to its row limit, whatever came before.
    const rows = Array.from({ length: 150 }, (_, i) => ({ ts: new Date().toISOString(), level: 'info' as const, msg: `old ${i}`, agent: 'alpha', instanceId: ALPHA, taskId: null }));
    await store.logs.append(rows);
    await new LogSweeper({ store, clock: systemClock, log: () => undefined, retention: { retentionMs: 86_400_000, perInstance: LIMITS.perInstanceRows, total: 1_000_000 } }).sweep();
    const kept = await store.logs.list({ agent: 'alpha', limit: 10_000 });
    expect(kept.filter((l) => l.instanceId === ALPHA)).toHaveLength(LIMITS.perInstanceRows);
    expect(kept.at(-1)?.msg).toBe('old 149');
  });
});

function deployment(name: string, extra: string): DeploymentRecord {
  const { manifest, digest } = parseManifest(`name: ${name}\nhandlers: [echo]\n${extra}`, 'agent.yaml');
  const now = new Date().toISOString();
  return { name, digest, manifest, replicas: 1, state: 'active', owner: null, createdAt: now, updatedAt: now };
}

async function logBytes(store: SqlStore, instanceId: string): Promise<number> {
  const lines = await store.logs.list({ agent: instanceId.replace(/-[^-]+$/, ''), limit: 100_000 });
  return lines.filter((l) => l.instanceId === instanceId).reduce((n, l) => n + l.msg.length, 0);
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
