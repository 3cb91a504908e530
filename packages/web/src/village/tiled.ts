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

const FLIP_BITS = 0x1fffffff;

/** Tiled writes colours as #AARRGGBB; CSS wants #RRGGBBAA. */
export function cssColor(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const m = /^#?([0-9a-f]{6}|[0-9a-f]{8})$/i.exec(value.trim());
  if (!m) return null;
  const hex = m[1]!;
  return hex.length === 8 ? `#${hex.slice(2)}${hex.slice(0, 2)}` : `#${hex}`;
}

const COLOR_PROPS = new Set(['color', 'colour', 'fill']);

/**
 * Paints a map. `external` holds the tilesets the map names by `source` (as
 * `GET /v1/world/map` answers them: keyed by that source), or a list in `tilesets` order.
 */
export function paintMap(map: TiledMap, external: Record<string, TiledTileset> | TiledTileset[] = {}): PaintedMap {
  const byGid = new Map<number, string>();
  map.tilesets.forEach((ts, i) => {
    const first = ts.firstgid ?? 1;
    const ext = Array.isArray(external) ? external[i] : ts.source !== undefined ? external[ts.source] : undefined;
    const tiles = ts.tiles ?? ext?.tiles ?? [];
    for (const t of tiles) {
      const prop = t.properties?.find((p) => COLOR_PROPS.has(p.name.toLowerCase()));
      const color = cssColor(prop?.value);
      if (color) byGid.set(first + t.id, color);
    }
  });
  const colors: (string | null)[] = new Array<string | null>(map.width * map.height).fill(null);
  for (const layer of map.layers) {
    if (layer.type !== 'tilelayer' || layer.visible === false || !Array.isArray(layer.data)) continue;
    const w = layer.width ?? map.width;
    layer.data.forEach((raw, i) => {
      const gid = raw & FLIP_BITS;
      if (gid === 0) return;
      const x = i % w;
      const y = Math.floor(i / w);
      if (x >= map.width || y >= map.height) return;
      const c = byGid.get(gid);
      if (c) colors[y * map.width + x] = c;
    });
  }
  return { width: map.width, height: map.height, colors };
}
