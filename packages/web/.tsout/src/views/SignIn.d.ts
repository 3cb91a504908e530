import type { Session } from '../session.js';
/** Sign in by pasting a token; the daemon answers with a session cookie and a CSRF token. */
export declare function SignIn({ onSignedIn, notice }: {
    onSignedIn: (s: Session) => void;
    notice: string | null;
}): import("react").JSX.Element;
