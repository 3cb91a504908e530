import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import * as z from 'zod';
import { runInGroup } from '../process-group.js';
import { HandlerError, type HandlerOutput, type TaskContext } from '../sdk.js';

const OUTPUT_LIMIT = 1024 * 1024;
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

  const out = await runInGroup({
    command: spec.command,
    cwd,
    env: { ...process.env, ...spec.env },
    signal: ctx.signal,
    timeoutMs: spec.timeoutMs,
    limit: OUTPUT_LIMIT,
    onLine: (stream, line) => ctx.log.info(line, { stream }),
  });
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

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
