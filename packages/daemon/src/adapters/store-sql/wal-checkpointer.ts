import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Pages the daemon's own connection may leave in the WAL before it checkpoints them itself:
 * only a backstop for a checkpointer that died (about 160 MB at SQLite's 4 KiB pages).
 */
export const BACKSTOP_AUTOCHECKPOINT_PAGES = 40_000;

export interface WalCheckpointerOptions {
  /** How often the worker copies what the WAL holds into the database file. */
  intervalMs?: number;
  /** A checkpoint that failed (the next one is tried all the same). */
  onError?: (message: string) => void;
  /** The worker is gone for good (it crashed): the daemon's connection must checkpoint again. */
  onGone?: () => void;
}

/**
 * Runs in the worker (CommonJS, given as source): its own connection to the database, which
 * checkpoints PASSIVE on a timer. PASSIVE never waits for the daemon's connection and never
 * blocks it: it copies the frames every reader is done with and leaves the rest for next time.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * Checkpoints a WAL-mode SQLite file off the daemon's thread.
 *
 * Left to itself, SQLite checkpoints inside whichever commit takes the WAL past
 * `wal_autocheckpoint` pages: that commit, on the daemon's one event loop, copies every page
 * into the database file and fsyncs it (about 9 ms on the reference machine, once in some
 * hundred task-path commits). Every request and bus message waiting on the loop meanwhile
 * waits too: that was the round trip's p99 (bench/README.md, "Task path"). Here a worker
 * thread with a connection of its own does the copying, so the daemon's commits only append.
 * The caller raises its own connection's `wal_autocheckpoint` to the backstop above.
 */
export function startWalCheckpointer(file: string, opts: WalCheckpointerOptions = {}): { stop: () => Promise<void> } {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, intervalMs: opts.intervalMs ?? 200 } });
  // A timer in the worker must not keep the daemon alive on its own.
  worker.unref();
  let lastError = '';
  worker.on('message', (m: { error?: string }) => {
    // One line per distinct failure: a failing checkpoint fails the same way every interval.
    if (m.error && m.error !== lastError) opts.onError?.(m.error);
    lastError = m.error ?? '';
  });
  let stopping = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', (err) => opts.onError?.(`the WAL checkpointer stopped: ${err.message}`));
  void exited.then(() => {
    if (!stopping) opts.onGone?.();
  });
  return {
    stop: () => {
      if (!stopping) {
        // Referenced again while it stops: a daemon whose last work is awaiting this exit
        // would otherwise have an empty event loop and end before its shutdown does.
        worker.ref();
        worker.postMessage('stop');
      }
      stopping = true;
      return exited;
    },
  };
}
