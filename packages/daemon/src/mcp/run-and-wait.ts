import type { RunAndWaitInput, TaskView } from '@aiflock/protocol';
import type { RouteApi } from './route-api.js';

/** Reports progress of a long call; a no-op when the caller asked for none. */
export type ToolProgress = (message: string) => Promise<void>;

/** Each long poll of the task lasts at most this long, so the caller hears of it at least this often. */
const POLL_MS = 5_000;
const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'dead_lettered']);

/**
 * Queue a task, then follow it with `GET /v1/tasks/{id}/wait` until it finishes, telling the
 * caller each time it is still going (MCP progress: the caller's request timeout may restart
 * on each). A cancelled call cancels the task at once: the caller gave up on the result, so
 * nobody is left to use the work.
 */
export async function runAndWait(api: RouteApi, input: RunAndWaitInput, progress: ToolProgress, signal: AbortSignal): Promise<TaskView> {
  const { waitMs, ...request } = input;
  let task = (await api.call('POST', '/v1/tasks', { body: request })) as TaskView;
  const until = waitMs === undefined ? Infinity : Date.now() + waitMs;
  const aborted = new Promise<null>((resolve) => (signal.aborted ? resolve(null) : signal.addEventListener('abort', () => resolve(null), { once: true })));
  await progress(`task ${task.id} ${task.status}`);
  while (!TERMINAL.has(task.status)) {
    const left = until - Date.now();
    if (left <= 0) break;
    const next = await Promise.race([api.call('GET', `/v1/tasks/${task.id}/wait`, { query: { timeoutMs: Math.min(POLL_MS, Math.ceil(left)) } }) as Promise<TaskView>, aborted]);
    if (next === null) {
      await api.call('POST', `/v1/tasks/${task.id}/cancel`);
      throw new Error(`the call was cancelled, and with it task ${task.id}`);
    }
    task = next;
    if (!TERMINAL.has(task.status)) await progress(`task ${task.id} ${task.status}`);
  }
  return task;
}
