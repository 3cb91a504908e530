import * as z from 'zod';
import { LogLevel } from './events.js';
import { AgentLoopSettings } from './agent-loop.js';
import { AgentName, InstanceId } from './names.js';
import { LandmarkName, VillagePolicy } from './world.js';

/** The persona travels in the environment; a longer one is cut (a small model's prompt budget is smaller anyway). */
export const VILLAGE_PERSONA_MAX = 8_000;

/**
 * What the village loop needs from the manifest (`village` section, persona, model), as the
 * launcher hands it over in `AIFLOCK_VILLAGE` (JSON). Durations are milliseconds.
 */
export const VillageSettings = z
  .object({
    policy: VillagePolicy,
    every: z.number().int().min(100),
    decisionTimeout: z.number().int().min(10),
    home: LandmarkName.optional(),
    persona: z.string().max(VILLAGE_PERSONA_MAX).default(''),
    /** The manifest's model name, if any (the gateway's `default` otherwise). */
    model: z.string().min(1).nullable().default(null),
  })
  .strict();
export type VillageSettings = z.infer<typeof VillageSettings>;

/** An environment variable holding JSON of `schema`'s shape. */
const jsonOf = <T extends z.ZodType>(schema: T) =>
  z.string().transform((s, ctx): z.output<T> => {
    let raw: unknown;
    try {
      raw = JSON.parse(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not JSON' });
      return z.NEVER;
    }
    const r = schema.safeParse(raw);
    if (!r.success) {
      ctx.addIssue({ code: 'custom', message: r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') });
      return z.NEVER;
    }
    return r.data;
  });

/**
 * The environment the control plane gives an instance. It is the whole contract between
 * the sandbox launcher and the in-sandbox runtime; no secret values travel this way.
 */
export const RuntimeEnv = z.object({
  AIFLOCK_INSTANCE_ID: InstanceId,
  AIFLOCK_AGENT: AgentName,
  AIFLOCK_NATS_URL: z.string().min(1),
  AIFLOCK_HANDLERS: z
    .string()
    .min(1)
    .transform((s) => s.split(',').filter(Boolean)),
  AIFLOCK_HEARTBEAT_MS: z.coerce.number().int().min(100).default(30_000),
  AIFLOCK_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  AIFLOCK_SHARED_DIR: z.string().default('/shared'),
  AIFLOCK_WORKSPACE: z.string().optional(),
  AIFLOCK_LOG_FILE: z.string().optional(),
  /** The log file is rotated at this size, keeping `AIFLOCK_LOG_FILE_KEEP` old files (runtime.logFileMaxBytes / logFileKeep). */
  AIFLOCK_LOG_FILE_MAX_BYTES: z.coerce.number().int().min(4096).optional(),
  AIFLOCK_LOG_FILE_KEEP: z.coerce.number().int().min(0).max(100).optional(),
  /** The lowest level the runtime logs (the manifest's `logLevel`; info when unset); lower lines are dropped. */
  AIFLOCK_LOG_LEVEL: LogLevel.optional(),
  AIFLOCK_NATS_CREDS: z.string().optional(),
  /**
   * Where the runtime writes, every heartbeat interval, the Unix second by which it will
   * write again; the sandbox's health check (Docker HEALTHCHECK) fails once that has passed.
   */
  AIFLOCK_LIVENESS_FILE: z.string().min(1).optional(),
  /**
   * Set only on a warm sandbox (manifest `scaling.warm`): the runtime waits, holding no
   * identity, until this JSON file (`{"env": {...}}`) appears, and runs with that environment.
   */
  AIFLOCK_WARM_IDENTITY: z.string().min(1).optional(),
  /**
   * Set where the sandbox has no network (the process runtime, operator sandboxes): the bus
   * arrives as this Unix socket, which the runtime relays to `AIFLOCK_NATS_URL` on loopback.
   */
  AIFLOCK_BUS_SOCKET: z.string().min(1).optional(),
  /**
   * `host:port` the sandbox must NOT reach before the runtime does anything (Docker sandboxes:
   * `127.0.0.11:53`, Docker's embedded DNS, which the control plane closes in the sandbox's
   * network namespace after each start). The runtime waits until a connection there is refused.
   */
  AIFLOCK_NETWORK_GATE: z
    .string()
    .regex(/^[0-9.]+:\d{1,5}$/, 'an IPv4 address and port, like 127.0.0.11:53')
    .optional(),
  /** Set for an operator sandbox with egress: the proxy's Unix socket, relayed to `HTTP_PROXY`. */
  AIFLOCK_PROXY_SOCKET: z.string().min(1).optional(),
  /** Set for a villager (the manifest has a `village` section): the loop's settings as JSON. */
  AIFLOCK_VILLAGE: jsonOf(VillageSettings).optional(),
  /** Set when the manifest handles `agent` tasks: the loop's tools and limits as JSON. */
  AIFLOCK_AGENT_LOOP: jsonOf(AgentLoopSettings).optional(),
  /**
   * Set (`1`) for an agent whose manifest says `lifecycle: job`: the instance takes one task,
   * reports it, and stops; the control plane tears its sandbox down and starts a fresh one per task.
   */
  AIFLOCK_ONE_TASK: z.literal('1').optional(),
  /** The browser tool's Chromium, when not `/usr/bin/chromium` (where the workbench image puts it). */
  AIFLOCK_CHROMIUM: z.string().min(1).optional(),
});
export type RuntimeEnv = z.infer<typeof RuntimeEnv>;

/**
 * The Node flags every launcher starts the runtime with (`node <flags> /opt/aiflock/agent.mjs`):
 * V8 then sizes its heap and code for memory rather than speed, which takes about a fifth off
 * an idle instance (bench/README.md, "Idle cost"); the runtime's per-task work is small and
 * bus-bound. On the command line, not set from inside: a flag set after start measured about
 * 3 MiB worse. The images' ENTRYPOINT and the VM guest's init say the same (a test checks).
 */
export const AGENT_NODE_FLAGS = ['--optimize-for-size'] as const;

/**
 * The names the users' first document gives the sandbox environment (`AGENT_ID`, `NATS_URL`,
 * `SHARED_DIR`), set alongside ours from the values the runtime settled on, so programs written
 * for that contract run unchanged. `AGENT_ID` is the instance id: the document's agent is one
 * running process with its own `agent.<id>.*` subjects, which is our instance.
 */
export const DOCUMENT_ENV_NAMES = ['AGENT_ID', 'NATS_URL', 'SHARED_DIR'] as const;

export function withDocumentEnvNames(env: Record<string, string>): Record<string, string> {
  const named = { AGENT_ID: env['AIFLOCK_INSTANCE_ID'], NATS_URL: env['AIFLOCK_NATS_URL'], SHARED_DIR: env['AIFLOCK_SHARED_DIR'] };
  for (const [k, v] of Object.entries(named)) if (v !== undefined) env[k] = v;
  return env;
}
