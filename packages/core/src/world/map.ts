import { z } from 'zod';
import { LandmarkName, type Landmark, type Tile } from '@aiflock/protocol';
import { FlockError } from '../errors.js';

/**
 * The village map, read from Tiled JSON (`.tmj`, the format people already edit, with its
 * `.tsj` tilesets). What the engine needs is small: a size, which tiles can be walked on and
 * the named landmark zones. A tile is a wall when its tileset tile has the property
 * `walkable: false`, or when it is painted on a tile layer named `walls` (or with the layer
 * property `collision: true`). Landmarks are the rectangles of the object layer `landmarks`,
 * each with `kind` and `label` properties and optionally `entryX`/`entryY` (in tiles).
 */
export interface WorldMap {
  name: string;
  width: number;
  height: number;
  tileSize: number;
  /** One byte per tile, row-major: 1 walkable, 0 not. */
  walkable: Uint8Array;
  landmarks: Landmark[];
}

const Property = z.object({ name: z.string(), type: z.string().optional(), value: z.unknown() });
const Properties = z.array(Property).optional();

const TilesetTiles = z.object({
  tiles: z.array(z.object({ id: z.number().int().min(0), properties: Properties })).optional(),
  tilecount: z.number().int().min(0).optional(),
});

const TileLayer = z.object({
  type: z.literal('tilelayer'),
  name: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  data: z.array(z.number().int().min(0)),
  properties: Properties,
});
const ObjectLayer = z.object({
  type: z.literal('objectgroup'),
  name: z.string(),
  objects: z.array(
    z.object({
      name: z.string(),
      x: z.number(),
      y: z.number(),
      width: z.number().optional(),
      height: z.number().optional(),
      properties: Properties,
    }),
  ),
});
const OtherLayer = z.object({ type: z.string(), name: z.string() });

const TiledMap = z.object({
  orientation: z.literal('orthogonal', 'only orthogonal maps are supported'),
  infinite: z.literal(false, 'infinite maps are not supported (save the map with a fixed size)').optional(),
  width: z.number().int().min(1).max(4096),
  height: z.number().int().min(1).max(4096),
  tilewidth: z.number().int().min(1),
  tileheight: z.number().int().min(1),
  layers: z.array(z.unknown()).min(1, 'at least one tile layer'),
  tilesets: z.array(z.object({ firstgid: z.number().int().min(1), source: z.string().optional() }).passthrough()),
});

/** Tiled stores flip flags in the top three bits of a gid. */
const GID_MASK = 0x1fffffff;

const invalid = (name: string, message: string, details?: Record<string, unknown>) => new FlockError('world_map_invalid', `village map ${name}: ${message}`, details);

function prop(props: z.infer<typeof Properties>, key: string): unknown {
  return props?.find((p) => p.name === key)?.value;
}

function zodMessage(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/**
 * Parses a Tiled map. `tilesets` holds the parsed `.tsj` files the map names by `source`
 * (the caller reads them); embedded tilesets need nothing.
 */
export function parseTiledMap(name: string, raw: unknown, tilesets: Readonly<Record<string, unknown>> = {}): WorldMap {
  const parsed = TiledMap.safeParse(raw);
  if (!parsed.success) throw invalid(name, zodMessage(parsed.error));
  const m = parsed.data;
  if (m.tilewidth !== m.tileheight) throw invalid(name, `tiles must be square (tilewidth ${m.tilewidth}, tileheight ${m.tileheight})`);

  // gid → walkable false, from every tileset's per-tile properties.
  const blockedGids = new Set<number>();
  for (const ts of m.tilesets) {
    const body = ts.source !== undefined ? tilesets[ts.source] : ts;
    if (body === undefined) throw invalid(name, `tileset "${ts.source}" is referenced but was not provided`);
    const t = TilesetTiles.safeParse(body);
    if (!t.success) throw invalid(name, `tileset ${ts.source ?? '(embedded)'}: ${zodMessage(t.error)}`);
    for (const tile of t.data.tiles ?? []) if (prop(tile.properties, 'walkable') === false) blockedGids.add(ts.firstgid + tile.id);
  }

  const size = m.width * m.height;
  const walkable = new Uint8Array(size).fill(1);
  let tileLayers = 0;
  let landmarkLayer: z.infer<typeof ObjectLayer> | undefined;
  for (const [i, rawLayer] of m.layers.entries()) {
    const base = OtherLayer.safeParse(rawLayer);
    if (!base.success) throw invalid(name, `layers.${i}: ${zodMessage(base.error)}`);
    if (base.data.type === 'tilelayer') {
      const l = TileLayer.safeParse(rawLayer);
      if (!l.success) throw invalid(name, `layer "${base.data.name}": ${zodMessage(l.error)} (save tile layers with CSV encoding, not base64)`);
      const layer = l.data;
      if (layer.width !== m.width || layer.height !== m.height || layer.data.length !== size) {
        throw invalid(name, `layer "${layer.name}" is ${layer.width}x${layer.height} with ${layer.data.length} tiles; the map is ${m.width}x${m.height}`);
      }
      tileLayers++;
      const collision = layer.name === 'walls' || prop(layer.properties, 'collision') === true;
      for (let k = 0; k < size; k++) {
        const gid = layer.data[k]! & GID_MASK;
        if (gid !== 0 && (collision || blockedGids.has(gid))) walkable[k] = 0;
      }
    } else if (base.data.type === 'objectgroup' && base.data.name === 'landmarks') {
      const l = ObjectLayer.safeParse(rawLayer);
      if (!l.success) throw invalid(name, `layer "landmarks": ${zodMessage(l.error)}`);
      landmarkLayer = l.data;
    }
  }
  if (tileLayers === 0) throw invalid(name, 'no tile layer');
  if (!landmarkLayer) throw invalid(name, 'no object layer named "landmarks"');

  const map: WorldMap = { name, width: m.width, height: m.height, tileSize: m.tilewidth, walkable, landmarks: [] };
  const seen = new Set<string>();
  for (const o of landmarkLayer.objects) {
    const what = `landmark "${o.name}"`;
    if (!LandmarkName.safeParse(o.name).success) throw invalid(name, `${what}: the name must be lowercase letters, digits and dashes, starting with a letter`);
    if (seen.has(o.name)) throw invalid(name, `${what} is defined twice`);
    seen.add(o.name);
    const kind = prop(o.properties, 'kind');
    const label = prop(o.properties, 'label') ?? o.name;
    if (typeof kind !== 'string' || kind.length === 0 || kind.length > 32) throw invalid(name, `${what}: needs a string property "kind" (home, cafe, market, board, park...)`);
    if (typeof label !== 'string' || label.length === 0 || label.length > 80) throw invalid(name, `${what}: the "label" property must be a string of 1-80 characters`);
    const x = Math.floor(o.x / m.tilewidth);
    const y = Math.floor(o.y / m.tileheight);
    const width = Math.max(1, Math.round((o.width ?? m.tilewidth) / m.tilewidth));
    const height = Math.max(1, Math.round((o.height ?? m.tileheight) / m.tileheight));
    if (x < 0 || y < 0 || x + width > m.width || y + height > m.height) throw invalid(name, `${what} (${x},${y} ${width}x${height} tiles) lies outside the ${m.width}x${m.height} map`);
    const ex = prop(o.properties, 'entryX');
    const ey = prop(o.properties, 'entryY');
    let entry: Tile | undefined;
    if (ex !== undefined || ey !== undefined) {
      if (!Number.isInteger(ex) || !Number.isInteger(ey)) throw invalid(name, `${what}: entryX and entryY must both be whole tile numbers`);
      entry = { x: ex as number, y: ey as number };
      if (!isWalkable(map, entry.x, entry.y)) throw invalid(name, `${what}: its entry tile (${entry.x},${entry.y}) is outside the map or not walkable`);
    } else {
      entry = defaultEntry(map, x, y, width, height);
      if (!entry) throw invalid(name, `${what}: no walkable tile inside it to use as its entry (add entryX/entryY)`);
    }
    map.landmarks.push({ name: o.name, kind, label, x, y, width, height, entry });
  }
  return map;
}

export function isWalkable(map: WorldMap, x: number, y: number): boolean {
  return x >= 0 && y >= 0 && x < map.width && y < map.height && map.walkable[y * map.width + x] === 1;
}

export function inside(l: Landmark, x: number, y: number): boolean {
  return x >= l.x && y >= l.y && x < l.x + l.width && y < l.y + l.height;
}

/** The walkable tile nearest the rectangle's centre, scanning rows in order (deterministic). */
function defaultEntry(map: WorldMap, x: number, y: number, w: number, h: number): Tile | undefined {
  const cx = x + Math.floor((w - 1) / 2);
  const cy = y + Math.floor((h - 1) / 2);
  let best: Tile | undefined;
  let bestD = Infinity;
  for (let j = y; j < y + h; j++) {
    for (let i = x; i < x + w; i++) {
      const d = Math.abs(i - cx) + Math.abs(j - cy);
      if (isWalkable(map, i, j) && d < bestD) {
        best = { x: i, y: j };
        bestD = d;
      }
    }
  }
  return best;
}
