import { randomBytes } from 'node:crypto';
import { FlockError, type ExecRequest, type ExecSession, type SandboxStats } from '@aiflock/core';
import { ERROR_CODES, NODE_EXEC_CHUNK_BYTES, NodeExecFrame, NodeExecOpened, NodeStatsReply, nodeSubjects, type ErrorCode, type NodeExecInput, type NodeExecOutput } from '@aiflock/protocol';
import { EXEC_LINK_TIMING, ExecLink, type ExecLinkTiming } from './exec-link.js';
import type { NodeWire } from './node-wire.js';

/** Time for a node to start the command (its runtime's `docker exec`) and say so. */
const OPEN_TIMEOUT_MS = 15_000;
const STATS_TIMEOUT_MS = 10_000;

/**
 * Exec and stats for instances on joined nodes, asked of their node agents over the bus (the
 * control plane never talks to a remote Docker engine). An exec is a session streamed both
 * ways as a local one is (output as it comes, input as it is typed, a terminal and its
 * resizes, the exit code): opened by a request on `nodectl.<node>.exec`, then numbered,
 * acknowledged frames on the session's own subjects (exec-link.ts; node-exec.ts is the node's side).
 */
export class RemoteSandboxes {
  constructor(
    private readonly wire: NodeWire | null,
    private readonly timing: ExecLinkTiming = EXEC_LINK_TIMING,
  ) {}

  async exec(node: string, instanceId: string, req: ExecRequest): Promise<ExecSession> {
    const wire = this.reach(node);
    // 128 random bits: the session's subjects cannot be guessed (and only that node may use them anyway).
    const id = randomBytes(16).toString('base64url');
    const s = new RemoteExec(wire, node, id, this.timing);
    let opened: NodeExecOpened;
    try {
      const body = { session: id, instanceId, command: req.command, tty: req.tty, stdin: req.stdin, ...(req.cols && req.rows ? { cols: req.cols, rows: req.rows } : {}) };
      opened = NodeExecOpened.parse(await this.ask(wire, node, nodeSubjects.exec(node), body, OPEN_TIMEOUT_MS));
    } catch (err) {
      s.abandon();
      throw err;
    }
    if (!opened.ok) {
      s.abandon();
      throw asFlockError(node, opened);
    }
    return s.session;
  }

  /** Usage of each instance of `node` asked for (null: not running there, or not measurable). */
  async stats(node: string, instanceIds: string[]): Promise<Map<string, SandboxStats | null>> {
    const wire = this.reach(node);
    const reply = NodeStatsReply.parse(await this.ask(wire, node, nodeSubjects.stats(node), { instanceIds }, STATS_TIMEOUT_MS));
    if (!reply.ok) throw asFlockError(node, reply);
    return new Map(instanceIds.map((id) => [id, reply.usage[id] ?? null]));
  }

  private reach(node: string): NodeWire {
    if (!this.wire) throw new FlockError('runtime_unavailable', `this bus cannot reach joined nodes (node ${node})`, { node });
    return this.wire;
  }

  private async ask(wire: NodeWire, node: string, subject: string, body: unknown, timeoutMs: number): Promise<unknown> {
    try {
      return await wire.request(subject, body, timeoutMs);
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
 * The control plane's side of one session. It listens before the session is opened, so no
 * output is missed; output waits (unacknowledged, so the node sends no more than its window)
 * until someone listens, and while the client is behind (`pause`). A node gone silent ends it with a message on stderr and exit code -1,
 * as a remote command that could not be run does.
 */
class RemoteExec {
  private readonly listeners: ((s: 'stdout' | 'stderr', d: Uint8Array) => void)[] = [];
  private readonly link: ExecLink<NodeExecInput, NodeExecOutput>;
  private readonly stop: () => void;
  private done = false;
  /** The client is behind: output stays unacknowledged (so on the node) until it catches up. */
  private paused = false;
  private resolveExit!: (code: number) => void;
  readonly session: ExecSession;

  constructor(wire: NodeWire, node: string, id: string, timing: ExecLinkTiming) {
    const exited = new Promise<number>((r) => (this.resolveExit = r));
    const input = nodeSubjects.execInput(node, id);
    this.link = new ExecLink<NodeExecInput, NodeExecOutput>(
      (frame) => wire.publish(input, frame),
      {
        deliver: (f) => {
          if (f.k === 'exit') return this.end(f.code, null), true;
          if (f.k === 'error') return this.end(-1, `aiflock: ${f.message}\n`), true;
          if (this.listeners.length === 0 || this.paused) return false;
          const data = Buffer.from(f.data, 'base64');
          for (const l of this.listeners) l(f.k, data);
          return true;
        },
        onDead: () => this.end(-1, `aiflock: node ${node} stopped answering (${Math.round(timing.deadMs / 1000)} s without a word); the command's end is unknown. see: aiflock node get ${node}\n`),
      },
      timing,
    );
    this.stop = wire.subscribe(nodeSubjects.execOutput(node, id), (body) => {
      const f = NodeExecFrame.safeParse(body);
      if (f.success && ['stdout', 'stderr', 'exit', 'error', 'ack', 'ping'].includes(f.data.k)) this.link.receive(f.data);
    });
    const send = (f: Parameters<typeof this.link.send>[0]) => !this.done && this.link.send(f);
    this.session = {
      onOutput: (l) => {
        this.listeners.push(l);
        this.link.flush();
      },
      write: (d) => {
        for (let at = 0; at < d.byteLength; at += NODE_EXEC_CHUNK_BYTES) send({ k: 'stdin', data: Buffer.from(d.subarray(at, at + NODE_EXEC_CHUNK_BYTES)).toString('base64') });
      },
      closeStdin: () => send({ k: 'eof' }),
      resize: async (cols, rows) => void send({ k: 'resize', cols, rows }),
      exited,
      pause: () => void (this.paused = true),
      resume: () => {
        this.paused = false;
        this.link.flush();
      },
      detach: () => {
        if (this.done) return;
        this.link.signal({ k: 'cancel' });
        this.abandon();
        this.resolveExit(-1);
      },
    };
  }

  /** Stop listening (the session was refused, or it is over). */
  abandon(): void {
    this.done = true;
    this.link.close();
    this.stop();
  }

  private end(code: number, message: string | null): void {
    if (this.done) return;
    if (message) for (const l of this.listeners) l('stderr', Buffer.from(message));
    // The exit frame's acknowledgement goes out before the link closes (ExecLink acks after deliver returns).
    queueMicrotask(() => this.abandon());
    this.resolveExit(code);
  }
}
