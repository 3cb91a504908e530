import { FlockError } from '../errors.js';
import type { ContextService } from '../context/context-service.js';
import type { RpcRouter } from '../rpc/router.js';
import type { MemoryService } from './memory-stream.js';

/**
 * The memory plane's bus operations (`agent.<id>.rpc.memory.<op>` and `context.search`),
 * mounted from the catalogue (`AGENT_OPS`), which gives each its input and result. An agent
 * reaches only its own memory stream (the stream is chosen by the caller's identity; inputs
 * have no agent field) and only collections shared with it.
 */
export function mountMemoryOps(rpc: RpcRouter, deps: { memory: MemoryService; context: ContextService }): void {
  rpc.op('memory.add', (caller, input) => deps.memory.add(caller.agent, input));
  rpc.op('memory.recall', async (caller, i) => ({ memories: await deps.memory.recall(caller.agent, i.query, i.k) }));
  rpc.op('memory.reflect', async (caller) => ({ reflections: await deps.memory.reflect(caller.agent) }));
  rpc.op('context.search', async (caller, i) => {
    const coll = await deps.context.collection(i.collection).catch(() => undefined);
    // The same answer whether the collection is missing or not shared: no probing for names.
    if (!coll || !coll.sharedWith.includes(caller.agent)) {
      throw new FlockError('context_forbidden', `collection "${i.collection}" is not shared with agent "${caller.agent}"`, { collection: i.collection });
    }
    return deps.context.search({ q: i.q, collection: coll.name, tags: i.tags, topK: i.topK, mode: 'hybrid' }, { collections: [coll.name] });
  });
}
