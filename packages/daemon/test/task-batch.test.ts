import { writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskBatchResponse } from '@aiflock/protocol';
import { apiCli, type ApiCli } from '../../../testkit/cli.js';
import { BusInstance } from '../../../testkit/bus-instance.js';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * `POST /v1/tasks:batch` and `aiflock task run --from <file>` (the built CLI) against the API
 * over SQLite and a real nats-server: items succeed or fail one by one, by index (by line),
 * each audited and idempotent by its own key; a bad envelope changes nothing.
 */
const manifest = readFileSync(join(import.meta.dirname, '..', '..', '..', 'examples', 'echo.agent.yaml'), 'utf8');
let api: ApiHarness;
let cli: ApiCli;
beforeAll(async () => {
  api = await startApi();
  expect((await api.fetch('/v1/agents', { method: 'POST', body: { manifest } })).status).toBe(201);
  cli = apiCli(() => api.url, { token: () => api.adminToken });
});
afterAll(async () => {
  cli?.cleanup();
  await api?.close();
});

const batch = (tasks: unknown, token?: string) => api.fetch('/v1/tasks:batch', { method: 'POST', body: { tasks }, ...(token ? { token } : {}) });
const count = async () => (await api.store.tasks.list({ limit: 10_000 })).length;

describe('POST /v1/tasks:batch', { timeout: 30_000 }, () => {
  it('reads each agent\'s deployment once for the whole batch, not once per item', async () => {
    const deployments = api.store.deployments;
    const original = deployments.get;
    const reads: string[] = [];
    deployments.get = (name) => {
      reads.push(name);
      return original.call(deployments, name);
    };
    try {
      const r = await batch([...Array.from({ length: 20 }, (_, n) => ({ agent: 'echo', input: { n } })), { agent: 'nobody', input: 1 }, { agent: 'nobody', input: 2 }]);
      expect(r.body).toMatchObject({ created: 20, failed: 2 });
    } finally {
      deployments.get = original;
    }
    expect(reads.filter((n) => n === 'echo')).toHaveLength(1);
    expect(reads.filter((n) => n === 'nobody')).toHaveLength(1);
  });

  it('queues the good items and refuses the bad ones alone, naming the index and the field', async () => {
    const before = await count();
    const r = await batch([
      { agent: 'echo', input: { n: 0 } },
      { agent: 'echo', input: { n: 1 }, timeoutMs: 5 },
      { agent: 'echo', input: { n: 2 }, idempotencyKey: 'batch-k2' },
      { agent: 'nobody', input: { n: 3 } },
      { agent: 'echo', input: { n: 4 }, priority: 'high' },
    ]);
    expect(r.status).toBe(200);
    const body = r.body as TaskBatchResponse;
    expect(body).toMatchObject({ created: 2, existing: 0, failed: 3 });
    expect(body.results.map((x) => [x.index, x.ok])).toEqual([[0, true], [1, false], [2, true], [3, false], [4, false]]);
    const [ok0, bad1, ok2, bad3, bad4] = body.results;
    expect(bad1).toMatchObject({ ok: false, status: 400, error: { code: 'validation_failed' } });
    expect(bad1!.ok === false && bad1!.error.message).toMatch(/tasks\[1\].*timeoutMs/);
    expect(bad3).toMatchObject({ ok: false, status: 404, error: { code: 'agent_not_found' } });
    expect(bad4!.ok === false && bad4!.error.message).toMatch(/tasks\[4\].*priority/);
    expect(await count()).toBe(before + 2);

    // Each created task is queued on the bus (it has its queue sequence) and audited.
    for (const item of [ok0, ok2]) {
      if (!item?.ok) throw new Error('expected a created task');
      const stored = await api.store.tasks.get(item.task.id);
      expect(stored).toMatchObject({ status: 'queued', agent: 'echo' });
      expect(stored!.queueSeq).toBeGreaterThan(0);
      const entries = await api.store.audit.list({ resource: `task/${item.task.id}`, limit: 5 });
      expect(entries.map((e) => [e.action, e.outcome])).toEqual([['task.create', 'ok']]);
    }
    expect(ok2!.ok && ok2!.task.idempotencyKey).toBe('batch-k2');
    // The refused items are audited too, as failures.
    const failures = await api.store.audit.list({ action: 'task.create', limit: 50 });
    expect(failures.filter((e) => e.outcome === 'error').length).toBeGreaterThanOrEqual(3);
  });

  it('a retried item with its key returns the same task; the same key with another body is a conflict of that item only', async () => {
    const first = (await batch([{ agent: 'echo', input: 'once', idempotencyKey: 'retry-me' }])).body as TaskBatchResponse;
    const again = (await batch([
      { agent: 'echo', input: 'once', idempotencyKey: 'retry-me' },
      { agent: 'echo', input: 'different', idempotencyKey: 'retry-me' },
      { agent: 'echo', input: 'fresh' },
    ])).body as TaskBatchResponse;
    expect(first.results[0]!.ok).toBe(true);
    expect(again).toMatchObject({ created: 1, existing: 1, failed: 1 });
    expect(again.results[0]).toMatchObject({ ok: true, created: false });
    expect(again.results[0]!.ok && first.results[0]!.ok && again.results[0]!.task.id === first.results[0]!.task.id).toBe(true);
    expect(again.results[1]).toMatchObject({ ok: false, status: 409, error: { code: 'idempotency_conflict' } });
  });

  it('creates 1000 tasks in one request, every one stored and queued', async () => {
    const before = await count();
    const r = await batch(Array.from({ length: 1000 }, (_, i) => ({ agent: 'echo', input: { i } })));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ created: 1000, failed: 0 });
    expect(await count()).toBe(before + 1000);
    const ids = (r.body as TaskBatchResponse).results.map((x) => (x.ok ? x.task.id : ''));
    expect(new Set(ids).size).toBe(1000);
    const unqueued = [];
    for (const id of ids.slice(0, 50)) if (!(await api.store.tasks.get(id))?.queueSeq) unqueued.push(id);
    expect(unqueued).toEqual([]);
  }, 120_000);

  it('refuses a bad envelope as a whole and changes nothing', async () => {
    const before = await count();
    for (const tasks of [[], Array.from({ length: 1001 }, () => ({ agent: 'echo', input: 1 })), 'not a list']) {
      const r = await batch(tasks);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('validation_failed');
      expect(r.body.error.message).toContain('tasks');
    }
    const extra = await api.fetch('/v1/tasks:batch', { method: 'POST', body: { tasks: [{ agent: 'echo', input: 1 }], also: true } });
    expect(extra.status).toBe(400);
    expect(await count()).toBe(before);
  });

  it('needs jobs:write, and is in the OpenAPI document with its own path', async () => {
    const reader = await api.token(['jobs:read']);
    const before = await count();
    expect((await batch([{ agent: 'echo', input: 1 }], reader)).status).toBe(403);
    expect(await count()).toBe(before);
    const doc = await api.fetch('/v1/openapi.json');
    expect(Object.keys(doc.body.paths)).toContain('/v1/tasks:batch');
  });
});

describe('aiflock task run --from', { timeout: 60_000 }, () => {
  it('queues a JSON-lines file, reports refused lines by line number, and with --json every line', async () => {
    const file = join(api.dir, 'tasks.jsonl');
    writeFileSync(file, ['{"input":{"n":1}}', '', '{"input":"two","idempotencyKey":"line-2"}', '{"input":3,"maxAttempts":99}', '{"agent":"echo","input":4}'].join('\n'));
    const before = await count();
    const r = await cli.run(['task', 'run', 'echo', '--from', file, '--json']);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ created: 3, existing: 0, failed: 1 });
    expect(out.results.map((x: { line: number; ok: boolean }) => [x.line, x.ok])).toEqual([[1, true], [3, true], [4, false], [5, true]]);
    expect(out.results[2].error.message).toContain('maxAttempts');
    expect(r.stderr).toContain('queued 3/4 task(s), 1 refused');
    expect(await count()).toBe(before + 3);

    // Again without --json: the keyed line is not queued twice; the refusal names its line.
    const again = await cli.run(['task', 'run', 'echo', '--from', file]);
    expect(again.code).toBe(2);
    expect(again.stdout).toContain('queued 2 task(s), 1 already queued (same idempotency key), 1 refused');
    expect(again.stderr).toMatch(/line 4: validation_failed: .*maxAttempts/);
  });

  it('refuses a file with a line that is not a JSON object before queueing anything', async () => {
    const file = join(api.dir, 'broken.jsonl');
    writeFileSync(file, '{"agent":"echo","input":1}\n{"agent":"echo",\n');
    const before = await count();
    const r = await cli.run(['task', 'run', '--from', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('line 2: not JSON');
    expect(await count()).toBe(before);
    const flags = await cli.run(['task', 'run', 'echo', '--from', file, '--wait']);
    expect(flags.code).toBe(2);
    expect(flags.stderr).toContain('--wait does not go with --from');
  });
});

describe('aiflock stats', { timeout: 60_000 }, () => {
  it('shows the tasks finished in the last minute, their rate and latency', async () => {
    const agent = await BusInstance.start(api.natsUrl, api.store, 'echo');
    try {
      for (let i = 0; i < 3; i++) await agent.finish(await agent.take(), { status: 'completed', result: 'done' });
      let s = JSON.parse((await cli.run(['stats', '--json'])).stdout);
      for (let tries = 0; s.throughput.finished < 3 && tries < 50; tries++) {
        await new Promise((r) => setTimeout(r, 200));
        s = JSON.parse((await cli.run(['stats', '--json'])).stdout);
      }
      expect(s.throughput).toMatchObject({ windowSeconds: 60, finished: 3 });
      expect(s.throughput.perSecond).toBeCloseTo(3 / 60);
      expect(s.throughput.latencyMs.p50).toBeGreaterThan(0);
      const text = await cli.run(['stats']);
      expect(text.stdout).toMatch(/throughput: 3 finished in the last 60 s \(0\.05\/s, created → done p50 \d+ m?s p90 \d+ m?s p99 \d+ m?s\)/);
    } finally {
      await agent.close();
    }
  });
});
