import type { Socket } from 'node:net';
import Dockerode from 'dockerode';
import type { SandboxRuntime, Store } from '@aiflock/core';
import { INSTANCE_ID_PATTERN, instanceAgent } from '@aiflock/protocol';
import type { Config } from './config.js';
import { UNIX_CLIENT_PREFIX } from './adapters/egress-proxy/egress-proxy.js';
import type { RuntimeLog } from './adapters/runtime-docker/docker-runtime.js';
import { OperatorRuntime, type ProxyAcceptor } from './adapters/runtime-docker/operator-runtime.js';
import { ProfileRouter } from './adapters/runtime-docker/profile-router.js';
import { SANDBOX_OWNER, type StorageOwner } from './adapters/runtime-docker/shared-storage.js';

export interface OperatorSandboxes {
  /** What the reconciler and the kill switch drive: restricted → main runtime, operator → operator engine. */
  router: ProfileRouter;
  /** Egress proxy identification of a client that came in over an operator sandbox's socket. */
  identify(address: string): { instanceId: string; agent: string } | undefined;
  /** Who must own an agent's bus credentials file (its sandbox reads it). */
  credentialsOwner(agent: string): Promise<StorageOwner>;
  /** Hand the egress proxy over once it exists (it is built after the runtimes). */
  setProxy(proxy: ProxyAcceptor): void;
}

export interface OperatorSandboxDeps {
  main: SandboxRuntime;
  store: Store;
  sharedDir: string;
  busHost: string;
  busPort: number;
  secretsDir: string;
  log: RuntimeLog;
}

/**
 * The `operator` profile's wiring: a runtime on the operator engine when one is configured
 * (runtime.operatorEngine), behind a router that refuses the profile when none is.
 */
export function operatorSandboxes(config: Config, deps: OperatorSandboxDeps): OperatorSandboxes {
  const socketPath = config.runtime.kind === 'docker' ? config.runtime.operatorEngine : undefined;
  let proxy: ProxyAcceptor | null = null;
  const operator = socketPath
    ? new OperatorRuntime({
        docker: new Dockerode({ socketPath }),
        socketPath,
        imageSource: new Dockerode({ socketPath: config.runtime.socket }),
        flock: config.flock,
        node: config.node,
        sharedDir: deps.sharedDir,
        socketRoot: config.runtime.operatorSocketDir ?? `/run/aiflock-${config.flock}-operator`,
        busHost: deps.busHost,
        busPort: deps.busPort,
        // Late-bound: a connection before the proxy exists is simply closed.
        proxy: { accept: (s: Socket, id: string) => (proxy ? proxy.accept(s, id) : s.destroy()) },
        secretsDir: deps.secretsDir,
        log: deps.log,
      })
    : null;
  const router = new ProfileRouter(
    deps.main,
    operator,
    deps.log,
    config.runtime.kind === 'process' ? 'the process runtime has no operator profile (it needs the Docker runtime and an operator engine, runtime.operatorEngine)' : undefined,
  );
  return {
    router,
    identify(address) {
      if (!operator || !address.startsWith(UNIX_CLIENT_PREFIX)) return undefined;
      const instanceId = address.slice(UNIX_CLIENT_PREFIX.length);
      if (!INSTANCE_ID_PATTERN.test(instanceId) || !operator.has(instanceId)) return undefined;
      return { instanceId, agent: instanceAgent(instanceId) };
    },
    async credentialsOwner(agent) {
      const root = operator?.hostRoot();
      if (!root) return SANDBOX_OWNER;
      const d = await deps.store.deployments.get(agent);
      return d?.manifest.profile === 'operator' ? root : SANDBOX_OWNER;
    },
    setProxy(p) {
      proxy = p;
    },
  };
}
