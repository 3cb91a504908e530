import type { AgentEvent, BroadcastMessage, Task } from '@aiflock/protocol';
import type { BoardClient, EconomyClient, HumanClient, MemoryClient, WorldClient } from './bus-clients.js';
import type { Delegate } from './delegate.js';
import type { LlmClient } from './llm-client.js';

/** What a handler may log; every line is tagged with the task id it belongs to. */
export interface TaskLogger {
  debug(msg: string, data?: Record<string, unknown>): void;
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
}

export interface TaskContext {
  task: Task;
  /** The task's `data`, handed over as is; handlers validate it themselves. */
  input: unknown;
  /**
   * Fires when the task is cancelled (reason "cancelled"), reaches its deadline
   * ("timed_out") or the runtime shuts down ("shutdown"). Handlers must stop promptly.
   */
  signal: AbortSignal;
  log: TaskLogger;
  workspace: string;
  instanceId: string;
  agent: string;
  /** Models through the control plane's gateway (no keys in the sandbox). */
  llm: LlmClient;
  /** The bulletin board: post, reply, list and read, always as this agent. */
  board: BoardClient;
  /** This agent's balance, tier and limits; buying compute with its own money. */
  economy: EconomyClient;
  /** The village, as this agent's villager (perceive, move, act, declare). */
  world: WorldClient;
  /** This agent's memory stream (add, recall). */
  memory: MemoryClient;
  /**
   * Publish an event on this instance's event subject, in order with its log lines (the
   * agent loop reports its `task.step`s here).
   */
  publish(event: AgentEvent): void;
  /** Ask a person and wait for the answer (`ask_human`). */
  human: HumanClient;
  /**
   * Hand work to another agent (one the manifest's `delegates` lists) as a child of this
   * task, and wait until it finishes: resolves with the child task (read its `status` and
   * `result`). Its model calls are charged to the agent at the top of the chain.
   */
  delegate: Delegate;
  /**
   * Stop this task's deadline clock here (while a person is asked and the manifest pauses
   * the deadline); call the returned function to start it again, with the control plane's
   * new deadline when it gave one.
   */
  pauseDeadline(): (deadline?: string) => void;
}

export interface HandlerOutput {
  /** Human-readable result text. */
  result: string;
  /** Structured output, stored with the result. */
  output?: unknown;
}

export type Handler = (ctx: TaskContext) => Promise<HandlerOutput | string>;

export interface AgentDefinition {
  handlers: Readonly<Record<string, Handler>>;
  /** Called with every announcement an admin sends (`aiflock broadcast`); each is logged too. */
  onBroadcast?: (message: BroadcastMessage) => void | Promise<void>;
}

export type AbortReason = 'cancelled' | 'timed_out' | 'shutdown';

/**
 * Throw this from a handler to fail the task while still returning what was produced so
 * far (e.g. a command's stdout before it exited non-zero): a failed task without its
 * output is much harder to debug.
 */
export class HandlerError extends Error {
  readonly output: unknown;
  readonly result: string | undefined;

  constructor(message: string, opts: { output?: unknown; result?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'HandlerError';
    this.output = opts.output;
    this.result = opts.result;
  }
}

export function defineAgent(definition: AgentDefinition): AgentDefinition {
  for (const [type, handler] of Object.entries(definition.handlers)) {
    // Caught here rather than at the first task, where it would only fail that task.
    if (typeof handler !== 'function') throw new TypeError(`handler "${type}" is not a function`);
  }
  if (definition.onBroadcast !== undefined && typeof definition.onBroadcast !== 'function') throw new TypeError('onBroadcast is not a function');
  return Object.freeze({ handlers: Object.freeze({ ...definition.handlers }), ...(definition.onBroadcast ? { onBroadcast: definition.onBroadcast } : {}) });
}

/**
 * A handler whose module is loaded at its first task (`lazyHandler(async () => (await
 * import('./my-handler.js')).handler)`): an instance that never runs it never builds it (its
 * schemas, its clients), which is most of what an idle instance would otherwise hold. A failed
 * load fails that task and is tried again at the next.
 */
export function lazyHandler(load: () => Promise<Handler>): Handler {
  let loading: Promise<Handler> | null = null;
  return async (ctx) => {
    loading ??= load().catch((err: unknown) => {
      loading = null;
      throw err;
    });
    return (await loading)(ctx);
  };
}

/** The abort reason of a signal, if it is one the runtime uses. */
export function abortReason(signal: AbortSignal): AbortReason | undefined {
  const r: unknown = signal.reason;
  return r === 'cancelled' || r === 'timed_out' || r === 'shutdown' ? r : undefined;
}
