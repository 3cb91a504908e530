import type { Clock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';

export interface LogRetention {
  /** Rows older than this go. */
  retentionMs: number;
  /** Rows kept per instance, newest first. */
  perInstance: number;
  /** Rows kept in all, newest first. */
  total: number;
}

/**
 * Keeps agent log storage bounded: an instance that logs as fast as its rate limit allows, for
 * as long as it likes, holds at most `perInstance` rows, the flock at most `total`, and
 * nothing is kept past retention. The ingest path cuts each line to a maximum length, so
 * rows × line length bounds the bytes too.
 */
export class LogSweeper {
  constructor(private readonly deps: { store: Store; clock: Clock; retention: LogRetention; log: (level: 'info', msg: string, data?: Record<string, unknown>) => void }) {}

  async sweep(): Promise<number> {
    const { retentionMs, perInstance, total } = this.deps.retention;
    const before = new Date(this.deps.clock.now().getTime() - retentionMs).toISOString();
    const deleted = await this.deps.store.logs.prune({ before, perInstance, total });
    if (deleted > 0) this.deps.log('info', `log sweeper deleted ${deleted} log rows past retention or the row limits`, { deleted });
    return deleted;
  }
}
