import { JSONCodec, type NatsConnection } from 'nats';
import type { AgentOp, AgentOpInput, AgentOpOutput, RpcErrorBody } from '@aiflock/protocol';
import { RpcReply } from '@aiflock/protocol/rpc';
import { subjects } from '@aiflock/protocol/subjects';
import { opCatalogue } from './op-catalogue.js';
import { replyMux } from './reply-mux.js';

const codec = JSONCodec();

/** A control-plane op answered with an error (validation, rate limit, not found...), with its code. */
export class RpcError extends Error {
  override name = 'RpcError';
  readonly code: string;
  readonly details: unknown;
  constructor(op: string, body: RpcErrorBody) {
    super(`${op}: ${body.message}`);
    this.code = body.code;
    this.details = body.details;
  }
}

/** One unary op on the bus (`agent.<id>.rpc.<service>.<op>`); the caller is the instance in the subject. */
export type RpcCall = (service: string, op: string, payload: unknown, timeoutMs?: number) => Promise<unknown>;

/** Answers come on `replies.<id>.*` (reply-mux.ts), which survives an update of the bus's accounts. */
export function busRpc(nc: NatsConnection, instanceId: string, defaultTimeoutMs = 10_000): RpcCall {
  const mux = replyMux(nc, instanceId);
  return async (service, op, payload, timeoutMs = defaultTimeoutMs) => {
    const msg = await mux.request(subjects.rpc(instanceId, service, op), codec.encode(payload), { timeout: timeoutMs });
    const reply = RpcReply.parse(codec.decode(msg.data));
    if (!reply.ok) throw new RpcError(`${service}.${op}`, reply.error);
    return reply.result;
  };
}

/**
 * One op of the catalogue: the input checked with its schema before it leaves (a handler's
 * mistake fails here, naming the field), the result parsed with its schema (a reply that does
 * not match the contract is an error here, not a surprise later).
 */
export async function callOp<K extends AgentOp>(call: RpcCall, name: K, input: AgentOpInput<K>, timeoutMs?: number): Promise<AgentOpOutput<K>> {
  const { AGENT_OPS, opParts } = await opCatalogue();
  const { input: inSchema, output } = AGENT_OPS[name];
  const [service, op] = opParts(name);
  const result = await call(service, op, inSchema.parse(input), timeoutMs);
  return output.parse(result) as AgentOpOutput<K>;
}
