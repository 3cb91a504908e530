import type { Msg, NatsConnection, Subscription } from 'nats';
import { FlockError, type SandboxRuntime } from '@aiflock/core';
import { NODE_EXEC_OUTPUT_MAX, NodeExecRequest, NodeStatsRequest, nodeSubjects, type NodeExecReply, type NodeStatsReply } from '@aiflock/protocol';

const codec = { encode: (v: unknown) => new TextEncoder().encode(JSON.stringify(v)), decode: (d: Uint8Array) => JSON.parse(new TextDecoder().decode(d)) as unknown };

/**
 * The node agent's answers to the control plane's requests about its sandboxes: a command run
 * in one (`aiflock agent exec`) and their resource use (`aiflock stats`). Only instances this
 * node's runtime runs are served; the bus lets only the control plane ask, only this node answer.
 */
export function serveNodeOps(nc: NatsConnection, node: string, runtime: SandboxRuntime, log: (msg: string) => void): Subscription[] {
  const serve = (subject: string, answer: (body: unknown) => Promise<NodeExecReply | NodeStatsReply>) =>
    nc.subscribe(subject, {
      callback: (err, m: Msg) => {
        if (err) return log(`serving ${subject} failed: ${err.message}`);
        void (async () => {
          let reply: NodeExecReply | NodeStatsReply;
          try {
            reply = await answer(codec.decode(m.data));
          } catch (e) {
            reply = e instanceof FlockError ? { ok: false, code: e.code, message: e.message } : { ok: false, code: 'runtime_unavailable', message: `node ${node}: ${(e as Error).message}` };
          }
          m.respond(codec.encode(reply));
        })();
      },
    });
  return [serve(nodeSubjects.exec(node), (body) => execHere(runtime, node, body, log)), serve(nodeSubjects.stats(node), (body) => statsHere(runtime, body))];
}

async function mine(runtime: SandboxRuntime, node: string, instanceId: string): Promise<void> {
  if (!(await runtime.list()).some((s) => s.instanceId === instanceId)) throw new FlockError('instance_not_found', `instance ${instanceId} does not run on node ${node}`, { instance: instanceId, node });
}

async function execHere(runtime: SandboxRuntime, node: string, body: unknown, log: (msg: string) => void): Promise<NodeExecReply> {
  const parsed = NodeExecRequest.safeParse(body);
  if (!parsed.success) throw new FlockError('validation_failed', `not an exec request: ${parsed.error.issues[0]?.message ?? ''}`);
  const req = parsed.data;
  if (!runtime.exec || !runtime.capabilities.exec) throw new FlockError('exec_unsupported', `the ${runtime.kind} runtime of node ${node} cannot run commands in its sandboxes`, { runtime: runtime.kind });
  await mine(runtime, node, req.instanceId);
  log(`exec in ${req.instanceId} for the control plane: ${JSON.stringify(req.command).slice(0, 200)}`);
  const session = await runtime.exec(req.instanceId, { command: req.command, tty: false, stdin: req.stdin !== undefined });
  const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  const size = { stdout: 0, stderr: 0 };
  let truncated = false;
  session.onOutput((stream, data) => {
    const room = NODE_EXEC_OUTPUT_MAX - size[stream];
    if (data.byteLength > room) truncated = true;
    if (room <= 0) return;
    const kept = Buffer.from(data).subarray(0, room);
    out[stream].push(kept);
    size[stream] += kept.byteLength;
  });
  if (req.stdin !== undefined) {
    session.write(Buffer.from(req.stdin, 'base64'));
    session.closeStdin();
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    session.detach();
  }, req.timeoutMs);
  const exitCode = await session.exited.finally(() => clearTimeout(timer));
  return { ok: true, stdout: Buffer.concat(out.stdout).toString('base64'), stderr: Buffer.concat(out.stderr).toString('base64'), exitCode, truncated: truncated || timedOut, timedOut };
}

async function statsHere(runtime: SandboxRuntime, body: unknown): Promise<NodeStatsReply> {
  const parsed = NodeStatsRequest.safeParse(body);
  if (!parsed.success) throw new FlockError('validation_failed', `not a stats request: ${parsed.error.issues[0]?.message ?? ''}`);
  const here = new Set((await runtime.list()).map((s) => s.instanceId));
  const entries = await Promise.all(
    parsed.data.instanceIds.map(async (id) => [id, here.has(id) && runtime.stats ? await runtime.stats(id).catch(() => null) : null] as const),
  );
  return { ok: true, usage: Object.fromEntries(entries) };
}
