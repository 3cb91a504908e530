#!/usr/bin/env node
// Writes the default village: assets/village/village.tmj (Tiled map), village.tsj (its
// tileset, each tile with `name`, `color` and `walkable` properties so a UI can draw it with
// no image) and village.png (the same colours as a 16px tile strip, so Tiled opens it).
// Original work for this project, CC0-1.0 (see assets/village/LICENSE.md). Re-run after
// editing the layout below; the output is committed.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';

const OUT = join(import.meta.dirname, '..', 'assets', 'village');
const W = 40;
const H = 30;
const T = 16;

// id → [name, colour, walkable]; gid = id + 1.
const TILES = [
  ['grass', '#7cb45b', true],
  ['path', '#d8c28a', true],
  ['water', '#3f7fcf', false],
  ['wall', '#8a5a3c', false],
  ['floor', '#c9a67a', true],
  ['tree', '#2f6b34', false],
  ['bridge', '#a07a4f', true],
  ['flowers', '#c77bc2', true],
  ['stall', '#d0573f', false],
  ['board', '#5b3a22', false],
  ['door', '#e0c090', true],
];
const id = Object.fromEntries(TILES.map(([n], i) => [n, i + 1]));

const ground = new Array(W * H).fill(id.grass);
const set = (x, y, t) => {
  if (x >= 0 && y >= 0 && x < W && y < H) ground[y * W + x] = t;
};
const rect = (x, y, w, h, t) => {
  for (let j = y; j < y + h; j++) for (let i = x; i < x + w; i++) set(i, j, t);
};
/** A building: walls around a floor, one door in the bottom wall. Returns its interior. */
const building = (x, y, w, h, doorX) => {
  rect(x, y, w, h, id.wall);
  rect(x + 1, y + 1, w - 2, h - 2, id.floor);
  set(doorX, y + h - 1, id.door);
  return { x: x + 1, y: y + 1, w: w - 2, h: h - 2 };
};

// A ring of trees around the village.
rect(0, 0, W, 1, id.tree);
rect(0, H - 1, W, 1, id.tree);
rect(0, 0, 1, H, id.tree);
rect(W - 1, 0, 1, H, id.tree);

// Roads: a main street across the village and lanes north and south.
rect(1, 15, W - 2, 2, id.path);
rect(8, 1, 1, 14, id.path);
rect(28, 8, 1, 7, id.path);
rect(28, 17, 1, 3, id.path);

// A river from north to south with two bridges, so crossing means finding one.
rect(17, 1, 2, H - 2, id.water);
rect(17, 15, 2, 2, id.bridge);
rect(17, 5, 2, 1, id.bridge);

// Homes west of the river.
const homes = [
  { name: 'home-rose', label: 'Rose cottage', room: building(2, 2, 6, 5, 4) },
  { name: 'home-oak', label: 'Oak cottage', room: building(10, 2, 6, 5, 12) },
  { name: 'home-elm', label: 'Elm cottage', room: building(2, 9, 6, 5, 5) },
  { name: 'home-ash', label: 'Ash cottage', room: building(10, 9, 6, 5, 12) },
];
rect(4, 7, 1, 2, id.path);
rect(12, 7, 1, 2, id.path);
rect(5, 14, 1, 1, id.path);
rect(12, 14, 1, 1, id.path);
rect(2, 7, 14, 1, id.path);

// The café, north-east, entered from its lane.
const cafe = building(22, 2, 12, 7, 28);

// The board on a small plaza just east of the bridge.
rect(20, 11, 5, 4, id.path);
set(22, 12, id.board);

// The market: stalls in rows, walkable aisles between them.
rect(22, 20, 14, 8, id.path);
for (const sy of [21, 24]) for (const sx of [23, 27, 31]) rect(sx, sy, 3, 1, id.stall);

// The park, south-west: trees, flowers and a pond to walk around.
rect(2, 19, 13, 9, id.grass);
rect(6, 22, 4, 3, id.water);
for (const [tx, ty] of [[3, 20], [12, 20], [4, 26], [13, 25], [11, 23], [3, 23]]) set(tx, ty, id.tree);
for (const [fx, fy] of [[5, 20], [10, 21], [7, 26], [12, 27], [2, 25]]) set(fx, fy, id.flowers);
rect(8, 17, 1, 2, id.path);

const px = (v) => v * T;
const props = (o) =>
  Object.entries(o).map(([name, value]) => ({ name, type: typeof value === 'number' ? 'int' : typeof value === 'boolean' ? 'bool' : 'string', value }));
let oid = 1;
const landmark = (name, kind, label, r, entry) => ({
  id: oid++,
  name,
  type: 'landmark',
  x: px(r.x),
  y: px(r.y),
  width: px(r.w),
  height: px(r.h),
  rotation: 0,
  visible: true,
  properties: props({ kind, label, ...(entry ? { entryX: entry.x, entryY: entry.y } : {}) }),
});
const landmarks = [
  ...homes.map((h) => landmark(h.name, 'home', h.label, h.room)),
  landmark('cafe', 'cafe', 'Café Lumen', cafe, { x: 28, y: 6 }),
  landmark('board', 'board', 'Bulletin board', { x: 20, y: 11, w: 5, h: 4 }, { x: 22, y: 13 }),
  landmark('market', 'market', 'Market square', { x: 22, y: 20, w: 14, h: 8 }, { x: 28, y: 22 }),
  landmark('park', 'park', 'Willow park', { x: 2, y: 19, w: 13, h: 9 }, { x: 8, y: 20 }),
];

const map = {
  type: 'map',
  version: '1.10',
  tiledversion: '1.10.2',
  orientation: 'orthogonal',
  renderorder: 'right-down',
  infinite: false,
  width: W,
  height: H,
  tilewidth: T,
  tileheight: T,
  nextlayerid: 3,
  nextobjectid: oid,
  properties: props({ name: 'village', license: 'CC0-1.0' }),
  tilesets: [{ firstgid: 1, source: 'village.tsj' }],
  layers: [
    { id: 1, name: 'ground', type: 'tilelayer', width: W, height: H, x: 0, y: 0, opacity: 1, visible: true, data: ground },
    { id: 2, name: 'landmarks', type: 'objectgroup', draworder: 'topdown', x: 0, y: 0, opacity: 1, visible: true, objects: landmarks },
  ],
};

const tileset = {
  type: 'tileset',
  version: '1.10',
  tiledversion: '1.10.2',
  name: 'village',
  tilewidth: T,
  tileheight: T,
  tilecount: TILES.length,
  columns: TILES.length,
  margin: 0,
  spacing: 0,
  image: 'village.png',
  imagewidth: T * TILES.length,
  imageheight: T,
  tiles: TILES.map(([name, color, walkable], i) => ({ id: i, properties: props({ name, color, walkable }) })),
};

/** A minimal RGB PNG: the tiles' colours side by side, 16px each. */
function png(width, height, pixel) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    for (let x = 0; x < width; x++) raw.set(pixel(x, y), y * (width * 3 + 1) + 1 + x * 3);
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'village.tmj'), `${JSON.stringify(map, null, 1)}\n`);
writeFileSync(join(OUT, 'village.tsj'), `${JSON.stringify(tileset, null, 1)}\n`);
writeFileSync(join(OUT, 'village.png'), png(T * TILES.length, T, (x) => rgb(TILES[Math.floor(x / T)][1])));
console.log(`wrote ${W}x${H} village with ${landmarks.length} landmarks to ${OUT}`);
