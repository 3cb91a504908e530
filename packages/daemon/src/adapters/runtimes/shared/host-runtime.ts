import type { Socket } from 'node:net';
import type { SandboxEvent, SandboxRuntime, Store } from '@aiflock/core';
import type { z } from 'zod';
import type { RuntimeSettings } from './settings.js';
import type { StorageOwner } from './shared-storage.js';

export type RuntimeLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, data?: unknown) => void;

/** Whether a runtime's isolation is in force, in words for /readyz and the start log. */
export interface Isolation {
  enforced: boolean;
  detail: string;
}

/** An instance the egress proxy identified by its client address. */
export interface SandboxIdentity {
  instanceId: string;
  agent: string;
}

/**
 * What the daemon's composition root needs of a main runtime beyond the port: where the bus
 * and the egress proxy listen for its sandboxes, whose a proxy client is, its isolation
 * statement, and a full cleanup. Every runtime kind implements it, so no caller needs to
 * know which one it has (see `capabilities` for what differs).
 */
export interface HostRuntime extends SandboxRuntime {
  /** The host address sandboxes' bus and proxy traffic arrives at (the bus listens here). */
  gatewayIp(): string;
  isolation(): Isolation;
  /**
   * Which sandbox a proxy client belongs to: by its source address (runtimes whose sandboxes
   * have one), or by the name a handed-over connection carries (`unix:<instanceId>`, see
   * ProxyAcceptor).
   */
  instanceAt(address: string): SandboxIdentity | undefined;
  /** The egress proxy's URL as its sandboxes dial it (the proxy listens on `proxyPort` of the gateway). */
  proxyUrlForSandboxes(proxyPort: number): string;
  /**
   * Where bus credentials must be written when the sandbox user has to reach them itself (the
   * data dir is 0700); undefined when the runtime mounts them in as root.
   */
  credentialsRoot(): string | undefined;
  /** Remove everything of this flock the runtime made (instances, networks, directories). */
  dispose(): Promise<void>;
}

/**
 * Where a sandbox's egress-proxy connections are handed (EgressProxy.accept), by a runtime
 * that took them itself and knows whose they are: the proxy then names the client
 * `unix:<instanceId>`, which no IP address can spell.
 */
export interface ProxyAcceptor {
  accept(socket: Socket, instanceId: string): void;
}

/** The `operator` profile's runtime, next to a main runtime that can host one. */
export interface OperatorSandboxRuntime extends SandboxRuntime {
  watch(listener: (e: SandboxEvent) => void): () => void;
  dispose(): Promise<void>;
  /** Whether `instanceId` is one of its sandboxes (the egress proxy asks). */
  has(instanceId: string): boolean;
  /** The host uid/gid of root inside its sandboxes (null before init). */
  hostRoot(): StorageOwner | null;
}

/** What every runtime factory is given: validated settings and the flock's shared pieces. */
export interface RuntimeContext {
  flock: string;
  node: string;
  dataDir: string;
  /** The validated `runtime` section of the config. */
  settings: RuntimeSettings;
  /** Host directory behind the sandboxes' shared tree (workspaces, common, logs). */
  sharedDir: string;
  /** Host tmpfs for secret files. */
  secretsDir: string;
  /** The agent runtime bundle (agent.mjs), for runtimes that do not run the image. */
  agentBundle: string;
  /** The one host port sandboxes may reach for the bus (the spawned server's, or an external one's). */
  busPort: number;
  /**
   * Where relayed sandboxes' bus connections go (process runtime), in order of preference: the
   * first that answers. Unset: this host's loopback at `busPort`. A node agent gives its servers.
   */
  busServers?: { host: string; port: number }[];
  /** The egress proxy's port on the gateway. */
  proxyPort: number;
  /** The egress proxy, late-bound (it is built after the runtimes): for runtimes that hand connections over. */
  proxy: ProxyAcceptor;
  /** Unset in a node agent, which keeps no store of its own. */
  store?: Store;
  log: RuntimeLog;
}

export interface OperatorContext extends RuntimeContext {
  /** The bus, as the daemon reaches it: operator sandboxes' sockets are relayed here. */
  busHost: string;
}

/**
 * One runtime kind: how to make it from the config, and what it adds to the config. The
 * registry (../registry.ts) lists them; nothing else in the daemon names a runtime class.
 */
export interface RuntimeFactory {
  readonly kind: string;
  /** Settings of this kind under `runtime.<kind>` in the config file, validated with the rest. */
  readonly settings?: z.ZodTypeAny;
  /** Environment variables of this kind → their path under `runtime.<kind>`. */
  readonly env?: Record<string, string[]>;
  create(ctx: RuntimeContext): HostRuntime;
  /**
   * The operator profile's runtime: one, none configured (null), or why this kind can never
   * have one (a refusal said at deploy).
   */
  operator(ctx: OperatorContext): OperatorSandboxRuntime | { refusal: string } | null;
}
