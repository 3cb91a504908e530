export type LinkState = 'connecting' | 'open' | 'offline';
export interface LiveSocketOptions {
    url: () => string;
    onMessage: (data: unknown) => void;
    onState?: (state: LinkState, detail: {
        attempt: number;
        retryInMs?: number;
    }) => void;
    /** Called on every (re)open: the server starts each connection with a snapshot/hello. */
    onOpen?: () => void;
}
/**
 * A WebSocket that comes back: on any close it reconnects with exponential backoff and jitter,
 * immediately when the browser says it is online again. Each connection starts from the
 * server's snapshot, so nothing is patched across a gap.
 */
export declare class LiveSocket {
    private readonly opts;
    private ws;
    private attempt;
    private timer;
    private closed;
    private readonly online;
    constructor(opts: LiveSocketOptions);
    /** Drop the connection and open a fresh one (e.g. after a sequence gap). */
    resync(): void;
    close(): void;
    private reconnectNow;
    private connect;
}
