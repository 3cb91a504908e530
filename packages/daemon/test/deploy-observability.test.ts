import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { createMetrics } from '../src/metrics.js';

const DEPLOY = join(import.meta.dirname, '..', '..', '..', 'deploy');

interface Panel {
  title: string;
  targets: { expr: string }[];
}

/** The checked-in Grafana dashboard and Prometheus config match what the daemon exports. */
describe('deploy/ observability files', () => {
  let dir: string;
  let store: SqlStore;
  let exported: Set<string>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiflock-metrics-'));
    store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
    const text = await createMetrics(store).registry.metrics();
    exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('queries only metrics the daemon exports', () => {
    const dash = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'aiflock-dashboard.json'), 'utf8')) as { panels: Panel[]; uid: string };
    expect(dash.uid).toBe('aiflock-control-plane');
    const used = new Set<string>();
    for (const p of dash.panels) {
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) for (const m of t.expr.matchAll(/\baiflock_[a-z0-9_]+/g)) used.add(m[0]);
    }
    expect(used.size).toBeGreaterThan(6);
    for (const name of used) {
      // A histogram is exported as one family; queries use its _bucket/_count/_sum series.
      const family = name.replace(/_(bucket|count|sum)$/, '');
      expect(exported.has(name) || exported.has(family), `${name} is not exported by the daemon`).toBe(true);
    }
  });

  it('scrapes the daemon at /metrics', () => {
    const prom = parseYaml(readFileSync(join(DEPLOY, 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[];
    };
    const job = prom.scrape_configs.find((j) => j.job_name === 'aiflock-daemon');
    expect(job).toMatchObject({ metrics_path: '/metrics' });
    expect(job!.static_configs[0]!.targets).toEqual(['127.0.0.1:8080']);
  });
});
