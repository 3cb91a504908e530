import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { defineAgent, runAgent, type AgentHandle } from '@aiflock/agent';
import type { StreamMessage } from '@aiflock/protocol';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * The job stream with a real agent runtime (the SDK that runs in sandboxes, here in-process)
 * working a job over the real bus, so log lines arrive while the client is away.
 */
let api: ApiHarness;
let agent: AgentHandle;
const manifest = readFileSync(join(import.meta.dirname, '..', '..', '..', 'examples', 'echo.agent.yaml'), 'utf8').replace('name: echo', 'name: counter');

beforeAll(async () => {
  api = await startApi();
  expect((await api.fetch('/v1/agents', { method: 'POST', body: { manifest } })).status).toBe(201);
  const counter = defineAgent({
    handlers: {
      // Ten log lines, 150 ms apart: the client drops after three and comes back later.
      echo: async ({ input, log }) => {
        for (let i = 1; i <= 10; i++) {
          log.info(`line-${i}`);
          await new Promise((r) => setTimeout(r, 150));
        }
        return { result: 'counted', output: { counted: input } };
      },
    },
  });
  // A running instance of the flock, as the reconciler records it before it starts one (its bus calls, `tasks.pull` first, need it).
  const instanceId = `counter-${randomBytes(4).toString('hex')}`;
  await api.store.instances.upsert({ id: instanceId, agent: 'counter', status: 'running', handle: null, node: 'n', startedAt: null, lastHeartbeatAt: null, exitCode: null, oomKilled: false });
  agent = runAgent(
    counter,
    {
      AIFLOCK_INSTANCE_ID: instanceId,
      AIFLOCK_AGENT: 'counter',
      AIFLOCK_NATS_URL: api.natsUrl,
      AIFLOCK_HANDLERS: ['echo'],
      AIFLOCK_HEARTBEAT_MS: 30_000,
      AIFLOCK_CONCURRENCY: 1,
      AIFLOCK_SHARED_DIR: '/shared',
    },
    { logToStdout: false, stopGraceMs: 1_000 },
  );
  await agent.ready;
});
afterAll(async () => {
  await agent?.stop();
  await api?.close();
});

function read(path: string, dropAfterLogs?: number): Promise<StreamMessage[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}${path}`, { headers: { authorization: `Bearer ${api.adminToken}` } });
    const got: StreamMessage[] = [];
    ws.on('message', (d) => {
      got.push(JSON.parse(String(d)) as StreamMessage);
      if (dropAfterLogs !== undefined && got.filter((m) => m.type === 'log').length >= dropAfterLogs) ws.terminate();
    });
    ws.on('close', () => resolve(got));
    ws.on('error', reject);
  });
}

const events = (ms: StreamMessage[]) => ms.filter((m) => m.type !== 'heartbeat');

describe('resuming a job stream', () => {
  it('a client cut off mid-job gets exactly what it missed with ?after=, and so does one sending resume', async () => {
    const { jobId } = (await api.fetch('/v1/jobs', { method: 'POST', body: { agent: 'counter', input: 7 } })).body as { jobId: string };
    const first = await read(`/v1/stream/${jobId}`, 3);
    expect(events(first).some((m) => m.type === 'result')).toBe(false); // really cut mid-job
    expect(events(first).filter((m) => m.type === 'log').length).toBeGreaterThanOrEqual(3);
    const last = events(first).at(-1)!.id;
    const rest = await read(`/v1/stream/${jobId}?after=${last}`);
    const replay = await read(`/v1/stream/${jobId}`);

    const joined = [...events(first), ...events(rest)];
    expect(joined).toEqual(events(replay));
    const ids = joined.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) expect(ids[i]!).toBeGreaterThan(ids[i - 1]!);
    const lines = joined.filter((m) => m.type === 'log').map((m) => (m.payload as { msg: string }).msg).filter((l) => l.startsWith('line-'));
    expect(lines).toEqual(Array.from({ length: 10 }, (_, i) => `line-${i + 1}`));
    const statuses = joined.filter((m) => m.type === 'status').map((m) => (m.payload as { status: string }).status);
    expect(statuses).toEqual(['queued', 'running', 'completed']);
    const result = joined.find((m) => m.type === 'result')!;
    expect(joined.indexOf(result)).toBeGreaterThan(joined.findIndex((m) => (m.payload as { msg?: string }).msg === 'line-10'));
    expect((result.payload as { output: unknown }).output).toEqual({ counted: 7 });

    // The same through a resume message on a fresh connection.
    const viaMessage = await new Promise<StreamMessage[]>((resolve, reject) => {
      const ws = new WebSocket(`${api.url.replace('http', 'ws')}/v1/stream/${jobId}?after=${ids.at(-1)}`, { headers: { authorization: `Bearer ${api.adminToken}` } });
      const got: StreamMessage[] = [];
      ws.on('open', () => ws.send(JSON.stringify({ type: 'resume', after: last })));
      ws.on('message', (d) => got.push(JSON.parse(String(d)) as StreamMessage));
      ws.on('close', () => resolve(got));
      ws.on('error', reject);
    });
    expect(events(viaMessage)).toEqual(events(rest));
  });
});
