import { z } from 'zod';
import { AgentName, DOCUMENT_ENV_NAMES, LogLevel, TaskType } from '@aiflock/protocol';
import { parseDuration, parseSize } from './units.js';

/**
 * The agent manifest: one schema for `agent.yaml` and `agent.md` (front matter + prompt).
 * Every object is strict, so a misspelt key is an error rather than a silently ignored
 * setting. Defaults are the secure ones (DESIGN.md, security invariants).
 */

const duration = (what: string, min: number, max: number) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === null || ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `expected ${what}: a duration like "30s", "5m" or milliseconds, between ${min} ms and ${max} ms` });
      return z.NEVER;
    }
    return ms;
  });

const size = (what: string, min: number, max: number) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const bytes = parseSize(v);
    if (bytes === null || bytes < min || bytes > max) {
      ctx.addIssue({ code: 'custom', message: `expected ${what}: a size like "256Mi" or "1Gi", between ${min} and ${max} bytes` });
      return z.NEVER;
    }
    return bytes;
  });

const EgressRule = z
  .string()
  .regex(/^(\*\.)?[a-z0-9.-]+(:\d{1,5})?$|^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/i, 'a domain ("api.github.com", "*.example.org") or an IPv4 CIDR');

const Resources = z
  .object({
    cpu: z.number().min(0.05, 'at least 0.05 cpu').max(64, 'at most 64 cpus').default(0.5),
    memory: size('memory', 16 * 1024 ** 2, 256 * 1024 ** 3).default(256 * 1024 ** 2),
    pids: z.number().int().min(8, 'at least 8 processes').max(32768).default(64),
    taskTimeout: duration('a task timeout', 100, 7 * 24 * 3_600_000).default(300_000),
    tmp: size('the /tmp size', 1024 ** 2, 16 * 1024 ** 3).default(64 * 1024 ** 2),
    /**
     * The workspace's hard size (a file system of its own, see docs/security.md); unset: the
     * flock's `runtime.workspaceSize`. The flock refuses more than `runtime.maxWorkspace`.
     */
    workspace: size('the workspace size', 16 * 1024 ** 2, 16 * 1024 ** 4).optional(),
    /**
     * Whole GPUs for each instance (a Docker device request on a node that reports GPUs).
     * Unset, not 0: manifests that never asked keep their digests.
     */
    gpus: z.number().int().min(1, 'at least 1 gpu (leave it out for none)').max(16, 'at most 16 gpus').optional(),
  })
  .strict();

const Model = z
  .object({
    provider: z.string().min(1).optional(),
    name: z.string().min(1),
    fallbacks: z.array(z.string().min(1)).default([]),
  })
  .strict();

/**
 * The tools the agent loop (`handlers: [agent]`) may offer its model; each is off unless
 * named here. `http.allow` and `browser` traffic goes through the egress proxy, so the hosts
 * they reach are added to `network.egress`. `askHuman.pauseDeadline`: whether the task's
 * deadline stops while it waits for a person's answer.
 */
const Tools = z
  .object({
    shell: z.boolean().default(false),
    files: z.boolean().default(false),
    browser: z.boolean().default(false),
    http: z.object({ allow: z.array(EgressRule).default([]) }).strict().optional(),
    askHuman: z
      .union([z.boolean(), z.object({ pauseDeadline: z.boolean().default(true) }).strict()])
      .default(false)
      .transform((v) => (v === false ? null : v === true ? { pauseDeadline: true } : v)),
  })
  .strict();

/** The agent loop's own limits. A tier's token budget and the task deadline apply as well. */
const Loop = z
  .object({ maxSteps: z.number().int().min(1, 'at least 1 step').max(1000, 'at most 1000 steps').default(30) })
  .strict();

/**
 * `min`/`max`/`targetQueueDepth`: the agent scales itself by its queue (both bounds or
 * neither). `warm`: that many started sandboxes wait, holding no agent identity, for this
 * agent's next instances (a runtime with the warmPool capability only; see docs/warm-pool.md).
 */
const Scaling = z
  .object({
    min: z.number().int().min(0).max(100).optional(),
    max: z.number().int().min(1).max(100).optional(),
    targetQueueDepth: z.number().int().min(1).default(10),
    warm: z.number().int().min(0, 'zero or more').max(20, 'at most 20 warm sandboxes').optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.min === undefined) !== (s.max === undefined)) ctx.addIssue({ code: 'custom', path: [s.min === undefined ? 'min' : 'max'], message: 'autoscaling needs both scaling.min and scaling.max' });
    else if (s.min === undefined && s.warm === undefined) ctx.addIssue({ code: 'custom', path: [], message: 'scaling needs min and max (autoscaling), warm (a warm pool), or both' });
    if (s.min !== undefined && s.max !== undefined && s.min > s.max) ctx.addIssue({ code: 'custom', path: ['min'], message: 'scaling.min must not exceed scaling.max' });
  });

/** The queue-driven replica policy of a manifest, when it has one (`scaling` may ask only for a warm pool). */
export function autoscaling(m: { scaling?: { min?: number; max?: number; targetQueueDepth: number } | undefined }): { min: number; max: number; targetQueueDepth: number } | null {
  const s = m.scaling;
  return s && s.min !== undefined && s.max !== undefined ? { min: s.min, max: s.max, targetQueueDepth: s.targetQueueDepth } : null;
}

/**
 * Living in the village: the SDK's perceive → decide → act → reflect loop runs every `every`,
 * one decision in flight, abandoned after `decisionTimeout` (a late answer has no effect).
 * `llm` decides through the gateway with a JSON-schema action format; `rules` walks between
 * landmarks, posts questions and reads replies, deterministically.
 */
const Village = z
  .object({
    policy: z.enum(['llm', 'rules']).default('rules'),
    every: duration('a loop interval', 500, 3_600_000).default(10_000),
    decisionTimeout: duration('a decision timeout', 100, 600_000).default(8_000),
    home: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a landmark name such as "home" or "cafe"').optional(),
    /** What the village calls it ("Bea" for the agent `baker`); the agent name when absent. */
    displayName: z.string().trim().min(1, 'a name of 1 to 40 characters').max(40, 'a name of 1 to 40 characters').optional(),
  })
  .strict();

export const SECRET_NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/**
 * A secret the agent may use, by name; the value lives in the control plane. It reaches the
 * sandbox only as a file on a tmpfs (`file: true` → /run/secrets/<name>, mode 0400), or never
 * (`header`: the egress proxy adds it to plain-HTTP requests to that host). Never as an
 * environment variable: `docker inspect` shows the environment to anyone who can inspect.
 */
const Secret = z
  .object({
    name: z.string().regex(SECRET_NAME, 'a secret name: letters, digits, "_", "." or "-"'),
    file: z.boolean().default(false),
    header: z
      .object({
        host: z.string().regex(/^(\*\.)?[a-z0-9.-]+(:\d{1,5})?$/i, 'a host the egress rules allow, e.g. "api.example.com"'),
        name: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'an HTTP header name such as "Authorization"'),
        prefix: z.string().max(64).regex(/^[\x20-\x7e]*$/, 'printable ASCII').default(''),
        /**
         * The agent speaks plain HTTP to the proxy (so the header can be added) and the proxy
         * speaks HTTPS to the host: the credential never crosses the network in clear. Only
         * for a host on a network you trust may this be false.
         */
        tls: z.boolean().default(true),
      })
      .strict()
      .optional(),
    env: z.unknown().optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.env !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['env'], message: 'secrets are never put in the environment (docker inspect shows it); use file: true or header' });
    }
    if (!s.file && !s.header) ctx.addIssue({ code: 'custom', path: ['file'], message: 'say how the secret is used: file: true and/or header: {host, name}' });
  })
  .transform(({ env: _env, ...rest }) => rest);

export const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

export const ManifestSchema = z
  .object({
    apiVersion: z.literal('aiflock/v1').default('aiflock/v1'),
    kind: z.literal('Agent').default('Agent'),
    name: AgentName,
    version: z.string().regex(/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/, 'a semantic version such as "1.0.0"').default('0.1.0'),
    description: z.string().max(2000).default(''),
    /** The person responsible for this agent; they may not reward or penalize it. */
    owner: z.string().regex(/^[A-Za-z0-9._@:-]{1,100}$/, 'a person id (letters, digits, . _ @ : -)').optional(),
    /**
     * The sandbox's image: the daemon's default when absent; `workbench` is the daemon's
     * workbench image (deployment/images.ts); anything else is a Docker image reference.
     */
    image: z.string().regex(/^[a-z0-9][a-z0-9._/:@-]{0,254}$/, 'a Docker image reference').optional(),
    /**
     * Who besides its owner and admins may queue tasks on this agent (a task runs with the
     * agent's secrets and tools, so this is sharing the agent): token ids, or "*" for every
     * holder of `jobs:write`.
     */
    access: z
      .object({
        runTasks: z.array(z.string().regex(/^(\*|[A-Za-z0-9._@:-]{1,100})$/, 'a token id (letters, digits, . _ @ : -) or "*" for everyone')).max(1000).default([]),
      })
      .strict()
      .default({ runTasks: [] }),
    profile: z.enum(['restricted', 'operator']).default('restricted'),
    persona: z.string().max(200_000).default(''),
    model: Model.optional(),
    handlers: z.array(TaskType).min(1, 'at least one task type').default(['echo']),
    tools: Tools.default({ shell: false, files: false, browser: false, askHuman: null }),
    loop: Loop.default({ maxSteps: 30 }),
    resources: Resources.default({
      cpu: 0.5,
      memory: 256 * 1024 ** 2,
      pids: 64,
      taskTimeout: 300_000,
      tmp: 64 * 1024 ** 2,
    }),
    network: z.object({ egress: z.array(EgressRule).default([]) }).strict().default({ egress: [] }),
    replicas: z.number().int().min(0, 'zero or more').max(100, 'at most 100').default(1),
    /**
     * `service` (when absent): long-lived instances, `replicas` of them, each taking task after
     * task. `job`: a fresh sandbox per task — provisioned when a task is queued, it runs that
     * one task, returns the result and is torn down, also when the task fails, times out or is
     * cancelled; `replicas` is then the most sandboxes at once. Only a runtime that offers it
     * (the vm runtime) takes it. Optional, so that manifests without it keep their digest.
     */
    lifecycle: z.enum(['service', 'job']).optional(),
    concurrency: z.number().int().min(1).max(64).default(1),
    maxAttempts: z.number().int().min(1).max(20).default(3),
    scaling: Scaling.optional(),
    placement: z
      .object({ node: z.string().min(1).optional(), labels: z.record(z.string(), z.string()).default({}) })
      .strict()
      .optional(),
    heartbeat: z
      .object({ interval: duration('a heartbeat interval', 500, 3_600_000).default(30_000) })
      .strict()
      .default({ interval: 30_000 }),
    env: z
      .record(z.string().regex(ENV_NAME, 'an upper-case variable name'), z.string().max(32 * 1024))
      .default({})
      .refine((env) => !Object.keys(env).some((k) => k.startsWith('AIFLOCK_') || (DOCUMENT_ENV_NAMES as readonly string[]).includes(k)), {
        message: `names starting with AIFLOCK_, and ${DOCUMENT_ENV_NAMES.join(', ')}, are set by the runtime`,
      }),
    secrets: z.array(Secret).default([]),
    village: Village.optional(),
    /**
     * The agents this one may hand work to (`ctx.delegate`, the loop's `delegate` tool); none
     * when absent. Optional, so that manifests without it keep the digest they had.
     */
    delegates: z.array(AgentName).max(100, 'at most 100 agents').optional(),
    /** The lowest level the runtime in the sandbox logs (`info` when absent; optional so digests stay). */
    logLevel: LogLevel.optional(),
    /**
     * Labelled facts about the agent that the flock keeps and shows but does not act on (e.g.
     * the CIM dialect's conceptual_space and dependencies). Optional, so that manifests
     * without it keep the digest they had.
     */
    metadata: z
      .record(z.string().regex(/^[A-Za-z0-9_.\/-]{1,100}$/, 'a label: letters, digits, "_", ".", "/" or "-"'), z.unknown())
      .refine((m) => JSON.stringify(m).length <= 64 * 1024, { message: 'at most 64 KiB of metadata' })
      .optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.handlers.includes('shell') && !m.tools.shell) {
      ctx.addIssue({ code: 'custom', path: ['tools', 'shell'], message: 'the "shell" handler needs tools.shell: true' });
    }
    if (m.handlers.includes('browser') && !m.tools.browser) {
      ctx.addIssue({ code: 'custom', path: ['tools', 'browser'], message: 'the "browser" handler needs tools.browser: true' });
    }
    if (m.lifecycle === 'job') {
      // One task per sandbox is the point; a queue-driven replica count or a long-lived loop is not.
      if (m.concurrency !== 1) ctx.addIssue({ code: 'custom', path: ['concurrency'], message: 'lifecycle: job runs one task per sandbox: concurrency must be 1' });
      if (m.scaling) ctx.addIssue({ code: 'custom', path: ['scaling'], message: 'lifecycle: job starts a sandbox per queued task already: leave scaling out (replicas caps how many run at once)' });
      if (m.village) ctx.addIssue({ code: 'custom', path: ['village'], message: 'a villager lives on between tasks: lifecycle: job does not fit it' });
    }
    if (m.delegates?.includes(m.name)) {
      ctx.addIssue({ code: 'custom', path: ['delegates'], message: `an agent may not delegate to itself ("${m.name}"): that is a cycle` });
    }
  });

/** What a manifest says after validation and defaults. */
export type Manifest = z.output<typeof ManifestSchema>;
/** What an author may write. */
export type ManifestInput = z.input<typeof ManifestSchema>;
