import type { Kysely } from 'kysely';
import type { Database } from './tables.js';

/** One store write: its statements, run inside whatever transaction it is given. */
export type WriteOp<T> = (trx: Kysely<Database>) => Promise<T>;

/** A table whose write lock the write needs (the audit chain's); taken before any other statement of its transaction. */
export type LockedTable = keyof Database & string;

/**
 * What a write says about the locks it takes. `lock`: a table lock it needs (taken first).
 * `row`: the task row it updates or inserts; a group applies such writes in row order, so two
 * groups on parallel lanes lock rows in the same order and never wait on each other in a cycle.
 */
export interface WriteLocks {
  lock?: LockedTable;
  row?: string;
}

/** Runs a write durably: its promise settles only once the write is committed (or failed). */
export type Writer = <T>(op: WriteOp<T>, locks?: WriteLocks) => Promise<T>;

/** Each write in its own implicit transaction: what the repos do without group commit. */
export const directWriter =
  (db: Kysely<Database>): Writer =>
  (op) =>
    op(db);

interface Pending {
  op: WriteOp<unknown>;
  lock: LockedTable | undefined;
  row: string;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions {
  /** Most writes in one transaction; the rest wait for the next. */
  maxBatch?: number;
  /**
   * Transactions in flight at once. One on SQLite (one connection). On PostgreSQL each
   * statement is a round trip, so a few connections committing groups side by side keep
   * more of them in flight; the audit lock keeps the chain linear across them.
   */
  lanes?: number;
  /** Every committed batch: how many writes it held and how long its transaction took. */
  onBatch?: (size: number, ms: number) => void;
}

/**
 * Group commit for the task path. Writes that arrive together (the API creating a batch of
 * tasks, the results of many instances) share one transaction: one commit, one fsync, one
 * round trip to PostgreSQL's WAL instead of one each. A write's promise resolves only after
 * the transaction holding it committed, so "durable before acknowledged" still holds.
 *
 * There is no timer: when a lane is free, a write starts a transaction on the next turn of
 * the event loop (gathering what arrived in the same turn), and writes that arrive while
 * every lane commits wait and go together in the next. A lone write therefore pays no added
 * wait; under load the groups grow by themselves.
 *
 * A write that needs a table's lock (an audit append reads the chain's head, then appends)
 * says so; its transaction takes that lock before anything else, so concurrent groups append
 * to the chain one after the other. If a group fails, each of its writes is retried in a
 * transaction of its own: only the write that is bad fails, the others commit.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private running = 0;
  private scheduled = false;
  private readonly maxBatch: number;
  private readonly lanes: number;

  constructor(
    private readonly db: Kysely<Database>,
    /** Takes a table's write lock inside a transaction (held until it ends). */
    private readonly lockTable: (trx: Kysely<Database>, table: LockedTable) => Promise<void>,
    private readonly opts: GroupCommitOptions = {},
  ) {
    this.maxBatch = Math.max(1, opts.maxBatch ?? 500);
    this.lanes = Math.max(1, opts.lanes ?? 1);
  }

  readonly write: Writer = <T>(op: WriteOp<T>, locks: WriteLocks = {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      this.queue.push({ op, lock: locks.lock, row: locks.row ?? '', resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled && this.running < this.lanes) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });

  /** Resolves once every write queued so far has settled (before the store closes). */
  async idle(): Promise<void> {
    while (this.running > 0 || this.scheduled || this.queue.length > 0) await new Promise((r) => setTimeout(r, 1));
  }

  /** Start a transaction on every free lane while writes wait; each lane takes what is queued when it starts. */
  private pump(): void {
    while (this.running < this.lanes && this.queue.length > 0) {
      this.running++;
      void this.commit(this.queue.splice(0, this.maxBatch)).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    const started = performance.now();
    let results: unknown[];
    try {
      results = await this.db.transaction().execute(async (trx) => {
        // Locks first, in one order: two transactions never wait on each other's table locks
        // while holding row locks the other wants.
        for (const table of [...new Set(batch.flatMap((p) => (p.lock ? [p.lock] : [])))].sort()) await this.lockTable(trx, table);
        // The writes of one group are independent (a caller awaits a write before the next
        // that depends on it), so they may run in row order rather than arrival order.
        const order = batch.map((p, i) => i).sort((a, b) => (batch[a]!.row < batch[b]!.row ? -1 : batch[a]!.row > batch[b]!.row ? 1 : a - b));
        const out: unknown[] = new Array(batch.length);
        for (const i of order) out[i] = await batch[i]!.op(trx);
        return out;
      });
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      // Nothing of the batch was committed: run each write alone, so only the bad one fails.
      for (const p of batch) await this.commit([p]);
      return;
    }
    this.opts.onBatch?.(batch.length, performance.now() - started);
    batch.forEach((p, i) => p.resolve(results[i]));
  }
}
