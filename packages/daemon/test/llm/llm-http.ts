import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, AuthService, systemClock } from '@aiflock/core';
import type { FastifyInstance } from 'fastify';
import { testHttpOptions } from '../../../../testkit/http-options.js';
import { startFakeLlm, type FakeLlmServer } from '../../../../testkit/llm-wire-servers.js';
import { HmacFileAnchor } from '../../src/adapters/audit-anchor/hmac-file-anchor.js';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { buildApp } from '../../src/http/app.js';
import type { ApiContext } from '../../src/http/context.js';
import { LlmConfigSchema } from '../../src/llm/config.js';
import { setupLlm, type LlmSetup } from '../../src/llm/setup.js';
import { createLogger, logFn } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';

/**
 * The daemon's LLM routes on a real HTTP server behind the real auth layer, backed by the
 * real gateway and adapters talking to local servers that speak the providers' wire
 * protocols (`ol` speaks Ollama, `oa` OpenAI). Clients authenticate with a token holding
 * llm:invoke; stock clients are pointed at `base`.
 */
export interface LlmHttp {
  base: string;
  token: string;
  tokenId: string;
  store: SqlStore;
  oa: FakeLlmServer;
  ol: FakeLlmServer;
  llm: LlmSetup;
  metrics: ReturnType<typeof createMetrics>;
  /** The scope of every route hit, in order (tests clear it). */
  scopes: unknown[];
  /** Another app on the same store, for a differently configured gateway. */
  serve(ctx: Partial<ApiContext>, m: ReturnType<typeof createMetrics>): FastifyInstance;
  close(): Promise<void>;
}

/** Models: `default` (Ollama, falling back to `cloud`), `cloud` (OpenAI), `embed` (OpenAI embeddings), `plain` (chat only). */
export async function startLlmHttp(): Promise<LlmHttp> {
  const dir = await mkdtemp(join(tmpdir(), 'aiflock-llm-http-'));
  const store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
  const auth = new AuthService({ store, clock: systemClock, sessionTtlMs: 3_600_000 });
  const issued = await auth.createToken({ name: 'llm-client', scopes: ['llm:invoke', 'metrics:read'] });
  const oa = await startFakeLlm('openai', { model: 'gpt-fake' });
  const ol = await startFakeLlm('ollama', { model: 'llama-fake' });
  const logger = createLogger('warn');
  const metrics = createMetrics(store);
  const cfg = LlmConfigSchema.parse({
    providers: { cloud: { kind: 'openai', url: oa.url, apiKey: 'sk-daemon-only' }, ollama: { url: ol.url } },
    models: {
      default: { provider: 'ollama', model: 'llama-fake', capabilities: ['chat', 'tools', 'stream', 'json'], fallbacks: ['cloud'], pricePer1kIn: 1, pricePer1kOut: 2 },
      cloud: { provider: 'cloud', model: 'gpt-fake', capabilities: ['chat', 'tools', 'stream', 'json'] },
      embed: { provider: 'cloud', model: 'text-embed-fake', capabilities: ['embed'] },
      plain: { provider: 'ollama', model: 'llama-fake', capabilities: ['chat', 'stream'], contextWindow: 2048 },
    },
    policy: { attemptsPerProvider: 1, backoffBaseMs: 0 },
    entitlements: { callers: { [issued.record.id]: { requestsPerMinute: 1000 } } },
  });
  const llm = await setupLlm(cfg, { clock: systemClock, log: logFn(logger), metrics: metrics.llm });
  // Only the LLM routes are under test; the other services are not used by them (the board
  // routes read `economy` when registered, so it is there, empty; refused requests are audited).
  const audit = new AuditLog({ store: store.audit, anchor: new HmacFileAnchor(dir), clock: systemClock });
  const serve = (ctx: Partial<ApiContext>, m: ReturnType<typeof createMetrics>) => buildApp({ store, auth, audit, economy: {}, ...ctx } as ApiContext, logger, m, testHttpOptions()).app;
  const app = serve({ llm: { gateway: llm.gateway, detail: llm.detail } }, metrics);
  const scopes: unknown[] = [];
  app.addHook('onRequest', async (req) => void scopes.push(req.routeOptions.config && (req.routeOptions.config as { scope?: string }).scope));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  return {
    base: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
    token: issued.token,
    tokenId: issued.record.id,
    store,
    oa,
    ol,
    llm,
    metrics,
    scopes,
    serve,
    close: async () => {
      await app.close();
      await llm.close();
      await oa.close();
      await ol.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
