import { FlockError, type SandboxSpec } from '@aiflock/core';

/**
 * For runtimes whose capabilities say `gpus: false`: a spec asking for GPUs is refused, never
 * started without them (deploy admission and placement keep such specs away; this is the last
 * line, e.g. a node agent handed one by a control plane of another version).
 */
export function refuseGpus(kind: string, spec: SandboxSpec): void {
  const gpus = spec.resources.gpus ?? 0;
  if (gpus > 0) {
    throw new FlockError('validation_failed', `${spec.instanceId} asks for ${gpus} GPU(s) (resources.gpus), which the ${kind} runtime cannot give; the docker runtime can, on a host with the NVIDIA Container Toolkit`, { field: 'resources.gpus', value: gpus });
  }
}
