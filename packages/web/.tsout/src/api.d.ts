/** An error answer of the API, `{error:{code,message,details,requestId}}`, kept whole for the UI. */
export declare class ApiError extends Error {
    readonly status: number;
    readonly code: string;
    readonly requestId?: string | undefined;
    name: string;
    constructor(status: number, code: string, message: string, requestId?: string | undefined);
}
type Listener = () => void;
/** Called when the API says the session is gone (expired, revoked, signed out elsewhere). */
export declare function onSignedOut(fn: Listener): () => void;
/**
 * Calls the API with the session cookie (same origin) and, on changes, the CSRF token.
 * Answers are JSON; errors become `ApiError` with the API's own message.
 */
export declare function api<T>(path: string, init?: {
    method?: string;
    body?: unknown;
    signal?: AbortSignal;
    headers?: Record<string, string>;
}): Promise<T>;
/** A WebSocket URL on this origin (the cookie goes with the upgrade; no token in the URL). */
export declare function wsUrl(path: string): string;
/** Cents → "12.34" aiDollars. */
export declare function aiDollars(cents: number): string;
/** "12.34" aiDollars → cents, or an error message naming what is wrong. */
export declare function parseAiDollars(text: string): {
    cents: number;
} | {
    error: string;
};
export {};
