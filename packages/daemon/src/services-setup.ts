import { join } from 'node:path';
import {
  AgentRestarts,
  DeploymentService,
  KillSwitch,
  LogSweeper,
  Presence,
  Reconciler,
  TaskClaims,
  TaskService,
  TaskSweeper,
  WarmPool,
  deadlinePausedFor,
  type Clock,
  type Fleet,
  type CredentialRevoker,
  type Ledger,
  type SandboxRuntime,
  type SecretService,
  type Store,
} from '@aiflock/core';
import { agentRetirement } from './agent-retirement.js';
import { workspaceWiper } from './agent-workspace.js';
import type { Config } from './config.js';
import { createIngest } from './ingest-setup.js';
import type { EgressProxy } from './adapters/egress-proxy/egress-proxy.js';
import type { BusSetup } from './bus-setup.js';
import { deployAdmission } from './deploy-admission.js';
import type { logFn } from './logger.js';
import { meteredBusHandlers, type Metrics } from './metrics.js';
import type { RuntimeSetup } from './runtime-setup.js';

/** How long a `tasks.claim` waits for the control plane to read what instances stored before it answers "wait". */
const CLAIM_CATCH_UP_MS = 3_000;

export interface FlockServices {
  deployments: DeploymentService;
  tasks: TaskService;
  sweeper: TaskSweeper;
  logSweeper: LogSweeper;
  killSwitch: KillSwitch;
  restarts: AgentRestarts;
  /** Reconcile now (and refresh the agents metric labels may name). */
  poke(): void;
  /** Answers instances asking whether a task delivered again may run (`tasks.claim`). */
  claims: TaskClaims;
  /** Stops reconciling, once the pass under way has finished. */
  reconciler: { stop(): Promise<void>; pending(agent: string): string | null };
  /** Stop watching the runtimes for OOM kills. */
  unwatch(): void;
  /** The bus handlers' metrics wrappers; the RPC handler is wrapped when the ops are mounted. */
  metered: ReturnType<typeof meteredBusHandlers>;
  /** Warm sandboxes (manifest `scaling.warm`); stopped after the reconciler. */
  warm: WarmPool;
}

/**
 * The core services that run the flock: the reconciler that keeps instances as deployed,
 * deployments, tasks, their ingest from the bus, the sweeper and the kill switch.
 */
export async function setupServices(
  config: Config,
  parts: { store: Store; bus: BusSetup; runtimes: RuntimeSetup; secrets: SecretService; egressProxy: EgressProxy | null; metrics: Metrics; ledger: Ledger },
  deps: { clock: Clock; log: ReturnType<typeof logFn>; revoker: CredentialRevoker; fleet?: Fleet },
): Promise<FlockServices> {
  const { store, runtimes, secrets, egressProxy, metrics } = parts;
  const { bus, credentials } = parts.bus;
  const { runtime, operator } = runtimes;
  const { clock, log } = deps;
  const presence = new Presence();
  const warm = new WarmPool({ runtime: operator.router, log, onClaim: (agent, outcome) => metrics.warmClaims.inc({ agent, outcome }) });
  metrics.watchWarmPool(() => warm.sizes());
  const reconciler = new Reconciler({
    store,
    runtime: operator.router,
    clock,
    presence,
    defaultImage: config.runtime.image,
    workbenchImage: config.runtime.workbenchImage,
    busUrl: runtimes.busUrlForSandboxes,
    credentials,
    busConnectedSince: () => bus.connectedSince(),
    node: config.node,
    log,
    secretFiles: (m) => secrets.filesFor(m),
    egressProxyUrl: () => (egressProxy ? runtime.proxyUrlForSandboxes(egressProxy.port) : null),
    onOom: (e) => metrics.oomKills.inc({ agent: e.agent }),
    onRemove: (e) => metrics.instanceRemovals.inc({ agent: e.agent, reason: e.reason }),
    warm,
    control: (instanceId, msg) => bus.control(instanceId, msg),
    ...(deps.fleet ? { fleet: deps.fleet } : {}),
  });
  const sandboxes: SandboxRuntime = operator.router;
  const unwatch = (sandboxes.watch?.bind(sandboxes) ?? (() => () => {}))((e) => void reconciler.recordEvent(e).catch((err) => log('error', `recording a sandbox ${e.kind} event failed: ${String(err)}`)));
  // Metric labels name only deployed agents: an instance id is `<agent>-<suffix>`, and
  // whatever else a client puts on the bus must not grow the label set.
  const knownAgents = new Set<string>();
  const refreshKnownAgents = async () => {
    const names = (await store.deployments.list()).map((d) => d.name);
    knownAgents.clear();
    for (const n of names) knownAgents.add(n);
  };
  const knownAgent = (instanceId: string) => {
    const agent = instanceId.replace(/-[^-]+$/, '');
    return knownAgents.has(agent) ? agent : 'unknown';
  };
  const poke = () => {
    void refreshKnownAgents().catch(() => undefined);
    void reconciler.poke().catch((err) => log('error', `reconcile failed: ${String(err)}`));
  };
  const tasks = new TaskService({ store, bus, clock, log });
  const deployments = new DeploymentService({
    store,
    bus,
    clock,
    defaultImage: config.runtime.image,
    workbenchImage: config.runtime.workbenchImage,
    poke,
    ackWaitMs: config.taskAckWaitMs,
    profileRefusal: (p) => operator.router.refusal(p),
    onRemoved: agentRetirement(config.agents.onRemove, { store, ledger: parts.ledger, sharedDir: join(config.dataDir, 'shared'), clock, log }),
    admit: deployAdmission(
      config,
      () => operator.router.capacity(),
      operator.router.capabilities,
      async () => {
        const views = (await deps.fleet?.nodes()) ?? [];
        return views.length > 0 ? views.map((v) => v.record.name) : [config.node];
      },
      async () => ((await deps.fleet?.nodes()) ?? []).find((v) => v.local)?.record.capacity?.gpus.length ?? 0,
    ),
    artefacts: bus.artefacts,
    cancelTasks: (agent, reason) => tasks.cancelAllOf(agent, reason),
    sandboxHealth: (instanceId) => presence.health(instanceId),
    pendingReason: (agent) => reconciler.pending(agent),
    warmStatus: (agent) => warm.status(agent),
  });
  const ingest = createIngest(config, { store, bus, clock, log, presence, secrets, onEventDropped: (instanceId) => metrics.eventsDropped.inc({ agent: knownAgent(instanceId) }) });
  const sweeper = new TaskSweeper({ store, bus, clock, log, tasks, deadlinePaused: deadlinePausedFor(store) });
  const { retentionDays, perInstanceRows, totalRows } = config.logs;
  const logSweeper = new LogSweeper({ store, clock, log, retention: { retentionMs: retentionDays * 86_400_000, perInstance: perInstanceRows, total: totalRows } });
  // Restart and reset stop instances gracefully; the reconciler starts their successors.
  const restarts = new AgentRestarts({ store, memories: store.context.memories, runtime: sandboxes, deployments, clock, poke, graceMs: 10_000, wipeWorkspace: workspaceWiper(join(config.dataDir, 'shared')) });
  const killSwitch = new KillSwitch({ store, runtime: sandboxes, deployments, revoker: deps.revoker, clock, presence, poke, node: config.node, log });

  await refreshKnownAgents();
  const metered = meteredBusHandlers(metrics, knownAgent);
  bus.onResult(metered.result(ingest.onResult));
  bus.onDeadLetter(metered.deadLetter(tasks.deadLetter));
  bus.onEvent(metered.event(ingest.onEvent));
  bus.onHeartbeat(metered.heartbeat(ingest.onHeartbeat));
  const claims = new TaskClaims({ store, clock, presence, caughtUp: () => bus.ingestCaughtUp(CLAIM_CATCH_UP_MS) });
  return { deployments, tasks, sweeper, logSweeper, killSwitch, restarts, poke, reconciler, claims, unwatch, metered, warm };
}
