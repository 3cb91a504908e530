import type { HandlerOutput, TaskContext } from '../sdk.js';

/** Returns its input: the smallest end-to-end check of a deployment. */
export async function echo(ctx: TaskContext): Promise<HandlerOutput> {
  const { input } = ctx;
  const result = typeof input === 'string' ? input : (JSON.stringify(input) ?? '');
  return input === undefined ? { result } : { result, output: input };
}
