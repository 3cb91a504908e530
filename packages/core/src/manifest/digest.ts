import { createHash } from 'node:crypto';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import type { Manifest } from './schema.js';

/**
 * Content address of a manifest: sha256 over its validated form in canonical JSON (sorted
 * keys), so two spellings of the same agent (yaml or md, defaults written or omitted) have
 * the same digest.
 */
export function manifestDigest(manifest: Manifest): string {
  return `sha256:${createHash('sha256').update(canonicalJson(manifest)).digest('hex')}`;
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * The manifest's CIDv1 (raw codec, sha2-256, base32 "bafkrei…"): the same bytes as the sha256
 * digest named the IPFS way, as the users' documents load agents "by CID".
 */
export function manifestCid(digest: string): string {
  const hex = /^sha256:([0-9a-f]{64})$/.exec(digest)?.[1];
  if (!hex) throw new Error(`not a manifest digest: ${digest}`);
  return CID.createV1(raw.code, Digest.create(sha256.code, Uint8Array.from(Buffer.from(hex, 'hex')))).toString();
}

/** A stored manifest named by content: its sha256 digest or its CID, always as the digest. */
export function digestOfRef(ref: string): string | null {
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(ref);
  if (m) return `sha256:${m[1]!.toLowerCase()}`;
  try {
    const cid = CID.parse(ref);
    // Only a raw-codec sha2-256 CID names the same bytes as the digest.
    if (cid.code !== raw.code || cid.multihash.code !== sha256.code || cid.multihash.size !== 32) return null;
    return `sha256:${Buffer.from(cid.multihash.digest).toString('hex')}`;
  } catch {
    return null;
  }
}
