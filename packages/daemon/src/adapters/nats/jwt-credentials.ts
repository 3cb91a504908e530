import { chmod, chown, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { credsAuthenticator, connect, RequestStrategy, type NatsConnection } from 'nats';
import type { BusCredentials, IssuedCredentials } from '@aiflock/core';
import { INSTANCE_ID_PATTERN, instancePermissions, nodePermissions } from '@aiflock/protocol';
import { natsServers } from './server-list.js';
import type { AccountJwts, NatsTrust } from './trust.js';

/** The file name inside an instance's credentials directory. */
export const CREDS_FILE = 'nats.creds';

export interface JwtCredentialsOptions {
  trust: NatsTrust;
  /** Holds revocations.json, users/ (who holds which key) and instances/<id>/ (what is mounted). */
  dir: string;
  /**
   * Where the per-instance directories that sandboxes mount live, when not `<dir>/instances`:
   * a runtime that launches sandboxes as the sandbox user needs a path that user can reach
   * (created 0711: traversable, not listable).
   */
  mountsDir?: string;
  ttlSeconds: number;
  /**
   * Per-user limits written into each instance's JWT: the largest message it may publish
   * (the server closes a connection that sends more, whatever its own max_payload), and how
   * many subscriptions it may hold. Unset: 1 MiB and 256.
   */
  limits?: { payload?: number; subs?: number };
  /**
   * Owner of the credentials file inside the sandbox, or who it is for an agent (operator
   * sandboxes read it as their remapped root, an unprivileged host uid of its own).
   */
  owner: CredentialsOwner | ((agent: string) => Promise<CredentialsOwner>);
  /**
   * Bind each instance's credentials to its sandbox's address (user JWT `src`): the address the
   * runtime reports, or `relayAddress` for sandboxes the daemon relays to the bus (whose
   * connections come from the host's side of the bridge). Unset: credentials work from any
   * address (an external bus sees whatever address the network gives it).
   */
  sourceBinding?: { relayAddress: string };
  log: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
}

/** What a server answers on the system account's request subjects. */
interface ClaimsReply {
  server?: { id?: string; name?: string };
  data?: { code?: number; message?: string };
  error?: { description?: string };
}

export interface CredentialsOwner {
  uid: number;
  gid: number;
}

interface UserRecord {
  instanceId: string;
  agent: string;
  publicKey: string;
  seed: string;
  expiresAt: number;
  /** Quarantined: the key is revoked and nothing is renewed until restored with a new key. */
  suspended?: boolean;
  /** The one address (CIDR) the credentials work from, with source binding. */
  src?: string;
}

/** Operator credentials as recorded: who they were issued to and until when; never the seed. */
export interface OperatorCredsRecord {
  /** The user's public key. */
  id: string;
  name: string;
  issuedAt: string;
  expiresAt: string | null;
  revoked: boolean;
}

const SYS_TTL_SECONDS = 24 * 3600;
/** How often the control plane looks for a NATS server that missed a revocation (it was down, or new). */
const CATCH_UP_MS = 3_000;
/**
 * Where fresh credentials work from before their sandbox has an address: nowhere (no client
 * connects from 0.0.0.0). A copy taken in that moment is useless too.
 */
const UNBOUND = '0.0.0.0/32';

/**
 * BusCredentials over NATS decentralized JWT auth. Each instance gets its own nkey and a
 * user JWT with the bus contract's permissions and an expiry; it is re-issued (same key)
 * before it expires. Revoking adds the key to the account's revocation list and pushes the
 * account to the servers through the system account, which disconnects the instance at
 * once and refuses its key from then on. On a cluster every server must confirm the update;
 * one that was down (or joined later) is found by its system ping and brought up to date.
 */
export class JwtBusCredentials implements BusCredentials {
  readonly enforced = true;
  private sys: NatsConnection | null = null;
  private revocations: Record<string, number> = {};
  private timers: NodeJS.Timeout[] = [];
  /** A revocation the servers have not confirmed yet (they were unreachable): pushed again on the next tick. */
  private unpushed = false;
  /** Servers (by id, new at every start of one) that confirmed the accounts as they are now. */
  private confirmed = new Set<string>();
  /** Names of servers found without the current revocations, until a push reaches them. */
  private readonly away = new Set<string>();
  /** Serializes changes to the revocation list and the pushes of the account. */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(private readonly o: JwtCredentialsOptions) {}

  /** Load what was issued and revoked before (the daemon may have restarted). */
  static async open(o: JwtCredentialsOptions): Promise<JwtBusCredentials> {
    const c = new JwtBusCredentials(o);
    await mkdir(join(o.dir, 'users'), { recursive: true, mode: 0o700 });
    if (o.mountsDir) {
      await mkdir(o.mountsDir, { recursive: true, mode: 0o711 });
      await chmod(o.mountsDir, 0o711);
    } else await mkdir(join(o.dir, 'instances'), { recursive: true, mode: 0o700 });
    c.revocations = await readJson<Record<string, number>>(c.revocationsFile, {});
    return c;
  }

  get detail(): string {
    return `per-instance NATS JWT credentials (account ${this.o.trust.accountPublicKey.slice(0, 8)}…, renewed before their ${this.o.ttlSeconds} s expiry)`;
  }

  /** Connect the system user to `url` (one server or a cluster's list), push the current account, renew what is due; then keep renewing. */
  async start(url: string): Promise<void> {
    const sys = await this.o.trust.issueSystemUser(SYS_TTL_SECONDS);
    let creds = new TextEncoder().encode(sys.creds);
    this.sys = await connect({
      servers: natsServers(url),
      name: 'aiflock-credentials',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      authenticator: credsAuthenticator(() => creds),
    });
    await this.pushAccount();
    await this.renewDue();
    this.timers = [
      // The system user expires too; refresh it well before, for the next reconnect.
      setInterval(() => void this.o.trust.issueSystemUser(SYS_TTL_SECONDS).then((u) => (creds = new TextEncoder().encode(u.creds))), (SYS_TTL_SECONDS / 4) * 1000),
      setInterval(() => void this.renewDue().catch((err) => this.o.log('warn', `credential renewal failed: ${String(err)}`)), Math.max(1_000, (this.o.ttlSeconds * 1000) / 10)),
      // A revocation the servers missed goes out as soon as they answer again.
      setInterval(() => void (this.unpushed && this.serialized(() => this.pushOrRetry('retrying a revocation'))), 1_000),
      // And to a server that was away when it was made (or joined since), once it is there.
      setInterval(() => void this.serialized(() => this.catchUp()).catch(() => undefined), CATCH_UP_MS),
    ];
    for (const t of this.timers) t.unref();
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.chain.catch(() => undefined);
    await this.sys?.drain().catch(() => undefined);
  }

  async issue(instanceId: string, agent: string): Promise<IssuedCredentials> {
    assertInstanceId(instanceId);
    return this.serialized(async () => {
      const known = await this.user(instanceId);
      // Quarantined: nothing is issued (only a release restores it, with a new key); the
      // directory it had is still its place.
      if (known?.suspended) return { dir: this.mountOf(instanceId), expiresAt: null };
      return this.write(instanceId, agent, known?.seed, known?.src ?? (this.o.sourceBinding ? UNBOUND : undefined));
    });
  }

  async bind(instanceId: string, address: string | null): Promise<void> {
    const binding = this.o.sourceBinding;
    if (!binding || !INSTANCE_ID_PATTERN.test(instanceId)) return;
    const src = `${address ?? binding.relayAddress}/32`;
    await this.serialized(async () => {
      const user = await this.user(instanceId);
      if (!user || user.src === src) return;
      // A quarantined instance gets the address with its fresh key on release.
      if (user.suspended) await writeJson(this.userFile(instanceId), { ...user, src });
      else await this.write(instanceId, user.agent, user.seed, src);
      this.o.log('info', `bound the bus credentials of ${instanceId} to ${src}`, { instanceId, agent: user.agent });
    });
  }

  private async write(instanceId: string, agent: string, seed: string | undefined, src: string | undefined): Promise<IssuedCredentials> {
    const limits = { payload: this.o.limits?.payload ?? 1024 * 1024, subs: this.o.limits?.subs ?? 256, data: -1, ...(src ? { src: [src] } : {}) };
    const issued = await this.o.trust.issueInstanceUser(instanceId, { ...instancePermissions(instanceId, agent), ...limits }, this.o.ttlSeconds, Date.now(), seed);
    const record: UserRecord = { instanceId, agent, publicKey: issued.publicKey, seed: issued.seed, expiresAt: issued.expiresAt!, ...(src ? { src } : {}) };
    await writeJson(this.userFile(instanceId), record);
    const dir = this.mountOf(instanceId);
    const owner = typeof this.o.owner === 'function' ? await this.o.owner(agent) : this.o.owner;
    await mkdir(dir, { recursive: true, mode: 0o500 });
    // Written beside and renamed: the sandbox, which reads it on every reconnect, never sees half a file.
    const tmp = join(dir, `.${CREDS_FILE}.tmp`);
    await writeFile(tmp, issued.creds, { mode: 0o400 });
    await chown(tmp, owner.uid, owner.gid);
    await rename(tmp, join(dir, CREDS_FILE));
    await chown(dir, owner.uid, owner.gid);
    await chmod(dir, 0o500);
    return { dir, expiresAt: new Date(issued.expiresAt! * 1000).toISOString() };
  }

  async revoke(instanceId: string, reason: string): Promise<void> {
    await this.revokeAll([instanceId], reason);
  }

  /**
   * Revoke several instances' credentials with one push of the account's revocation list: the
   * push (a signed account update the servers confirm) is what costs, so a flock stopping or a
   * reconcile pass finding many gone instances pays it once, not once per instance.
   */
  private async revokeAll(instanceIds: readonly string[], reason: string): Promise<void> {
    const ids = instanceIds.filter((id) => INSTANCE_ID_PATTERN.test(id));
    if (ids.length === 0) return;
    await this.serialized(async () => {
      const revoked: UserRecord[] = [];
      for (const instanceId of ids) {
        const user = await this.user(instanceId);
        // Forget first: should the push fail, the key is still on the list and goes out with the next one.
        await rm(this.userFile(instanceId), { force: true });
        await rm(this.mountOf(instanceId), { recursive: true, force: true });
        if (user) revoked.push(user);
      }
      if (revoked.length === 0) return;
      const at = Math.floor(Date.now() / 1000);
      for (const user of revoked) this.revocations[user.publicKey] = at;
      await writeJson(this.revocationsFile, this.revocations);
      await this.pushOrRetry(revoked.length === 1 ? `revoking ${revoked[0]!.instanceId}` : `revoking ${revoked.length} instances`);
      for (const user of revoked) this.o.log('info', `revoked the bus credentials of ${user.instanceId}: ${reason}`, { instanceId: user.instanceId, agent: user.agent });
    });
  }

  /**
   * Quarantine: revoke the instance's key (cutting its connection) but keep its directory,
   * which is mounted into the paused sandbox, so `restore` can hand it a new key there.
   */
  async suspend(instanceId: string): Promise<void> {
    await this.serialized(async () => {
      const user = await this.user(instanceId);
      if (!user || user.suspended) return;
      await rm(join(this.mountOf(instanceId), CREDS_FILE), { force: true });
      await writeJson(this.userFile(instanceId), { ...user, suspended: true });
      this.revocations[user.publicKey] = Math.floor(Date.now() / 1000);
      await writeJson(this.revocationsFile, this.revocations);
      await this.pushOrRetry(`suspending ${instanceId}`);
      this.o.log('info', `suspended the bus credentials of ${instanceId} (quarantine)`, { instanceId, agent: user.agent });
    });
  }

  /** Release from quarantine: a fresh key (the old one stays revoked), in the same place. */
  async restore(instanceId: string): Promise<void> {
    await this.serialized(async () => {
      const user = await this.user(instanceId);
      if (!user?.suspended) return;
      await this.write(instanceId, user.agent, undefined, user.src);
    });
  }

  async retain(live: ReadonlySet<string>): Promise<void> {
    await this.revokeAll((await this.issuedIds()).filter((id) => !live.has(id)), 'its instance no longer exists');
  }

  /**
   * Credentials for an operator's tools (`aiflock nats creds`): everything in the flock
   * account. Each is recorded (name, key, expiry; never the seed) so it can be listed and
   * revoked before it expires.
   */
  async adminCreds(name: string, ttlSeconds: number | null): Promise<{ id: string; creds: string; expiresAt: string | null }> {
    const user = await this.o.trust.issueUser(name, {}, ttlSeconds);
    const record: OperatorCredsRecord = { id: user.publicKey, name, issuedAt: new Date().toISOString(), expiresAt: user.expiresAt === null ? null : new Date(user.expiresAt * 1000).toISOString(), revoked: false };
    await mkdir(this.operatorsDir, { recursive: true, mode: 0o700 });
    await writeJson(join(this.operatorsDir, `${user.publicKey}.json`), record);
    return { id: user.publicKey, creds: user.creds, expiresAt: record.expiresAt };
  }

  /** Operator credentials issued and not yet expired, revoked ones included (marked). */
  async listAdminCreds(): Promise<OperatorCredsRecord[]> {
    const now = new Date().toISOString();
    const files = await readdir(this.operatorsDir).catch(() => [] as string[]);
    const records = await Promise.all(files.filter((f) => f.endsWith('.json')).map((f) => readJson<OperatorCredsRecord | null>(join(this.operatorsDir, f), null)));
    return records.filter((r): r is OperatorCredsRecord => r !== null && (r.expiresAt === null || r.expiresAt > now)).sort((a, b) => a.issuedAt.localeCompare(b.issuedAt));
  }

  /**
   * Revoke operator credentials by id (their public key): the servers close their connections
   * and refuse them from then on. The revocation is kept until they would have expired.
   * Returns the record, or null if no such credentials were issued.
   */
  async revokeAdminCreds(id: string): Promise<OperatorCredsRecord | null> {
    if (!/^U[A-Z2-7]{55}$/.test(id)) return null;
    return this.serialized(async () => {
      const file = join(this.operatorsDir, `${id}.json`);
      const record = await readJson<OperatorCredsRecord | null>(file, null);
      if (!record) return null;
      const revoked = { ...record, revoked: true };
      await writeJson(file, revoked);
      this.revocations[id] = Math.floor(Date.now() / 1000);
      await writeJson(this.revocationsFile, this.revocations);
      await this.pushOrRetry(`revoking operator credentials ${record.name}`);
      this.o.log('info', `revoked operator bus credentials "${record.name}" (${id})`);
      return revoked;
    });
  }

  /**
   * A node agent's credentials (`aiflock node join`): a user of the agents account allowed
   * only its own `node.<name>.>` subjects and replies under its own inbox prefix. They do
   * not expire (a host stays joined for months); `node remove` revokes them, and their
   * revocation is kept for as long as the record of them.
   */
  async nodeCreds(node: string): Promise<{ id: string; creds: string }> {
    const user = await this.o.trust.issueInstanceUser(`node-${node}`, nodePermissions(node), null);
    await mkdir(this.nodesDir, { recursive: true, mode: 0o700 });
    await writeJson(join(this.nodesDir, `${user.publicKey}.json`), { id: user.publicKey, node, issuedAt: new Date().toISOString() });
    return { id: user.publicKey, creds: user.creds };
  }

  /** Cut a node agent off the bus: every server closes its connection and refuses its key from then on. */
  async revokeNodeCreds(id: string, node: string): Promise<void> {
    if (!/^U[A-Z2-7]{55}$/.test(id)) return;
    await this.serialized(async () => {
      this.revocations[id] = Math.floor(Date.now() / 1000);
      await writeJson(this.revocationsFile, this.revocations);
      await this.pushOrRetry(`revoking node ${node}`);
      this.o.log('info', `revoked the bus credentials of node ${node} (${id})`);
    });
  }

  /** Re-issue credentials that are past half their life; drop revocations nobody can use any more. */
  private async renewDue(): Promise<void> {
    const now = Date.now() / 1000;
    for (const id of await this.issuedIds()) {
      await this.serialized(async () => {
        // Looked up inside the queue: a revoke that ran meanwhile must not be undone.
        const u = await this.user(id);
        if (u && !u.suspended && u.expiresAt - now < this.o.ttlSeconds / 2) await this.write(id, u.agent, u.seed, u.src);
      });
    }
    await this.serialized(async () => {
      // A revoked key's JWTs have all expired after one lifetime (renewal keeps the same key,
      // but a revoked instance is never renewed).
      const horizon = now - this.o.ttlSeconds - 60;
      // Operator credentials live longer than an instance's (or for ever): their revocations
      // stay until they would have expired.
      const operators = new Map((await this.listAdminCreds()).map((r) => [r.id, r]));
      // Node credentials never expire: their revocations are kept for good.
      const nodes = new Set((await readdir(this.nodesDir).catch(() => [] as string[])).map((f) => f.replace(/\.json$/, '')));
      const kept = Object.fromEntries(Object.entries(this.revocations).filter(([key, at]) => at > horizon || operators.has(key) || nodes.has(key)));
      if (Object.keys(kept).length !== Object.keys(this.revocations).length) {
        this.revocations = kept;
        await writeJson(this.revocationsFile, kept);
        await this.pushAccount();
      }
    });
  }

  /** The accounts' JWTs with the current revocations, for the server's config and for pushes. */
  accountJwts(): Promise<AccountJwts> {
    return this.o.trust.accountJwts(this.revocations);
  }

  /**
   * Push now; if the servers cannot be reached, the revocation is already on the list (and in
   * the spawned server's config for its next start) and goes out on the next renewal tick.
   */
  private async pushOrRetry(what: string): Promise<void> {
    try {
      const before = this.confirmed;
      const names = await this.pushAccount();
      this.unpushed = false;
      // A server just back may take a retry or two (its routes come up after its client port).
      // Any push may be the one that reaches it (a revocation made meanwhile, a retry), not
      // only catchUp's: a server confirming for the first time since the last push is caught up.
      if (before.size > 0 && Object.keys(this.revocations).length > 0) {
        for (const id of this.confirmed) if (!before.has(id)) this.away.add(names.get(id) ?? id);
      }
      if (this.away.size > 0) this.o.log('info', `NATS server(s) ${[...this.away].join(', ')} now have the current revocations`);
      this.away.clear();
    } catch (err) {
      this.unpushed = true;
      this.o.log('error', `${what}: the account update did not reach the NATS servers (${String(err)}); retrying`);
    }
  }

  /**
   * Push both accounts to every server of the bus. Each server's resolver answers the update
   * for itself, so the answers say who has it: any server that answers the system ping and did
   * not confirm makes this fail (and the push is retried), so a revocation is never taken as
   * done while one server of a cluster would still let the key in.
   */
  private async pushAccount(): Promise<Map<string, string>> {
    const sys = this.sys;
    if (!sys) throw new Error('bus credentials not started');
    const servers = await this.liveServers(sys);
    const { flock, agents } = await this.accountJwts();
    // Instances' keys are revoked in the agents account, operators' tools in the flock account.
    const push = async (jwt: string): Promise<Set<string>> => {
      const ok = new Set<string>();
      const replies = await sys.requestMany('$SYS.REQ.CLAIMS.UPDATE', new TextEncoder().encode(jwt), { strategy: RequestStrategy.Count, maxMessages: Math.max(1, servers.size), maxWait: 5_000 });
      for await (const reply of replies) {
        const body = JSON.parse(new TextDecoder().decode(reply.data)) as ClaimsReply;
        const name = body.server?.name ?? body.server?.id ?? 'a server';
        if (body.data?.code !== 200) throw new Error(`NATS server ${name} refused the account update: ${body.error?.description ?? body.data?.message ?? 'no reason given'}`);
        if (body.server?.id) ok.add(body.server.id);
      }
      if (ok.size === 0) throw new Error('no NATS server confirmed the account update');
      return ok;
    };
    const [a, f] = await Promise.all([push(agents), push(flock)]);
    const missing = [...servers].filter(([id]) => !a.has(id) || !f.has(id)).map(([, name]) => name);
    if (missing.length > 0) throw new Error(`NATS server(s) ${missing.join(', ')} did not confirm the account update`);
    this.confirmed = new Set([...a].filter((id) => f.has(id)));
    return servers;
  }

  /** The servers of the bus (id → name), as they answer the system account's ping. */
  private async liveServers(sys: NatsConnection): Promise<Map<string, string>> {
    const servers = new Map<string, string>();
    const replies = await sys.requestMany('$SYS.REQ.SERVER.PING', undefined, { strategy: RequestStrategy.JitterTimer, jitter: 300, maxWait: 2_000 });
    for await (const reply of replies) {
      const body = JSON.parse(new TextDecoder().decode(reply.data)) as ClaimsReply;
      if (body.server?.id) servers.set(body.server.id, body.server.name ?? body.server.id);
    }
    return servers;
  }

  /** While keys are revoked, the accounts to a server that has not confirmed them. */
  private async catchUp(): Promise<void> {
    if (this.unpushed || !this.sys || Object.keys(this.revocations).length === 0) return;
    const servers = await this.liveServers(this.sys);
    const away = [...servers].filter(([id]) => !this.confirmed.has(id)).map(([, name]) => name);
    if (away.length === 0) return;
    for (const name of away) this.away.add(name);
    await this.pushOrRetry(`bringing NATS server(s) ${away.join(', ')} up to date with the revocations`);
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async issuedIds(): Promise<string[]> {
    const files = await readdir(join(this.o.dir, 'users')).catch(() => [] as string[]);
    return files.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length)).filter((id) => INSTANCE_ID_PATTERN.test(id));
  }

  private user(instanceId: string): Promise<UserRecord | null> {
    return readJson<UserRecord | null>(this.userFile(instanceId), null);
  }

  private mountOf(instanceId: string): string {
    return join(this.o.mountsDir ?? join(this.o.dir, 'instances'), instanceId);
  }

  private userFile(instanceId: string): string {
    return join(this.o.dir, 'users', `${instanceId}.json`);
  }

  private get nodesDir(): string {
    return join(this.o.dir, 'nodes');
  }

  private get operatorsDir(): string {
    return join(this.o.dir, 'operators');
  }

  private get revocationsFile(): string {
    return join(this.o.dir, 'revocations.json');
  }
}

function assertInstanceId(id: string): void {
  // It becomes a path and a subject: anything else is a bug upstream.
  if (!INSTANCE_ID_PATTERN.test(id)) throw new Error(`not an instance id: ${JSON.stringify(id)}`);
}

async function readJson<T>(file: string, fallback: T): Promise<T> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw err;
  }
}

async function writeJson(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify(value), { mode: 0o600 });
  await rename(tmp, file);
}
