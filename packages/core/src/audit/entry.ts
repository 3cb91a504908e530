import { createHash } from 'node:crypto';
import { canonicalJson } from '../manifest/digest.js';

export const AUDIT_OUTCOMES = ['ok', 'denied', 'error'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** One audit entry as stored: its place in the chain (seq, prevHash) and its own hash. */
export interface AuditEntry {
  seq: number;
  ts: string;
  actor: string;
  action: string;
  resource: string;
  outcome: AuditOutcome;
  requestId: string | null;
  correlationId: string | null;
  details: unknown;
  prevHash: string;
  hash: string;
}

/** The newest entry's position, which is all a verifier needs to detect truncation. */
export interface AuditHead {
  seq: number;
  hash: string;
}

/** The prevHash of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * sha256 over the canonical JSON (sorted keys, no whitespace) of every field but the hash
 * itself. The seq is inside, so an entry moved to another position no longer verifies, and
 * prevHash is inside, so each entry commits to the whole history before it.
 */
export function auditHash(e: Omit<AuditEntry, 'hash'>): string {
  const body = {
    seq: e.seq,
    ts: e.ts,
    actor: e.actor,
    action: e.action,
    resource: e.resource,
    outcome: e.outcome,
    requestId: e.requestId,
    correlationId: e.correlationId,
    details: e.details ?? null,
    prevHash: e.prevHash,
  };
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

/** The entry that follows `head` (null: the first entry). */
export function chainEntry(head: AuditHead | null, fields: Omit<AuditEntry, 'seq' | 'prevHash' | 'hash'>): AuditEntry {
  const unhashed = { ...fields, details: fields.details ?? null, seq: (head?.seq ?? 0) + 1, prevHash: head?.hash ?? GENESIS_HASH };
  return { ...unhashed, hash: auditHash(unhashed) };
}
