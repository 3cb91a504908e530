import { createHash, randomBytes } from 'node:crypto';

/** Bearer tokens start with this, so they are recognisable in logs and by secret scanners. */
export const TOKEN_PREFIX = 'afk_';

/** 32 random bytes: guessing is hopeless, which is what makes an unsalted hash safe (below). */
export function newTokenSecret(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function newTokenId(): string {
  return `tok_${randomBytes(8).toString('hex')}`;
}

/** Secrets for sessions, CSRF and stream tickets: as strong as tokens, different prefix. */
export function newOpaqueSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/**
 * Tokens are stored as sha256 of the secret. A slow password hash (scrypt, argon2) exists to
 * slow guessing of low-entropy human passwords; our secrets carry 256 random bits, so a
 * single fast hash is already unguessable and lets each request be checked with one indexed
 * lookup instead of a deliberately slow computation.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
