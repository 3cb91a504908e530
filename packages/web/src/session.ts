/**
 * The browser's sign-in. The session itself is an HttpOnly cookie scripts cannot read; what
 * the page keeps is who signed in (to show or hide the admin pages) and the CSRF token every
 * change must carry, which the daemon hands out only in the sign-in answer. It lives in
 * localStorage so a reload or a second tab stays signed in; alone it is worthless (it needs
 * the cookie, which other sites cannot send: SameSite=Strict).
 */
export interface Session {
  /** `name`: the token's name, what the page calls the person (absent in sessions saved by older pages). */
  actor: { id: string; name?: string; scopes: string[] };
  csrfToken: string;
  expiresAt: string;
}

const KEY = 'aiflock.session';

export function loadSession(now = Date.now()): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (typeof s.csrfToken !== 'string' || !Array.isArray(s.actor?.scopes) || Date.parse(s.expiresAt) <= now) return null;
    return s;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
}

export const isAdmin = (s: Session | null): boolean => s?.actor.scopes.includes('admin') ?? false;
