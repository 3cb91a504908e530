import type { LinkState } from '../live-socket.js';
export declare function Village({ onLink }: {
    onLink: (name: string, state: LinkState) => void;
}): import("react").JSX.Element;
