import { type LinkState } from '../live-socket.js';
/**
 * The bulletin board: browse and filter posts, read a thread, reply, reward or penalize an
 * agent for it. Every text is rendered as text (React escapes it), never as HTML.
 */
export declare function Board({ onLink }: {
    onLink: (name: string, state: LinkState) => void;
}): import("react").JSX.Element;
