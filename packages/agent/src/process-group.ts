import { spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { abortReason, HandlerError } from './sdk.js';
import { BoundedCapture } from './handlers/capture.js';

const KILL_AFTER_MS = 2_000;
/** After the shell exits, how long its pipes may stay open (held by an orphan) before we cut them. */
const PIPE_CLOSE_MS = 1_000;

export interface GroupRun {
  command: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The task's signal: cancel, deadline or shutdown kill the whole group. */
  signal: AbortSignal;
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed; without it stdin is empty. */
  stdin?: string;
  /** Bytes of each stream kept in memory; the sha256 covers everything the stream carried. */
  limit: number;
  /** Each complete line, while it runs (live logs). */
  onLine(stream: 'stdout' | 'stderr', line: string): void;
}

export interface GroupResult {
  exitCode: number | null;
  signal: string | null;
  stdout: BoundedCapture;
  stderr: BoundedCapture;
  /** sha256 (hex) of all of stdout and stderr, past the capture limit too. */
  stdoutSha256: string;
  stderrSha256: string;
  /** Abort reason, if the task's signal ended it. */
  interrupted: string | null;
  timedOut: boolean;
  durationMs: number;
}

/**
 * Runs `/bin/sh -c <command>` in its own process group, so that cancelling, a deadline or
 * `timeoutMs` can kill everything the command started, not just the shell. Shared by the
 * `shell` task handler and the agent loop's `shell` tool.
 */
export function runInGroup(o: GroupRun): Promise<GroupResult> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const stdout = new BoundedCapture(o.limit, (line) => o.onLine('stdout', line));
    const stderr = new BoundedCapture(o.limit, (line) => o.onLine('stderr', line));
    const hashes: Record<'stdout' | 'stderr', Hash> = { stdout: createHash('sha256'), stderr: createHash('sha256') };
    const child = spawn('/bin/sh', ['-c', o.command], { cwd: o.cwd, env: o.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
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
      interrupted = abortReason(o.signal) ?? 'aborted';
      terminate();
    };
    const ownTimer = o.timeoutMs === undefined ? undefined : setTimeout(() => ((timedOut = true), terminate()), o.timeoutMs);
    const cleanup = (): void => {
      o.signal.removeEventListener('abort', onAbort);
      clearTimeout(ownTimer);
      clearTimeout(killTimer);
      clearTimeout(pipeTimer);
    };

    // A command that does not read its stdin closes the pipe early: that is not an error.
    // Without input, stdin is an empty pipe closed at once (reads see end of file).
    child.stdin.on('error', () => undefined);
    child.stdin.end(o.stdin);
    child.stdout.on('data', (d: Buffer) => (hashes.stdout.update(d), stdout.push(d)));
    child.stderr.on('data', (d: Buffer) => (hashes.stderr.update(d), stderr.push(d)));
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
      resolvePromise({
        exitCode: code,
        signal: sig,
        stdout,
        stderr,
        stdoutSha256: hashes.stdout.digest('hex'),
        stderrSha256: hashes.stderr.digest('hex'),
        interrupted,
        timedOut,
        durationMs: Math.max(0, Math.round(performance.now() - started)),
      });
    });
    if (o.signal.aborted) onAbort();
    else o.signal.addEventListener('abort', onAbort, { once: true });
  });
}
