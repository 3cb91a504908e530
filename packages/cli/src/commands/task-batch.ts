import { readFile } from 'node:fs/promises';
import { MAX_TASK_BATCH, type TaskBatchItemResult, type TaskBatchResponse, type TaskView } from '@aiflock/protocol';
import { CliError, STATUS_EXIT, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson, println, progress } from '../output.js';

/** Defaults the command line gives every line that does not say otherwise. */
export interface LineDefaults {
  agent?: string;
  type?: string;
  timeoutMs?: number;
  maxAttempts?: number;
}

type Refused = Extract<TaskBatchItemResult, { ok: false }>;

/** One line's outcome, by its line number in the file (1-based). */
export type LineResult = { line: number; ok: true; created: boolean; task: TaskView } | { line: number; ok: false; status: number; error: Refused['error'] };

/**
 * `aiflock task run --from tasks.jsonl`: one task per line (a JSON object: `agent`, `input`,
 * and optionally `type`, `timeoutMs`, `maxAttempts`, `idempotencyKey`), sent to
 * `POST /v1/tasks:batch` in batches. The whole file is read and parsed first: a line that is
 * not a JSON object stops the command before anything is queued. Lines the daemon refuses
 * fail alone; the others are queued. Retrying a file whose lines carry idempotency keys
 * queues nothing twice.
 */
export async function runFromFile(client: ApiClient, file: string, defaults: LineDefaults, o: { json?: boolean; batchSize: number }): Promise<void> {
  const lines = await readLines(file);
  const items = lines.map(({ line, value }) => ({ line, task: { ...withoutUndefined(defaults), ...value } }));
  if (items.length === 0) throw new CliError(`${file} holds no tasks (one JSON object per line)`, EXIT.usage);
  const size = Math.min(Math.max(1, o.batchSize), MAX_TASK_BATCH);
  const results: LineResult[] = [];
  for (let start = 0; start < items.length; start += size) {
    const chunk = items.slice(start, start + size);
    const res = await client.post<TaskBatchResponse>('/v1/tasks:batch', { tasks: chunk.map((c) => c.task) });
    for (const r of res.results) {
      const line = chunk[r.index]!.line;
      results.push(r.ok ? { line, ok: true, created: r.created, task: r.task } : { line, ok: false, status: r.status, error: r.error });
    }
    const failed = results.filter((r) => !r.ok).length;
    progress(`queued ${results.length - failed}/${items.length} task(s)${failed ? `, ${failed} refused` : ''}`);
  }
  const created = results.filter((r) => r.ok && r.created).length;
  const existing = results.filter((r) => r.ok && !r.created).length;
  const refused = results.filter((r): r is LineResult & { ok: false } => !r.ok);
  if (o.json) printJson({ created, existing, failed: refused.length, results });
  else {
    for (const r of refused) progress(`line ${r.line}: ${r.error.code}: ${r.error.message}`);
    println(`queued ${created} task(s)${existing ? `, ${existing} already queued (same idempotency key)` : ''}${refused.length ? `, ${refused.length} refused` : ''}`);
  }
  if (refused.length > 0) process.exitCode = STATUS_EXIT[refused[0]!.status] ?? EXIT.failure;
}

async function readLines(file: string): Promise<{ line: number; value: Record<string, unknown> }[]> {
  const text = await readFile(file === '-' ? '/dev/stdin' : file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${file}: ${err.code ?? err.message}`, EXIT.usage);
  });
  const out: { line: number; value: Record<string, unknown> }[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new CliError(`${file} line ${i + 1}: not JSON (${(err as Error).message}); nothing was queued`, EXIT.usage);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new CliError(`${file} line ${i + 1}: expected a JSON object such as {"agent":"echo","input":"hi"}; nothing was queued`, EXIT.usage);
    }
    out.push({ line: i + 1, value: value as Record<string, unknown> });
  });
  return out;
}

function withoutUndefined(o: LineDefaults): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
