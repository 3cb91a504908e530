import { createHash } from 'node:crypto';
import type { AuditEntry, AuditHead } from '@aiflock/protocol';
import { canonicalJson } from '../manifest/digest.js';

// The entry's shape is part of the API (protocol); the chain's arithmetic is here.
export { AUDIT_OUTCOMES, type AuditEntry, type AuditHead, type AuditOutcome } from '@aiflock/protocol';

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
