import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startApi, type ApiHarness } from './http-harness.js';

const DEPLOY = join(import.meta.dirname, '..', '..', '..', 'deploy');
let api: ApiHarness;
let exposed: Set<string>;
beforeAll(async () => {
  api = await startApi();
  // Touch the latency histogram and the refusal counter so every family has samples.
  await api.fetch('/v1/jobs');
  await api.fetch('/v1/jobs', { token: null });
  const text = (await api.fetch('/metrics', { token: await api.token(['metrics:read']) })).body as string;
  // Every family the registry declares (a labelled gauge with no samples yet still declares its TYPE).
  exposed = new Set(
    [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
      type === 'histogram' || type === 'summary' ? [name!, `${name}_bucket`, `${name}_count`, `${name}_sum`] : [name!],
    ),
  );
});
afterAll(async () => api.close());

describe('deploy/ observability files', () => {
  it('the Prometheus scrape config authenticates, since /metrics needs metrics:read', () => {
    const cfg = parseYaml(readFileSync(join(DEPLOY, 'prometheus', 'prometheus.yml'), 'utf8'));
    const job = cfg.scrape_configs.find((j: { job_name: string }) => j.job_name === 'aiflock');
    expect(job.metrics_path).toBe('/metrics');
    expect(job.authorization).toMatchObject({ type: 'Bearer', credentials_file: expect.any(String) });
    expect(job.static_configs[0].targets.length).toBeGreaterThan(0);
  });

  it('every metric the Grafana dashboard queries is one the daemon exposes', () => {
    const dash = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'aiflock-dashboard.json'), 'utf8'));
    expect(dash.panels.length).toBeGreaterThan(5);
    const ids = dash.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const PROMQL = new Set(['sum', 'by', 'rate', 'increase', 'delta', 'histogram_quantile', 'le', 'route', 'status', 'state', 'agent', 'code']);
    for (const p of dash.panels) {
      for (const t of p.targets) {
        const names = [...String(t.expr).replace(/"[^"]*"/g, '').replace(/\[[^\]]*\]/g, '').matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]).filter((n) => n.startsWith('aiflock_'));
        expect(names.length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
        for (const n of names) expect(exposed, `${p.title} uses ${n}`).toContain(n);
        for (const w of String(t.expr).replace(/"[^"]*"/g, '').matchAll(/\b([a-z_]+)\s*\(/g)) expect(PROMQL, t.expr).toContain(w[1]);
      }
    }
  });
});
