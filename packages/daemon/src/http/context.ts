import type { NodesApi } from './routes/nodes.js';
import type { ExecRequest, ExecSession, FlockError } from '@aiflock/core';
import type { AgentRestarts, AuditLog, AuthorNames, AuthService, BoardService, ComputeService, ContextService, DeploymentService, KillSwitch, Ledger, LlmGateway, MemoryService, PaymentsService, RewardService, SecretService, Store, TaskService } from '@aiflock/core';
import type { BroadcastMessage, InstanceStats, LlmReloaded, SystemStatus } from '@aiflock/protocol';
import type { LocalModels } from '../llm/local-models.js';
import type { OperatorCredsRecord } from '../adapters/nats/jwt-credentials.js';
import type { WorldApi } from '../world/index.js';
import type { PeopleSetup } from '../people-setup.js';

/** What the HTTP layer may use; it never reaches adapters directly. */
export interface ApiContext {
  deployments: DeploymentService;
  tasks: TaskService;
  auth: AuthService;
  secrets: SecretService;
  killSwitch: KillSwitch;
  /** Fresh instances of the same manifest (`agent restart`), with memory and workspace wiped (`agent reset`). */
  restarts: AgentRestarts;
  store: Store;
  audit: AuditLog;
  economy: {
    ledger: Ledger;
    compute: ComputeService;
    rewards: RewardService;
    payments: PaymentsService;
    board: BoardService;
    /** Authors as readers see them: people by their token's name, never its id. */
    names: AuthorNames;
    /** The payments webhook's HMAC key (null: the webhook is disabled) and timestamp window. */
    webhook: { secret: string | null; toleranceSeconds: number };
  };
  /** The memory and context plane: ingest, search, packs, export/import. */
  context: ContextService;
  /**
   * The village: its engine host, perception, map files and WebSocket limits. The daemon
   * always sets it; API harnesses built for other concerns may leave it out (the world
   * routes then answer not_ready and agents have no world block).
   */
  world?: WorldApi;
  /**
   * Chat threads, agents' questions to people and board posts to agents. The daemon always
   * sets it; harnesses for other concerns may leave it out (the chat routes then answer not_ready).
   */
  people?: Pick<PeopleSetup, 'chat' | 'questions' | 'feed'>;
  /** Agents' memory streams (agents reach theirs over the bus; people read with context:read). */
  memory: MemoryService;
  /** The flock's nodes (`aiflock node`); absent in harnesses built for other concerns. */
  nodes?: NodesApi;
  /** Stream a consistent copy of the store; null when the backend is backed up with its own tools. */
  backup: ((file: string) => Promise<void>) | null;
  /** Credentials for an operator's own bus tools (full rights in the flock account); null without bus auth. */
  busAdminCredentials: OperatorBusCredentials | null;
  /** Publish an announcement to every instance (`aiflock broadcast`); absent in harnesses without a bus. */
  broadcast?: (message: BroadcastMessage) => Promise<void>;
  /** How often a quiet job stream sends a heartbeat. */
  wsHeartbeatMs: number;
  /** The LLM gateway, or null with the reason (no provider configured or reachable). */
  llm: {
    gateway: LlmGateway | null;
    readonly detail: string;
    /** The local model server's models (`aiflock models`); absent in harnesses without one. */
    models?: LocalModels;
    /** Re-read the config file's llm section and apply it (`aiflock llm reload`); absent in harnesses. */
    reload?: () => Promise<LlmReloaded>;
  };
  status(): Promise<SystemStatus>;
  /** Every live instance's resource use, from its runtime (`aiflock stats`); absent in harnesses without a runtime. */
  instanceStats?: () => Promise<InstanceStats[]>;
  /** Commands in instances' sandboxes (`aiflock agent exec`); absent in harnesses without a runtime. */
  sandboxes?: {
    /** The runtime's name, for messages. */
    kind: string;
    /** Whether the runtime can exec at all; `execRefusal` says why not, naming it. */
    canExec: boolean;
    /** Whether `node` is a joined node, whose agent runs the command (whatever the local runtime can). */
    isRemote(node: string): boolean;
    execRefusal(): FlockError;
    /** `node`: where the instance runs (the control plane's own node when absent). */
    exec(instanceId: string, request: ExecRequest, node?: string): Promise<ExecSession>;
  };
  readiness(): Promise<Record<string, { ok: boolean; detail: string }>>;
  /** The daemon's log level, changeable while it runs. */
  logLevel: { get(): string; set(level: string): void };
  /** Stop the daemon; with `stopFlock`, also every instance and the spawned NATS server. */
  shutdown(opts: { stopFlock: boolean }): void;
}

/** Operator bus credentials (`aiflock nats creds`): issued, listed, revoked before they expire. */
export interface OperatorBusCredentials {
  issue(name: string, ttlSeconds: number): Promise<{ id: string; creds: string; expiresAt: string | null }>;
  list(): Promise<OperatorCredsRecord[]>;
  /** The revoked credentials, or null if none have that id. */
  revoke(id: string): Promise<OperatorCredsRecord | null>;
}
