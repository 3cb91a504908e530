import type { ContainerCreateOptions } from 'dockerode';
import { FlockError, type SandboxSpec } from '@aiflock/core';
import { AGENT_NAME_PATTERN, INSTANCE_ID_PATTERN, instanceAgent, withDocumentEnvNames } from '@aiflock/protocol';
import { LABEL, containerName } from './names.js';
import { SANDBOX_SYSCTLS, seccompProfile } from '../shared/seccomp.js';
import { SANDBOX_SECRETS_DIR } from '../shared/secret-files.js';
import { SANDBOX_CREDENTIALS_DIR, SANDBOX_GID, SANDBOX_SHARED_DIR, SANDBOX_UID, storagePaths } from '../shared/shared-storage.js';

export interface ContainerSpecContext {
  flock: string;
  node: string;
  /** The flock's internal bridge network. */
  network: string;
  /** The bridge gateway; also the only DNS server the sandbox is given (see below). */
  gatewayIp: string;
  /** Host directory holding agents/, common/ and logs/. */
  sharedDir: string;
  /** Host tmpfs directory with this instance's secret files, mounted read-only at /run/secrets. */
  secretsDir?: string | null;
}

/** Docker's embedded DNS server in every container of a user-defined network. */
export const DOCKER_EMBEDDED_DNS = '127.0.0.11';

/** On the sandbox's own /run tmpfs (see below), where the runtime writes it (agent liveness-file.ts). */
export const SANDBOX_LIVENESS_FILE = '/run/aiflock-alive';
/** The runtime's own default when the launcher gives no AIFLOCK_HEARTBEAT_MS. */
const DEFAULT_HEARTBEAT_MS = 30_000;
/** How long a new sandbox may take before failed checks count: the reconciler's startup grace. */
const HEALTH_START_PERIOD_MS = 60_000;

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MIN_MEMORY_BYTES = 6 * 1024 * 1024; // Docker refuses less.

/**
 * The whole hardening of a sandbox in one pure function, so it can be reviewed and tested
 * without Docker. Anything not listed here is Docker's default.
 */
export function containerSpec(spec: SandboxSpec, ctx: ContainerSpecContext): ContainerCreateOptions {
  if (spec.profile !== 'restricted') {
    throw new FlockError(
      'validation_failed',
      `sandbox profile "${spec.profile}" cannot run on the main Docker engine: only the "restricted" profile (uid ${SANDBOX_UID}, no capabilities) runs here; operator sandboxes run on the user-namespace-remapped operator engine (see operator-spec.ts), never silently downgraded`,
      { field: 'profile', value: spec.profile, expected: 'restricted' },
    );
  }
  validateIdentity(spec);
  validateResources(spec.resources);
  const paths = storagePaths(ctx.sharedDir, spec.agent, spec.instanceId);

  const env = validatedEnv(spec.env);
  // Ours win: the runtime must not be pointed at another agent's workspace or log.
  env.AIFLOCK_SHARED_DIR = SANDBOX_SHARED_DIR;
  env.AIFLOCK_WORKSPACE = paths.workspace;
  env.AIFLOCK_LOG_FILE = paths.logFile;
  if (spec.busCredentialsDir) env.AIFLOCK_NATS_CREDS = `${SANDBOX_CREDENTIALS_DIR}/nats.creds`;
  else delete env.AIFLOCK_NATS_CREDS;
  // The agent starts nothing until Docker's embedded DNS is closed in its namespace (docker-runtime.ts).
  env.AIFLOCK_NETWORK_GATE = `${DOCKER_EMBEDDED_DNS}:53`;
  env.AIFLOCK_LIVENESS_FILE = SANDBOX_LIVENESS_FILE;
  withDocumentEnvNames(env);

  return {
    ...sandboxIdentity(spec, ctx, env),
    User: `${SANDBOX_UID}:${SANDBOX_GID}`,
    Healthcheck: livenessCheck(Number(env.AIFLOCK_HEARTBEAT_MS) || DEFAULT_HEARTBEAT_MS),
    ...restrictedHost(spec.resources, ctx, sandboxMounts(spec, paths, ctx.secretsDir)),
  };
}

/**
 * The host side of a restricted sandbox (limits, read-only root, tmpfs, no capabilities, the
 * flock's network, the DNS it is given) with the mounts it gets; a warm one (warm-container.ts) too.
 */
export function restrictedHost(resources: SandboxSpec['resources'], ctx: { network: string; gatewayIp: string }, mounts: NonNullable<HostConfig['Mounts']>): Pick<ContainerCreateOptions, 'HostConfig' | 'NetworkingConfig'> {
  const { tmpBytes } = resources;
  return {
    HostConfig: {
      ...sandboxLimits({ resources }),
      ReadonlyRootfs: true,
      // Owned by the sandbox user: Docker copies the image directory's mode onto the tmpfs
      // (a mode= option does not stick), and images often ship /tmp as root 0755.
      Tmpfs: {
        '/tmp': `rw,noexec,nosuid,nodev,size=${tmpBytes},uid=${SANDBOX_UID},gid=${SANDBOX_GID}`,
        '/run': `rw,noexec,nosuid,nodev,size=16m,uid=${SANDBOX_UID},gid=${SANDBOX_GID}`,
      },
      CapDrop: ['ALL'],
      CapAdd: [],
      NetworkMode: ctx.network,
      // Docker's embedded DNS (127.0.0.11) forwards from the host namespace when the host
      // resolver is a loopback address, which would be a way out of an internal network.
      // With an explicit server it forwards from the sandbox's namespace, where the host
      // firewall drops it.
      Dns: [ctx.gatewayIp],
      DnsSearch: [],
      // IPv6 link-local would reach host services on the bridge untouched by the IPv4 guard.
      Sysctls: { ...SANDBOX_SYSCTLS, 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' },
      Mounts: mounts,
    },
    NetworkingConfig: { EndpointsConfig: { [ctx.network]: {} } },
  };
}

/**
 * Docker's HEALTHCHECK for a sandbox: the file the runtime rewrites every heartbeat holds the
 * second by which it will write again (two heartbeats ahead); the check fails once that
 * second has passed. Checked twice per heartbeat and failed on the first miss, so a frozen
 * runtime shows `unhealthy` within about 2.5 heartbeats, before the reconciler's three
 * missed heartbeats. It needs `sh`, `date` and `cat` in the image (the agent image has them).
 */
export function livenessCheck(heartbeatMs: number): NonNullable<ContainerCreateOptions['Healthcheck']> {
  const ms = 1_000_000; // Docker counts these durations in nanoseconds.
  const interval = Math.max(1_000, Math.round(heartbeatMs / 2));
  return {
    Test: ['CMD-SHELL', `test "$(date +%s)" -le "$(cat ${SANDBOX_LIVENESS_FILE} 2>/dev/null || echo 0)"`],
    Interval: interval * ms,
    Timeout: Math.max(5_000, interval) * ms,
    Retries: 1,
    // Failures count only after this (or after the first success): the runtime may be
    // waiting for its network gate or the bus. (StartInterval would need Docker API 1.44.)
    StartPeriod: HEALTH_START_PERIOD_MS * ms,
  };
}

type HostConfig = NonNullable<ContainerCreateOptions['HostConfig']>;

/** Name, image, labels and a detached, terminal-less process: the same for every profile. */
export function sandboxIdentity(spec: SandboxSpec, ctx: { flock: string; node: string }, env: Record<string, string>, labels: Record<string, string> = {}): ContainerCreateOptions {
  return detachedContainer(containerName(ctx.flock, spec.instanceId), spec.image, spec.instanceId, env, {
    [LABEL.managed]: 'true',
    [LABEL.flock]: ctx.flock,
    [LABEL.agent]: spec.agent,
    [LABEL.instance]: spec.instanceId,
    [LABEL.digest]: spec.manifestDigest,
    [LABEL.node]: ctx.node,
    ...labels,
  });
}

/** A named container of `image` with this environment and these labels, detached and without a terminal. */
export function detachedContainer(name: string, image: string, hostname: string, env: Record<string, string>, labels: Record<string, string>): ContainerCreateOptions {
  return {
    name,
    Image: image,
    Hostname: hostname,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: labels,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    OpenStdin: false,
    Tty: false,
    ExposedPorts: {},
  };
}

/** The limits every profile keeps, and how Docker restarts and logs it. */
export function sandboxLimits(spec: Pick<SandboxSpec, 'resources'>): HostConfig {
  const { cpu, memoryBytes, pids, gpus } = spec.resources;
  return {
    // Whole GPUs through the NVIDIA container runtime's device request (placement put the
    // instance on a node that reports that many free).
    ...(gpus ? { DeviceRequests: [{ Driver: 'nvidia', Count: gpus, Capabilities: [['gpu']] }] } : {}),
    // Our seccomp profile (seccomp.ts), not Docker's default.
    SecurityOpt: ['no-new-privileges:true', `seccomp=${seccompProfile()}`],
    Privileged: false,
    Memory: memoryBytes,
    MemorySwap: memoryBytes, // equal to Memory: no swap
    NanoCpus: Math.round(cpu * 1e9),
    PidsLimit: pids,
    Ulimits: [
      { Name: 'nofile', Soft: 4096, Hard: 4096 },
      { Name: 'core', Soft: 0, Hard: 0 },
    ],
    Init: true,
    IpcMode: 'private',
    PortBindings: {},
    PublishAllPorts: false,
    // Keep instances running while the daemon is down; give up on crash loops.
    RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 5 },
    LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
  };
}

/**
 * Workspace, common folder, log file, bus credentials and secrets. Mounts (not Binds): a
 * missing source is an error instead of a root-owned directory.
 */
export function sandboxMounts(spec: SandboxSpec, paths: ReturnType<typeof storagePaths>, secretsDir: string | null | undefined, extra: NonNullable<HostConfig['Mounts']> = []): NonNullable<HostConfig['Mounts']> {
  return [
    { Type: 'bind', Source: paths.hostWorkspace, Target: paths.workspace, ReadOnly: false },
    { Type: 'bind', Source: paths.hostCommon, Target: paths.common, ReadOnly: true },
    // Its log directory (a size-limited volume), not the file: the agent rotates files in it.
    { Type: 'bind', Source: paths.hostLogDir, Target: paths.logDir, ReadOnly: false },
    ...extra,
    // A directory, not the file: renewed credentials are renamed into place, which a file
    // bind would not follow.
    ...(spec.busCredentialsDir ? [{ Type: 'bind' as const, Source: spec.busCredentialsDir, Target: SANDBOX_CREDENTIALS_DIR, ReadOnly: true }] : []),
    ...(secretsDir ? [{ Type: 'bind' as const, Source: secretsDir, Target: SANDBOX_SECRETS_DIR, ReadOnly: true }] : []),
  ];
}

/** The manifest's environment, each name and value checked (a NUL would cut the list short). */
export function validatedEnv(source: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    if (!ENV_KEY.test(key) || typeof value !== 'string' || value.includes('\0')) {
      throw new FlockError('validation_failed', `environment variable ${JSON.stringify(key)} is not valid`, { field: `env.${key}` });
    }
    env[key] = value;
  }
  return env;
}

export function validateIdentity(spec: SandboxSpec): void {
  // These become host paths and Docker names: a traversal here would mount the wrong tree.
  if (!AGENT_NAME_PATTERN.test(spec.agent)) {
    throw new FlockError('validation_failed', `agent name "${spec.agent}" is not valid`, { field: 'agent', value: spec.agent });
  }
  if (!INSTANCE_ID_PATTERN.test(spec.instanceId) || instanceAgent(spec.instanceId) !== spec.agent) {
    throw new FlockError('validation_failed', `instance id "${spec.instanceId}" is not valid for agent "${spec.agent}"`, {
      field: 'instanceId',
      value: spec.instanceId,
      expected: `${spec.agent}-<8 lower-case letters or digits>`,
    });
  }
  if (!spec.image) throw new FlockError('validation_failed', 'sandbox image is empty', { field: 'image' });
}

export function validateResources(r: SandboxSpec['resources']): void {
  const bad = (field: string, expected: string, value: unknown): never => {
    throw new FlockError('validation_failed', `resources.${field} = ${String(value)} is not valid: expected ${expected}`, { field: `resources.${field}`, value, expected });
  };
  if (!(Number.isFinite(r.cpu) && r.cpu > 0 && r.cpu <= 1024)) bad('cpu', 'a number of CPUs above 0', r.cpu);
  if (!(Number.isInteger(r.memoryBytes) && r.memoryBytes >= MIN_MEMORY_BYTES)) bad('memoryBytes', `an integer of at least ${MIN_MEMORY_BYTES} bytes`, r.memoryBytes);
  if (!(Number.isInteger(r.pids) && r.pids >= 1)) bad('pids', 'a positive integer', r.pids);
  if (!(Number.isInteger(r.tmpBytes) && r.tmpBytes > 0)) bad('tmpBytes', 'a positive integer of bytes', r.tmpBytes);
}
