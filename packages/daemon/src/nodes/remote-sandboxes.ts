import { FlockError, type Bus, type ExecRequest, type ExecSession, type SandboxStats } from '@aiflock/core';
import { ERROR_CODES, NodeExecReply, NodeStatsReply, type ErrorCode } from '@aiflock/protocol';

/** How long a command in a remote sandbox may run (`aiflock agent exec` there runs it to its end). */
const REMOTE_EXEC_TIMEOUT_MS = 300_000;
/** Time for the node to answer beyond that (the bus round trip, its runtime's start of the command). */
const ANSWER_MARGIN_MS = 15_000;
const STATS_TIMEOUT_MS = 10_000;

/**
 * Exec and stats for instances on joined nodes, asked of their node agents over the bus (the
 * control plane never talks to a remote Docker engine). A remote command runs to its end and
 * its output comes back whole: no terminal; input (-i) is sent once it has all been given.
 */
export class RemoteSandboxes {
  constructor(private readonly bus: Pick<Bus, 'requestNode'>) {}

  async exec(node: string, instanceId: string, req: ExecRequest): Promise<ExecSession> {
    if (req.tty) throw new FlockError('exec_unsupported', `instance ${instanceId} runs on node ${node}: a terminal (-t) is not offered there; run the command without -t (-i still sends input)`, { node });
    const run = (stdin: Buffer | null) => this.run(node, instanceId, req.command, stdin);
    if (!req.stdin) return wholeSession(await run(null), null);
    // Input is gathered until its end, then the command runs with it.
    const input: Buffer[] = [];
    let end!: (run: boolean) => void;
    const given = new Promise<boolean>((r) => (end = r));
    // A client gone before the end of its input runs nothing.
    const reply = given.then((go) => (go ? run(Buffer.concat(input)) : Promise.reject(new Error('the client went away before the end of its input'))));
    return wholeSession(reply, { write: (d) => void input.push(Buffer.from(d)), end: () => end(true), cancel: () => end(false) });
  }

  /** Usage of each instance of `node` asked for (null: not running there, or not measurable). */
  async stats(node: string, instanceIds: string[]): Promise<Map<string, SandboxStats | null>> {
    const raw = await this.ask(node, 'stats', { instanceIds }, STATS_TIMEOUT_MS);
    const reply = NodeStatsReply.parse(raw);
    if (!reply.ok) throw asFlockError(node, reply);
    return new Map(instanceIds.map((id) => [id, reply.usage[id] ?? null]));
  }

  private async run(node: string, instanceId: string, command: string[], stdin: Buffer | null): Promise<Extract<NodeExecReply, { ok: true }>> {
    const body = { instanceId, command, timeoutMs: REMOTE_EXEC_TIMEOUT_MS, ...(stdin ? { stdin: stdin.toString('base64') } : {}) };
    const reply = NodeExecReply.parse(await this.ask(node, 'exec', body, REMOTE_EXEC_TIMEOUT_MS + ANSWER_MARGIN_MS));
    if (!reply.ok) throw asFlockError(node, reply);
    return reply;
  }

  private async ask(node: string, op: 'exec' | 'stats', body: unknown, timeoutMs: number): Promise<unknown> {
    if (!this.bus.requestNode) throw new FlockError('runtime_unavailable', 'this bus cannot reach joined nodes');
    try {
      return await this.bus.requestNode(node, op, body, timeoutMs);
    } catch (err) {
      throw new FlockError('runtime_unavailable', `node ${node} did not answer (${(err as Error).message}); is its node agent running? see: aiflock node get ${node}`, { node });
    }
  }
}

/** The node's refusal, as the error of the table it names (an unknown code is the runtime's failure). */
function asFlockError(node: string, reply: { code: string; message: string }): FlockError {
  const code = (reply.code in ERROR_CODES ? reply.code : 'runtime_unavailable') as ErrorCode;
  return new FlockError(code, reply.message, { node });
}

/**
 * A finished (or, with input, about-to-run) remote command as an ExecSession: its output goes
 * to whoever listens, as soon as they do; a failure after input is said on stderr.
 */
function wholeSession(reply: Promise<Extract<NodeExecReply, { ok: true }>> | Extract<NodeExecReply, { ok: true }>, input: { write(d: Uint8Array): void; end(): void; cancel(): void } | null): ExecSession {
  const listeners: ((s: 'stdout' | 'stderr', d: Uint8Array) => void)[] = [];
  const chunks: ['stdout' | 'stderr', Uint8Array][] = [];
  const emit = (s: 'stdout' | 'stderr', d: Uint8Array) => {
    if (d.byteLength === 0) return;
    chunks.push([s, d]);
    for (const l of listeners) l(s, d);
  };
  const exited = Promise.resolve(reply).then(
    (r) => {
      emit('stdout', Buffer.from(r.stdout, 'base64'));
      emit('stderr', Buffer.from(r.stderr, 'base64'));
      if (r.timedOut) emit('stderr', Buffer.from(`aiflock: the command was stopped after ${REMOTE_EXEC_TIMEOUT_MS / 1000} s\n`));
      else if (r.truncated) emit('stderr', Buffer.from('aiflock: output cut at 256 KiB per stream\n'));
      return r.exitCode;
    },
    (err: unknown) => {
      emit('stderr', Buffer.from(`aiflock: ${(err as Error).message}\n`));
      return -1;
    },
  );
  return {
    onOutput: (l) => {
      listeners.push(l);
      for (const [s, d] of chunks) l(s, d);
    },
    write: (d) => input?.write(d),
    closeStdin: () => input?.end(),
    resize: async () => undefined,
    exited,
    detach: () => input?.cancel(),
  };
}
