import { z } from 'zod';
import {
  ContextService,
  GatewayEmbedder,
  HashingEmbedder,
  MemoryService,
  RUNS_COLLECTION,
  RunRecorder,
  extractiveReflector,
  memoryBusHandlers,
  llmReflector,
  llmSummariser,
  type Clock,
  type ContextStore,
  type Embedder,
  type LlmGateway,
  type RpcRouter,
  type TaskRecord,
  type VectorIndex,
} from '@aiflock/core';
import type { Config } from './config.js';

type Log = (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;

export interface EmbedderChoice {
  embedder: Embedder;
  /** One plain sentence: which embedder and why. */
  detail: string;
}

/**
 * Which embedder the context plane uses (config `context.embedder`). Vectors from a model are
 * what a user who configured one expects; the lexical hashing embedder is used only when
 * chosen, or under `auto` when the gateway has no `embed` alias, and that is said plainly.
 */
export function chooseEmbedder(c: Config['context'], gateway: LlmGateway | null, llm?: Pick<Config['llm'], 'models' | 'providers'>): EmbedderChoice {
  const alias = gateway?.registry.names().includes('embed') && gateway.registry.plan('embed', { need: ['embed'] }).length > 0;
  if (c.embedder === 'hashing') {
    return { embedder: new HashingEmbedder(c.dimension), detail: `hashing-v1-${c.dimension}: lexical feature hashing, no model (context.embedder: hashing)` };
  }
  // With no registry configured, the gateway puts its embedded GGUF chat model behind every
  // alias, `embed` included. A chat model's embeddings are not an embedding model's: the
  // project's story model ranks the labelled corpus no better than chance and pulls hybrid
  // search below the lexical embedder (test/context/embedded-embedder.test.ts). So `auto`
  // takes the alias only when it was configured or detected as an embedding model.
  const route = alias ? gateway!.registry.plan('embed', { need: ['embed'] })[0]! : undefined;
  const impliedChatModel = route !== undefined && llm !== undefined && !llm.models['embed'] && llm.providers[route.provider]?.kind === 'embedded';
  if (c.embedder === 'auto' && impliedChatModel) {
    return {
      embedder: new HashingEmbedder(c.dimension),
      detail: `hashing-v1-${c.dimension}: lexical feature hashing, no model, because the gateway's "embed" alias is only its embedded chat model (${route.provider}), whose vectors are not fit for search (context.embedder: auto); configure llm.models.embed with an embedding model, or set context.embedder: gateway to use the chat model anyway`,
    };
  }
  if (alias) {
    return { embedder: new GatewayEmbedder(gateway!), detail: `the LLM gateway's "embed" alias (${gateway!.registry.plan('embed', { need: ['embed'] })[0]!.provider})` };
  }
  if (c.embedder === 'gateway') {
    throw new Error(
      'context.embedder is gateway but the LLM gateway has no "embed" alias that can embed: configure llm.models.embed (e.g. an Ollama embedding model, an OpenAI-compatible /v1/embeddings model or the embedded model), or set context.embedder to hashing or auto',
    );
  }
  return {
    embedder: new HashingEmbedder(c.dimension),
    detail: `hashing-v1-${c.dimension}: lexical feature hashing, no model, because the LLM gateway has no "embed" alias (context.embedder: auto); configure llm.models.embed for semantic search, or set context.embedder: hashing to make this the explicit choice`,
  };
}

export interface ContextPlane {
  context: ContextService;
  memory: MemoryService;
  /** Records a finished task in the `runs` collection (context.recordRuns), else null. */
  recordRun: ((task: TaskRecord) => void) | null;
  /** Resolves once the runs handed to `recordRun` so far are written (tests, shutdown). */
  runsRecorded(): Promise<void>;
  /** For /v1/status: is the embedder answering, and which one is it. */
  check(): Promise<{ ok: boolean; detail: string }>;
}

/** The memory and context plane: embedder, context service and agent memory streams. */
export function contextPlane(deps: {
  config: Config['context'];
  llm: Config['llm'];
  store: ContextStore;
  tasks: { get(id: string): Promise<TaskRecord | undefined> };
  index: VectorIndex;
  gateway: LlmGateway | null;
  clock: Clock;
  log: Log;
}): ContextPlane {
  const { config, gateway, log } = deps;
  const { embedder, detail } = chooseEmbedder(config, gateway, deps.llm);
  log('info', `context embedder: ${detail}`);
  const context = new ContextService({ store: deps.store, tasks: deps.tasks, embedder, index: deps.index, clock: deps.clock, chunkTokens: config.chunkTokens });
  const thinking = gateway?.registry.names().includes(config.reflectionModel) ? gateway : null;
  const onFallback = (agent: string, what: string, err: unknown) => log('warn', `memory: ${what} for ${agent} fell back to the extractive one: ${err instanceof Error ? err.message : String(err)}`, { agent });
  const memory = new MemoryService({
    store: deps.store,
    embedder,
    clock: deps.clock,
    maxPerAgent: config.memoryPerAgent,
    reflector: thinking ? llmReflector(thinking, { model: config.reflectionModel, onFallback }) : extractiveReflector,
    ...(thinking ? { summariser: llmSummariser(thinking, { model: config.reflectionModel, onFallback }) } : {}),
  });
  log('info', thinking ? `memory: agents reflect and summarise with the gateway's "${config.reflectionModel}"` : `memory: reflections and summaries are extractive (no LLM model "${config.reflectionModel}")`);

  // Learn the model now, and name the collections it cannot search until they are re-indexed.
  void (async () => {
    try {
      await embedder.ready?.();
      for (const c of await deps.store.collections.list()) {
        if (c.model !== embedder.model || c.dimension !== embedder.dimension) {
          log('warn', `context: collection ${c.name} is embedded with ${c.model} (dimension ${c.dimension}), the embedder is now ${embedder.model} (dimension ${embedder.dimension}); search uses keywords only there until it is re-indexed: aiflock context reindex ${c.name}`, { collection: c.name });
        }
      }
    } catch (err) {
      log('warn', `context embedder not ready: ${err instanceof Error ? err.message : String(err)}; ingest waits for it, search uses keywords only`);
    }
  })();

  const runs = config.recordRuns
    ? new RunRecorder(
        (doc) => context.ingest({ collection: RUNS_COLLECTION, documents: [doc], delete: [] }),
        (taskId, err) => log('warn', `context: run ${taskId} was not recorded in the runs collection: ${err instanceof Error ? err.message : String(err)}`, { taskId }),
      )
    : null;

  return {
    context,
    memory,
    recordRun: runs?.record ?? null,
    runsRecorded: async () => runs?.idle(),
    check: async () => {
      try {
        // Status must answer at once, not wait out a provider that hangs.
        let timer: NodeJS.Timeout | undefined;
        const slow = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the embedding model has not answered yet')), 1_500)));
        await Promise.race([embedder.ready?.(), slow]).finally(() => clearTimeout(timer));
        return { ok: true, detail: embedder.ready ? `${embedder.model} (dimension ${embedder.dimension}) from ${detail}` : detail };
      } catch (err) {
        return { ok: false, detail: `${detail}: ${err instanceof Error ? err.message : String(err)}` };
      }
    },
  };
}

/**
 * Mount the plane's bus ops (`memory.add`, `memory.recall`, `memory.reflect`,
 * `context.search`) on the RPC router: the caller is the instance the subject names, and
 * each handler validates its own input and scopes to that caller's agent.
 */
export function mountContextOps(rpc: RpcRouter, plane: Pick<ContextPlane, 'context' | 'memory'>): void {
  for (const [name, handle] of Object.entries(memoryBusHandlers(plane))) {
    const [service, operation] = name.split('.') as [string, string];
    rpc.unary(service, operation, z.unknown(), handle);
  }
}
