/**
 * The browser's sign-in. The session itself is an HttpOnly cookie scripts cannot read; what
 * the page keeps is who signed in (to show or hide the admin pages) and the CSRF token every
 * change must carry, which the daemon hands out only in the sign-in answer. It lives in
 * localStorage so a reload or a second tab stays signed in; alone it is worthless (it needs
 * the cookie, which other sites cannot send: SameSite=Strict).
 */
export interface Session {
    actor: {
        id: string;
        scopes: string[];
    };
    csrfToken: string;
    expiresAt: string;
}
export declare function loadSession(now?: number): Session | null;
export declare function saveSession(s: Session | null): void;
export declare const isAdmin: (s: Session | null) => boolean;
