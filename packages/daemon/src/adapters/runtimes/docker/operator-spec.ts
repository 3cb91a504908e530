import type { ContainerCreateOptions } from 'dockerode';
import { withDocumentEnvNames } from '@aiflock/protocol';
import { FlockError, type SandboxSpec } from '@aiflock/core';
import { sandboxIdentity, sandboxLimits, sandboxMounts, validateIdentity, validateResources, validatedEnv } from './container-spec.js';
import { LABEL } from './names.js';
import { SANDBOX_SYSCTLS } from '../shared/seccomp.js';
import { SANDBOX_CREDENTIALS_DIR, SANDBOX_SHARED_DIR, storagePaths } from '../shared/shared-storage.js';

/**
 * Capabilities an operator sandbox keeps: Docker's default set minus NET_RAW (raw sockets,
 * ping, ARP/ICMP spoofing), MKNOD (device nodes), AUDIT_WRITE (the host's audit log),
 * SETFCAP (file capabilities: a way to hand capabilities to a later exec) and SYS_CHROOT
 * (not needed by dpkg or apt with the default root directory; a chroot is a classic step in
 * escapes). What is left is what a package manager running as root needs: owning and
 * moving files it did not create (CHOWN, DAC_OVERRIDE, FOWNER, FSETID), dropping to a
 * service user (SETUID, SETGID, SETPCAP), signalling its own children (KILL) and binding a
 * low port on its own loopback (NET_BIND_SERVICE). Inside the user namespace each one only
 * acts on what that namespace owns: host files are owned by unmapped ids and stay out of reach.
 */
export const OPERATOR_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'NET_BIND_SERVICE'] as const;

/** Where the bus and egress-proxy sockets appear inside an operator sandbox. */
export const OPERATOR_SOCKET_DIR = '/run/aiflock-sockets';
export const OPERATOR_BUS_SOCKET = `${OPERATOR_SOCKET_DIR}/bus.sock`;
export const OPERATOR_PROXY_SOCKET = `${OPERATOR_SOCKET_DIR}/proxy.sock`;
/** Loopback ports inside the sandbox that the agent runtime relays to those sockets. */
export const OPERATOR_BUS_PORT = 4222;
export const OPERATOR_PROXY_PORT = 3128;
/** Root's PATH, so dpkg finds ldconfig and start-stop-daemon. */
const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PROXY_VARS = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'] as const;

export interface OperatorSpecContext {
  flock: string;
  node: string;
  /** Host directory holding agents/, common/ and logs/. */
  sharedDir: string;
  /** Host directory with this instance's bus.sock (and proxy.sock when it has egress rules). */
  socketDir: string;
  /** Whether the instance gets the egress proxy (its manifest lists egress rules). */
  egress: boolean;
  /** Host tmpfs directory with this instance's secret files. */
  secretsDir?: string | null;
}

/**
 * The operator profile in one pure function, for the operator engine only (dockerd with
 * --userns-remap: container root is an unprivileged subordinate uid on the host). Root
 * inside, writable root filesystem, package installs allowed; no network interface at all
 * (the bus and the egress proxy arrive as Unix sockets); every limit of the restricted profile.
 */
export function operatorContainerSpec(spec: SandboxSpec, ctx: OperatorSpecContext): ContainerCreateOptions {
  if (spec.profile !== 'operator') {
    throw new FlockError('validation_failed', `operatorContainerSpec is for the operator profile, got "${spec.profile}"`, { field: 'profile', value: spec.profile, expected: 'operator' });
  }
  validateIdentity(spec);
  validateResources(spec.resources);
  const paths = storagePaths(ctx.sharedDir, spec.agent, spec.instanceId);
  const env = validatedEnv(spec.env);
  env.PATH = ROOT_PATH;
  env.AIFLOCK_SHARED_DIR = SANDBOX_SHARED_DIR;
  env.AIFLOCK_WORKSPACE = paths.workspace;
  env.AIFLOCK_LOG_FILE = paths.logFile;
  // No interface but loopback: the runtime relays this port to the bus socket.
  env.AIFLOCK_NATS_URL = `nats://127.0.0.1:${OPERATOR_BUS_PORT}`;
  withDocumentEnvNames(env);
  env.AIFLOCK_BUS_SOCKET = OPERATOR_BUS_SOCKET;
  for (const v of PROXY_VARS) delete env[v];
  delete env.AIFLOCK_PROXY_SOCKET;
  if (ctx.egress) {
    for (const v of PROXY_VARS) env[v] = `http://127.0.0.1:${OPERATOR_PROXY_PORT}`;
    env.AIFLOCK_PROXY_SOCKET = OPERATOR_PROXY_SOCKET;
  }
  if (spec.busCredentialsDir) env.AIFLOCK_NATS_CREDS = `${SANDBOX_CREDENTIALS_DIR}/nats.creds`;
  else delete env.AIFLOCK_NATS_CREDS;

  const { tmpBytes } = spec.resources;
  return {
    ...sandboxIdentity(spec, ctx, env, { [LABEL.profile]: 'operator' }),
    User: '0:0',
    HostConfig: {
      ...sandboxLimits(spec),
      // Writable: that is the point of the profile (apt, dpkg). It is the container's own
      // layer, owned by the remapped root, and gone with the container.
      ReadonlyRootfs: false,
      Tmpfs: {
        '/tmp': `rw,noexec,nosuid,nodev,size=${tmpBytes}`,
        '/run': 'rw,noexec,nosuid,nodev,size=16m',
      },
      CapDrop: ['ALL'],
      CapAdd: [...OPERATOR_CAPABILITIES],
      // The flock's seccomp profile applies (sandboxLimits).
      // Loopback only. No bridge, no DNS, no route: nothing to reach but the two sockets.
      NetworkMode: 'none',
      Sysctls: { ...SANDBOX_SYSCTLS },
      // The socket directory, so a socket re-created on release from quarantine is seen inside.
      Mounts: sandboxMounts(spec, paths, ctx.secretsDir, [{ Type: 'bind', Source: ctx.socketDir, Target: OPERATOR_SOCKET_DIR, ReadOnly: true }]),
    },
  };
}
