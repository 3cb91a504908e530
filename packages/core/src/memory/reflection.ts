import type { LlmCaller } from '../llm/gateway.js';
import type { ChatMessage, OutputFormat } from '../ports/llm-provider.js';
import type { MemoryRecord } from '../ports/context-store.js';
import { extractiveSummariser, type Reflector, type Summariser } from './memory-stream.js';

/** What reflection and summarisation need of the LLM gateway (`LlmGateway` has it). */
export interface ChatGateway {
  chat(req: { model: string; messages: ChatMessage[]; format?: OutputFormat; maxTokens?: number; temperature?: number }, caller: LlmCaller): Promise<{ content: string }>;
}

const line = (m: MemoryRecord) => `- [${m.kind}, importance ${m.importance}] ${m.text.replace(/\s+/g, ' ').slice(0, 300)}`;

/**
 * Without a language model a reflection is extractive: the most important of the recent
 * memories, said as what stood out. Deterministic and honest about being a digest, so the
 * memory stream still gains reflections (which recall ranks high) on a flock with no LLM.
 */
export const extractiveReflector: Reflector = {
  async reflect(_agent, recent) {
    const top = [...recent].sort((a, b) => b.importance - a.importance || (a.createdAt < b.createdAt ? 1 : -1)).slice(0, 3);
    if (top.length === 0) return [];
    const text = `What stood out among my last ${recent.length} memories: ${top.map((m) => m.text.replace(/\s+/g, ' ').slice(0, 160)).join('; ')}`;
    return [{ text: text.slice(0, 2000), importance: Math.min(10, Math.max(...top.map((m) => m.importance)) + 1) }];
  },
};

const INSIGHTS: OutputFormat = {
  schema: {
    type: 'object',
    properties: {
      insights: {
        type: 'array',
        maxItems: 3,
        items: { type: 'object', properties: { text: { type: 'string', maxLength: 300 }, importance: { type: 'integer', minimum: 1, maximum: 10 } }, required: ['text', 'importance'] },
      },
    },
    required: ['insights'],
  },
};

/** Keep what a model returned only if it has the promised shape. */
function insightsOf(content: string): { text: string; importance: number }[] | null {
  try {
    const v = JSON.parse(content) as { insights?: unknown };
    if (!Array.isArray(v.insights)) return null;
    const out = v.insights
      .filter((i): i is { text: string; importance: number } => typeof i === 'object' && i !== null && typeof (i as { text?: unknown }).text === 'string' && Number.isFinite((i as { importance?: unknown }).importance))
      .map((i) => ({ text: i.text.trim().slice(0, 2000), importance: Math.min(10, Math.max(1, Math.round(i.importance))) }))
      .filter((i) => i.text.length > 0);
    return out.length ? out : null;
  } catch {
    return null;
  }
}

export interface LlmMemoryOptions {
  /** The registry name or alias to think with. */
  model: string;
  /** Who the gateway charges: each agent pays for thinking about its own memories. */
  callerOf?: (agent: string) => LlmCaller;
  /** Told when the model fails and the extractive fallback is used instead. */
  onFallback?: (agent: string, what: 'reflect' | 'summarise', err: unknown) => void;
}

/**
 * Reflection through the gateway, as in Generative Agents: the model reads the recent
 * memories and states up to three higher-level insights with their importance (constrained
 * JSON). When the model fails or answers out of shape, the extractive reflection stands in,
 * so an agent's memory never stops working because a model did.
 */
export function llmReflector(gateway: ChatGateway, opts: LlmMemoryOptions): Reflector {
  return {
    async reflect(agent, recent) {
      const messages: ChatMessage[] = [
        { role: 'system', content: 'You help a character in a simulation reflect on its memories. Answer with JSON only.' },
        { role: 'user', content: `Memories of ${agent}, newest first:\n${recent.slice(0, 100).map(line).join('\n')}\n\nWhat are up to 3 high-level insights ${agent} can infer from these? Rate each insight's importance from 1 (mundane) to 10 (poignant).` },
      ];
      try {
        const r = await gateway.chat({ model: opts.model, messages, format: INSIGHTS, maxTokens: 400, temperature: 0 }, opts.callerOf?.(agent) ?? { id: agent, agent });
        const got = insightsOf(r.content);
        if (got) return got;
        throw new Error(`the model's answer is not the insights JSON: ${r.content.slice(0, 120)}`);
      } catch (err) {
        opts.onFallback?.(agent, 'reflect', err);
        return extractiveReflector.reflect(agent, recent);
      }
    },
  };
}

/** Summaries through the gateway, falling back to the extractive summary on any failure. */
export function llmSummariser(gateway: ChatGateway, opts: LlmMemoryOptions): Summariser {
  return {
    async summarise(agent, oldest) {
      const messages: ChatMessage[] = [
        { role: 'system', content: 'You condense a character\'s old memories into one short paragraph that keeps names, places, promises and anything important.' },
        { role: 'user', content: `Old memories of ${agent}, oldest first:\n${oldest.slice(0, 200).map(line).join('\n')}\n\nSummarise them in at most 120 words.` },
      ];
      try {
        const r = await gateway.chat({ model: opts.model, messages, maxTokens: 300, temperature: 0 }, opts.callerOf?.(agent) ?? { id: agent, agent });
        const text = r.content.trim();
        if (!text) throw new Error('the model returned an empty summary');
        return `Summary of ${oldest.length} earlier memories: ${text}`.slice(0, 4000);
      } catch (err) {
        opts.onFallback?.(agent, 'summarise', err);
        return extractiveSummariser.summarise(agent, oldest);
      }
    },
  };
}
