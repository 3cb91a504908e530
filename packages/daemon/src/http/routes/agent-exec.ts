import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { AgentNameParams, ExecClientMessage, ExecQuery, type ExecServerMessage } from '@aiflock/protocol';
import { FlockError, type ExecSession } from '@aiflock/core';
import type { ApiContext } from '../context.js';
import { actorOf } from '../actor.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';

interface ExecTarget {
  agent: string;
  instance: string;
  /** The node it runs on. */
  node: string;
  query: ExecQuery;
}
const TARGET = Symbol('aiflock.execTarget');
type WithTarget = FastifyRequest & { [TARGET]?: ExecTarget };

/**
 * `WS /v1/agents/{name}/exec`: `aiflock agent exec`, a command (or an interactive shell) in
 * one of the agent's sandboxes, as the sandbox's own user and within its limits. Admins only
 * (issue 21): an owner may redeploy the agent, but a shell in a live sandbox reaches what a
 * deploy never shows (its secrets on tmpfs, a task's data in flight), so it is an operator's
 * tool. A token without `admin` is refused by the route's scope like any admin route (audited
 * as `auth.denied`, naming the path). Everything else that can be refused is refused before the
 * upgrade, as an ordinary HTTP error; every admitted attempt is audited before anything runs (so
 * a session that never ends is on record), and every command's end again, with its exit code.
 */
export const agentExecRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.get(
      '/agents/:name/exec',
      {
        websocket: true,
        ...route('admin', {
          summary: 'WebSocket: run a command in a sandbox of the agent (admin only); `stdout`/`stderr` (base64) then `exit` from the server, `stdin`/`eof`/`resize` from the client',
          params: AgentNameParams,
          query: ExecQuery,
          errors: ['agent_not_found', 'agent_quarantined', 'instance_not_found', 'instance_not_running', 'exec_unsupported', 'runtime_unavailable'],
        }),
        // An admin's attempt, admitted or refused (no such instance, quarantined), is audited
        // (`agent.exec`, with the command); the command's end is a second entry
        // (`agent.exec.end`, with its exit code).
        preHandler: async (req: WithTarget) => {
          const name = String((req.params as { name?: unknown }).name ?? '').slice(0, 100);
          req[TARGET] = await audited(ctx.audit, req, 'agent.exec', `agent/${name}`, () => target(ctx, req), (t) => ({
            details: { instance: t.instance, node: t.node, command: t.query.cmd, tty: t.query.tty },
          }));
        },
      },
      async (socket, req) => {
        const t = (req as WithTarget)[TARGET]!;
        await runExec(ctx, req, socket, t);
      },
    );
  };

async function target(ctx: ApiContext, req: FastifyRequest): Promise<ExecTarget> {
  const { name } = parseInput(AgentNameParams, req.params, 'params');
  const query = parseInput(ExecQuery, req.query, 'query');
  const record = await ctx.deployments.require(name);
  if (!ctx.sandboxes) throw new FlockError('not_ready', 'this API has no sandbox runtime');
  const sandboxes = ctx.sandboxes;
  if (!sandboxes.canExec && !(await ctx.store.instances.list(name)).some((i) => sandboxes.isRemote(i.node))) throw sandboxes.execRefusal();
  if (record.state === 'quarantined') throw new FlockError('agent_quarantined', `agent "${name}" is quarantined (its sandboxes are frozen); release it to exec into it`, { agent: name });
  const instances = (await ctx.store.instances.list(name)).sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''));
  if (query.instance) {
    const one = instances.find((i) => i.id === query.instance);
    if (!one) throw new FlockError('instance_not_found', `agent "${name}" has no instance ${query.instance}; see: aiflock agent get ${name}`, { agent: name, instance: query.instance });
    if (one.status !== 'running') throw new FlockError('instance_not_running', `instance ${one.id} is ${one.status}, not running`, { instance: one.id, status: one.status });
    return checked(sandboxes, { agent: name, instance: one.id, node: one.node, query });
  }
  const running = instances.find((i) => i.status === 'running');
  if (!running) throw new FlockError('instance_not_running', `agent "${name}" has no running instance`, { agent: name });
  return checked(sandboxes, { agent: name, instance: running.id, node: running.node, query });
}

/** An instance here needs a runtime that can exec; one on a joined node, its node agent. */
function checked(sandboxes: NonNullable<ApiContext['sandboxes']>, t: ExecTarget): ExecTarget {
  if (!sandboxes.isRemote(t.node) && !sandboxes.canExec) throw sandboxes.execRefusal();
  return t;
}

async function runExec(ctx: ApiContext, req: FastifyRequest, socket: WebSocket, t: ExecTarget): Promise<void> {
  const send = (m: ExecServerMessage) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(m));
  };
  const { query } = t;
  const base = { actor: actorOf(req), requestId: req.id, resource: `agent/${t.agent}` };
  const what = { instance: t.instance, node: t.node, command: query.cmd, tty: query.tty };
  const started = Date.now();
  // Input may arrive while the command is still being started: kept until it is.
  let session: ExecSession | null = null;
  const pending: ExecClientMessage[] = [];
  const apply = (m: ExecClientMessage, s: ExecSession) => {
    if (m.type === 'stdin') s.write(Buffer.from(m.data, 'base64'));
    else if (m.type === 'eof') s.closeStdin();
    else void s.resize(m.cols, m.rows);
  };
  socket.on('message', (raw) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(String(raw));
    } catch {
      parsed = undefined;
    }
    const m = ExecClientMessage.safeParse(parsed);
    if (!m.success) return send({ type: 'error', code: 'validation_failed', message: 'expected {"type":"stdin","data":<base64>}, {"type":"eof"} or {"type":"resize","cols":n,"rows":n}' });
    if (session) apply(m.data, session);
    else pending.push(m.data);
  });
  let opened: ExecSession;
  try {
    opened = await ctx.sandboxes!.exec(t.instance, { command: query.cmd, tty: query.tty, stdin: query.stdin, cols: query.cols, rows: query.rows }, t.node);
  } catch (err) {
    const e = err instanceof FlockError ? err : new FlockError('runtime_unavailable', (err as Error).message);
    await ctx.audit.record({ ...base, action: 'agent.exec.end', outcome: 'error', details: { ...what, code: e.code, message: e.message } }).catch(() => {});
    send({ type: 'error', code: e.code, message: e.message });
    socket.close(4000 + (e.status % 1000), e.code);
    return;
  }
  send({ type: 'started', instance: t.instance, runtime: ctx.sandboxes!.isRemote(t.node) ? `node ${t.node}` : ctx.sandboxes!.kind });
  const slow = slowClient(socket, opened);
  opened.onOutput((stream, data) => {
    send({ type: stream, data: Buffer.from(data).toString('base64') });
    slow.check();
  });
  session = opened;
  for (const m of pending.splice(0)) apply(m, opened);
  let ended = false;
  socket.on('close', () => {
    slow.stop();
    if (ended) return;
    ended = true;
    // The client went away mid-command: recorded, and the connection to the command dropped.
    opened.detach();
    void ctx.audit.record({ ...base, action: 'agent.exec.end', outcome: 'ok', details: { ...what, exitCode: null, detached: true, durationMs: Date.now() - started } }).catch((err: unknown) => req.log.error({ err }, 'exec end not audited'));
  });
  const code = await opened.exited;
  slow.stop();
  if (ended) return;
  ended = true;
  await ctx.audit
    .record({ ...base, action: 'agent.exec.end', outcome: 'ok', details: { ...what, exitCode: code, durationMs: Date.now() - started } })
    .catch((err: unknown) => req.log.error({ err }, 'exec end not audited'));
  send({ type: 'exit', code });
  socket.close(1000, 'command ended');
}

/** Output the client has not read yet, in the socket's buffer: above HIGH the command's output is paused, below LOW resumed. */
const SOCKET_HIGH_BYTES = 1024 * 1024;
const SOCKET_LOW_BYTES = 256 * 1024;

/**
 * A client that reads slower than the command writes: its socket's buffer would grow in the
 * daemon without bound, so the session is paused (the command blocks on its pipe, or a node
 * keeps it) until the client has read most of it. Runtimes that cannot pause are not.
 */
function slowClient(socket: WebSocket, session: ExecSession): { check(): void; stop(): void } {
  let timer: NodeJS.Timeout | null = null;
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = null;
  };
  return {
    check: () => {
      if (timer || !session.pause || socket.bufferedAmount <= SOCKET_HIGH_BYTES) return;
      session.pause();
      // ws says nothing when its buffer drains: it is looked at until it has.
      timer = setInterval(() => {
        if (socket.readyState !== socket.OPEN) return stop();
        if (socket.bufferedAmount > SOCKET_LOW_BYTES) return;
        stop();
        session.resume?.();
      }, 20);
    },
    stop,
  };
}
