import { randomBytes } from 'node:crypto';
import type { MemoryAddInput, RecalledMemory } from '@aiflock/protocol';
import type { Clock } from '../ports/clock.js';
import type { ContextStore, MemoryKind, MemoryRecord } from '../ports/context-store.js';
import type { Embedder } from '../ports/embedder.js';
import { dot } from '../context/vectors.js';

/** Higher-level insights from recent memories (an LLM call in production; injected). */
export interface Reflector {
  reflect(agent: string, recent: readonly MemoryRecord[]): Promise<{ text: string; importance: number }[]>;
}

/** Folds old memories into one when an agent's stream is full (an LLM call in production; injected). */
export interface Summariser {
  summarise(agent: string, oldest: readonly MemoryRecord[]): Promise<string>;
}

export interface MemoryServiceDeps {
  store: ContextStore;
  embedder: Embedder;
  clock: Clock;
  reflector?: Reflector;
  summariser?: Summariser;
  /** Importance when the caller gives none (1..10). */
  importance?: (kind: MemoryKind, text: string) => number;
  /** Most memories kept per agent; beyond it the oldest are summarised. */
  maxPerAgent?: number;
  /** Summed importance of new memories that triggers a reflection (the paper uses 150). */
  reflectionThreshold?: number;
  /** Recency decay per hour since last access (the paper: 0.995). */
  decayPerHour?: number;
}

let sequence = 0;
/** Memory ids sort by creation time, then by order within this process, so "newest first" is exact. */
function newMemoryId(now: Date): string {
  sequence = (sequence + 1) % 36 ** 6;
  return `m_${now.getTime().toString(36).padStart(9, '0')}${sequence.toString(36).padStart(6, '0')}${randomBytes(4).toString('hex')}`;
}

const KIND_IMPORTANCE: Record<MemoryKind, number> = { observation: 3, action: 4, reply: 4, reflection: 7, summary: 6 };

/**
 * Without a language model the summary is extractive: the most important memories' text,
 * oldest first, cut to a bounded length. Honest and deterministic; the gateway's model
 * replaces it through the Summariser port.
 */
export const extractiveSummariser: Summariser = {
  async summarise(_agent, oldest) {
    const top = [...oldest].sort((a, b) => b.importance - a.importance).slice(0, 8);
    top.sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
    const text = top.map((m) => `[${m.kind}] ${m.text.replace(/\s+/g, ' ').slice(0, 200)}`).join(' | ');
    return `Summary of ${oldest.length} earlier memories: ${text}`.slice(0, 4000);
  },
};

/**
 * Each agent's memory stream, after Generative Agents (Park et al., 2023): memories are
 * retrieved by the sum of recency (exponential decay since last access), importance and
 * relevance (cosine to the query), each min-max normalised over the agent's memories.
 */
export class MemoryService {
  private readonly max: number;
  private readonly threshold: number;
  private readonly decay: number;
  /** Per agent, so reflection and trimming never run twice at once for one stream. */
  private readonly busy = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: MemoryServiceDeps) {
    this.max = deps.maxPerAgent ?? 1000;
    this.threshold = deps.reflectionThreshold ?? 150;
    this.decay = deps.decayPerHour ?? 0.995;
  }

  private serial<T>(agent: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.busy.get(agent) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.busy.set(agent, next.catch(() => undefined));
    return next;
  }

  async add(agent: string, input: MemoryAddInput | { kind: MemoryKind; text: string; importance?: number }): Promise<{ id: string; importance: number; reflected: number; summarised: number }> {
    return this.serial(agent, async () => {
      const rec = await this.write(agent, input.kind, input.text, input.importance);
      const reflected = await this.maybeReflect(agent);
      const summarised = await this.bound(agent);
      return { id: rec.id, importance: rec.importance, reflected, summarised };
    });
  }

  private async write(agent: string, kind: MemoryKind, text: string, importance?: number): Promise<MemoryRecord> {
    const { embedder, clock, store } = this.deps;
    await embedder.ready?.();
    const [embedding] = await embedder.embed([text]);
    const at = clock.now();
    const now = at.toISOString();
    const imp = Math.min(10, Math.max(1, Math.round(importance ?? this.deps.importance?.(kind, text) ?? KIND_IMPORTANCE[kind])));
    const rec: MemoryRecord = { id: newMemoryId(at), agent, kind, text, importance: imp, createdAt: now, lastAccessedAt: now, model: embedder.model, embedding: embedding! };
    await store.memories.add(rec);
    return rec;
  }

  /**
   * Reflect now on what happened since the last reflection, whatever its importance: for a
   * periodic caller (the village loop at the end of an agent's day). Returns how many
   * reflections were stored; 0 when there is no reflector or nothing new.
   */
  async reflect(agent: string): Promise<number> {
    return this.serial(agent, () => this.maybeReflect(agent, 1));
  }

  /** When the importance of what happened since the last reflection adds up, reflect once. */
  private async maybeReflect(agent: string, threshold = this.threshold): Promise<number> {
    const { reflector, store } = this.deps;
    if (!reflector) return 0;
    const recent: MemoryRecord[] = [];
    for (const m of await store.memories.list(agent, 500)) {
      if (m.kind === 'reflection') break;
      recent.push(m);
    }
    const sum = recent.reduce((s, m) => s + m.importance, 0);
    if (recent.length === 0 || sum < threshold) return 0;
    const insights = await reflector.reflect(agent, recent);
    // Always leave a reflection marker, so a reflector that has nothing to say does not run again at once.
    const list = insights.length ? insights : [{ text: `Reflected on ${recent.length} memories; nothing new stood out.`, importance: 1 }];
    for (const i of list) await this.write(agent, 'reflection', i.text, i.importance);
    return list.length;
  }

  /** Keep at most `maxPerAgent`: fold the oldest tenth (at least 2) into one summary memory. */
  private async bound(agent: string): Promise<number> {
    const { store } = this.deps;
    const count = await store.memories.count(agent);
    if (count <= this.max) return 0;
    const all = await store.memories.list(agent);
    const fold = Math.max(2, count - this.max + Math.floor(this.max / 10));
    const oldest = all.slice(-fold).reverse();
    const summary = await (this.deps.summariser ?? extractiveSummariser).summarise(agent, oldest);
    const rec = await this.write(agent, 'summary', summary, Math.max(...oldest.map((m) => m.importance)));
    // The summary keeps the age of what it stands for, so recency still ranks it as old.
    await store.memories.remove(agent, [rec.id]);
    await store.memories.add({ ...rec, createdAt: oldest[0]!.createdAt, lastAccessedAt: oldest[oldest.length - 1]!.lastAccessedAt });
    await store.memories.remove(agent, oldest.map((m) => m.id));
    return oldest.length;
  }

  /**
   * The `k` memories that score best for `query`. Recall by the agent itself refreshes their
   * access time (recency decays from the last use, as in the paper); a person inspecting an
   * agent's memory passes `touch: false`, so looking does not change what the agent recalls.
   */
  async recall(agent: string, query: string, k = 10, opts: { touch?: boolean } = {}): Promise<RecalledMemory[]> {
    const { store, embedder, clock } = this.deps;
    const all = await store.memories.list(agent);
    if (all.length === 0) return [];
    await embedder.ready?.();
    const [q] = await embedder.embed([query]);
    const now = clock.now().getTime();
    const raw = all.map((m) => ({
      m,
      recency: Math.pow(this.decay, Math.max(0, (now - Date.parse(m.lastAccessedAt)) / 3_600_000)),
      importance: m.importance / 10,
      // Memories embedded by another model cannot be compared; they count as unrelated.
      relevance: m.model === embedder.model && m.embedding.length === q!.length ? dot(q!, m.embedding) : 0,
    }));
    const norm = (key: 'recency' | 'importance' | 'relevance') => {
      const vs = raw.map((r) => r[key]);
      const lo = Math.min(...vs);
      const hi = Math.max(...vs);
      return (v: number) => (hi > lo ? (v - lo) / (hi - lo) : 0);
    };
    const nr = norm('recency');
    const ni = norm('importance');
    const nv = norm('relevance');
    const scored = raw
      .map((r) => ({ ...r, score: nr(r.recency) + ni(r.importance) + nv(r.relevance) }))
      .sort((a, b) => b.score - a.score || (a.m.createdAt < b.m.createdAt ? 1 : -1))
      .slice(0, k);
    if (opts.touch !== false) await store.memories.touch(agent, scored.map((s) => s.m.id), new Date(now).toISOString());
    return scored.map((s) => ({
      id: s.m.id,
      kind: s.m.kind,
      text: s.m.text,
      importance: s.m.importance,
      createdAt: s.m.createdAt,
      score: Number(s.score.toFixed(6)),
      recency: Number(s.recency.toFixed(6)),
      relevance: Number(s.relevance.toFixed(6)),
    }));
  }
}
