import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Algorithms, encodeAccount, encodeOperator, encodeUser, fmtCreds, type NatsLimits, type Permissions } from '@nats-io/jwt';
import { createAccount, createOperator, type KeyPair } from '@nats-io/nkeys';
import { agentExports, agentImports, flockExports, flockImports } from './accounts.js';
import { SigningKey } from './signing-key.js';

/** What a user may do: subjects, and per-connection limits (message size, subscriptions). */
export type UserGrants = Permissions & Partial<NatsLimits> & { src?: string[] };

/** Seeds of the flock's NATS trust chain, kept in the data dir with mode 0600. */
interface TrustSeeds {
  operator: string;
  system: string;
  account: string;
  /** The agents account (every instance's user); absent in trust files from before it existed. */
  agents?: string;
}

/** The two accounts' JWTs as they are now (revocations included). */
export interface AccountJwts {
  flock: string;
  agents: string;
}

export interface IssuedUser {
  /** A `.creds` file: the user JWT and its nkey seed. */
  creds: string;
  publicKey: string;
  /** The user's nkey seed, to re-issue the same identity later. Secret. */
  seed: string;
  /** Unix seconds; null for credentials that do not expire. */
  expiresAt: number | null;
}

const ACCOUNT = 'FLOCK';
const AGENTS_ACCOUNT = 'AGENTS';
const SYSTEM_ACCOUNT = 'SYS';
/** NATS treats a missing account limit as zero; the flock limits per user instead. */
const UNLIMITED = {
  ...{ subs: -1, conn: -1, leaf: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true },
  ...{ mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
};
const encoding = { algorithm: Algorithms.v2 } as const;
const text = new TextDecoder();

/**
 * The flock's NATS decentralized-auth trust chain (operator → accounts → users). The
 * control plane holds the operator and account keys, so it can issue a scoped, expiring
 * user for every instance and revoke it, against the spawned server or an external
 * cluster configured once with `serverConfig()`; nothing is configured per agent.
 */
export class NatsTrust {
  private constructor(
    private readonly operator: KeyPair,
    private readonly system: KeyPair,
    private readonly account: KeyPair,
    private readonly agents: KeyPair,
    readonly name: string,
  ) {}

  /** Load the trust chain from `file`, creating it on first use. */
  static async open(file: string, name = 'aiflock'): Promise<NatsTrust> {
    let seeds: TrustSeeds;
    try {
      seeds = JSON.parse(await readFile(file, 'utf8')) as TrustSeeds;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the NATS trust file ${file}: ${String(err)}`);
      seeds = {
        operator: text.decode(createOperator().getSeed()),
        system: text.decode(createAccount().getSeed()),
        account: text.decode(createAccount().getSeed()),
      };
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    }
    let agents = seeds.agents;
    if (!agents) {
      // New, or written before instances had an account of their own: add it, keep the rest.
      agents = text.decode(createAccount().getSeed());
      seeds = { ...seeds, agents };
      const tmp = `${file}.tmp`;
      await writeFile(tmp, JSON.stringify(seeds), { mode: 0o600 });
      await rename(tmp, file);
    }
    await chmod(file, 0o600);
    // Each key pair is derived once, not again at every JWT it signs (signing-key.ts).
    const key = (s: string) => SigningKey.fromSeed(s);
    return new NatsTrust(key(seeds.operator), key(seeds.system), key(seeds.account), key(agents), name);
  }

  get accountPublicKey(): string {
    return this.account.getPublicKey();
  }
  get agentsAccountPublicKey(): string {
    return this.agents.getPublicKey();
  }
  get systemAccountPublicKey(): string {
    return this.system.getPublicKey();
  }

  operatorJwt(): Promise<string> {
    return encodeOperator(this.name, this.operator, { system_account: this.system.getPublicKey() }, encoding);
  }

  systemAccountJwt(): Promise<string> {
    return encodeAccount(SYSTEM_ACCOUNT, this.system, { limits: { ...UNLIMITED, mem_storage: 0, disk_storage: 0 } }, { ...encoding, signer: this.operator });
  }

  /**
   * The flock account (the control plane, operators' tools, the streams): JetStream enabled,
   * what it exports to the agents account (accounts.ts), and the users revoked so far
   * (public key → unix seconds).
   */
  accountJwt(revocations: Record<string, number> = {}): Promise<string> {
    return encodeAccount(
      ACCOUNT,
      this.account,
      {
        limits: UNLIMITED,
        exports: flockExports(),
        imports: flockImports(this.agents.getPublicKey()),
        // Only nkey-signed connections: a bearer JWT alone must never be enough.
        disallow_bearer: true,
        ...(Object.keys(revocations).length ? { revocations } : {}),
      },
      { ...encoding, signer: this.operator },
    );
  }

  /** The agents account (every instance): no JetStream of its own, only the imports of accounts.ts. */
  agentsAccountJwt(revocations: Record<string, number> = {}): Promise<string> {
    return encodeAccount(
      AGENTS_ACCOUNT,
      this.agents,
      {
        limits: { ...UNLIMITED, mem_storage: 0, disk_storage: 0, streams: 0, consumer: 0 },
        imports: agentImports(this.account.getPublicKey()),
        exports: agentExports(),
        disallow_bearer: true,
        ...(Object.keys(revocations).length ? { revocations } : {}),
      },
      { ...encoding, signer: this.operator },
    );
  }

  /** Both accounts with the same revocation list (a key belongs to one of them; listing it in both costs nothing). */
  async accountJwts(revocations: Record<string, number> = {}): Promise<AccountJwts> {
    return { flock: await this.accountJwt(revocations), agents: await this.agentsAccountJwt(revocations) };
  }

  /** A user in the flock account with exactly `permissions`, valid for `ttlSeconds` (null: no expiry). */
  async issueUser(name: string, permissions: UserGrants, ttlSeconds: number | null, now = Date.now(), seed?: string): Promise<IssuedUser> {
    return this.issue(name, this.account, permissions, ttlSeconds, now, seed);
  }

  /** An instance's user: in the agents account, with exactly `permissions` (protocol's instancePermissions). */
  async issueInstanceUser(name: string, permissions: UserGrants, ttlSeconds: number | null, now = Date.now(), seed?: string): Promise<IssuedUser> {
    return this.issue(name, this.agents, permissions, ttlSeconds, now, seed);
  }

  /** A user of the system account, for pushing account updates (revocations) to the servers. */
  async issueSystemUser(ttlSeconds: number | null): Promise<IssuedUser> {
    return this.issue('aiflock-system', this.system, {}, ttlSeconds, Date.now());
  }

  /**
   * The lines a NATS server needs to trust this flock: the operator, the system account and
   * a resolver preloaded with both accounts. Written once into the spawned server's config,
   * or pasted once into an external server's.
   */
  async serverConfig(resolverDir: string, accounts?: AccountJwts): Promise<string> {
    return [
      `operator: ${await this.operatorJwt()}`,
      `system_account: ${this.system.getPublicKey()}`,
      `resolver: { type: full, dir: ${JSON.stringify(resolverDir)}, allow_delete: false, interval: "2m", limit: 1000 }`,
      `resolver_preload: {`,
      `  ${this.system.getPublicKey()}: ${await this.systemAccountJwt()}`,
      `  ${this.account.getPublicKey()}: ${accounts?.flock ?? (await this.accountJwt())}`,
      `  ${this.agents.getPublicKey()}: ${accounts?.agents ?? (await this.agentsAccountJwt())}`,
      `}`,
      '',
    ].join('\n');
  }

  private async issue(name: string, issuer: KeyPair, permissions: UserGrants, ttlSeconds: number | null, now: number, seed?: string): Promise<IssuedUser> {
    const user = seed ? SigningKey.fromSeed(seed) : SigningKey.user();
    const iat = Math.floor(now / 1000);
    const exp = ttlSeconds === null ? null : iat + ttlSeconds;
    const jwt = await encodeUser(name, user, issuer, { ...permissions }, { ...encoding, ...(exp === null ? {} : { exp }) });
    return { creds: text.decode(fmtCreds(jwt, user)), publicKey: user.getPublicKey(), seed: text.decode(user.getSeed()), expiresAt: exp };
  }
}
