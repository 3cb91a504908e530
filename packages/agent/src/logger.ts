import { RotatingFile } from './rotating-file.js';
import type { AgentEvent, LogLevel } from '@aiflock/protocol';
import type { TaskLogger } from './sdk.js';

/** A log line as it reaches the bus; the protocol caps `msg` at 64 KiB, we stay well under. */
const BUS_MSG_MAX = 16 * 1024;

export interface LoggerOptions {
  instanceId: string;
  agent: string;
  /** Write JSON lines to stdout (the container log). Tests turn it off to keep output readable. */
  stdout?: boolean;
  /** Also append to this file (AIFLOCK_LOG_FILE, e.g. /shared/logs/<id>/agent.log). */
  file?: string | undefined;
  /** Rotate the file at this size (AIFLOCK_LOG_FILE_MAX_BYTES), keeping `fileKeep` old ones. */
  fileMaxBytes?: number | undefined;
  fileKeep?: number | undefined;
  /** Lines below this level are dropped everywhere (AIFLOCK_LOG_LEVEL, the manifest's `logLevel`). Default info. */
  level?: LogLevel;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type EventForwarder = (event: AgentEvent) => void;

/**
 * JSON-lines logger of the runtime. One line goes to stdout, the log file and (best
 * effort, through a bounded forwarder) the bus, so `aiflock logs` works even when the
 * container's stdout is not collected.
 */
export class Logger implements TaskLogger {
  private file: RotatingFile | null = null;
  private forward: EventForwarder | null = null;

  constructor(private readonly opts: LoggerOptions) {
    if (opts.file) this.openFile(opts.file);
  }

  /** Start forwarding lines as `log` events; until then they go to stdout and file only. */
  forwardTo(forward: EventForwarder | null): void {
    this.forward = forward;
  }

  debug(msg: string, data?: Record<string, unknown>): void {
    this.log('debug', msg, undefined, data);
  }
  info(msg: string, data?: Record<string, unknown>): void {
    this.log('info', msg, undefined, data);
  }
  warn(msg: string, data?: Record<string, unknown>): void {
    this.log('warn', msg, undefined, data);
  }
  error(msg: string, data?: Record<string, unknown>): void {
    this.log('error', msg, undefined, data);
  }

  forTask(taskId: string): TaskLogger {
    return {
      debug: (msg, data) => this.log('debug', msg, taskId, data),
      info: (msg, data) => this.log('info', msg, taskId, data),
      warn: (msg, data) => this.log('warn', msg, taskId, data),
      error: (msg, data) => this.log('error', msg, taskId, data),
    };
  }

  log(level: LogLevel, msg: string, taskId?: string, data?: Record<string, unknown>): void {
    if (RANK[level] < RANK[this.opts.level ?? 'info']) return;
    const ts = new Date().toISOString();
    const line = safeStringify({
      ts,
      level,
      msg,
      instanceId: this.opts.instanceId,
      agent: this.opts.agent,
      ...(taskId ? { taskId } : {}),
      ...(data ? { data } : {}),
    });
    if (this.opts.stdout !== false) process.stdout.write(line + '\n');
    this.writeFile(line + '\n');
    if (this.forward) {
      const event: AgentEvent = { type: 'log', ts, level, msg: truncate(msg, BUS_MSG_MAX) };
      if (taskId) event.taskId = taskId;
      const cleanData = data && jsonSafe(data);
      if (cleanData) event.data = cleanData;
      this.forward(event);
    }
  }

  async close(): Promise<void> {
    const file = this.file;
    this.file = null;
    file?.close();
  }

  private openFile(path: string): void {
    try {
      this.file = new RotatingFile(path, this.opts.fileMaxBytes ?? Number.MAX_SAFE_INTEGER, this.opts.fileKeep ?? 0);
    } catch (err) {
      this.fileBroken(path, err);
    }
  }

  private writeFile(text: string): void {
    if (!this.file) return;
    try {
      this.file.write(text);
    } catch (err) {
      this.fileBroken(this.opts.file ?? '', err);
    }
  }

  /** A broken (or full) log file must not take the agent down; stdout still has every line. */
  private fileBroken(path: string, err: unknown): void {
    process.stderr.write(`aiflock-agent: cannot write log file ${path}: ${(err as Error).message}; logging to stdout only\n`);
    try {
      this.file?.close();
    } catch {
      // already unusable
    }
    this.file = null;
  }
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}… [${s.length - max} more characters]`;
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return JSON.stringify({ ts: new Date().toISOString(), level: 'error', msg: 'unserialisable log line' });
  }
}

/** Data that survives JSON (no cycles, no BigInt), or undefined if it does not. */
function jsonSafe(data: Record<string, unknown>): Record<string, unknown> | undefined {
  try {
    return JSON.parse(JSON.stringify(data)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
