import { FlockError } from '../errors.js';
import type { DeploymentRecord } from '../ports/store.js';
import { grants } from './scopes.js';
import type { Actor } from '../services/auth.js';

type Shared = Pick<DeploymentRecord, 'owner' | 'manifest'>;

/**
 * Who may queue (and cancel) tasks on an agent. A task runs with the agent's secrets, tools
 * and egress, so running one is acting as the agent: its owner, admins, and the identities
 * the manifest shares it with (`access.runTasks`: token ids, or "*" for every holder of
 * `jobs:write`). Holding `jobs:write` alone is not enough. An agent that is no longer
 * deployed (`undefined`) is left to admins.
 */
export function mayRunTasks(actor: Actor, deployment: Shared | undefined): boolean {
  if (grants(actor.scopes, 'admin')) return true;
  if (!deployment) return false;
  if (deployment.owner && deployment.owner === actor.id) return true;
  // Manifests stored before `access` existed have none: shared with nobody.
  const shared = (deployment.manifest.access as Shared['manifest']['access'] | undefined)?.runTasks ?? [];
  return shared.includes('*') || shared.includes(actor.id);
}

export function assertMayRunTasks(actor: Actor, agent: string, deployment: Shared | undefined): void {
  if (mayRunTasks(actor, deployment)) return;
  throw new FlockError('task_access_denied', `${actor.id} may not run or cancel tasks of agent "${agent}": only its owner, an admin, or an identity its manifest lists under access.runTasks may`, {
    agent,
    actor: actor.id,
  });
}
