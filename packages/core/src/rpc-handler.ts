import type { ZodType } from 'zod';

/** Who calls over the bus: established from the subject (`agent.<instanceId>.rpc...`), never from the payload. */
export interface RpcCaller {
  instanceId: string;
  agent: string;
}

/** One bus operation: its input schema and the function the RPC router calls with the parsed input. */
export interface RpcHandler<I = unknown, O = unknown> {
  input: ZodType<I>;
  handle(caller: RpcCaller, input: I): Promise<O>;
}

