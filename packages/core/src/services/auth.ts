import { timingSafeEqual } from 'node:crypto';
import { FlockError } from '../errors.js';
import { ALL_SCOPES, isScope } from '../auth/scopes.js';
import { hashSecret, newOpaqueSecret, newTokenId, newTokenSecret, TOKEN_PREFIX } from '../auth/tokens.js';
import type { Clock } from '../ports/clock.js';
import type { Store, TokenRecord } from '../ports/store.js';

/** Who is calling: a token's id and the scopes it holds. The audit log records `id`. */
export interface Actor {
  id: string;
  scopes: readonly string[];
}

export interface AuthServiceDeps {
  store: Store;
  clock: Clock;
  sessionTtlMs: number;
  /** How long a WebSocket ticket may wait to be used. */
  ticketTtlMs?: number;
}

const TOUCH_EVERY_MS = 60_000;

/** Tokens, browser sessions and one-shot stream tickets. */
export class AuthService {
  /** Tickets live in memory: they are single-use, short-lived and only this process redeems them. */
  private readonly tickets = new Map<string, { actor: Actor; jobId: string; expires: number }>();
  /** Told of every revocation, to end what the token still holds open (live sockets). */
  private readonly revokedListeners = new Set<(tokenId: string) => void>();

  constructor(private readonly deps: AuthServiceDeps) {}

  async createToken(input: { name: string; scopes: string[]; expiresInMs?: number }): Promise<{ token: string; record: TokenRecord }> {
    const unknown = input.scopes.filter((s) => !isScope(s));
    if (unknown.length) {
      throw new FlockError('validation_failed', `unknown scope ${unknown.map((s) => `"${s}"`).join(', ')}; known scopes: ${ALL_SCOPES.join(', ')}`, {
        unknown,
        known: ALL_SCOPES,
      });
    }
    const now = this.deps.clock.now();
    const token = newTokenSecret();
    const record: TokenRecord = {
      id: newTokenId(),
      name: input.name,
      hash: hashSecret(token),
      scopes: [...new Set(input.scopes)],
      createdAt: now.toISOString(),
      lastUsedAt: null,
      expiresAt: input.expiresInMs === undefined ? null : new Date(now.getTime() + input.expiresInMs).toISOString(),
      revoked: false,
    };
    await this.deps.store.tokens.insert(record);
    return { token, record };
  }

  list(): Promise<TokenRecord[]> {
    return this.deps.store.tokens.list();
  }

  /**
   * Revoke a token: it authenticates nothing from now on, its stream tickets not yet used are
   * void, and listeners (`onRevoked`) end what it holds open, such as live WebSockets.
   */
  async revoke(id: string): Promise<TokenRecord> {
    const record = await this.deps.store.tokens.revoke(id);
    if (!record) throw new FlockError('token_not_found', `no token with id "${id}"`, { tokenId: id });
    for (const [k, t] of this.tickets) if (t.actor.id === id) this.tickets.delete(k);
    for (const listener of this.revokedListeners) listener(id);
    return record;
  }

  /** Call `listener` with the id of every token revoked from now on; returns how to stop. */
  onRevoked(listener: (tokenId: string) => void): () => void {
    this.revokedListeners.add(listener);
    return () => this.revokedListeners.delete(listener);
  }

  /** The actor behind a bearer secret, or why it is refused. */
  async authenticateToken(secret: string): Promise<Actor> {
    if (!secret.startsWith(TOKEN_PREFIX)) throw new FlockError('unauthenticated', `not an aiflock token (they start with "${TOKEN_PREFIX}")`);
    const record = await this.deps.store.tokens.getByHash(hashSecret(secret));
    return this.usable(record);
  }

  private async usable(record: TokenRecord | undefined): Promise<Actor> {
    if (!record) throw new FlockError('unauthenticated', 'unknown token');
    if (record.revoked) throw new FlockError('unauthenticated', `token ${record.id} is revoked`, { tokenId: record.id });
    const now = this.deps.clock.now();
    if (record.expiresAt && record.expiresAt <= now.toISOString()) {
      throw new FlockError('unauthenticated', `token ${record.id} expired at ${record.expiresAt}`, { tokenId: record.id });
    }
    // Recording every use would turn each read into a write; a minute's precision is plenty.
    if (!record.lastUsedAt || now.getTime() - Date.parse(record.lastUsedAt) > TOUCH_EVERY_MS) {
      await this.deps.store.tokens.touch(record.id, now.toISOString());
    }
    return { id: record.id, scopes: record.scopes };
  }

  /** Exchange a token for a browser session: a cookie secret and its CSRF token. */
  async createSession(tokenSecret: string): Promise<{ cookie: string; csrfToken: string; expiresAt: string; actor: Actor }> {
    const actor = await this.authenticateToken(tokenSecret);
    const now = this.deps.clock.now();
    const cookie = newOpaqueSecret('afs_');
    const csrfToken = newOpaqueSecret('afc_');
    const expiresAt = new Date(now.getTime() + this.deps.sessionTtlMs).toISOString();
    await this.deps.store.sessions.insert({ hash: hashSecret(cookie), tokenId: actor.id, csrfToken, createdAt: now.toISOString(), expiresAt });
    return { cookie, csrfToken, expiresAt, actor };
  }

  /** The actor behind a session cookie; with `csrf`, also checks the CSRF token. */
  async authenticateSession(cookie: string, csrf: string | undefined | null): Promise<Actor> {
    const session = await this.deps.store.sessions.getByHash(hashSecret(cookie));
    if (!session) throw new FlockError('unauthenticated', 'unknown or signed-out session');
    if (session.expiresAt <= this.deps.clock.now().toISOString()) {
      await this.deps.store.sessions.remove(session.hash);
      throw new FlockError('unauthenticated', 'the session expired; sign in again');
    }
    const actor = await this.usable(await this.deps.store.tokens.get(session.tokenId));
    if (csrf !== null && !sameSecret(csrf ?? '', session.csrfToken)) {
      throw new FlockError('csrf_failed', 'a change made with a session cookie needs its CSRF token in the x-csrf-token header');
    }
    return actor;
  }

  async endSession(cookie: string): Promise<void> {
    await this.deps.store.sessions.remove(hashSecret(cookie));
  }

  /** A one-shot ticket that lets a browser open the stream of one job (browsers cannot set WS headers). */
  issueTicket(actor: Actor, jobId: string): { ticket: string; expiresAt: string } {
    const now = this.deps.clock.now().getTime();
    for (const [k, t] of this.tickets) if (t.expires <= now) this.tickets.delete(k);
    const ticket = newOpaqueSecret('aft_');
    const expires = now + (this.deps.ticketTtlMs ?? 30_000);
    this.tickets.set(hashSecret(ticket), { actor, jobId, expires });
    return { ticket, expiresAt: new Date(expires).toISOString() };
  }

  /**
   * Redeems (and so consumes) a ticket for the stream of `jobId`. The token it was issued to
   * must still be good: a ticket is never worth more than the token behind it.
   */
  async redeemTicket(ticket: string, jobId: string): Promise<Actor> {
    const key = hashSecret(ticket);
    const t = this.tickets.get(key);
    this.tickets.delete(key);
    if (!t || t.expires <= this.deps.clock.now().getTime()) throw new FlockError('unauthenticated', 'unknown, used or expired stream ticket');
    if (t.jobId !== jobId) throw new FlockError('forbidden', `the ticket was issued for job ${t.jobId}, not ${jobId}`);
    // Tokens only: the loopback development bypass has no record.
    const record = await this.deps.store.tokens.get(t.actor.id);
    return record ? this.usable(record) : t.actor;
  }
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
