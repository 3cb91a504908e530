import { headers, JSONCodec, type NatsConnection } from 'nats';
import { rpcTraceHeaders } from './trace-context.js';
import type { LlmChatResult, LlmChatRpc, LlmStreamChunk, RpcErrorBody } from '@aiflock/protocol';
import { RPC_STREAM_HEADER, RpcFrame, RpcReply } from '@aiflock/protocol/rpc';
import { subjects } from '@aiflock/protocol/subjects';
import { opCatalogue } from './op-catalogue.js';
import { replyMux, type ReplyMux } from './reply-mux.js';

const codec = JSONCodec();

/** A failure the gateway reported (quota, model not allowed, provider down...), with its code. */
export class LlmError extends Error {
  override name = 'LlmError';
  readonly code: string;
  readonly details: unknown;
  constructor(body: RpcErrorBody) {
    super(body.message);
    this.code = body.code;
    this.details = body.details;
  }
}

export interface LlmCallOptions {
  signal?: AbortSignal;
  /** For `chat`: the whole call. For `stream`: the longest silence between two frames. */
  timeoutMs?: number;
}

export interface LlmStream extends AsyncIterable<LlmStreamChunk> {
  /** The final result once the stream has been read to its end. */
  readonly result: Promise<LlmChatResult>;
}

/**
 * Models for agents, through the control plane's gateway over the bus
 * (`agent.<id>.rpc.llm.*`). The sandbox holds no provider key or address: only the bus.
 * Answers and stream frames arrive on `replies.<id>.<token>` (reply-mux.ts), which per-agent
 * credentials make private to this instance and which an update of the bus's accounts (a
 * revocation) does not cut. `inboxPrefix` no longer matters; it stays so callers that pass
 * it still compile.
 */
export class LlmClient {
  private readonly mux: ReplyMux;

  constructor(
    private readonly nc: NatsConnection,
    private readonly instanceId: string,
    private readonly inboxPrefix?: string,
    private readonly taskId?: string,
  ) {
    this.mux = replyMux(nc, instanceId);
  }

  /**
   * The same client naming `taskId` on every call: a task another agent delegated is paid
   * for by that agent, so the control plane must know which task a call is for.
   */
  forTask(taskId: string): LlmClient {
    return new LlmClient(this.nc, this.instanceId, this.inboxPrefix, taskId);
  }

  private named(req: LlmChatRpc): LlmChatRpc {
    return this.taskId === undefined || req.taskId !== undefined ? req : { ...req, taskId: this.taskId };
  }

  async chat(req: LlmChatRpc, opts: LlmCallOptions = {}): Promise<LlmChatResult> {
    if (opts.signal) {
      // A cancellable call runs as a stream, so an abort reaches the gateway and stops the provider.
      const s = this.stream(req, opts);
      for await (const _ of s) void _;
      return s.result;
    }
    const msg = await this.mux.request(subjects.rpc(this.instanceId, 'llm', 'chat'), codec.encode(this.named(req)), { timeout: opts.timeoutMs ?? 120_000, ...traced() });
    const { AGENT_OPS } = await opCatalogue();
    return AGENT_OPS['llm.chat'].output.parse(unwrap(RpcReply.parse(codec.decode(msg.data))));
  }

  async models(opts: LlmCallOptions = {}): Promise<string[]> {
    const msg = await this.mux.request(subjects.rpc(this.instanceId, 'llm', 'models'), codec.encode({}), { timeout: opts.timeoutMs ?? 10_000 });
    const { AGENT_OPS } = await opCatalogue();
    return AGENT_OPS['llm.models'].output.parse(unwrap(RpcReply.parse(codec.decode(msg.data)))).models;
  }

  /** Tokens as they are generated; `result` resolves (or rejects) when the stream ends. */
  stream(req: LlmChatRpc, opts: LlmCallOptions = {}): LlmStream {
    let settle!: { resolve(r: LlmChatResult): void; reject(e: unknown): void };
    const result = new Promise<LlmChatResult>((resolve, reject) => (settle = { resolve, reject }));
    result.catch(() => undefined); // the iterator reports the same error to the reader
    const { nc, instanceId, mux } = this;
    const body = codec.encode(this.named(req));
    const idleMs = opts.timeoutMs ?? 60_000;
    async function* frames(): AsyncGenerator<LlmStreamChunk> {
      // The stream's name (for `stream.cancel`) is its reply subject.
      const ch = mux.open();
      const inbox = ch.subject;
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => ch.close(), idleMs);
      };
      let ended = false;
      // Tell the gateway to stop generating (and charging) for a stream nobody reads any more.
      const cancel = () => nc.publish(subjects.rpc(instanceId, 'stream', 'cancel'), codec.encode({ inbox }));
      const onAbort = () => {
        cancel();
        ch.close();
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const { AGENT_OPS } = await opCatalogue();
        // Listening before publishing, on one connection: no frame can be missed.
        const h = traced().headers ?? headers();
        h.set(RPC_STREAM_HEADER, inbox);
        mux.send(subjects.rpc(instanceId, 'llm', 'stream'), body, ch, h);
        arm();
        let expected = 0;
        for await (const m of ch) {
          arm();
          const frame = RpcFrame.parse(codec.decode(m.data));
          if (frame.seq !== expected++) throw new LlmError({ code: 'internal', message: `stream frame ${frame.seq} arrived out of order` });
          if (frame.type === 'chunk') {
            yield AGENT_OPS['llm.stream'].chunk.parse(frame.chunk);
            continue;
          }
          ended = true;
          const r = AGENT_OPS['llm.stream'].output.parse(unwrap(frame.reply));
          settle.resolve(r);
          return;
        }
        throw opts.signal?.aborted ? new LlmError({ code: 'cancelled', message: 'the LLM stream was cancelled' }) : new LlmError({ code: 'upstream_timeout', message: `no frame from the gateway for ${idleMs} ms` });
      } catch (err) {
        settle.reject(err);
        throw err;
      } finally {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        // A reader that stopped early (break, throw) or timed out leaves a stream behind.
        if (!ended && !opts.signal?.aborted) cancel();
        ch.close();
        settle.reject(new LlmError({ code: 'llm_cancelled', message: 'the stream was not read to its end' }));
      }
    }
    const iterable = frames();
    return { [Symbol.asyncIterator]: () => iterable, result };
  }
}

/** The task's trace context on an RPC request, when the task has one. */
function traced(): { headers?: ReturnType<typeof rpcTraceHeaders> } {
  const h = rpcTraceHeaders();
  return h ? { headers: h } : {};
}

function unwrap(reply: RpcReply): unknown {
  if (!reply.ok) throw new LlmError(reply.error);
  return reply.result;
}
