import type { Clock } from '../ports/clock.js';
import type { AuditAnchor, AuditStore } from '../ports/audit.js';
import { chainEntry, type AuditEntry, type AuditHead, type AuditOutcome } from './entry.js';
import { verifyAuditChain, type AuditVerdict } from './verify.js';

export interface AuditRecord {
  actor: string;
  action: string;
  resource: string;
  outcome: AuditOutcome;
  requestId?: string;
  correlationId?: string;
  details?: unknown;
}

/**
 * The tamper-evident audit log (security invariant 5). Appends are chained under the
 * store's exclusive lock, then the new head is written to an anchor kept outside the
 * table, so deleting the newest entries is detectable too.
 */
export class AuditLog {
  /**
   * One anchor write at a time, always of the newest head: appends that arrive while a write
   * is in flight share the next one, so a busy flock writes the anchor file once per batch
   * instead of once per entry, and an older head never overwrites a newer one.
   */
  private anchoring: Promise<void> = Promise.resolve();
  private pending: { head: AuditHead; written: Promise<void> } | null = null;
  /** The newest seq a batch has been given. Appends finish out of order on a pooled store. */
  private queued = 0;

  constructor(private readonly deps: { store: AuditStore; anchor: AuditAnchor; clock: Clock; log?: (level: 'error', msg: string) => void }) {}

  async record(r: AuditRecord): Promise<AuditEntry> {
    const ts = this.deps.clock.now().toISOString();
    const entry = await this.deps.store.append((head) =>
      chainEntry(head, {
        ts,
        actor: r.actor,
        action: r.action,
        resource: r.resource,
        outcome: r.outcome,
        requestId: r.requestId ?? null,
        correlationId: r.correlationId ?? null,
        details: r.details ?? null,
      }),
    );
    await this.anchorAt({ seq: entry.seq, hash: entry.hash });
    return entry;
  }

  private anchorAt(head: AuditHead): Promise<void> {
    // A newer head is already written or on its way: that write anchors this entry too.
    if (head.seq <= this.queued) return this.anchoring;
    this.queued = head.seq;
    if (this.pending) {
      this.pending.head = head;
      return this.pending.written;
    }
    const batch = { head, written: Promise.resolve() };
    batch.written = this.anchoring.then(async () => {
      // From here on, later appends start the next batch.
      this.pending = null;
      try {
        await this.deps.anchor.advance(batch.head);
      } catch (err) {
        // The entries are committed; a stale anchor only weakens truncation detection for the
        // newest entries, which `verify` still checks for consistency.
        this.deps.log?.('error', `audit anchor not advanced to ${batch.head.seq}: ${String(err)}`);
      }
    });
    this.pending = batch;
    this.anchoring = batch.written;
    return batch.written;
  }

  /** Check the chain, the anchor, and any heads the caller recorded earlier. */
  async verify(checkpoints: readonly AuditHead[] = []): Promise<AuditVerdict> {
    await this.anchoring;
    return verifyAuditChain({ entries: this.deps.store.scan(), byHash: (h) => this.deps.store.byHash(h), anchor: await this.deps.anchor.read(), checkpoints });
  }
}
