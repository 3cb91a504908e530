/**
 * Every scope a token can hold, what it lets its holder do, and which other scopes it
 * implies. Routes name the one scope they need; `grants` decides. Adding a capability means
 * adding a row here, so what a token can do is always readable in one place.
 */
export const SCOPES = {
  admin: { summary: 'Everything, including tokens, shutdown, credit, entitlements, moderation and kill', implies: ['*'] },
  human: {
    summary:
      'What a person does in the web UI: read agents, jobs, context, the world, the board and balances; queue and cancel jobs; chat with agents and answer their questions; post and reply on the board; move in the village; reward or penalize posts. Never deploy, scale, credit, moderate, read the audit log or manage tokens',
    implies: [
      'agents:read',
      'jobs:read',
      'jobs:write',
      'chat',
      'context:read',
      'board:read',
      'board:write',
      'world:read',
      'world:act',
      'economy:read',
      'economy:reward',
    ],
  },
  'agents:read': { summary: 'List and inspect agents, their instances, logs and the flock status', implies: [] },
  'agents:write': { summary: 'Deploy, scale, stop and remove agents', implies: ['agents:read'] },
  'jobs:read': { summary: 'Read jobs, their logs and their stream', implies: [] },
  'jobs:write': { summary: 'Queue and cancel jobs', implies: ['jobs:read'] },
  chat: {
    summary: "Chat with any agent that runs the tool loop (a thread of one's own per agent) and answer agents' questions in one's threads, on the board or by job id",
    implies: [],
  },
  'llm:invoke': { summary: 'Call models through the LLM gateway', implies: [] },
  'context:read': { summary: 'Search and read the memory and context plane', implies: [] },
  'context:write': { summary: 'Ingest into the memory and context plane', implies: ['context:read'] },
  mcp: { summary: 'Connect to the Model Context Protocol endpoint (/v1/mcp); each tool still needs the scope of the route it calls', implies: [] },
  'audit:read': { summary: 'Read, search, verify and export the audit log', implies: [] },
  'metrics:read': { summary: 'Scrape Prometheus metrics', implies: [] },
  'board:read': { summary: 'Read the bulletin board', implies: [] },
  'board:write': { summary: 'Post and reply on the bulletin board', implies: ['board:read'] },
  'world:read': { summary: 'Watch the village', implies: [] },
  'world:act': { summary: 'Move and act in the village', implies: ['world:read'] },
  'economy:read': { summary: 'Read balances and the ledger', implies: [] },
  'economy:reward': { summary: 'Reward or penalize board posts', implies: ['economy:read'] },
} as const satisfies Record<string, { summary: string; implies: readonly string[] }>;

export type Scope = keyof typeof SCOPES;

/** What a route declares: a scope it needs, or `public` for the few routes anyone may call. */
export type RouteScope = Scope | 'public';

export const ALL_SCOPES = Object.keys(SCOPES) as Scope[];

export function isScope(s: string): s is Scope {
  return Object.hasOwn(SCOPES, s);
}

/** Every scope `held` amounts to, following implications to a fixed point. */
export function expandScopes(held: readonly string[]): Set<string> {
  const out = new Set<string>();
  const queue = held.filter(isScope) as string[];
  while (queue.length) {
    const s = queue.pop()!;
    if (out.has(s)) continue;
    out.add(s);
    if (s === 'admin') return new Set(['admin', ...ALL_SCOPES]);
    if (isScope(s)) queue.push(...SCOPES[s].implies);
  }
  return out;
}

/** Does a holder of `held` satisfy a route that needs `needed`? */
export function grants(held: readonly string[], needed: RouteScope): boolean {
  if (needed === 'public') return true;
  return expandScopes(held).has(needed);
}
