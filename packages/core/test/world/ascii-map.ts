import { parseTiledMap, type WorldMap } from '../../src/index.js';

/**
 * A Tiled map from a picture: `.` floor, `#` wall (a tile whose tileset says walkable:false),
 * letters mark landmark entries by name in `landmarks`. Goes through the real parser.
 */
export function tiledFromAscii(rows: string[], landmarks: { name: string; kind: string; x: number; y: number; w: number; h: number; entry?: { x: number; y: number } }[] = []) {
  const height = rows.length;
  const width = rows[0]!.length;
  const data = rows.flatMap((r) => [...r].map((c) => (c === '#' ? 2 : 1)));
  return {
    orientation: 'orthogonal',
    infinite: false,
    width,
    height,
    tilewidth: 16,
    tileheight: 16,
    tilesets: [{ firstgid: 1, source: 'test.tsj' }],
    layers: [
      { type: 'tilelayer', name: 'ground', width, height, data },
      {
        type: 'objectgroup',
        name: 'landmarks',
        objects: landmarks.map((l) => ({
          name: l.name,
          x: l.x * 16,
          y: l.y * 16,
          width: l.w * 16,
          height: l.h * 16,
          properties: [
            { name: 'kind', type: 'string', value: l.kind },
            { name: 'label', type: 'string', value: l.name.toUpperCase() },
            ...(l.entry ? [{ name: 'entryX', type: 'int', value: l.entry.x }, { name: 'entryY', type: 'int', value: l.entry.y }] : []),
          ],
        })),
      },
    ],
  };
}

export const TEST_TILESET = {
  tilecount: 2,
  tiles: [
    { id: 0, properties: [{ name: 'walkable', type: 'bool', value: true }] },
    { id: 1, properties: [{ name: 'walkable', type: 'bool', value: false }] },
  ],
};

export function asciiMap(rows: string[], landmarks: Parameters<typeof tiledFromAscii>[1] = []): WorldMap {
  return parseTiledMap('test', tiledFromAscii(rows, landmarks), { 'test.tsj': TEST_TILESET });
}
