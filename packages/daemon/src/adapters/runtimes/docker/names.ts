import { fitName as fit } from '../shared/names.js';

/**
 * Every Docker and iptables name a flock owns is derived here, so that cleanup, list-by-label
 * and a restarted daemon all agree on them.
 */
export const LABEL = {
  managed: 'aiflock.managed',
  flock: 'aiflock.flock',
  agent: 'aiflock.agent',
  instance: 'aiflock.instance',
  digest: 'aiflock.digest',
  node: 'aiflock.node',
  /** Only on operator sandboxes (which run on the operator engine). */
  profile: 'aiflock.profile',
} as const;

export const networkName = (flock: string): string => `aiflock-${flock}`;
/** Linux interface names are at most 15 characters (IFNAMSIZ - 1). */
export const bridgeInterfaceName = (flock: string): string => fit('afl-', flock, 15);
/** iptables chain names are at most 28 characters. */
export const firewallChainNames = (flock: string): { input: string; forward: string } => ({
  input: fit('AIFLOCK-IN-', flock, 28),
  forward: fit('AIFLOCK-FW-', flock, 28),
});
export const containerName = (flock: string, instanceId: string): string => `aiflock-${flock}-${instanceId}`;
