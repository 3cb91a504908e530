import type { ZodType } from 'zod';
import type { RpcCaller } from './rpc/router.js';

/** One bus operation: its input schema and the function the RPC router calls with the parsed input. */
export interface RpcOp<I = unknown, O = unknown> {
  input: ZodType<I>;
  handle(caller: RpcCaller, input: I): Promise<O>;
}
