import type { SandboxRuntime } from '@aiflock/core';
import { execUnsupported } from './adapters/runtimes/profile-router.js';
import type { ApiContext } from './http/context.js';

/** `aiflock agent exec` through the runtime that owns the instance (the profile router picks it). */
export function sandboxExecOf(runtime: SandboxRuntime): NonNullable<ApiContext['sandboxes']> {
  return {
    kind: runtime.kind,
    canExec: runtime.capabilities.exec && runtime.exec !== undefined,
    execRefusal: () => execUnsupported(runtime.kind),
    exec: (instanceId, request) => (runtime.exec ? runtime.exec(instanceId, request) : Promise.reject(execUnsupported(runtime.kind))),
  };
}
