import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect } from 'nats';
import { STREAMS, taskConsumerName, type StreamMessage } from '@aiflock/protocol';
import { startApi, type ApiHarness } from './http-harness.js';

const manifest = readFileSync(join(import.meta.dirname, '..', '..', '..', 'examples', 'echo.agent.yaml'), 'utf8');
let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
  expect((await api.fetch('/v1/agents', { method: 'POST', body: { manifest } })).status).toBe(201);
});
afterAll(async () => api.close());

const create = (body: unknown, key?: string, token?: string) =>
  api.fetch('/v1/jobs', { method: 'POST', body, ...(token ? { token } : {}), headers: key ? { 'idempotency-key': key } : {} });

describe('jobs API', () => {
  it('50 concurrent identical requests with one Idempotency-Key make one job', async () => {
    const body = { agent: 'echo', input: { n: 50 } };
    const answers = await Promise.all(Array.from({ length: 50 }, () => create(body, 'retry-50')));
    const ids = new Set(answers.map((a) => a.body.jobId));
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(49);
    const stored = (await api.store.tasks.list({ agent: 'echo', limit: 500 })).filter((t) => t.idempotencyKey === 'retry-50');
    expect(stored).toHaveLength(1);
    expect(stored[0]!.id).toBe([...ids][0]);
  }, 30_000);

  it('the same key with a different body is a clear conflict and makes nothing', async () => {
    const first = await create({ agent: 'echo', input: 'a' }, 'k-conflict');
    expect(first.status).toBe(202);
    const before = (await api.store.tasks.list({ agent: 'echo', limit: 500 })).length;
    const clash = await create({ agent: 'echo', input: 'b' }, 'k-conflict');
    expect(clash.status).toBe(409);
    expect(clash.body.error.code).toBe('idempotency_conflict');
    expect(clash.body.error.message).toContain('k-conflict');
    expect(clash.body.error.details.taskId).toBe(first.body.jobId);
    expect((await api.store.tasks.list({ agent: 'echo', limit: 500 })).length).toBe(before);
  });

  it('gets, lists with filters and cursor paging, and cancels', async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await create({ agent: 'echo', input: i })).body.jobId);
    const one = await api.fetch(`/v1/jobs/${made[0]}`);
    expect(one.body).toMatchObject({ id: made[0], agent: 'echo', status: 'queued', input: 0 });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { jobs: { id: string }[]; nextCursor: string | null } } = await api.fetch(
        `/v1/jobs?agent=echo&status=queued&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.jobs.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.jobs.map((j) => j.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of made) expect(seen).toContain(id);
    expect([...seen].sort().reverse()).toEqual(seen); // newest first

    const cancelled = await api.fetch(`/v1/jobs/${made[1]}/cancel`, { method: 'POST', body: {} });
    expect(cancelled.body.status).toBe('cancelled');
    const again = await api.fetch(`/v1/jobs/${made[1]}/cancel`, { method: 'POST', body: {} });
    expect(again.status).toBe(409);
    const filtered = await api.fetch('/v1/jobs?status=cancelled');
    expect(filtered.body.jobs.map((j: { id: string }) => j.id)).toContain(made[1]);
    expect(filtered.body.jobs.every((j: { status: string }) => j.status === 'cancelled')).toBe(true);

    const bad = await api.fetch('/v1/jobs?status=sleeping');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('status');
    expect((await api.fetch('/v1/jobs/t_0000000000000000000000')).status).toBe(404);
  });
});

/** Collect stream messages until the server closes (or `stopAfter` messages, then drop the connection). */
function stream(path: string, opts: { token?: string; stopAfter?: number } = {}): Promise<{ messages: StreamMessage[]; code: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}${path}`, { headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {} });
    const messages: StreamMessage[] = [];
    ws.on('message', (d) => {
      messages.push(JSON.parse(String(d)) as StreamMessage);
      if (opts.stopAfter !== undefined && messages.filter((m) => m.type !== 'heartbeat').length >= opts.stopAfter) ws.terminate();
    });
    ws.on('close', (code) => resolve({ messages, code }));
    ws.on('error', reject);
  });
}

describe('WS /v1/stream/{id}', () => {
  it('streams status, error and heartbeats; resuming with ?after= gives exactly the rest', async () => {
    const { jobId } = (await create({ agent: 'echo', input: 'streamed' })).body;
    const watching = stream(`/v1/stream/${jobId}`, { token: api.adminToken });
    // Let a heartbeat or two pass while the job waits in the queue, then cancel it.
    await new Promise((r) => setTimeout(r, 500));
    await api.fetch(`/v1/jobs/${jobId}/cancel`, { method: 'POST', body: {} });
    const full = await watching;
    expect(full.code).toBe(1000);
    const events = full.messages.filter((m) => m.type !== 'heartbeat');
    expect(events.map((m) => m.type)).toEqual(['status', 'status', 'error']);
    expect(events.map((m) => (m.payload as { status: string }).status)).toEqual(['queued', 'cancelled', 'cancelled']);
    expect(full.messages.some((m) => m.type === 'heartbeat')).toBe(true);
    for (const m of full.messages) expect(typeof m.ts).toBe('string');
    for (let i = 1; i < events.length; i++) expect(events[i]!.id).toBeGreaterThan(events[i - 1]!.id);

    const rest = await stream(`/v1/stream/${jobId}?after=${events[0]!.id}`, { token: api.adminToken });
    expect(rest.messages.filter((m) => m.type !== 'heartbeat')).toEqual(events.slice(1));
  });

  it('refuses without credentials and opens with a one-shot ticket (browsers cannot set headers)', async () => {
    const { jobId } = (await create({ agent: 'echo', input: 'ticketed' })).body;
    await api.fetch(`/v1/jobs/${jobId}/cancel`, { method: 'POST', body: {} });
    await expect(stream(`/v1/stream/${jobId}`)).rejects.toThrow('Unexpected server response: 401');
    await expect(stream(`/v1/stream/${jobId}`, { token: await api.token(['agents:read']) })).rejects.toThrow('Unexpected server response: 403');

    const reader = await api.token(['jobs:read']);
    const t = await api.fetch('/v1/stream/tickets', { method: 'POST', token: reader, body: { jobId } });
    expect(t.status).toBe(201);
    const viaTicket = await stream(`/v1/stream/${jobId}?ticket=${encodeURIComponent(t.body.ticket)}`);
    expect(viaTicket.messages.filter((m) => m.type === 'status').length).toBe(2);
    // Used once, gone.
    await expect(stream(`/v1/stream/${jobId}?ticket=${encodeURIComponent(t.body.ticket)}`)).rejects.toThrow('Unexpected server response: 401');

    const other = (await create({ agent: 'echo', input: 'other' })).body.jobId;
    const t2 = await api.fetch('/v1/stream/tickets', { method: 'POST', token: reader, body: { jobId: other } });
    await expect(stream(`/v1/stream/${jobId}?ticket=${encodeURIComponent(t2.body.ticket)}`)).rejects.toThrow('Unexpected server response: 403');
    const noJob = await api.fetch('/v1/stream/tickets', { method: 'POST', token: reader, body: { jobId: 't_0000000000000000000000' } });
    expect(noJob.status).toBe(404);
  });

  it('closes with 4404 for an unknown job, and answers a bad resume message with an error', async () => {
    const unknown = await stream('/v1/stream/t_0000000000000000000000', { token: api.adminToken });
    expect(unknown.code).toBe(4404);
    expect(unknown.messages[0]!.type).toBe('error');

    const { jobId } = (await create({ agent: 'echo', input: 'resume-msg' })).body;
    const got = await new Promise<StreamMessage[]>((resolve, reject) => {
      const ws = new WebSocket(`${api.url.replace('http', 'ws')}/v1/stream/${jobId}`, { headers: { authorization: `Bearer ${api.adminToken}` } });
      const seen: StreamMessage[] = [];
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as StreamMessage;
        seen.push(m);
        if (seen.length === 1) ws.send('not json');
        if (m.type === 'error' && seen.length === 2) {
          // Rewind to the start: the queued status comes again, as asked.
          ws.send(JSON.stringify({ type: 'resume', after: 0 }));
        }
        if (seen.filter((x) => x.type === 'status').length === 2) ws.close();
      });
      ws.on('close', () => resolve(seen));
      ws.on('error', reject);
    });
    expect(got[1]!.type).toBe('error');
    expect((got[1]!.payload as { code: string }).code).toBe('validation_failed');
    expect(got.filter((m) => m.type === 'status').map((m) => m.id)).toEqual([got[0]!.id, got[0]!.id]);
    await api.fetch(`/v1/jobs/${jobId}/cancel`, { method: 'POST', body: {} });
  });
});

describe('GET /metrics', () => {
  it('exposes jobs by status, OOM kills and HTTP latency', async () => {
    await api.store.instances.upsert({
      id: 'echo-oomtest1',
      agent: 'echo',
      status: 'exited',
      handle: null,
      node: 'test',
      startedAt: null,
      lastHeartbeatAt: null,
      exitCode: 137,
      oomKilled: true,
    });
    const m = await api.fetch('/metrics');
    expect(m.status).toBe(200);
    expect(m.body).toMatch(/aiflock_tasks\{status="queued"\} [1-9]/);
    expect(m.body).toMatch(/aiflock_tasks\{status="cancelled"\} [1-9]/);
    expect(m.body).toMatch(/aiflock_instances_oom_killed\{agent="echo"\} 1/);
    // Nobody consumes echo's queue here, so the jobs still queued are waiting on the bus.
    const queued = (await api.store.tasks.list({ agent: 'echo', status: ['queued'], limit: 500 })).length;
    expect(queued).toBeGreaterThan(0);
    expect(m.body).toContain(`aiflock_queue_depth{agent="echo"} ${queued}`);
    expect(m.body).toMatch(/aiflock_http_request_duration_seconds_count\{method="POST",route="\/v1\/jobs",status="202"\} [1-9]/);
  });
});

describe('bus redeliveries in /metrics', () => {
  it('counts a task the bus delivered again after a consumer gave it back', async () => {
    const depl = manifest.replace('name: echo', 'name: redeliver');
    expect((await api.fetch('/v1/agents', { method: 'POST', body: { manifest: depl } })).status).toBe(201);
    const { jobId } = (await create({ agent: 'redeliver', input: 'again' })).body as { jobId: string };
    // Play a worker that takes the task, gives it back (nak), and takes it again without acking.
    const nc = await connect({ servers: api.natsUrl });
    try {
      const consumer = await nc.jetstream().consumers.get(STREAMS.tasks.name, taskConsumerName('redeliver'));
      const first = await consumer.next({ expires: 5000 });
      expect(first?.json<{ id: string }>().id).toBe(jobId);
      first!.nak();
      const second = await consumer.next({ expires: 5000 });
      expect(second?.redelivered).toBe(true);
      const m = await api.fetch('/metrics');
      expect(m.body).toContain('aiflock_queue_redelivered{agent="redeliver"} 1');
      expect(m.body).toContain('aiflock_queue_depth{agent="redeliver"} 1');
      second!.ack();
    } finally {
      await nc.close();
    }
  });
});
