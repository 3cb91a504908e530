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
  /** Anchor writes in append order, so an older head never overwrites a newer one. */
  private anchoring: Promise<void> = Promise.resolve();

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
    const head = { seq: entry.seq, hash: entry.hash };
    this.anchoring = this.anchoring.then(async () => {
      try {
        await this.deps.anchor.advance(head);
      } catch (err) {
        // The entry is committed; a stale anchor only weakens truncation detection for the
        // newest entries, which `verify` still checks for consistency.
        this.deps.log?.('error', `audit anchor not advanced to ${head.seq}: ${String(err)}`);
      }
    });
    await this.anchoring;
    return entry;
  }

  /** Check the chain, the anchor, and any heads the caller recorded earlier. */
  async verify(checkpoints: readonly AuditHead[] = []): Promise<AuditVerdict> {
    await this.anchoring;
    return verifyAuditChain({ entries: this.deps.store.scan(), byHash: (h) => this.deps.store.byHash(h), anchor: await this.deps.anchor.read(), checkpoints });
  }
}
