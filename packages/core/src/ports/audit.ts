import type { AuditEntry, AuditHead } from '../audit/entry.js';

export interface AuditFilter {
  actor?: string;
  action?: string;
  /** Exact resource, or a prefix when it ends with `*` (e.g. `agent/*`). */
  resource?: string;
  since?: string;
  until?: string;
  /** Entries with seq below this (paging newest first). */
  beforeSeq?: number;
  /** Entries with seq above this (following, oldest first). */
  afterSeq?: number;
  limit: number;
  /** Oldest first instead of newest first. */
  ascending?: boolean;
}

/** The audit table. The store never updates or deletes an entry. */
export interface AuditStore {
  /**
   * Append one entry, serialized against every other append: `build` receives the current
   * head and returns the entry to insert.
   */
  append(build: (head: AuditHead | null) => AuditEntry): Promise<AuditEntry>;
  list(filter: AuditFilter): Promise<AuditEntry[]>;
  /** Every entry in ascending seq order, read in pages. */
  scan(): AsyncIterable<AuditEntry>;
  byHash(hash: string): Promise<AuditEntry | undefined>;
}

/**
 * Where the head is kept outside the table's reach, so truncation is detectable. `read`
 * returns `invalid` when an anchor exists but does not verify.
 */
export interface AuditAnchor {
  read(): Promise<AuditHead | null | 'invalid'>;
  /** Record a new head; never moves backwards. */
  advance(head: AuditHead): Promise<void>;
}
