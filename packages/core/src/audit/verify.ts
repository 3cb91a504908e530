import type { AuditVerdict, TamperKind } from '@aiflock/protocol';
import { auditHash, GENESIS_HASH, type AuditEntry, type AuditHead } from './entry.js';

export type { TamperKind, AuditVerdict } from '@aiflock/protocol';

export interface VerifySource {
  /** Every entry in ascending seq order. */
  entries: AsyncIterable<AuditEntry>;
  /** The entry with this hash, wherever it is stored (to tell a moved entry from an edited one). */
  byHash(hash: string): Promise<AuditEntry | undefined>;
  /**
   * The head recorded outside the table. `invalid` when the anchor exists but its signature
   * does not verify; null when there is none (a fresh log).
   */
  anchor: AuditHead | null | 'invalid';
  /** Heads recorded earlier elsewhere (e.g. exported to write-once storage); checked like the anchor. */
  checkpoints?: readonly AuditHead[];
}

/**
 * Walk the chain once and report the first place where it breaks, and how:
 * - deleted: a seq is missing (an entry was removed from the middle or the start);
 * - reordered: an intact entry sits at another position than the one it was written at;
 * - edited: an entry's content no longer matches its hash, or its hash was recomputed and
 *   the next entry no longer links to it;
 * - truncated: the newest entries are gone, which only the anchor can tell.
 */
export async function verifyAuditChain(src: VerifySource): Promise<AuditVerdict> {
  let prev: AuditHead = { seq: 0, hash: GENESIS_HASH };
  let count = 0;
  const fail = (seq: number, reason: TamperKind, message: string): AuditVerdict => ({ ok: false, seq, reason, message, entries: count });
  if (src.anchor === 'invalid') return fail(0, 'anchor_invalid', 'the audit head anchor does not verify against its key: it was replaced or edited');
  const anchor = src.anchor;
  const known = [...(anchor ? [anchor] : []), ...(src.checkpoints ?? [])];

  for await (const e of src.entries) {
    const expected = prev.seq + 1;
    if (e.seq > expected) {
      const moved = await src.byHash(e.prevHash);
      if (moved && moved.seq !== prev.seq) return fail(expected, 'reordered', `entry ${e.seq} links to entry ${moved.seq}, not to entry ${prev.seq}`);
      return fail(expected, 'deleted', `entries ${expected}${e.seq - 1 > expected ? `..${e.seq - 1}` : ''} are missing (the next stored entry is ${e.seq})`);
    }
    const intact = auditHash(e) === e.hash;
    if (!intact) {
      // An authentic entry moved here verifies at the position it was written at; look for
      // that position near this one (a swap moves entries by a few places).
      const written = originalSeq(e);
      if (written !== null) return fail(e.seq, 'reordered', `entry at seq ${e.seq} was written as entry ${written}`);
      return fail(e.seq, 'edited', `entry ${e.seq} does not match its hash: its content was changed`);
    }
    if (e.prevHash !== prev.hash) {
      // The entry itself is intact but does not follow its predecessor: the predecessor was
      // rewritten with a recomputed hash.
      const at = prev.seq || e.seq;
      return fail(at, 'edited', `entry ${e.seq} does not link to ${prev.seq ? `entry ${prev.seq}` : 'the start of the log'}: entry ${at} was rewritten`);
    }
    for (const k of known) {
      if (e.seq === k.seq && e.hash !== k.hash) {
        const what = k === anchor ? 'the anchored head' : `the recorded head ${k.seq}:${k.hash.slice(0, 12)}…`;
        return fail(e.seq, 'edited', `entry ${e.seq} differs from ${what}: the chain was rewritten from there or before`);
      }
    }
    prev = { seq: e.seq, hash: e.hash };
    count++;
  }
  const furthest = known.reduce<AuditHead | null>((a, k) => (!a || k.seq > a.seq ? k : a), null);
  if (furthest && prev.seq < furthest.seq) {
    const what = furthest === anchor ? 'the anchored head' : 'a recorded head';
    return fail(prev.seq + 1, 'truncated', `entries ${prev.seq + 1}..${furthest.seq} are missing: ${what} is entry ${furthest.seq}, the log ends at ${prev.seq}`);
  }
  return { ok: true, entries: count, head: count ? prev : null, anchored: anchor };
}

const REORDER_WINDOW = 1_000;

function originalSeq(e: AuditEntry): number | null {
  for (let d = 1; d <= REORDER_WINDOW; d++) {
    for (const s of [e.seq - d, e.seq + d]) if (s >= 1 && auditHash({ ...e, seq: s }) === e.hash) return s;
  }
  return null;
}
