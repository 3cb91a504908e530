import { type LinkState } from '../live-socket.js';
import { type WorldView } from './world-state.js';
/**
 * The live village: the world socket folded into a `WorldView`. The canvas reads `ref` every
 * frame; React re-renders the list on each change (`version`).
 */
export declare function useWorld(onLink: (name: string, state: LinkState) => void): {
    ref: React.RefObject<WorldView | null>;
    view: WorldView | null;
};
