import type { ContainerCreateOptions } from 'dockerode';
import { FlockError, type SandboxResources, type WarmKey } from '@aiflock/core';
import { DOCKER_EMBEDDED_DNS, SANDBOX_LIVENESS_FILE, detachedContainer, livenessCheck, restrictedHost, validateResources } from './container-spec.js';
import { LABEL, containerName } from './names.js';
import { SANDBOX_GID, SANDBOX_UID } from '../shared/shared-storage.js';
import { IDENTITY_FILE, SANDBOX_CLAIM_DIR, WARM_KEY_LABEL, WARM_LABEL, slotMounts, type SlotPaths } from './warm-slots.js';

export interface WarmContainerContext {
  flock: string;
  node: string;
  network: string;
  gatewayIp: string;
}

/**
 * CPUs a warm container may use until its claim has settled. A claimed runtime connects to
 * the bus, finds its queue and starts its first task: some 100 ms of CPU, which under an echo
 * manifest's `cpu: 0.25` (25 ms per 100 ms period) would take four periods or more. It
 * starts under this quota instead, and the manifest's own is applied once that start is
 * over (warm-sandboxes.ts, `CLAIM_CPU_GRACE_MS`). An unclaimed warm sandbox sleeps, so the
 * larger quota costs nothing while it waits.
 */
export const WARM_START_CPUS = 1;

/**
 * A warm container: the same hardening as a cold-started sandbox (container-spec.ts), with
 * nothing of any agent. Its environment says only where the identity will appear; its labels
 * say which pool key it serves; its name and hostname are its warm id. At the claim it is
 * renamed to the instance's container name and its limits updated (warm-sandboxes.ts).
 */
export function warmContainerSpec(id: string, key: WarmKey, resources: SandboxResources, slot: SlotPaths, ctx: WarmContainerContext): ContainerCreateOptions {
  if (key.profile !== 'restricted') {
    throw new FlockError('validation_failed', `a warm sandbox runs the "restricted" profile only on the main Docker engine, not "${key.profile}"`, { field: 'scaling.warm', value: key.profile });
  }
  validateResources({ ...resources, tmpBytes: key.tmpBytes });
  const env = {
    AIFLOCK_WARM_IDENTITY: `${SANDBOX_CLAIM_DIR}/${IDENTITY_FILE}`,
    AIFLOCK_NETWORK_GATE: `${DOCKER_EMBEDDED_DNS}:53`,
    AIFLOCK_LIVENESS_FILE: SANDBOX_LIVENESS_FILE,
    AIFLOCK_HEARTBEAT_MS: String(key.heartbeatMs),
  };
  return {
    ...detachedContainer(containerName(ctx.flock, id), key.image, id.replace('_', '-'), env, {
      [LABEL.managed]: 'true',
      [LABEL.flock]: ctx.flock,
      [LABEL.node]: ctx.node,
      [WARM_LABEL]: id,
      [WARM_KEY_LABEL]: JSON.stringify(key),
    }),
    User: `${SANDBOX_UID}:${SANDBOX_GID}`,
    Healthcheck: livenessCheck(key.heartbeatMs),
    ...restrictedHost({ ...resources, cpu: Math.max(resources.cpu, WARM_START_CPUS), tmpBytes: key.tmpBytes }, ctx, slotMounts(slot)),
  };
}

/** The key a warm container was made for, from its label; null when it is not one of ours. */
export function warmKeyFromLabel(value: string | undefined): WarmKey | null {
  try {
    const k = JSON.parse(value ?? '') as WarmKey;
    return typeof k.image === 'string' && (k.profile === 'restricted' || k.profile === 'operator') && Number.isInteger(k.tmpBytes) && Number.isInteger(k.heartbeatMs) ? k : null;
  } catch {
    return null;
  }
}
