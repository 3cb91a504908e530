import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, ENV_VARS, loadConfig } from '../src/config.js';

describe('daemon config', () => {
  it('has embedded defaults', () => {
    const c = loadConfig({ env: { AIFLOCK_HOME: '/tmp/x' } });
    expect(c).toMatchObject({ dataDir: '/tmp/x', flock: 'default', api: { host: '127.0.0.1', port: 8080 }, store: { kind: 'sqlite' }, runtime: { kind: 'docker', image: 'aiflock/agent:latest' } });
    expect(c.nats.url).toBeUndefined();
  });

  it('takes a file, and the environment wins over it', () => {
    const c = loadConfig({ env: { AIFLOCK_HOME: '/tmp/x', AIFLOCK_API_PORT: '9999' }, fileText: 'api: {port: 7000, host: 0.0.0.0}\nflock: demo\n' });
    expect(c.api).toMatchObject({ host: '0.0.0.0', port: 9999 });
    expect(c.flock).toBe('demo');
  });

  it('names the workbench image (`image: workbench`): aiflock/workbench:latest unless the file or AIFLOCK_WORKBENCH_IMAGE says otherwise', () => {
    expect(loadConfig({ env: {} }).runtime.workbenchImage).toBe('aiflock/workbench:latest');
    expect(loadConfig({ env: {}, fileText: 'runtime: {workbenchImage: "my/bench:1"}\n' }).runtime.workbenchImage).toBe('my/bench:1');
    expect(loadConfig({ env: { AIFLOCK_WORKBENCH_IMAGE: 'aiflock/workbench:abc' } }).runtime.workbenchImage).toBe('aiflock/workbench:abc');
  });

  it('every environment variable it reads is in the configuration reference', () => {
    const docs = join(import.meta.dirname, '..', '..', '..', 'docs');
    const reference = ['configuration.md', 'llm-gateway.md'].map((f) => readFileSync(join(docs, f), 'utf8')).join('\n');
    expect(Object.keys(ENV_VARS).filter((name) => !new RegExp(`\\b${name}\\b`).test(reference))).toEqual([]);
  });

  it('takes a NATS cluster as a comma-separated NATS_URL or a list in the file, and refuses a list it cannot use', () => {
    const cluster = 'nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222';
    expect(loadConfig({ env: { NATS_URL: cluster } }).nats.url).toBe(cluster);
    expect(loadConfig({ env: {}, fileText: 'nats: {url: [nats://10.0.0.1:4222, nats://10.0.0.2:4222, nats://10.0.0.3:4222]}\n' }).nats.url).toBe(cluster);
    expect(loadConfig({ env: { AIFLOCK_NATS_REPLICAS: '3' } }).nats.replicas).toBe(3);
    expect(() => loadConfig({ env: { NATS_URL: 'nats://a:4222,nats://a:4222' } })).toThrow(/NATS_URL lists a server twice/);
    expect(() => loadConfig({ env: { NATS_URL: 'http://a:4222' } })).toThrow(/must start with nats:\/\/ or tls:\/\//);
    expect(() => loadConfig({ env: { NATS_URL: ' , ' } })).toThrow(/NATS_URL names no server/);
    expect(() => loadConfig({ env: { AIFLOCK_NATS_REPLICAS: '7' } })).toThrow(/nats.replicas/);
  });

  it('is frozen', () => {
    const c = loadConfig({ env: {} });
    expect(Object.isFrozen(c) && Object.isFrozen(c.api)).toBe(true);
  });

  it('names what is wrong', () => {
    expect(() => loadConfig({ env: { AIFLOCK_API_PORT: 'eighty' } })).toThrow(/api.port/);
    expect(() => loadConfig({ env: {}, fileText: 'flock: Not-Valid\n', fileName: 'c.yaml' })).toThrow(/c.yaml[\s\S]*flock/);
    expect(() => loadConfig({ env: {}, fileText: 'apii: {}\n' })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, fileText: '- 1\n' })).toThrow(/mapping/);
  });

  it('has economy defaults (three tiers in cents), takes the webhook secret from the environment, and refuses bad tiers', () => {
    const c = loadConfig({ env: { AIFLOCK_PAYMENTS_WEBHOOK_SECRET: 's'.repeat(32) } });
    expect(c.economy.tiers.map((t) => [t.name, t.minBalance])).toEqual([
      ['tier0', 0],
      ['tier1', 1_000],
      ['tier2', 10_000],
    ]);
    expect(c.economy.webhook).toEqual({ secret: 's'.repeat(32), toleranceSeconds: 300 });
    expect(() => loadConfig({ env: { AIFLOCK_PAYMENTS_WEBHOOK_SECRET: 'short' } })).toThrow(/economy.webhook.secret[\s\S]*32/);
    const tier = (name: string, minBalance: number) => ({ name, minBalance, models: ['small'], requestsPerMinute: 1, tokensPerHour: 1, concurrentCalls: 1, concurrentToolRuns: 1 });
    const file = (tiers: unknown[]) => `economy:\n  tiers: ${JSON.stringify(tiers)}\n`;
    expect(() => loadConfig({ env: {}, fileText: file([tier('a', 5)]) })).toThrow(/economy.tiers[\s\S]*minBalance 0/);
    expect(() => loadConfig({ env: {}, fileText: file([tier('a', 0), tier('a', 10)]) })).toThrow(/unique/);
    expect(() => loadConfig({ env: {}, fileText: file([tier('a', 0.5)]) })).toThrow(/minBalance/);
    expect(loadConfig({ env: {}, fileText: file([tier('only', 0)]) }).economy.tiers[0]).toMatchObject({ name: 'only', pricePerHour: 0 });
  });

  it('holds village agents to their tier\'s tool runs by default; the environment widens or lifts it, and a bad value is named', () => {
    expect(loadConfig({ env: {} }).economy.toolRunLimits).toBe('village');
    expect(loadConfig({ env: { AIFLOCK_TOOL_RUN_LIMITS: 'all' } }).economy.toolRunLimits).toBe('all');
    expect(() => loadConfig({ env: { AIFLOCK_TOOL_RUN_LIMITS: 'some' } })).toThrow(/economy.toolRunLimits/);
  });

  it('chooses the vector index by configuration; pgvector needs the PostgreSQL store', () => {
    expect(loadConfig({ env: {} }).context).toEqual({ vectorIndex: 'store', pgvectorAnn: 'hnsw', pgvectorEfSearch: 100, embedder: 'auto', hybridVectorWeight: 'auto', dimension: 256, chunkTokens: 400, memoryPerAgent: 1000, reflectionModel: 'default', recordRuns: false });
    const pg = loadConfig({ env: { AIFLOCK_STORE: 'postgres', AIFLOCK_DATABASE_URL: 'postgres://u:p@127.0.0.1/db', AIFLOCK_VECTOR_INDEX: 'pgvector' } });
    expect(pg.context.vectorIndex).toBe('pgvector');
    const exact = loadConfig({ env: { AIFLOCK_PGVECTOR_ANN: 'exact', AIFLOCK_PGVECTOR_EF_SEARCH: '400' } }).context;
    expect([exact.pgvectorAnn, exact.pgvectorEfSearch]).toEqual(['exact', 400]);
    expect(() => loadConfig({ env: { AIFLOCK_PGVECTOR_ANN: 'ivfflat' } })).toThrow(/context.pgvectorAnn/);
    expect(() => loadConfig({ env: { AIFLOCK_PGVECTOR_EF_SEARCH: '5000' } })).toThrow(/context.pgvectorEfSearch/);
    expect(() => loadConfig({ env: { AIFLOCK_VECTOR_INDEX: 'pgvector' } })).toThrow(/context.vectorIndex: context.vectorIndex pgvector needs store.kind postgres/);
    expect(() => loadConfig({ env: { AIFLOCK_VECTOR_INDEX: 'faiss' } })).toThrow(/context.vectorIndex/);
    expect(() => loadConfig({ env: {}, fileText: 'context: {dimension: 3}\n' })).toThrow(/context.dimension/);
  });
});
