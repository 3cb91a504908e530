import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseDuration } from '@aiflock/protocol';
import { FINAL_STATUSES, type HumanQuestion, type TaskList, type TaskView } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { age, printJson, println, progress, table } from '../output.js';
import { toInt } from './shared.js';
import { printTaskLogs } from './task-logs.js';
import { runFromFile } from './task-batch.js';

const TERMINAL = new Set<string>(FINAL_STATUSES);

export function taskCommand(program: Command, client: () => ApiClient): void {
  const task = program.command('task').description('run and inspect tasks');

  task
    .command('run')
    .description('queue a task for an agent, or many from a JSON-lines file (--from)')
    .argument('[agent]', 'the agent (with --from: the default for lines that name none)')
    .option('-i, --input <json|text|@file>', 'task input: JSON, plain text, or @path to read it from a file')
    .option('--from <file>', 'queue one task per line of this JSON-lines file ("-": stdin); each line {"agent","input","type"?,"timeoutMs"?,"maxAttempts"?,"idempotencyKey"?}; progress on stderr')
    .option('--batch-size <n>', 'with --from: tasks per request (at most 1000)', '500')
    .option('-t, --type <type>', "task type (default: the agent's first handler)")
    .option('--timeout <duration>', 'deadline from now, e.g. 30s, 5m (default: the manifest task timeout)')
    .option('--max-attempts <n>', 'deliveries before the task is dead-lettered')
    .option('--idempotency-key <key>', 'retrying with the same key returns the same task')
    .option('-w, --wait', 'wait for the result; exit 5 if the task does not complete')
    .option('--json', 'print as JSON')
    .action(async (agent: string | undefined, o: RunOptions) => {
      if (o.from !== undefined) {
        for (const [flag, set] of [['--input', o.input], ['--idempotency-key', o.idempotencyKey], ['--wait', o.wait]] as const) {
          if (set !== undefined) throw new CliError(`${flag} does not go with --from: put it on each line of the file`, EXIT.usage);
        }
        const defaults = { agent, type: o.type, timeoutMs: o.timeout ? durationMs(o.timeout) : undefined, maxAttempts: o.maxAttempts ? toInt(o.maxAttempts, '--max-attempts') : undefined };
        return runFromFile(client(), o.from, defaults, { json: o.json, batchSize: toInt(o.batchSize, '--batch-size') });
      }
      if (agent === undefined) throw new CliError('name the agent: aiflock task run <agent> --input <json|text|@file> (or queue many with --from <file>)', EXIT.usage);
      if (o.input === undefined) throw new CliError("required option '-i, --input <json|text|@file>' not specified", EXIT.usage);
      const body = {
        agent,
        input: await readInput(o.input),
        ...(o.type ? { type: o.type } : {}),
        ...(o.timeout ? { timeoutMs: durationMs(o.timeout) } : {}),
        ...(o.maxAttempts ? { maxAttempts: toInt(o.maxAttempts, '--max-attempts') } : {}),
      };
      const headers: Record<string, string> = o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {};
      let t = await client().post<TaskView>('/v1/tasks', body, headers);
      if (!o.wait) {
        if (o.json) return printJson(t);
        return println(`${t.id} ${t.status} (follow with: aiflock task logs ${t.id} -f)`);
      }
      if (!o.json) progress(`${t.id} queued for ${agent}; waiting for the result...`);
      while (!TERMINAL.has(t.status)) t = await client().get<TaskView>(`/v1/tasks/${t.id}/wait?timeoutMs=30000`);
      if (o.json) printJson(t);
      else printOutcome(t);
      if (t.status !== 'completed') process.exitCode = EXIT.taskUnsuccessful;
    });

  task
    .command('list')
    .description('list tasks, newest first')
    .option('-a, --agent <name>', 'only this agent')
    .option('-s, --status <list>', 'comma-separated statuses, e.g. running,queued')
    .option('-n, --limit <n>', 'how many', '20')
    .option('--cursor <taskId>', 'continue after this task (from a previous --json page)')
    .option('--parent <taskId>', 'only the tasks this task delegated to other agents')
    .option('--json', 'print as JSON')
    .action(async (o: { agent?: string; status?: string; limit: string; cursor?: string; parent?: string; json?: boolean }) => {
      const q = new URLSearchParams({ limit: String(toInt(o.limit, '--limit')) });
      if (o.agent) q.set('agent', o.agent);
      if (o.status) q.set('status', o.status);
      if (o.cursor) q.set('cursor', o.cursor);
      if (o.parent) q.set('parent', o.parent);
      const page = await client().get<TaskList>(`/v1/tasks?${q}`);
      if (o.json) return printJson(page);
      if (page.tasks.length === 0) return println('no tasks');
      println(table(['ID', 'AGENT', 'TYPE', 'STATUS', 'ATTEMPT', 'AGE'], page.tasks.map((t) => [t.id, t.agent, t.type, t.status, t.attempt, age(t.createdAt)])));
      if (page.nextCursor) println(`more: aiflock task list --cursor ${page.nextCursor}`);
    });

  task
    .command('get')
    .description('show a task with its result')
    .argument('<id>')
    .option('--json', 'print as JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const t = await client().get<TaskView>(`/v1/tasks/${encodeURIComponent(id)}`);
      if (o.json) return printJson(t);
      // Tasks this one delegated to other agents (the first page; `task list --parent` has all).
      const children = await client().get<TaskList>(`/v1/tasks?parent=${encodeURIComponent(id)}&limit=50`);
      println(`id:       ${t.id}`);
      println(`agent:    ${t.agent}   type: ${t.type}`);
      if (t.parentId) println(`parent:   ${t.parentId}   (delegated by another agent's task)`);
      println(`status:   ${t.status}   attempt ${t.attempt}/${t.maxAttempts}${t.instanceId ? `   on ${t.instanceId}` : ''}`);
      println(`created:  ${t.createdAt}   deadline: ${t.deadline}`);
      if (t.finishedAt) println(`finished: ${t.finishedAt}`);
      if (t.error) println(`error:    ${t.error}`);
      for (const c of children.tasks) println(`delegated: ${c.id}   to ${c.agent}   ${c.status}`);
      if (t.result !== null) println(`result:\n${t.result}`);
    });

  task
    .command('logs')
    .description("show a task's log lines, and an agent loop's steps between them")
    .argument('<id>')
    .option('-f, --follow', 'keep printing until the task finishes')
    .option('--json', 'one JSON object per line')
    .action(async (id: string, o: { follow?: boolean; json?: boolean }) => {
      await printTaskLogs(client(), id, o);
    });

  task
    .command('answer')
    .description('answer the question a task waits on (status waiting_for_human)')
    .argument('<id>')
    .argument('<text>', 'the answer')
    .option('--json', 'print as JSON')
    .action(async (id: string, text: string, o: { json?: boolean }) => {
      const q = await client().post<HumanQuestion>(`/v1/jobs/${encodeURIComponent(id)}/answer`, { text });
      if (o.json) return printJson(q);
      println(`answered "${q.question}" for task ${q.taskId}; it runs again`);
    });

  task
    .command('cancel')
    .description('cancel a queued or running task (a running handler is stopped)')
    .argument('<id>')
    .option('--json', 'print as JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const t = await client().post<TaskView>(`/v1/tasks/${encodeURIComponent(id)}/cancel`);
      if (o.json) return printJson(t);
      println(`${t.id} ${t.status}`);
    });
}

interface RunOptions {
  input?: string;
  from?: string;
  batchSize: string;
  type?: string;
  timeout?: string;
  maxAttempts?: string;
  idempotencyKey?: string;
  wait?: boolean;
  json?: boolean;
}

async function readInput(raw: string): Promise<unknown> {
  const text = raw.startsWith('@')
    ? await readFile(raw.slice(1), 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new CliError(`cannot read input file ${raw.slice(1)}: ${err.code ?? err.message}`, EXIT.usage);
      })
    : raw;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === null) throw new CliError(`--timeout must be a duration such as 30s or 5m, got "${text}"`, EXIT.usage);
  return ms;
}

function printOutcome(t: TaskView): void {
  println(`${t.id} ${t.status}${t.error ? `: ${t.error}` : ''}`);
  if (t.result !== null && t.result !== '') println(t.result);
}
