import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { SandboxInfo, SandboxSpec } from '@aiflock/core';
import type { InstanceCgroup } from './cgroups.js';
import type { RuntimeLog } from './host-runtime.js';

/**
 * One sandbox that is a process tree on this host in its own cgroup (the process runtime's
 * bubblewrap, the vm runtime's QEMU): its exit status, the cgroup's OOM kills, and the
 * lifecycle both runtimes share (SIGTERM then kill-all, freeze for quarantine). What differs
 * between them (relays, guest config, which pids to spare) stays in the runtime.
 */
export class HostProcess {
  readonly startedAt = new Date().toISOString();
  exitCode: number | null = null;
  oomKilled = false;
  paused = false;

  constructor(
    readonly spec: SandboxSpec,
    readonly child: ChildProcess,
    readonly cgroup: InstanceCgroup,
  ) {
    child.on('exit', (code, signal) => {
      this.exitCode = code ?? (signal ? 128 + (SIGNALS[signal] ?? 0) : null);
      void cgroup.oomKills().then((n) => (this.oomKilled = n > 0));
    });
  }

  get exited(): boolean {
    return this.exitCode !== null || this.child.exitCode !== null || this.child.signalCode !== null;
  }

  info(node: string): SandboxInfo {
    const exited = this.exited;
    return {
      instanceId: this.spec.instanceId,
      agent: this.spec.agent,
      handle: String(this.child.pid ?? ''),
      state: exited ? 'exited' : this.paused ? 'paused' : 'running',
      exitCode: exited ? (this.exitCode ?? this.child.exitCode) : null,
      oomKilled: this.oomKilled,
      startedAt: this.startedAt,
      manifestDigest: this.spec.manifestDigest,
      node,
      address: null,
    };
  }

  /**
   * SIGTERM to every process in the cgroup but those `spare` names (a supervisor whose own
   * death would SIGKILL the rest), then kill-all once `graceMs` has passed. Resolves on exit.
   * The caller thaws a frozen tree first: a frozen process cannot act on SIGTERM.
   */
  async terminate(graceMs: number, spare: (pid: number) => Promise<boolean> = async () => false): Promise<void> {
    if (this.exited) return;
    const exited = this.exitPromise();
    for (const pid of await this.cgroup.pids()) {
      if (await spare(pid)) continue;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(() => void this.cgroup.killAll(), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** SIGKILL to the whole cgroup (frozen or not); resolves on exit. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const exited = this.exitPromise();
    await this.cgroup.killAll();
    this.paused = false;
    await exited;
  }

  async freeze(): Promise<void> {
    await this.cgroup.freeze(true);
    this.paused = true;
  }

  async thaw(): Promise<void> {
    await this.cgroup.freeze(false);
    this.paused = false;
  }

  private exitPromise(): Promise<void> {
    return new Promise<void>((r) => (this.exited ? r() : this.child.once('exit', () => r())));
  }
}

/**
 * A sandbox's output stream into the daemon log, one entry per whole line: output arrives in
 * arbitrary pieces (a serial console splits lines anywhere); a last unterminated line is
 * logged when the stream ends. `clean` strips what a log must not carry (terminal control).
 */
export function forwardLines(stream: Readable | null, log: RuntimeLog, level: 'info' | 'warn', instanceId: string, clean: (s: string) => string = (s) => s): void {
  let partial = '';
  // Cleaned per whole line: a control sequence can be split across two pieces.
  const emit = (raw: string) => {
    const line = clean(raw).trimEnd();
    if (line.trim()) log(level, line, { instanceId });
  };
  stream?.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split(/\r?\n/);
    partial = lines.pop() ?? '';
    lines.forEach(emit);
  });
  stream?.on('end', () => emit(partial));
}

const SIGNALS: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGABRT: 6, SIGSEGV: 11, SIGHUP: 1, SIGQUIT: 3, SIGPIPE: 13 };
