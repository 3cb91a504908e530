import { randomUUID } from 'node:crypto';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { FlockError } from '@aiflock/core';

interface Session {
  transport: StreamableHTTPServerTransport;
  server: Server;
  /** The token (or session) that opened it; only it may use it. */
  owner: string;
  lastUsed: number;
}

export interface SessionLimits {
  /** A session nobody used for this long is closed. */
  idleMs: number;
  /** Open sessions per token; opening one more closes that token's least recently used. */
  perOwner: number;
}

/**
 * The MCP sessions of this daemon (the `Mcp-Session-Id` of the streamable HTTP transport),
 * each bound to the identity that opened it: a session id alone is not a credential, so a
 * request naming another identity's session is answered as if it did not exist.
 */
export class McpSessions {
  private readonly byId = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly limits: SessionLimits) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, limits.idleMs)).unref();
  }

  get size(): number {
    return this.byId.size;
  }

  /** A new session's transport, connected to `server`; it joins the table once the client's initialize is answered. */
  async open(owner: string, server: Server): Promise<StreamableHTTPServerTransport> {
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        this.byId.set(id, { transport, server, owner, lastUsed: Date.now() });
        this.limitOwner(owner);
      },
      onsessionclosed: (id) => void this.byId.delete(id),
    });
    transport.onclose = () => {
      if (transport.sessionId) this.byId.delete(transport.sessionId);
    };
    await server.connect(transport);
    return transport;
  }

  /** The transport of session `id` if `owner` opened it. */
  use(id: string, owner: string): StreamableHTTPServerTransport {
    const s = this.byId.get(id);
    if (!s || s.owner !== owner) throw new FlockError('mcp_session_not_found', `no MCP session ${JSON.stringify(id.slice(0, 100))} for this token: it ended, expired or was never opened; send initialize without Mcp-Session-Id to open one`);
    s.lastUsed = Date.now();
    return s.transport;
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.byId.values()].map((s) => s.server.close()));
    this.byId.clear();
  }

  private sweep(): void {
    const before = Date.now() - this.limits.idleMs;
    for (const [id, s] of this.byId) if (s.lastUsed < before) this.close(id, s);
  }

  private limitOwner(owner: string): void {
    const mine = [...this.byId.entries()].filter(([, s]) => s.owner === owner).sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    for (const [id, s] of mine.slice(0, Math.max(0, mine.length - this.limits.perOwner))) this.close(id, s);
  }

  private close(id: string, s: Session): void {
    this.byId.delete(id);
    void s.server.close().catch(() => undefined);
  }
}
