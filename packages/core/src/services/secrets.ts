import { FlockError } from '../errors.js';
import { SECRET_NAME, type Manifest } from '../manifest/schema.js';
import type { Clock } from '../ports/clock.js';
import type { SecretCipher } from '../ports/secret-cipher.js';
import type { Store } from '../ports/store.js';
import { compileScrubber, type Scrubber } from './secret-scrub.js';

export interface SecretServiceDeps {
  store: Store;
  cipher: SecretCipher;
  clock: Clock;
}

export interface SecretView {
  name: string;
  createdAt: string;
  updatedAt: string;
}

export const MAX_SECRET_BYTES = 64 * 1024;

/**
 * Named secrets held by the control plane. Values go in sealed and come out only to the
 * runtime (as files on a tmpfs) or the egress proxy (as headers): no read route exists.
 */
export class SecretService {
  /** Compiled scrubbers by the secret names a manifest holds, each with the stamp it was built under. */
  private readonly scrubbers = new Map<string, { stamp: string; scrub: Scrubber }>();
  /** Bumped by every set and remove here, so a change within one millisecond still misses the cache. */
  private generation = 0;

  constructor(private readonly deps: SecretServiceDeps) {}

  async set(name: string, value: string): Promise<{ secret: SecretView; created: boolean }> {
    assertName(name);
    if (typeof value !== 'string' || value.length === 0) {
      throw new FlockError('validation_failed', `secret ${name}: the value is empty`, { field: 'value' });
    }
    if (new TextEncoder().encode(value).length > MAX_SECRET_BYTES) {
      throw new FlockError('validation_failed', `secret ${name}: the value is larger than ${MAX_SECRET_BYTES} bytes`, { field: 'value' });
    }
    if (value.includes('\0')) throw new FlockError('validation_failed', `secret ${name}: the value contains a NUL byte`, { field: 'value' });
    const now = this.deps.clock.now().toISOString();
    const prev = await this.deps.store.secrets.get(name);
    const record = { name, sealed: this.deps.cipher.seal(value, name), createdAt: prev?.createdAt ?? now, updatedAt: now };
    await this.deps.store.secrets.put(record);
    this.generation++;
    return { secret: { name, createdAt: record.createdAt, updatedAt: now }, created: !prev };
  }

  list(): Promise<SecretView[]> {
    return this.deps.store.secrets.list();
  }

  async remove(name: string): Promise<void> {
    assertName(name);
    const removed = await this.deps.store.secrets.remove(name);
    this.generation++;
    if (!removed) throw notFound(name);
  }

  /** The plaintext, for the runtime and the proxy only. */
  async reveal(name: string): Promise<string> {
    const record = await this.deps.store.secrets.get(name);
    if (!record) throw notFound(name);
    return this.deps.cipher.open(record.sealed, name);
  }

  /** The files a manifest asks for: name → value. A missing secret is an error naming it. */
  async filesFor(manifest: Manifest): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const s of manifest.secrets) if (s.file) out[s.name] = await this.reveal(s.name);
    return out;
  }

  /**
   * Every secret the manifest names (file and header alike), for scrubbing what its agent
   * sends back. A secret not set (yet) is skipped: there is no value to find.
   */
  async heldBy(manifest: Manifest): Promise<{ name: string; value: string }[]> {
    const out: { name: string; value: string }[] = [];
    for (const s of manifest.secrets) {
      const record = await this.deps.store.secrets.get(s.name);
      if (record) out.push({ name: s.name, value: this.deps.cipher.open(record.sealed, s.name) });
    }
    return out;
  }

  /**
   * `heldBy` compiled into a scrubber, cached: everything an instance sends is scrubbed, and
   * opening every secret for every log line costs a decryption per secret per event. The
   * cache is checked against the secrets' names and `updatedAt` in the store (names and dates
   * only, nothing opened) on every call, so a secret set, replaced or removed, here or by
   * another daemon on the same database, is scrubbed by its new value from the next event on.
   */
  async scrubberFor(manifest: Manifest): Promise<Scrubber> {
    const names = [...new Set(manifest.secrets.map((s) => s.name))];
    if (names.length === 0) return noScrub;
    const key = names.join('\n');
    const dates = new Map((await this.deps.store.secrets.list()).map((r) => [r.name, r.updatedAt]));
    const stamp = `${this.generation}\n${names.map((n) => dates.get(n) ?? '-').join('\n')}`;
    const hit = this.scrubbers.get(key);
    if (hit?.stamp === stamp) return hit.scrub;
    const scrub = compileScrubber(await this.heldBy(manifest));
    // One entry per distinct set of secret names (in practice one per agent); a bound all the same.
    if (this.scrubbers.size >= MAX_SCRUBBERS) this.scrubbers.clear();
    this.scrubbers.set(key, { stamp, scrub });
    return scrub;
  }

  /** Headers the egress proxy adds to plain-HTTP requests to `host`. */
  async headersFor(manifest: Manifest, host: string): Promise<Record<string, string>> {
    return (await this.credentialsFor(manifest, host)).headers;
  }

  /**
   * What the egress proxy does for a plain-HTTP request to `host`: the headers to add, and
   * whether to speak HTTPS upstream (any header secret for the host asks for TLS).
   */
  async credentialsFor(manifest: Manifest, host: string): Promise<{ headers: Record<string, string>; tls: boolean }> {
    const headers: Record<string, string> = {};
    let tls = false;
    for (const s of manifest.secrets) {
      if (!s.header || !hostMatches(s.header.host, host)) continue;
      headers[s.header.name] = `${s.header.prefix}${await this.reveal(s.name)}`;
      tls ||= s.header.tls;
    }
    return { headers, tls };
  }
}

const MAX_SCRUBBERS = 1_000;
const noScrub: Scrubber = (value) => value;

function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase().replace(/:\d+$/, '');
  const h = host.toLowerCase().replace(/\.$/, '');
  return p.startsWith('*.') ? h.endsWith(p.slice(1)) : h === p;
}

function assertName(name: string): void {
  if (!SECRET_NAME.test(name)) {
    throw new FlockError('validation_failed', `secret name "${name}" is not valid: expected 1-100 letters, digits, "_", "." or "-"`, { field: 'name', value: name });
  }
}

const notFound = (name: string) => new FlockError('secret_not_found', `no secret named "${name}" (set it with: aiflock secret set ${name})`, { secret: name });
