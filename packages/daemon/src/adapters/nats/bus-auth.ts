import { join } from 'node:path';
import { credsAuthenticator, type Authenticator } from 'nats';
import type { Config } from '../../config.js';
import { SANDBOX_GID, SANDBOX_UID } from '../runtimes/shared/shared-storage.js';
import { JwtBusCredentials, type CredentialsOwner } from './jwt-credentials.js';
import { NatsTrust } from './trust.js';

export interface BusAuth {
  trust: NatsTrust;
  credentials: JwtBusCredentials;
  /** The control plane's own identity: a fresh key every start, held only in memory. */
  daemonAuthenticator(): Promise<Authenticator>;
}

/**
 * The flock's NATS trust chain and per-instance credentials, kept under `dir`. `ownerOf`
 * names who reads an agent's credentials file when that is not the sandbox user (operator
 * sandboxes).
 */
export async function openBusAuth(
  config: Config,
  dir: string,
  log: (level: 'info' | 'warn' | 'error', msg: string) => void,
  mountsDir?: string,
  ownerOf?: (agent: string) => Promise<CredentialsOwner>,
  /** Bind instances' credentials to their sandboxes' addresses (see JwtCredentialsOptions.sourceBinding). */
  sourceBinding?: { relayAddress: string },
): Promise<BusAuth> {
  const trust = await NatsTrust.open(join(dir, 'trust.json'), `aiflock-${config.flock}`);
  const credentials = await JwtBusCredentials.open({
    trust,
    dir: join(dir, 'credentials'),
    ...(mountsDir ? { mountsDir } : {}),
    ttlSeconds: config.nats.credentialsTtlSeconds,
    limits: { payload: config.instances.maxPayloadBytes },
    owner: ownerOf ?? { uid: SANDBOX_UID, gid: SANDBOX_GID },
    ...(sourceBinding ? { sourceBinding } : {}),
    log,
  });
  return {
    trust,
    credentials,
    async daemonAuthenticator() {
      const user = await trust.issueUser('aiflock-daemon', {}, null);
      return credsAuthenticator(new TextEncoder().encode(user.creds));
    },
  };
}
