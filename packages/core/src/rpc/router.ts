import { AGENT_OPS, opParts, type AgentOp, type AgentOpOutput, type RpcErrorBody, type RpcFrame, type RpcReply } from '@aiflock/protocol';
import type { z} from 'zod';
import { type ZodType } from 'zod';
import { FlockError } from '../errors.js';
import type { RpcRequest } from '../ports/bus.js';
import type { Store } from '../ports/store.js';

/** Who called: the instance from the subject and the agent the store says it belongs to. */
export interface RpcCaller {
  instanceId: string;
  agent: string;
}

type Unary<I> = { kind: 'unary'; schema: ZodType<I, unknown>; handle(caller: RpcCaller, input: I): Promise<unknown> };
type Streaming<I> = { kind: 'stream'; schema: ZodType<I, unknown>; stream(caller: RpcCaller, input: I, signal: AbortSignal): AsyncIterable<{ chunk: unknown } | { result: unknown }> };
type UnaryOp = { [K in AgentOp]: (typeof AGENT_OPS)[K]['kind'] extends 'unary' ? K : never }[AgentOp];
type Op = Unary<any> | Streaming<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Instances in these states may call; a stopped or exited one may not. */
const CALLABLE = new Set(['starting', 'running', 'unhealthy']);

/**
 * Routes agents' bus requests to registered ops. Identity is the subject's instance id,
 * resolved to its agent through the store; an unknown instance, an unknown op or an invalid
 * payload gets an error reply and nothing runs.
 */
export class RpcRouter {
  private readonly ops = new Map<string, Op>();
  /** Streams in progress, by caller instance and reply subject, so their caller can cancel them. */
  private readonly streams = new Map<string, AbortController>();

  constructor(private readonly deps: { store: Store; log: (level: 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void }) {
    // `stream.cancel {inbox}`: stop one of the caller's own streams (the key holds the
    // caller's instance id from the subject, so nobody can cancel another's).
    this.op('stream.cancel', async (caller, { inbox }) => {
      const ac = this.streams.get(streamKey(caller.instanceId, inbox));
      ac?.abort();
      return { cancelled: ac !== undefined };
    });
  }

  /** Streams running now (for tests and status). */
  activeStreams(): number {
    return this.streams.size;
  }

  /** A unary op of the catalogue (`AGENT_OPS`): its input schema from there, its result checked against it by the compiler. */
  op<K extends UnaryOp>(name: K, handle: (caller: RpcCaller, input: z.output<(typeof AGENT_OPS)[K]['input']>) => Promise<AgentOpOutput<K>>): this {
    const [service, op] = opParts(name);
    return this.unary(service, op, AGENT_OPS[name].input as unknown as ZodType<z.output<(typeof AGENT_OPS)[K]['input']>, unknown>, handle);
  }

  /** Every op mounted, as `service.op` (checked against the catalogue by a test). */
  mounted(): string[] {
    return [...this.ops.keys()];
  }

  unary<I>(service: string, op: string, schema: ZodType<I, unknown>, handle: (caller: RpcCaller, input: I) => Promise<unknown>): this {
    this.ops.set(`${service}.${op}`, { kind: 'unary', schema, handle });
    return this;
  }

  /** A streaming op yields `{chunk}` items and finally one `{result}`; `signal` fires on cancel. */
  streaming<I>(service: string, op: string, schema: ZodType<I, unknown>, stream: (caller: RpcCaller, input: I, signal: AbortSignal) => AsyncIterable<{ chunk: unknown } | { result: unknown }>): this {
    this.ops.set(`${service}.${op}`, { kind: 'stream', schema, stream });
    return this;
  }

  readonly handle = async (req: RpcRequest): Promise<void> => {
    const op = this.ops.get(`${req.service}.${req.op}`);
    const fail = (err: unknown, seq = 0) => {
      const reply: RpcReply = { ok: false, error: errorBody(err) };
      req.respond(op?.kind === 'stream' ? ({ type: 'end', seq, reply } satisfies RpcFrame) : reply);
    };
    try {
      if (!op) throw new FlockError('rpc_unknown_op', `no RPC op "${req.service}.${req.op}"; known: ${[...this.ops.keys()].join(', ')}`);
      const instance = await this.deps.store.instances.get(req.instanceId);
      if (!instance || !CALLABLE.has(instance.status)) {
        throw new FlockError('rpc_unknown_caller', `instance "${req.instanceId}" is not a running instance of this flock`);
      }
      const parsed = op.schema.safeParse(req.payload);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => ({ field: i.path.join('.') || '(root)', message: i.message }));
        throw new FlockError('validation_failed', `invalid ${req.service}.${req.op} payload: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`, { issues });
      }
      const caller = { instanceId: req.instanceId, agent: instance.agent };
      if (op.kind === 'unary') {
        req.respond({ ok: true, result: await op.handle(caller, parsed.data) } satisfies RpcReply);
        return;
      }
      // Nobody could read the frames: do not run (and charge) a stream for nothing.
      if (!req.reply) throw new FlockError('validation_failed', `${req.service}.${req.op} streams its answer and needs a reply subject`);
      let seq = 0;
      const key = streamKey(req.instanceId, req.reply);
      const ac = new AbortController();
      this.streams.set(key, ac);
      try {
        for await (const item of op.stream(caller, parsed.data, ac.signal)) {
          if ('chunk' in item) req.respond({ type: 'chunk', seq: seq++, chunk: item.chunk } satisfies RpcFrame);
          else {
            req.respond({ type: 'end', seq: seq++, reply: { ok: true, result: item.result } } satisfies RpcFrame);
            return;
          }
        }
        throw new FlockError('internal', 'stream ended without a result');
      } catch (err) {
        fail(err, seq);
        this.logFailure(req, err);
      } finally {
        this.streams.delete(key);
      }
    } catch (err) {
      fail(err);
      this.logFailure(req, err);
    }
  };

  private logFailure(req: RpcRequest, err: unknown): void {
    const internal = !(err instanceof FlockError) || err.status >= 500;
    this.deps.log(internal ? 'error' : 'warn', `rpc ${req.service}.${req.op} from ${req.instanceId} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const streamKey = (instanceId: string, reply: string) => `${instanceId} ${reply}`;

function errorBody(err: unknown): RpcErrorBody {
  if (err instanceof FlockError) return { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) };
  return { code: 'internal', message: 'internal error; see the daemon log' };
}
