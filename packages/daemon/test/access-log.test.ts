import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiHarness } from './http-harness.js';

const lines: Record<string, unknown>[] = [];
let api: ApiHarness;
beforeAll(async () => {
  api = await startApi({}, { logTo: { level: 'debug', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) } });
});
afterAll(async () => api.close());

describe('structured logs', () => {
  it("carry seed 3's fields: ts, level, service, requestId, actor, jobId, latencyMs, outcome", async () => {
    await api.fetch('/v1/jobs/t_0000000000000000000000', { headers: { 'x-request-id': 'log-check-1' } });
    await api.fetch('/v1/jobs', { token: null, headers: { 'x-request-id': 'log-check-2' } });
    const first = lines.find((l) => l['requestId'] === 'log-check-1' && l['msg'] === 'request');
    expect(first).toMatchObject({ level: 'debug', service: 'aiflock-daemon', status: 404, outcome: 'refused', jobId: 't_0000000000000000000000' });
    expect(first!['actor']).toMatch(/^tok_/);
    expect(Date.parse(first!['ts'] as string)).not.toBeNaN();
    expect(typeof first!['latencyMs']).toBe('number');
    const refused = lines.find((l) => l['msg'] === 'request refused' && l['code'] === 'unauthenticated');
    expect(refused).toMatchObject({ level: 'info', route: '/v1/jobs' });
  });
});
