import type { Landmark, Villager, WorldMessage, WorldSnapshot } from '@aiflock/protocol';
/** Where a villager is drawn: it glides from `from` to `to` over one tick. */
export interface Body {
    villager: Villager;
    from: {
        x: number;
        y: number;
    };
    to: {
        x: number;
        y: number;
    };
    /** When the last move arrived (ms, the page's clock). */
    movedAt: number;
    /** When its last line was said (ms), to fade the speech bubble. */
    saidAt: number | null;
}
export interface WorldView {
    seq: number;
    tick: number;
    tickMs: number;
    map: WorldSnapshot['map'];
    landmarks: Landmark[];
    bodies: Map<string, Body>;
}
export type Applied = {
    kind: 'ok';
    view: WorldView;
} | {
    kind: 'gap';
    expected: number;
    got: number;
};
/**
 * Folds the world stream into what the page draws. A snapshot replaces everything; a delta
 * must be the next `seq` (the server never skips one on a live connection), otherwise the
 * page asks for a fresh snapshot rather than draw a world it cannot trust.
 */
export declare function applyWorldMessage(view: WorldView | null, msg: WorldMessage, now: number): Applied;
/** The drawn position at `now`: linear from `from` to `to` over one tick, then resting at `to`. */
export declare function positionAt(b: Pick<Body, 'from' | 'to' | 'movedAt'>, now: number, tickMs: number): {
    x: number;
    y: number;
};
/** How a villager's brain is described, plainly: the model, or why there is none. */
export declare function brainOf(v: Pick<Villager, 'policy' | 'model'>): string;
