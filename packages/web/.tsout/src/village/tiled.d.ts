/**
 * Just enough of the Tiled JSON map format (.tmj) to paint the village: tile layers whose
 * tiles carry a colour property in their tileset (embedded, or answered next to the map).
 * Unknown layers and tiles without a colour are skipped, never guessed.
 */
interface TiledProperty {
    name: string;
    type?: string;
    value: unknown;
}
interface TiledTile {
    id: number;
    type?: string;
    properties?: TiledProperty[];
}
export interface TiledTileset {
    firstgid?: number;
    tiles?: TiledTile[];
    source?: string;
}
interface TiledLayer {
    type: string;
    name?: string;
    visible?: boolean;
    width?: number;
    height?: number;
    data?: number[];
}
export interface TiledMap {
    width: number;
    height: number;
    tilewidth: number;
    tileheight?: number;
    layers: TiledLayer[];
    tilesets: TiledTileset[];
}
export interface PaintedMap {
    width: number;
    height: number;
    /** CSS colour per tile (row-major), or null where no layer paints it. */
    colors: (string | null)[];
}
/** Tiled writes colours as #AARRGGBB; CSS wants #RRGGBBAA. */
export declare function cssColor(value: unknown): string | null;
/**
 * Paints a map. `external` holds the tilesets the map names by `source` (as
 * `GET /v1/world/map` answers them: keyed by that source), or a list in `tilesets` order.
 */
export declare function paintMap(map: TiledMap, external?: Record<string, TiledTileset> | TiledTileset[]): PaintedMap;
export {};
