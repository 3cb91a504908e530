import type { Socket } from 'node:net';
import type { SandboxRuntime, Store } from '@aiflock/core';
import { INSTANCE_ID_PATTERN, instanceAgent } from '@aiflock/protocol';
import { UNIX_CLIENT_PREFIX } from './adapters/egress-proxy/egress-proxy.js';
import { ProfileRouter } from './adapters/runtimes/profile-router.js';
import type { OperatorContext, ProxyAcceptor, RuntimeFactory } from './adapters/runtimes/shared/host-runtime.js';
import { SANDBOX_OWNER, type StorageOwner } from './adapters/runtimes/shared/shared-storage.js';

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

export interface OperatorSandboxDeps extends Omit<OperatorContext, 'proxy'> {
  main: SandboxRuntime;
  /** Whose profile an agent's deployment asks for. */
  store: Store;
}

/**
 * The `operator` profile's wiring: the runtime kind's operator runtime when one is configured
 * (for docker: runtime.operatorEngine), behind a router that refuses the profile when none is.
 */
export function operatorSandboxes(factory: RuntimeFactory, deps: OperatorSandboxDeps): OperatorSandboxes {
  let proxy: ProxyAcceptor | null = null;
  // Late-bound: a connection before the proxy exists is simply closed.
  const lateProxy: ProxyAcceptor = { accept: (s: Socket, id: string) => (proxy ? proxy.accept(s, id) : s.destroy()) };
  const made = factory.operator({ ...deps, proxy: lateProxy });
  const operator = made && !('refusal' in made) ? made : null;
  const router = new ProfileRouter(deps.main, operator, deps.log, made && 'refusal' in made ? made.refusal : undefined);
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
