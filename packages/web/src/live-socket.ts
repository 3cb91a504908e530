import { backoffDelay } from './backoff.js';

export type LinkState = 'connecting' | 'open' | 'offline';

export interface LiveSocketOptions {
  url: () => string;
  onMessage: (data: unknown) => void;
  onState?: (state: LinkState, detail: { attempt: number; retryInMs?: number }) => void;
  /** Called on every (re)open: the server starts each connection with a snapshot/hello. */
  onOpen?: () => void;
}

/**
 * A WebSocket that comes back: on any close it reconnects with exponential backoff and jitter,
 * immediately when the browser says it is online again. Each connection starts from the
 * server's snapshot, so nothing is patched across a gap.
 */
export class LiveSocket {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private readonly online = () => this.reconnectNow();

  constructor(private readonly opts: LiveSocketOptions) {
    window.addEventListener('online', this.online);
    this.connect();
  }

  /** Drop the connection and open a fresh one (e.g. after a sequence gap). */
  resync(): void {
    this.ws?.close();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    window.removeEventListener('online', this.online);
    this.ws?.close();
  }

  private reconnectNow(): void {
    if (this.closed || this.ws) return;
    clearTimeout(this.timer);
    this.connect();
  }

  private connect(): void {
    this.opts.onState?.('connecting', { attempt: this.attempt });
    const ws = new WebSocket(this.opts.url());
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.opts.onState?.('open', { attempt: 0 });
      this.opts.onOpen?.();
    };
    ws.onmessage = (ev) => {
      let data: unknown;
      try {
        data = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      this.opts.onMessage(data);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.closed) return;
      const retryInMs = backoffDelay(this.attempt++);
      this.opts.onState?.('offline', { attempt: this.attempt, retryInMs });
      this.timer = setTimeout(() => this.connect(), retryInMs);
    };
  }
}
