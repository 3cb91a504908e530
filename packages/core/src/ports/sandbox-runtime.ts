/**
 * Where agent instances run. Docker is the default adapter; others (process, microVM) will
 * implement the same port. Capabilities differ by adapter and are stated, never guessed.
 */
export interface SandboxResources {
  cpu: number;
  memoryBytes: number;
  pids: number;
  tmpBytes: number;
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
}

export type SandboxState = 'created' | 'running' | 'restarting' | 'exited' | 'dead';

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
}

export interface HealthCheck {
  ok: boolean;
  detail: string;
}

export interface SandboxRuntime {
  readonly kind: string;
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
}
