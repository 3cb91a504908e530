import { FlockError } from '../errors.js';
import type { DeploymentRecord } from '../ports/store.js';

/** Who acts on an agent: their identity, and whether they hold `admin`. */
export interface Manager {
  id: string;
  admin: boolean;
}

/**
 * Who may change a deployed agent (redeploy it with another manifest, scale, stop or remove
 * it). `agents:write` lets a person deploy agents of their own; it must not let them rewrite
 * someone else's, which would hand them that agent's secrets, egress and money. So: its owner
 * and admins. An agent without an owner (deployed before owners existed) is left to admins.
 */
export function mayManageAgent(by: Manager, deployment: Pick<DeploymentRecord, 'owner'>): boolean {
  return by.admin || (deployment.owner !== null && deployment.owner === by.id);
}

export function assertMayManageAgent(by: Manager | undefined, agent: string, deployment: Pick<DeploymentRecord, 'owner'>, action: string): void {
  if (!by || mayManageAgent(by, deployment)) return;
  throw new FlockError('agent_access_denied', `${by.id} may not ${action} agent "${agent}": it belongs to ${deployment.owner ?? 'no one (admins only)'}; only its owner or an admin may`, {
    agent,
    actor: by.id,
    owner: deployment.owner,
  });
}
