import { FlockError } from '../errors.js';

export type ModelCapability = 'chat' | 'tools' | 'json' | 'embed' | 'stream';

/** One model on one provider deployment, with what it can do and what it costs. */
export interface ModelRoute {
  provider: string;
  model: string;
  capabilities: ModelCapability[];
  contextWindow: number;
  /** aiDollars per 1,000 tokens. */
  pricePer1kIn: number;
  pricePer1kOut: number;
}

export interface RegistryEntry extends ModelRoute {
  /** The name callers use: an alias (`default`, `fast`, `coder`, `embed`) or any model name. */
  name: string;
  /** Other registry names to try, in order, when this one fails. */
  fallbacks: string[];
}

/**
 * The model registry: names and aliases → an ordered list of routes (the entry, then its
 * fallbacks, each once). Built once from config; lookups are pure.
 */
export class ModelRegistry {
  private readonly byName = new Map<string, RegistryEntry>();

  constructor(entries: readonly RegistryEntry[]) {
    for (const e of entries) {
      if (this.byName.has(e.name)) throw new FlockError('validation_failed', `llm registry: model name "${e.name}" appears twice`);
      this.byName.set(e.name, e);
    }
    for (const e of entries) {
      for (const f of e.fallbacks) {
        if (!this.byName.has(f)) throw new FlockError('validation_failed', `llm registry: "${e.name}" falls back to unknown model "${f}"`);
      }
    }
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  get(name: string): RegistryEntry | undefined {
    return this.byName.get(name);
  }

  /**
   * Routes for a request: the named entry then its fallbacks (transitively, each once).
   * `providerOrder` (a per-request policy override such as `["local"]` or provider names)
   * filters and reorders them; `need` drops routes without a capability.
   */
  plan(name: string, opts: { need?: ModelCapability[]; providerOrder?: string[]; fallbacks?: string[] } = {}): Array<ModelRoute & { name: string }> {
    const first = this.byName.get(name);
    if (!first) throw new FlockError('llm_unknown_model', `unknown model "${name}"; known: ${this.names().join(', ') || '(none configured)'}`, { model: name });
    const seen = new Set<string>();
    const out: Array<ModelRoute & { name: string }> = [];
    const visit = (e: RegistryEntry) => {
      if (seen.has(e.name)) return;
      seen.add(e.name);
      out.push(e);
      for (const f of e.fallbacks) visit(this.byName.get(f)!);
    };
    visit(first);
    // Caller-given fallbacks (an agent manifest's) come after the registry's own.
    for (const f of opts.fallbacks ?? []) {
      const e = this.byName.get(f);
      if (!e) throw new FlockError('llm_unknown_model', `unknown fallback model "${f}"; known: ${this.names().join(', ')}`, { model: f });
      visit(e);
    }
    let routes = out.filter((r) => (opts.need ?? []).every((c) => r.capabilities.includes(c)));
    if (opts.providerOrder && opts.providerOrder.length > 0) {
      const order = opts.providerOrder;
      routes = routes.filter((r) => order.includes(r.provider)).sort((a, b) => order.indexOf(a.provider) - order.indexOf(b.provider));
    }
    return routes;
  }
}

/** aiDollars for a call, from the route's prices per 1,000 tokens. */
export function priceUsage(route: Pick<ModelRoute, 'pricePer1kIn' | 'pricePer1kOut'>, tokensIn: number, tokensOut: number): number {
  const cost = (tokensIn / 1000) * route.pricePer1kIn + (tokensOut / 1000) * route.pricePer1kOut;
  // Round to a millionth: enough for per-token prices, and stable when summed in a ledger.
  return Math.round(cost * 1e6) / 1e6;
}
