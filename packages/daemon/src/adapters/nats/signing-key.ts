import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { createUser, fromSeed, type KeyPair } from '@nats-io/nkeys';

/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows it. */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
/** DER prefix of an SPKI Ed25519 public key; the 32-byte key follows it. */
const SPKI_ED25519_LENGTH = 12;
/** nkeys' prefix byte of an encoded private key ('P'). */
const PRIVATE_PREFIX = 15 << 3;

/**
 * An nkey whose key pair is derived once, natively. `@nats-io/nkeys` derives the Ed25519 key
 * pair from the seed again, in tweetnacl (JavaScript), for every `getPublicKey`,
 * `getPrivateKey` and `sign`, and encoding one JWT asks for it about five times: at every
 * scale-up, revocation and credentials renewal that was 11 % of the daemon's CPU (tens of ms
 * per JWT on a busy machine). Here Node's Ed25519 (OpenSSL) derives the key once and signs;
 * Ed25519 is deterministic, so the signatures are the very ones nkeys would make (the unit
 * test compares them). nkeys still parses and checks the seed (prefix, CRC).
 */
export class SigningKey implements KeyPair {
  private readonly nkey: KeyPair;
  private readonly privateKey: KeyObject;
  private readonly publicKey: string;
  /** The 32-byte Ed25519 seed and public key, as nkeys' private key carries them. */
  private readonly secret: Uint8Array;

  private constructor(seed: Uint8Array) {
    // Throws on a bad prefix or checksum, as nkeys does.
    this.nkey = fromSeed(seed);
    // An nkey seed is base32 of: 2 bytes of prefix and role, the 32-byte Ed25519 seed, a CRC-16.
    const decoded = base32Decode(new TextDecoder().decode(seed));
    const role = ((decoded[0]! & 7) << 5) | ((decoded[1]! & 248) >> 3);
    const raw = decoded.subarray(2, 34);
    this.privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, raw]), format: 'der', type: 'pkcs8' });
    const pub = createPublicKey(this.privateKey).export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_LENGTH);
    this.publicKey = nkeyText(Uint8Array.of(role, ...pub));
    this.secret = Uint8Array.of(...raw, ...pub);
  }

  static fromSeed(seed: string | Uint8Array): SigningKey {
    return new SigningKey(typeof seed === 'string' ? new TextEncoder().encode(seed) : seed);
  }

  /** A new user nkey (an instance's or an operator tool's identity). */
  static user(): SigningKey {
    return new SigningKey(createUser().getSeed());
  }

  getPublicKey(): string {
    this.nkey.getSeed(); // throws once cleared, as nkeys does
    return this.publicKey;
  }
  getPrivateKey(): Uint8Array {
    this.nkey.getSeed();
    return new TextEncoder().encode(nkeyText(Uint8Array.of(PRIVATE_PREFIX, ...this.secret)));
  }
  getSeed(): Uint8Array {
    return this.nkey.getSeed();
  }
  sign(input: Uint8Array): Uint8Array {
    this.nkey.getSeed();
    return new Uint8Array(sign(null, input, this.privateKey));
  }
  verify(input: Uint8Array, sig: Uint8Array): boolean {
    return verify(null, input, createPublicKey(this.privateKey), sig);
  }
  clear(): void {
    this.secret.fill(0);
    this.nkey.clear();
  }
  seal(input: Uint8Array, recipient: string, nonce?: Uint8Array): Uint8Array {
    return this.nkey.seal(input, recipient, nonce);
  }
  open(message: Uint8Array, sender: string): Uint8Array | null {
    return this.nkey.open(message, sender);
  }
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `bytes` (prefix byte and payload) with nkeys' CRC-16 appended, in base32: an nkey's text. */
function nkeyText(bytes: Uint8Array): string {
  const crc = crc16(bytes);
  return base32Encode(Uint8Array.of(...bytes, crc & 0xff, crc >>> 8));
}

/** CRC-16/XMODEM (CCITT polynomial 0x1021, initial 0), nkeys' checksum. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** RFC 4648 base32 without padding, as nkeys writes keys (it does not export its codec). */
function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function base32Decode(s: string): Uint8Array {
  const out = new Uint8Array(Math.floor((s.length * 5) / 8));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const ch of s) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) throw new Error('nkey: not base32');
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out[at++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  return out;
}
