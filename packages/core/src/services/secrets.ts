import { FlockError } from '../errors.js';
import { SECRET_NAME, type Manifest } from '../manifest/schema.js';
import type { Clock } from '../ports/clock.js';
import type { SecretCipher } from '../ports/secret-cipher.js';
import type { Store } from '../ports/store.js';

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
    return { secret: { name, createdAt: record.createdAt, updatedAt: now }, created: !prev };
  }

  list(): Promise<SecretView[]> {
    return this.deps.store.secrets.list();
  }

  async remove(name: string): Promise<void> {
    assertName(name);
    if (!(await this.deps.store.secrets.remove(name))) throw notFound(name);
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
