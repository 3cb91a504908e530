import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * Daemon configuration: raw sources (file, environment, flags) → defaults → validated →
 * frozen. Only the composition root (main.ts) reads process.env and files; everything else
 * receives a Config.
 */
export const ConfigSchema = z
  .object({
    dataDir: z.string().min(1),
    /** Name of this flock: labels, network and firewall names derive from it. */
    flock: z.string().regex(/^[a-z][a-z0-9]{0,9}$/, '1-10 lower-case letters or digits, starting with a letter').default('default'),
    node: z.string().min(1).default(hostname()),
    api: z
      .object({ host: z.string().default('127.0.0.1'), port: z.coerce.number().int().min(0).max(65535).default(8080) })
      .strict()
      .default({ host: '127.0.0.1', port: 8080 }),
    nats: z
      .object({
        /** An external NATS server; when unset the daemon spawns and supervises its own. */
        url: z.string().optional(),
        port: z.coerce.number().int().min(1).max(65535).default(4222),
        monitorPort: z.coerce.number().int().min(1).max(65535).default(8222),
        binary: z.string().default('nats-server'),
        /**
         * `jwt`: every instance gets its own scoped, expiring credentials (the default). `none`
         * is for development against a server without auth; /readyz then reports the bus as
         * not isolated.
         */
        auth: z.enum(['jwt', 'none']).default('jwt'),
        /** Lifetime of an instance's credentials; they are renewed at half-life. */
        credentialsTtlSeconds: z.coerce.number().int().min(60).max(30 * 24 * 3600).default(3600),
      })
      .strict()
      .default({ port: 4222, monitorPort: 8222, binary: 'nats-server', auth: 'jwt', credentialsTtlSeconds: 3600 }),
    store: z
      .object({
        kind: z.enum(['sqlite', 'postgres']).default('sqlite'),
        /** SQLite: the database file (default: flock.db in the data dir). */
        file: z.string().optional(),
        /** PostgreSQL: postgres://user:password@host:port/database */
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL, e.g. postgres://user:pass@127.0.0.1:5432/aiflock')
          .optional(),
        poolSize: z.coerce.number().int().min(1).max(200).default(10),
        /** How long opening keeps retrying a database that does not answer yet. */
        connectTimeoutMs: z.coerce.number().int().min(0).default(30_000),
      })
      .strict()
      .refine((s) => s.kind !== 'postgres' || s.url !== undefined, {
        message: 'store.kind is postgres but store.url (env AIFLOCK_DATABASE_URL) is not set',
        path: ['url'],
      })
      .default({ kind: 'sqlite', poolSize: 10, connectTimeoutMs: 30_000 }),
    runtime: z
      .object({
        kind: z.literal('docker').default('docker'),
        socket: z.string().default('/var/run/docker.sock'),
        image: z.string().default('aiflock/agent:latest'),
      })
      .strict()
      .default({ kind: 'docker', socket: '/var/run/docker.sock', image: 'aiflock/agent:latest' }),
    context: z
      .object({
        /** `store`: in-process index persisted in the store (default); `pgvector`: in PostgreSQL (store.kind postgres). */
        vectorIndex: z.enum(['store', 'pgvector']).default('store'),
        /** `hashing`: the in-tree lexical fallback (no model); the gateway's `embed` alias comes with the LLM gateway. */
        embedder: z.enum(['hashing']).default('hashing'),
        dimension: z.coerce.number().int().min(8).max(4096).default(256),
        /** Upper bound of a chunk in estimated tokens. */
        chunkTokens: z.coerce.number().int().min(32).max(8192).default(400),
        /** Memories kept per agent before the oldest are summarised. */
        memoryPerAgent: z.coerce.number().int().min(10).max(1_000_000).default(1000),
      })
      .strict()
      .default({ vectorIndex: 'store', embedder: 'hashing', dimension: 256, chunkTokens: 400, memoryPerAgent: 1000 }),
    reconcileIntervalMs: z.coerce.number().int().min(200).default(5_000),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict()
  .refine((c) => c.context.vectorIndex !== 'pgvector' || c.store.kind === 'postgres', {
    message: 'context.vectorIndex pgvector needs store.kind postgres (env AIFLOCK_STORE=postgres)',
    path: ['context', 'vectorIndex'],
  });

export type Config = Readonly<z.output<typeof ConfigSchema>>;

/** Environment variables the daemon understands, and where each lands in the config. */
export const ENV_VARS: Record<string, string[]> = {
  AIFLOCK_FLOCK: ['flock'],
  AIFLOCK_NODE: ['node'],
  AIFLOCK_API_HOST: ['api', 'host'],
  AIFLOCK_API_PORT: ['api', 'port'],
  NATS_URL: ['nats', 'url'],
  AIFLOCK_NATS_PORT: ['nats', 'port'],
  AIFLOCK_NATS_MONITOR_PORT: ['nats', 'monitorPort'],
  AIFLOCK_NATS_AUTH: ['nats', 'auth'],
  AIFLOCK_NATS_CREDS_TTL: ['nats', 'credentialsTtlSeconds'],
  AIFLOCK_IMAGE: ['runtime', 'image'],
  AIFLOCK_DOCKER_SOCKET: ['runtime', 'socket'],
  AIFLOCK_LOG_LEVEL: ['log', 'level'],
  AIFLOCK_STORE: ['store', 'kind'],
  AIFLOCK_DATABASE_URL: ['store', 'url'],
  AIFLOCK_DB_POOL_SIZE: ['store', 'poolSize'],
  AIFLOCK_VECTOR_INDEX: ['context', 'vectorIndex'],
  AIFLOCK_EMBED_DIMENSION: ['context', 'dimension'],
};

export function defaultDataDir(env: Record<string, string | undefined>): string {
  return resolve(env['AIFLOCK_HOME'] ?? join(homedir(), '.aiflock'));
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Merge file text and environment (environment wins) into a validated, frozen Config. */
export function loadConfig(input: { env: Record<string, string | undefined>; fileText?: string; fileName?: string }): Config {
  let fromFile: Record<string, unknown> = {};
  if (input.fileText !== undefined) {
    const parsed: unknown = parseYaml(input.fileText);
    if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new ConfigError(`${input.fileName ?? 'config'}: expected a mapping of settings`);
    }
    fromFile = (parsed ?? {}) as Record<string, unknown>;
  }
  const raw: Record<string, unknown> = structuredClone(fromFile);
  raw['dataDir'] ??= defaultDataDir(input.env);
  for (const [name, path] of Object.entries(ENV_VARS)) {
    const value = input.env[name];
    if (value !== undefined && value !== '') setPath(raw, path, value);
  }
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration${input.fileName ? ` in ${input.fileName}` : ''}:\n${lines.join('\n')}`);
  }
  return deepFreeze(result.data);
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = target;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    cur = (cur[key] = typeof next === 'object' && next !== null ? next : {}) as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
