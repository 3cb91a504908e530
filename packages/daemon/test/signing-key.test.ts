import { randomBytes } from 'node:crypto';
import { createAccount, createOperator, createUser, fromPublic, fromSeed } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import { SigningKey } from '../src/adapters/nats/signing-key.js';

/**
 * The trust chain signs its JWTs with SigningKey (native Ed25519, key pair derived once)
 * instead of nkeys' own key pairs: it must be the same key and make the same signatures,
 * which nkeys (and so nats-server's checks) accept.
 */
describe('SigningKey', () => {
  const seeds = [createOperator(), createAccount(), createAccount(), createUser(), createUser()].map((k) => k.getSeed());

  it('is the nkey of its seed: same public key, private key and seed', () => {
    for (const seed of seeds) {
      const mine = SigningKey.fromSeed(new TextDecoder().decode(seed));
      const theirs = fromSeed(seed);
      expect(mine.getPublicKey()).toBe(theirs.getPublicKey());
      expect(mine.getPrivateKey()).toEqual(theirs.getPrivateKey());
      expect(mine.getSeed()).toEqual(theirs.getSeed());
    }
  });

  it('signs exactly as nkeys does, and nkeys verifies it', () => {
    for (const seed of seeds) {
      const mine = SigningKey.fromSeed(seed);
      const theirs = fromSeed(seed);
      for (const size of [0, 1, 64, 1000]) {
        const input = randomBytes(size);
        const sig = mine.sign(input);
        expect(Buffer.from(sig).equals(Buffer.from(theirs.sign(input)))).toBe(true);
        expect(fromPublic(mine.getPublicKey()).verify(input, sig)).toBe(true);
        expect(mine.verify(input, sig)).toBe(true);
        const forged = Uint8Array.from(sig);
        forged[0]! ^= 1;
        expect(mine.verify(input, forged)).toBe(false);
      }
    }
  });

  it('new user keys are user nkeys', () => {
    const a = SigningKey.user();
    const b = SigningKey.user();
    expect(a.getPublicKey()).toMatch(/^U[A-Z2-7]{55}$/);
    expect(a.getPublicKey()).not.toBe(b.getPublicKey());
    expect(fromSeed(a.getSeed()).getPublicKey()).toBe(a.getPublicKey());
  });

  it('refuses a seed that is not one (bad checksum), as nkeys does', () => {
    const text = new TextDecoder().decode(seeds[3]!);
    const broken = text.slice(0, 10) + (text[10] === 'A' ? 'B' : 'A') + text.slice(11);
    expect(() => SigningKey.fromSeed(broken)).toThrow();
  });

  it('a cleared key can no longer be used', () => {
    const k = SigningKey.fromSeed(createUser().getSeed());
    k.getPrivateKey();
    k.clear();
    expect(() => k.getSeed()).toThrow();
  });
});
