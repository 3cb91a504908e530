import type { ZodType } from 'zod';
import { ContextSearchInput, MemoryAddInput, MemoryRecallInput, MemoryReflectInput } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import type { ContextService } from '../context/context-service.js';
import type { MemoryService } from './memory-stream.js';

/** Who is asking, taken from the bus subject (`agent.<instanceId>.rpc...`), never from the payload. */
export interface BusCaller {
  instanceId: string;
  agent: string;
}

function parse<T>(schema: ZodType<T>, input: unknown, op: string): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ field: i.path.join('.') || '(root)', message: i.message }));
  throw new FlockError('validation_failed', `invalid ${op} input: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`, { op, issues });
}

/**
 * The memory plane's bus operations as plain functions, for the RPC router to mount under
 * `agent.<id>.rpc.<op>`. An agent reaches only its own memory stream (the stream is chosen
 * by the caller's identity; inputs have no agent field) and only collections shared with it.
 */
export function memoryBusHandlers(deps: { memory: MemoryService; context: ContextService }) {
  return {
    'memory.add': async (caller: BusCaller, input: unknown) => deps.memory.add(caller.agent, parse(MemoryAddInput, input, 'memory.add')),
    'memory.recall': async (caller: BusCaller, input: unknown) => {
      const i = parse(MemoryRecallInput, input, 'memory.recall');
      return { memories: await deps.memory.recall(caller.agent, i.query, i.k) };
    },
    'memory.reflect': async (caller: BusCaller, input: unknown) => {
      parse(MemoryReflectInput, input ?? {}, 'memory.reflect');
      return { reflections: await deps.memory.reflect(caller.agent) };
    },
    'context.search': async (caller: BusCaller, input: unknown) => {
      const i = parse(ContextSearchInput, input, 'context.search');
      const coll = await deps.context.collection(i.collection).catch(() => undefined);
      // The same answer whether the collection is missing or not shared: no probing for names.
      if (!coll || !coll.sharedWith.includes(caller.agent)) {
        throw new FlockError('context_forbidden', `collection "${i.collection}" is not shared with agent "${caller.agent}"`, { collection: i.collection });
      }
      return deps.context.search({ q: i.q, collection: coll.name, tags: i.tags, topK: i.topK, mode: 'hybrid' }, { collections: [coll.name] });
    },
  } as const;
}
