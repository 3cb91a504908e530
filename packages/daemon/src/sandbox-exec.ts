import type { SandboxRuntime } from '@aiflock/core';
import { execUnsupported } from './adapters/runtimes/profile-router.js';
import type { ApiContext } from './http/context.js';
import type { RemoteSandboxes } from './nodes/remote-sandboxes.js';

/**
 * `aiflock agent exec` through the runtime that owns the instance (the profile router picks it),
 * or, for an instance on a joined node, through that node's agent over the bus.
 */
export function sandboxExecOf(runtime: SandboxRuntime, remote?: { localNode: string; nodes: RemoteSandboxes }): NonNullable<ApiContext['sandboxes']> {
  const local = (instanceId: string, request: Parameters<NonNullable<SandboxRuntime['exec']>>[1]) =>
    runtime.exec ? runtime.exec(instanceId, request) : Promise.reject(execUnsupported(runtime.kind));
  return {
    kind: runtime.kind,
    canExec: runtime.capabilities.exec && runtime.exec !== undefined,
    isRemote: (node) => remote !== undefined && node !== remote.localNode,
    execRefusal: () => execUnsupported(runtime.kind),
    exec: (instanceId, request, node) => (remote && node !== undefined && node !== remote.localNode ? remote.nodes.exec(node, instanceId, request) : local(instanceId, request)),
  };
}
