import type { PaintedMap } from './tiled.js';
import { type WorldView } from './world-state.js';
/** Paints the static layer (tiles, landmarks) once per map, not every frame. */
export declare function paintBackground(ctx: CanvasRenderingContext2D, view: WorldView, painted: PaintedMap | null, px: number): void;
/** One frame: villagers where they are now (gliding), names, activity, speech bubbles. */
export declare function drawVillagers(ctx: CanvasRenderingContext2D, view: WorldView, px: number, now: number, selected: string | null): void;
/**
 * Where each villager is drawn: its gliding position, nudged apart from others standing on
 * the same tile so that none hides another (the engine lets villagers share a tile).
 */
export declare function spreadShared(view: WorldView, now: number): Map<string, {
    x: number;
    y: number;
}>;
/** The villager under a click, if any (within its circle, generously). */
export declare function villagerAt(view: WorldView, px: number, x: number, y: number, now: number): string | null;
