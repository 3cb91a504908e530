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
    const PROMQL = new Set(['sum', 'max', 'by', 'rate', 'increase', 'delta', 'histogram_quantile', 'le', 'route', 'status', 'state', 'agent', 'code']);
    // Rows only group panels; every other panel queries something.
    const charts = dash.panels.filter((p: { type: string }) => p.type !== 'row');
    for (const p of charts) {
      for (const t of p.targets) {
        const names = [...String(t.expr).replace(/"[^"]*"/g, '').replace(/\[[^\]]*\]/g, '').matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]).filter((n) => n.startsWith('aiflock_'));
        expect(names.length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
        for (const n of names) expect(exposed, `${p.title} uses ${n}`).toContain(n);
        for (const w of String(t.expr).replace(/"[^"]*"/g, '').matchAll(/\b([a-z_]+)\s*\(/g)) expect(PROMQL, t.expr).toContain(w[1]);
      }
    }
    // The areas operators watch each have their row, with the gateway's four signals in it.
    expect(dash.panels.filter((p: { type: string }) => p.type === 'row').map((p: { title: string }) => p.title)).toEqual(['Health', 'LLM gateway', 'Economy', 'Village (world)', 'Context']);
    const queried = JSON.stringify(charts.map((p: { targets: unknown }) => p.targets));
    for (const m of ['aiflock_llm_tokens_total', 'aiflock_llm_request_duration_seconds_bucket', 'aiflock_llm_fallbacks_total', 'aiflock_llm_requests_total{outcome!~', 'aiflock_economy_balance_cents', 'aiflock_world_tick_seconds_bucket', 'aiflock_context_chunks']) expect(queried).toContain(m);
  });

  it('every metric an alert rule watches is one the daemon exposes', () => {
    const rules = parseYaml(readFileSync(join(DEPLOY, 'prometheus', 'alerts.yml'), 'utf8'));
    const exprs: string[] = rules.groups.flatMap((g: { rules: { expr: string }[] }) => g.rules.map((r) => r.expr));
    expect(exprs.length).toBe(7);
    for (const e of exprs) {
      for (const [n] of e.replace(/"[^"]*"/g, '').matchAll(/aiflock_[a-z_]+/g)) expect(exposed, e).toContain(n);
    }
  });
});
