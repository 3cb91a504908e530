import { FlockError, type ExecSession, type SandboxRuntime } from '@aiflock/core';
import { NODE_EXEC_CHUNK_BYTES, NodeExecFrame, NodeExecOpen, nodeSubjects, type NodeExecInput, type NodeExecOpened, type NodeExecOutput } from '@aiflock/protocol';
import { EXEC_LINK_TIMING, ExecLink, type ExecLinkTiming } from '../nodes/exec-link.js';
import type { NodeWire } from '../nodes/node-wire.js';

/** Sessions one node runs at once; more are refused (each holds a command and its buffers). */
const MAX_SESSIONS = 64;
/**
 * Output frames waiting for the window (32 KiB each): above HIGH the command's output stops
 * being read (it blocks on a full pipe), below LOW it is read again. Runtimes that cannot pause
 * keep it in memory.
 */
const BACKLOG_HIGH = 64;
const BACKLOG_LOW = 16;

/**
 * `aiflock agent exec` into a sandbox of this node, for the control plane: a session opened by
 * a request on `nodectl.<node>.exec` runs the command through this host's runtime and streams
 * it both ways (exec-link.ts) until it ends. The control plane going silent, or cancelling, is
 * a client gone away: the command is dropped as a local exec's is (ExecSession.detach).
 */
export class NodeExecSessions {
  /** Each open session's end when the node agent stops: resolves once the control plane was told (or could not be). */
  private readonly open = new Map<string, () => Promise<void>>();
  /** The node agent stops: no session opens any more. */
  private closing = false;

  constructor(
    private readonly wire: NodeWire,
    private readonly node: string,
    private readonly runtime: SandboxRuntime,
    private readonly log: (msg: string) => void,
    private readonly timing: ExecLinkTiming = EXEC_LINK_TIMING,
  ) {}

  /** Answer to an open request (validated here: whatever arrives on the bus is checked). */
  async openSession(body: unknown): Promise<NodeExecOpened> {
    const parsed = NodeExecOpen.safeParse(body);
    if (!parsed.success) throw new FlockError('validation_failed', `not an exec request: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`.trim());
    const req = parsed.data;
    const { runtime, node } = this;
    if (this.closing) throw this.stopping();
    if (!runtime.exec || !runtime.capabilities.exec) throw new FlockError('exec_unsupported', `the ${runtime.kind} runtime of node ${node} cannot run commands in its sandboxes`, { runtime: runtime.kind });
    if (this.open.has(req.session)) throw new FlockError('validation_failed', `exec session ${req.session} is already open on node ${node}`);
    if (this.open.size >= MAX_SESSIONS) throw new FlockError('runtime_unavailable', `node ${node} already runs ${MAX_SESSIONS} exec sessions; end one first`, { node });
    if (!(await runtime.list()).some((s) => s.instanceId === req.instanceId)) throw new FlockError('instance_not_found', `instance ${req.instanceId} does not run on node ${node}`, { instance: req.instanceId, node });
    this.log(`exec in ${req.instanceId} for the control plane${req.tty ? ' (terminal)' : ''}: ${JSON.stringify(req.command).slice(0, 200)}`);
    const session = await runtime.exec(req.instanceId, { command: req.command, tty: req.tty, stdin: req.stdin, ...(req.cols && req.rows ? { cols: req.cols, rows: req.rows } : {}) });
    // Started while closeAll ran, so it missed it: dropped, and refused as any request now is.
    if (this.closing) {
      session.detach();
      throw this.stopping();
    }
    this.stream(req.session, session);
    return { ok: true };
  }

  /** Sessions still open (for tests and the log at shutdown). */
  get size(): number {
    return this.open.size;
  }

  /**
   * Every session's command dropped (the node agent stops), each session ended with an error
   * frame saying so, and new ones refused. Resolves once the control plane has acknowledged
   * each (so the connection may drain), or after `stopWaitMs` for one that does not take it (the
   * control plane gone, or its client so far behind that the frame waits for the window): its
   * client then learns of the end from the silence, as from a node agent killed.
   */
  async closeAll(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.open.values()].map((end) => end()));
  }

  /** How long a stopping node agent waits for the control plane to acknowledge a session's last frame: time for it to be sent again once. */
  private get stopWaitMs(): number {
    return 2 * this.timing.resendMs;
  }

  private stopping(): FlockError {
    return new FlockError('runtime_unavailable', `node ${this.node}: the node agent stops`, { node: this.node });
  }

  private stream(id: string, session: ExecSession): void {
    const out = nodeSubjects.execOutput(this.node, id);
    let ended = false;
    let paused = false;
    let saidPaused = false;
    /** The last frame (exit or error) is sent: nothing follows it, and the session closes once it is acknowledged. */
    let finishing: Promise<void> | null = null;
    const end = (why: string | null) => {
      if (ended) return;
      ended = true;
      link.close();
      stop();
      this.open.delete(id);
      if (why) {
        this.log(`exec session ${id.slice(0, 8)}…: ${why}; the command is dropped`);
        session.detach();
      }
    };
    /** Sends the last frame, kept until acknowledged (or `waitMs`: the control plane may be gone), then closes the session. */
    const finish = (last: { k: 'exit'; code: number } | { k: 'error'; code: string; message: string }, waitMs: number): Promise<void> => {
      finishing ??= new Promise<void>((resolve) => {
        link.send(last);
        const close = () => {
          clearInterval(check);
          clearTimeout(limit);
          end(null);
          resolve();
        };
        // A control plane gone meanwhile: onDead ends the session (the link is never idle then); this stops waiting on it.
        const check = setInterval(() => (link.idle || ended) && close(), 50);
        const limit = setTimeout(close, waitMs);
        limit.unref();
      });
      return finishing;
    };
    const link = new ExecLink<NodeExecOutput, NodeExecInput>(
      (frame) => this.wire.publish(out, frame),
      {
        deliver: (f) => {
          if (f.k === 'stdin') session.write(Buffer.from(f.data, 'base64'));
          else if (f.k === 'eof') session.closeStdin();
          else void session.resize(f.cols, f.rows).catch(() => undefined);
          return true;
        },
        cancel: () => end('the client went away'),
        onDead: () => end('the control plane stopped answering'),
        onBacklog: (waiting) => {
          if (!paused && waiting > BACKLOG_HIGH && session.pause) {
            paused = true;
            // Said once per session: a client reading slowly pauses and resumes it often.
            if (!saidPaused) this.log(`exec session ${id.slice(0, 8)}…: the client is behind; the command's output is paused until it catches up`);
            saidPaused = true;
            session.pause();
          } else if (paused && waiting <= BACKLOG_LOW) {
            paused = false;
            session.resume?.();
          }
        },
      },
      this.timing,
    );
    const stop = this.wire.subscribe(nodeSubjects.execInput(this.node, id), (body) => {
      const f = NodeExecFrame.safeParse(body);
      // Only what the control plane sends on this subject: input, resizes, acks, pings, cancel.
      if (f.success && ['stdin', 'eof', 'resize', 'ack', 'ping', 'cancel'].includes(f.data.k)) link.receive(f.data);
    });
    this.open.set(id, () => {
      if (ended) return Promise.resolve();
      if (!finishing) {
        this.log(`exec session ${id.slice(0, 8)}…: the node agent stops; the command is dropped`);
        session.detach();
      }
      // The client is told why, not left to notice the silence; a command that just ended still sends its exit code
      // (waited for no longer than the error would be: the node agent is stopping).
      const last = finishing ?? finish({ k: 'error', code: 'runtime_unavailable', message: `node ${this.node}: the node agent stops; the command is dropped` }, this.stopWaitMs);
      return Promise.race([last, new Promise<void>((r) => setTimeout(r, this.stopWaitMs).unref())]).then(() => end(null));
    });
    session.onOutput((stream, data) => {
      if (finishing) return;
      for (let at = 0; at < data.byteLength; at += NODE_EXEC_CHUNK_BYTES) link.send({ k: stream, data: Buffer.from(data.subarray(at, at + NODE_EXEC_CHUNK_BYTES)).toString('base64') });
    });
    const waitMs = this.timing.deadMs + this.timing.resendMs;
    void session.exited.then(
      (code) => finish({ k: 'exit', code }, waitMs),
      (err: unknown) => finish({ k: 'error', code: 'runtime_unavailable', message: `node ${this.node}: ${(err as Error).message}` }, waitMs),
    );
  }
}
