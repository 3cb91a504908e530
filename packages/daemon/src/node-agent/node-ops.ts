import { FlockError, type SandboxRuntime } from '@aiflock/core';
import { NodeStatsRequest, nodeSubjects, type NodeExecOpened, type NodeStatsReply } from '@aiflock/protocol';
import type { NodeWire } from '../nodes/node-wire.js';
import { NodeExecSessions } from './node-exec.js';

/**
 * The node agent's answers to the control plane's requests about its sandboxes: a command run
 * in one (`aiflock agent exec`, a session streamed both ways: node-exec.ts) and their resource
 * use (`aiflock stats`). Only instances this node's runtime runs are served; the bus lets only
 * the control plane ask, only this node answer.
 */
export function serveNodeOps(wire: NodeWire, node: string, runtime: SandboxRuntime, log: (msg: string) => void, sessions = new NodeExecSessions(wire, node, runtime, log)): { sessions: NodeExecSessions; stop: () => Promise<void> } {
  const serve = (subject: string, answer: (body: unknown) => Promise<NodeExecOpened | NodeStatsReply>) =>
    wire.subscribe(subject, (body, reply) => {
      if (!reply) return;
      void (async () => {
        try {
          reply(await answer(body));
        } catch (e) {
          reply(e instanceof FlockError ? { ok: false, code: e.code, message: e.message } : { ok: false, code: 'runtime_unavailable', message: `node ${node}: ${(e as Error).message}` });
        }
      })();
    });
  const stops = [serve(nodeSubjects.exec(node), (body) => sessions.openSession(body)), serve(nodeSubjects.stats(node), (body) => statsHere(runtime, body))];
  return {
    sessions,
    // No new requests, then each open session ended with a frame saying why (resolves once the control plane has it).
    stop: async () => {
      stops.forEach((s) => s());
      await sessions.closeAll();
    },
  };
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
