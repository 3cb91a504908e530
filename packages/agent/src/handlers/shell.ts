import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { abortReason, HandlerError, type HandlerOutput, type TaskContext } from '../sdk.js';
import { BoundedCapture } from './capture.js';

const OUTPUT_LIMIT = 1024 * 1024;
const KILL_AFTER_MS = 2_000;
/** After the shell exits, how long its pipes may stay open (held by an orphan) before we cut them. */
const PIPE_CLOSE_MS = 1_000;
const STDERR_TAIL = 500;

export const ShellInput = z.union([
  z.string().min(1, 'a non-empty command'),
  z
    .object({
      command: z.string().min(1, 'a non-empty command'),
      cwd: z.string().min(1).optional(),
      env: z.record(z.string(), z.string()).optional(),
      timeoutMs: z.number().int().min(1).max(7 * 24 * 3600 * 1000).optional(),
    })
    .strict(),
]);
export type ShellInput = z.infer<typeof ShellInput>;

export interface ShellOutput {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
}

/**
 * Runs `/bin/sh -c <command>` in its own process group, so that cancelling, a deadline or
 * `timeoutMs` can kill everything the command started, not just the shell.
 */
export async function shell(ctx: TaskContext): Promise<HandlerOutput> {
  const parsed = ShellInput.safeParse(ctx.input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
    throw new HandlerError(
      `invalid shell input (expected a command string or { command, cwd?, env?, timeoutMs? }): ${issues}`,
    );
  }
  const spec = typeof parsed.data === 'string' ? { command: parsed.data } : parsed.data;
  const cwd = resolve(ctx.workspace, spec.cwd ?? '.');
  if (!(await isDirectory(cwd))) throw new HandlerError(`working directory ${cwd} does not exist`);

  const out = await runInGroup(spec.command, cwd, { ...process.env, ...spec.env }, ctx, spec.timeoutMs);
  const output: ShellOutput = {
    exitCode: out.exitCode,
    signal: out.signal,
    stdout: out.stdout.text(),
    stderr: out.stderr.text(),
    truncated: out.stdout.truncated || out.stderr.truncated,
  };
  if (out.interrupted) throw new HandlerError(`command interrupted (${out.interrupted})`, { output, result: output.stdout });
  if (out.timedOut) throw new HandlerError(`command timed out after ${spec.timeoutMs} ms`, { output, result: output.stdout });
  if (out.exitCode !== 0) {
    const how = out.exitCode === null ? `killed by ${out.signal ?? 'a signal'}` : `exit code ${out.exitCode}`;
    const tail = output.stderr.trimEnd().slice(-STDERR_TAIL);
    throw new HandlerError(tail ? `${how}: ${tail}` : how, { output, result: output.stdout });
  }
  return { result: output.stdout, output };
}

interface GroupResult {
  exitCode: number | null;
  signal: string | null;
  stdout: BoundedCapture;
  stderr: BoundedCapture;
  /** Abort reason, if the task's signal ended it. */
  interrupted: string | null;
  timedOut: boolean;
}

function runInGroup(
  command: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
  ctx: TaskContext,
  timeoutMs: number | undefined,
): Promise<GroupResult> {
  return new Promise((resolvePromise, reject) => {
    const stdout = new BoundedCapture(OUTPUT_LIMIT, (line) => ctx.log.info(line, { stream: 'stdout' }));
    const stderr = new BoundedCapture(OUTPUT_LIMIT, (line) => ctx.log.info(line, { stream: 'stderr' }));
    const child = spawn('/bin/sh', ['-c', command], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let interrupted: string | null = null;
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    let pipeTimer: NodeJS.Timeout | undefined;

    const signalGroup = (sig: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: the group is already gone.
      }
    };
    const terminate = (): void => {
      if (killTimer) return;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), KILL_AFTER_MS);
    };
    const onAbort = (): void => {
      interrupted = abortReason(ctx.signal) ?? 'aborted';
      terminate();
    };
    const ownTimer = timeoutMs === undefined ? undefined : setTimeout(() => ((timedOut = true), terminate()), timeoutMs);
    const cleanup = (): void => {
      ctx.signal.removeEventListener('abort', onAbort);
      clearTimeout(ownTimer);
      clearTimeout(killTimer);
      clearTimeout(pipeTimer);
    };

    child.stdout.on('data', (d: Buffer) => stdout.push(d));
    child.stderr.on('data', (d: Buffer) => stderr.push(d));
    child.once('error', (err) => {
      cleanup();
      reject(new HandlerError(`cannot run /bin/sh: ${err.message}`));
    });
    child.once('exit', () => {
      // Whatever the command left running in its group dies with it: a finished task
      // must not leave processes behind (and they would hold our pipes open).
      signalGroup('SIGKILL');
      pipeTimer = setTimeout(() => (child.stdout.destroy(), child.stderr.destroy()), PIPE_CLOSE_MS);
    });
    child.once('close', (code, sig) => {
      cleanup();
      stdout.end();
      stderr.end();
      resolvePromise({ exitCode: code, signal: sig, stdout, stderr, interrupted, timedOut });
    });
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
