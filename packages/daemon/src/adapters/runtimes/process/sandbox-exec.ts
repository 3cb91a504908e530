import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { constants } from 'node:os';
import { FlockError, type ExecRequest, type ExecSession, type SandboxStats } from '@aiflock/core';
import type { InstanceCgroup } from '../shared/cgroups.js';
import { launcherArgv, sandboxCommand, type SandboxCommandInput } from './sandbox-command.js';

/** How long CPU time is sampled for a percentage (Docker's stats sample a second). */
const CPU_SAMPLE_MS = 250;

/**
 * `aiflock agent exec` on the process runtime: the command runs in a sandbox made exactly as
 * the instance's was (its user, no capabilities, its seccomp filter, no network, its binds:
 * workspace, logs, secrets, bus socket) and placed in the instance's own cgroup, so its memory,
 * pids and cpu limits hold for both together. Bubblewrap cannot enter a running sandbox's
 * namespaces with its filter, so this one has a /tmp and a process table of its own: it sees
 * the instance's files, not its processes. No terminal (-t) is offered.
 */
export function execBeside(base: SandboxCommandInput, cgroup: InstanceCgroup, seccompPath: string, req: ExecRequest): ExecSession {
  if (req.tty) throw new FlockError('exec_unsupported', 'the process runtime offers no terminal (-t) to exec into: run the command without -t (-i still sends input)', { runtime: 'process' });
  const command = sandboxCommand({ ...base, argv: req.command });
  const filter = openSync(seccompPath, 'r');
  let child;
  try {
    child = spawn('sh', launcherArgv(cgroup.procsFiles(), command), { stdio: [req.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', filter] });
  } finally {
    closeSync(filter);
  }
  const listeners: ((s: 'stdout' | 'stderr', d: Uint8Array) => void)[] = [];
  child.stdout!.on('data', (d: Buffer) => listeners.forEach((l) => l('stdout', d)));
  child.stderr!.on('data', (d: Buffer) => listeners.forEach((l) => l('stderr', d)));
  const exited = new Promise<number>((resolve) => {
    child.once('error', () => resolve(-1));
    // 'close': the exit code, once its output has been read to the end.
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : -1)));
  });
  return {
    onOutput: (l) => void listeners.push(l),
    write: (d) => void child.stdin?.write(d),
    closeStdin: () => void child.stdin?.end(),
    resize: async () => undefined,
    exited,
    // The client went away: the command goes with it (nothing else would ever read its output).
    detach: () => void child.kill('SIGKILL'),
    // Unread pipes fill and the command blocks on its next write; 'close' (its exit code) waits for them.
    pause: () => {
      child.stdout!.pause();
      child.stderr!.pause();
    },
    resume: () => {
      child.stdout!.resume();
      child.stderr!.resume();
    },
  };
}

/** CPU (two samples of the cgroup's CPU time), memory and processes of one instance's cgroup. */
export async function cgroupStats(cgroup: InstanceCgroup): Promise<SandboxStats> {
  const first = await cgroup.usage();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, CPU_SAMPLE_MS));
  const now = await cgroup.usage();
  const elapsedUs = Number(process.hrtime.bigint() - t0) / 1000;
  return {
    cpuPercent: elapsedUs > 0 ? Math.round(((now.cpuUsec - first.cpuUsec) / elapsedUs) * 1000) / 10 : 0,
    memoryBytes: now.memoryBytes,
    memoryLimitBytes: now.memoryLimitBytes,
    // No network at all: the bus arrives over a Unix socket.
    netRxBytes: 0,
    netTxBytes: 0,
    pids: now.pids,
    restarts: 0,
  };
}
