import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlockError, PathFinder, isWalkable, parseTiledMap } from '../../src/index.js';
import { TEST_TILESET, tiledFromAscii } from './ascii-map.js';

const ASSETS = join(import.meta.dirname, '..', '..', '..', '..', 'assets', 'village');
const readJson = (f: string): unknown => JSON.parse(readFileSync(join(ASSETS, f), 'utf8'));

describe('the default village map', () => {
  const map = parseTiledMap('village', readJson('village.tmj'), { 'village.tsj': readJson('village.tsj') });

  it('is about 40x30 with the landmarks the village needs', () => {
    expect([map.width, map.height]).toEqual([40, 30]);
    const kinds = new Set(map.landmarks.map((l) => l.kind));
    for (const k of ['home', 'cafe', 'market', 'board', 'park']) expect(kinds, k).toContain(k);
    expect(map.landmarks.filter((l) => l.kind === 'home').length).toBeGreaterThanOrEqual(2);
  });

  it('has walls and water that make paths longer than a straight line, and every landmark reaches every other', () => {
    const finder = new PathFinder(map);
    let detours = 0;
    for (const a of map.landmarks) {
      for (const b of map.landmarks) {
        const r = finder.find(a.entry, b.entry, 100_000);
        expect(r.kind, `${a.name} -> ${b.name}`).toBe('found');
        if (r.kind !== 'found') continue;
        if (r.path.length > Math.max(Math.abs(a.entry.x - b.entry.x), Math.abs(a.entry.y - b.entry.y))) detours++;
      }
    }
    expect(detours).toBeGreaterThan(10);
    expect(map.walkable.filter((w) => w === 0).length).toBeGreaterThan(200);
  });
});

describe('map validation', () => {
  const good = () => tiledFromAscii(['....', '.#..', '....'], [{ name: 'cafe', kind: 'cafe', x: 0, y: 0, w: 2, h: 2 }]);
  const parse = (raw: unknown, tilesets: Record<string, unknown> = { 'test.tsj': TEST_TILESET }) => parseTiledMap('test', raw, tilesets);
  const error = (raw: unknown, tilesets?: Record<string, unknown>): FlockError => {
    try {
      parse(raw, tilesets);
    } catch (err) {
      if (err instanceof FlockError) return err;
      throw err;
    }
    throw new Error('expected the map to be refused');
  };

  it('reads walls from the tileset and a default entry from the rectangle', () => {
    const m = parse(good());
    expect(isWalkable(m, 1, 1)).toBe(false);
    expect(isWalkable(m, 0, 0)).toBe(true);
    expect(m.landmarks[0]).toMatchObject({ name: 'cafe', kind: 'cafe', label: 'CAFE', x: 0, y: 0, width: 2, height: 2, entry: { x: 0, y: 0 } });
  });

  it('treats a layer named walls as collision', () => {
    const raw = good();
    raw.layers.splice(1, 0, { type: 'tilelayer', name: 'walls', width: 4, height: 3, data: [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0] } as never);
    expect(isWalkable(parse(raw), 3, 0)).toBe(false);
  });

  const cases: [string, (m: ReturnType<typeof good>) => unknown, RegExp, Record<string, unknown>?][] = [
    ['not orthogonal', (m) => ({ ...m, orientation: 'isometric' }), /orthogonal/],
    ['no landmarks layer', (m) => ({ ...m, layers: [m.layers[0]] }), /no object layer named "landmarks"/],
    ['a layer of the wrong size', (m) => ({ ...m, layers: [{ ...m.layers[0]!, data: [1, 1] }, m.layers[1]] }), /layer "ground" is 4x3 with 2 tiles/],
    ['base64 tile data', (m) => ({ ...m, layers: [{ ...m.layers[0]!, data: 'AAAA' }, m.layers[1]] }), /CSV encoding/],
    ['a tileset that was not provided', (m) => m, /tileset "test.tsj" is referenced but was not provided/, {}],
    ['a landmark outside the map', (m) => withLandmark(m, { x: 48, y: 0 }), /lies outside the 4x3 map/],
    ['a landmark with a bad name', (m) => withLandmark(m, { name: 'Café!' }), /lowercase letters/],
    ['a landmark without kind', (m) => withLandmark(m, { properties: [] }), /needs a string property "kind"/],
    ['a landmark whose entry is a wall', (m) => withLandmark(m, { properties: [{ name: 'kind', value: 'cafe' }, { name: 'entryX', value: 1 }, { name: 'entryY', value: 1 }] }), /entry tile \(1,1\) is outside the map or not walkable/],
    ['a landmark with only walls inside', (m) => withLandmark(m, { x: 16, y: 16, width: 16, height: 16 }), /no walkable tile inside it/],
    ['two landmarks with one name', (m) => ({ ...m, layers: [m.layers[0], { ...m.layers[1]!, objects: [...(m.layers[1] as { objects: unknown[] }).objects, ...(m.layers[1] as { objects: unknown[] }).objects] }] }), /defined twice/],
  ];
  it.each(cases)('refuses %s with a clear error', (_what, mutate, message, tilesets) => {
    const e = error(mutate(good()), tilesets);
    expect(e.code).toBe('world_map_invalid');
    expect(e.message).toMatch(/^village map test: /);
    expect(e.message).toMatch(message);
  });
});

function withLandmark(m: ReturnType<typeof tiledFromAscii>, patch: Record<string, unknown>) {
  const layer = m.layers[1] as { objects: Record<string, unknown>[] };
  return { ...m, layers: [m.layers[0], { ...layer, objects: [{ ...layer.objects[0], ...patch }] }] };
}
