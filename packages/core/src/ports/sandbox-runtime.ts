import type { SandboxHealth } from '@aiflock/protocol';

/**
 * Where agent instances run. Docker is the default adapter; others (process, microVM)
 * implement the same port. Capabilities differ by adapter and are stated (see
 * SandboxCapabilities), never guessed from which class an adapter is.
 */
export interface SandboxResources {
  cpu: number;
  memoryBytes: number;
  pids: number;
  tmpBytes: number;
  /** Hard size of the agent's workspace (manifest `resources.workspace`); unset: the runtime's configured default. */
  workspaceBytes?: number;
  /** Whole GPUs handed to the sandbox (manifest `resources.gpus`); unset: none. */
  gpus?: number;
}

export interface SandboxSpec {
  instanceId: string;
  agent: string;
  image: string;
  profile: 'restricted' | 'operator';
  /** Non-secret environment for the in-sandbox runtime (see protocol RuntimeEnv). */
  env: Record<string, string>;
  resources: SandboxResources;
  manifestDigest: string;
  /** The instance's own bus credentials (see BusCredentials), mounted read-only. */
  busCredentialsDir?: string;
  /**
   * Secret files (name → value) the manifest asks for. The runtime puts them at
   * /run/secrets/<name> (read-only, mode 0400, owned by the sandbox user), never in the
   * environment, and deletes them with the instance.
   */
  secretFiles?: Record<string, string>;
}

/** `paused`: frozen by quarantine; its processes get no CPU and it has no network. */
export type SandboxState = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'dead';

export interface SandboxInfo {
  instanceId: string;
  agent: string;
  /** Runtime-specific handle, e.g. the Docker container id. */
  handle: string;
  state: SandboxState;
  exitCode: number | null;
  oomKilled: boolean;
  startedAt: string | null;
  manifestDigest: string;
  node: string;
  /** Its address on the flock network, when it has one (the egress proxy identifies it by this). */
  address?: string | null;
  /** Its own health check's verdict, where the runtime has one (Docker: HEALTHCHECK). */
  health?: SandboxHealth | null;
}

/** Something the runtime saw happen to an instance between listings. */
export type SandboxEvent =
  | { kind: 'oom'; instanceId: string; agent: string }
  /** Its health check changed its verdict. */
  | { kind: 'health'; instanceId: string; agent: string; health: SandboxHealth };

export interface HealthCheck {
  ok: boolean;
  detail: string;
}

/** What one node can give a single sandbox at most: its memory and its cores. */
export interface SandboxCapacity {
  memoryBytes: number;
  cpus: number;
}

/** What a runtime gives its sandboxes, stated by the adapter so callers never test its class. */
export interface SandboxCapabilities {
  /**
   * `bridge`: each sandbox has an address on the flock's bridge (the egress proxy and the bus
   * listen on its gateway); `none`: no network at all, the bus arrives through a relay.
   */
  network: 'bridge' | 'none';
  /** The egress proxy can serve its sandboxes (it identifies them by their address). */
  egressProxy: boolean;
  /** quarantine() cuts the sandbox's way out (bus and proxy) as well as freezing it. */
  quarantineCutsNetwork: boolean;
  /** It can run the `operator` profile (on an operator engine, when one is configured). */
  operatorProfile: boolean;
  /** Its sandboxes outlive a daemon restart and are adopted by the next daemon. */
  survivesRestart: boolean;
  /** Weaker than a container sandbox: the daemon says so loudly at start. */
  weakerThanContainers: boolean;
  /**
   * How long a new sandbox may take to send its first heartbeat before it counts as unhealthy,
   * when its start is slower than a container's (a guest booting under software emulation
   * takes minutes). Unset: STARTUP_GRACE_MS.
   */
  startupGraceMs?: number;
  /** exec() runs a command inside a running sandbox, as its user, within its limits (`aiflock agent exec`). */
  exec: boolean;
  /** It offers a fresh sandbox per task (manifest `lifecycle: job`); unset: it does not. */
  jobSandboxes?: boolean;
  /** It keeps started sandboxes that no agent owns yet and hands one to a new instance (manifest `scaling.warm`). */
  warmPool?: boolean;
  /**
   * It hands whole GPUs of the host to a sandbox (manifest `resources.gpus`; Docker asks the
   * NVIDIA Container Toolkit for them). A runtime without it refuses a spec that asks for any.
   */
  gpus: boolean;
}

/**
 * What a warm sandbox is made for: what cannot change once it runs (the image, the profile,
 * the RAM-backed /tmp's size and the health check's rhythm). A claim takes one with the same key.
 */
export interface WarmKey {
  image: string;
  profile: SandboxSpec['profile'];
  tmpBytes: number;
  heartbeatMs: number;
}

/** A started sandbox that no agent owns: no identity, no credentials, no agent's files. */
export interface WarmSandbox {
  /** The runtime's name for it until it is claimed (never an instance id). */
  id: string;
  key: WarmKey;
  /** Runtime-specific handle, e.g. the Docker container id (it keeps it when claimed). */
  handle: string;
}

/** A command to run inside a sandbox, as `docker exec` runs one. */
export interface ExecRequest {
  /** argv, run directly (no shell unless the command is one). */
  command: string[];
  /** A pseudo-terminal (interactive shells, full-screen programs); stdout and stderr then arrive as one stream. */
  tty: boolean;
  /** Keep the command's stdin open for input. */
  stdin: boolean;
  /** The terminal's size, for a tty. */
  cols?: number;
  rows?: number;
}

/** A command running in a sandbox. */
export interface ExecSession {
  /** Output as it comes; with a tty everything is `stdout`. */
  onOutput(listener: (stream: 'stdout' | 'stderr', data: Uint8Array) => void): void;
  write(data: Uint8Array): void;
  /** End of input: the command reads EOF. */
  closeStdin(): void;
  resize(cols: number, rows: number): Promise<void>;
  /** The command's exit code, once it ended and its output was delivered. */
  readonly exited: Promise<number>;
  /** Drop the connection to the command (the client went away). */
  detach(): void;
  /**
   * Stop taking output until `resume` (the reader is behind): the command blocks on a full
   * pipe instead of its output piling up in memory. Nothing is lost; `exited` waits for it.
   */
  pause?(): void;
  resume?(): void;
}

/** What an instance uses right now, as the runtime measures it (`aiflock stats`). */
export interface SandboxStats {
  /** Of one core: 150 is one and a half cores busy. */
  cpuPercent: number;
  memoryBytes: number;
  memoryLimitBytes: number;
  netRxBytes: number;
  netTxBytes: number;
  pids: number;
  /** Times the runtime restarted it in place (its restart policy), not replacements. */
  restarts: number;
}

export interface SandboxRuntime {
  readonly kind: string;
  readonly capabilities: SandboxCapabilities;
  /** Prepare shared state (networks, firewall, directories). Idempotent. */
  init(): Promise<void>;
  start(spec: SandboxSpec): Promise<SandboxInfo>;
  /** Stop gracefully (SIGTERM, then SIGKILL after the grace period). Missing is not an error. */
  stop(instanceId: string, graceMs: number): Promise<void>;
  /** Stop and delete. Missing is not an error. */
  remove(instanceId: string): Promise<void>;
  /** Every instance of this flock the runtime knows, running or not. */
  list(): Promise<SandboxInfo[]>;
  ping(): Promise<HealthCheck>;
  /** Where the bus is reachable from inside a sandbox (e.g. nats://172.20.0.1:4222). */
  busUrlForSandboxes(): string;
  /** Kill switch: freeze (no CPU, no network), keeping files and logs. Idempotent. */
  quarantine(instanceId: string): Promise<void>;
  /** Undo quarantine(): network back, processes thawed. Idempotent. */
  release(instanceId: string): Promise<void>;
  /** Stop at once (SIGKILL, no grace). Missing is not an error. */
  kill(instanceId: string): Promise<void>;
  /** Events between listings (an OOM kill is gone by the next listing once restarted). */
  watch?(listener: (e: SandboxEvent) => void): () => void;
  /** The node's size, so a deploy asking for more than it has is refused instead of never starting. */
  capacity?(): Promise<SandboxCapacity>;
  /** Resource use of one instance; null when it is not running. Runtimes that cannot measure leave it out. */
  stats?(instanceId: string): Promise<SandboxStats | null>;
  /** Start a warm sandbox for `key` (limits from `resources`, changed to the claimer's at the claim). Present exactly when `capabilities.warmPool`. */
  warmUp?(key: WarmKey, resources: SandboxResources): Promise<WarmSandbox>;
  /** The warm sandboxes not claimed yet (a restarted daemon finds the ones it made before). */
  listWarm?(): Promise<WarmSandbox[]>;
  /**
   * Make a warm sandbox instance `spec.instanceId`: its files, credentials and secrets mounted,
   * its limits set, then its identity handed to the waiting runtime. Once claimed it is an
   * instance like any other (remove() destroys it). Throws when the sandbox is gone or unfit.
   * `beforeIdentity` runs once its address is known and before the runtime inside learns who
   * it is (bus credentials are bound to that address there, so its first connect succeeds).
   */
  claimWarm?(warm: WarmSandbox, spec: SandboxSpec, beforeIdentity?: (info: SandboxInfo) => Promise<void>): Promise<SandboxInfo>;
  /** Destroy a warm sandbox nobody claimed. Missing is not an error. */
  discardWarm?(id: string): Promise<void>;
  /** Run a command in a running instance's sandbox; present exactly when `capabilities.exec`. */
  exec?(instanceId: string, request: ExecRequest): Promise<ExecSession>;
}

/**
 * Where instance credentials (bus accounts, tokens) are revoked and restored. The kill switch
 * calls it; until per-instance bus credentials exist it is a no-op adapter.
 */
export interface CredentialRevoker {
  revoke(instanceId: string): Promise<void>;
  restore(instanceId: string): Promise<void>;
}
