import { ContextTag, type IngestDocument } from '@aiflock/protocol';
import type { TaskRecord } from '../ports/store.js';
import { isTerminal } from '../task/lifecycle.js';
import { queryOf } from './context-service.js';

/** The collection finished runs are recorded in. */
export const RUNS_COLLECTION = 'runs';

const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)} …` : s);

/**
 * A finished task as a searchable note: what was asked, and what came back (result or error),
 * tagged by agent, type and outcome, so later jobs' context packs and searches can draw on
 * what earlier runs found. Bounded: a run is one small document, not its whole output.
 */
export function runDocument(t: TaskRecord): IngestDocument {
  const tags = [`agent:${t.agent}`, `type:${t.type}`, `status:${t.status}`].filter((tag) => ContextTag.safeParse(tag).success);
  const answer = t.status === 'completed' ? `Result:\n${cut(t.result ?? '', 6000)}` : `Outcome: ${t.status}\n${cut(t.error ?? '', 2000)}`;
  return {
    id: t.id,
    kind: 'note',
    source: `task/${t.id}`,
    title: `${t.agent} ${t.type} task ${t.status}`,
    text: `Input:\n${cut(queryOf(t.input), 4000)}\n\n${answer}`,
    tags,
    owner: t.agent,
  };
}

/**
 * Records finished runs in the `runs` collection, one at a time in the background: a task's
 * completion never waits for (or fails because of) the embedder. Failures are reported, the
 * run is skipped; it can be ingested again later by id.
 */
export class RunRecorder {
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly ingest: (doc: IngestDocument) => Promise<unknown>,
    private readonly onError: (taskId: string, err: unknown) => void,
    /** Most runs waiting to be recorded; beyond it new ones are dropped (and reported). */
    private readonly maxPending = 1000,
  ) {}

  /** Called with every task that changed status; only terminal ones are recorded. */
  readonly record = (t: TaskRecord): void => {
    if (!isTerminal(t.status)) return;
    if (this.pending >= this.maxPending) {
      this.onError(t.id, new Error(`${this.pending} runs are already waiting to be recorded`));
      return;
    }
    this.pending += 1;
    this.queue = this.queue
      .then(() => this.ingest(runDocument(t)))
      .then(
        () => undefined,
        (err: unknown) => this.onError(t.id, err),
      )
      .finally(() => (this.pending -= 1));
  };

  /** Resolves when everything recorded so far has been written. */
  idle(): Promise<void> {
    return this.queue;
  }
}
