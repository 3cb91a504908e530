import { describe, expect, it } from 'vitest';
import { aiDollars, parseAiDollars } from '../src/api.js';
import { backoffDelay } from '../src/backoff.js';
import { parseRoute } from '../src/route.js';
import { cssColor, paintMap } from '../src/village/tiled.js';

describe('reconnect backoff', () => {
  it('grows exponentially to a cap, with jitter inside [10%, 100%] of the ceiling', () => {
    expect(backoffDelay(0, { random: () => 1 })).toBe(500);
    expect(backoffDelay(3, { random: () => 1 })).toBe(4000);
    expect(backoffDelay(30, { random: () => 1 })).toBe(15_000);
    expect(backoffDelay(3, { random: () => 0 })).toBe(400);
    const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(4)));
    expect(seen.size).toBeGreaterThan(10);
    for (const d of seen) expect(d).toBeGreaterThanOrEqual(800);
  });
});

describe('aiDollar amounts', () => {
  it('formats cents and parses what people type, refusing the rest by name', () => {
    expect(aiDollars(1234)).toBe('12.34');
    expect(aiDollars(-5)).toBe('-0.05');
    expect(parseAiDollars('2.5')).toEqual({ cents: 250 });
    expect(parseAiDollars(' 20 ')).toEqual({ cents: 2000 });
    expect(parseAiDollars('0,07')).toEqual({ cents: 7 });
    expect(parseAiDollars('0')).toEqual({ error: expect.stringMatching(/at least 0.01/) });
    expect(parseAiDollars('-1')).toEqual({ error: expect.stringContaining('"-1"') });
    expect(parseAiDollars('1.234')).toEqual({ error: expect.stringContaining('"1.234"') });
  });
});

describe('hash routes', () => {
  it('maps hashes to pages and unknown admin tabs to agents', () => {
    expect(parseRoute('')).toEqual({ page: 'village' });
    expect(parseRoute('#/board?post=post_x')).toEqual({ page: 'board' });
    expect(parseRoute('#/admin/audit')).toEqual({ page: 'admin', tab: 'audit' });
    expect(parseRoute('#/admin/nope')).toEqual({ page: 'admin', tab: 'agents' });
  });
});

describe('Tiled maps', () => {
  it('reads tile colours (Tiled #AARRGGBB or #RRGGBB), honours flip bits and later layers', () => {
    expect(cssColor('#ff336699')).toBe('#336699ff');
    expect(cssColor('#336699')).toBe('#336699');
    expect(cssColor('red')).toBeNull();
    const painted = paintMap({
      width: 2,
      height: 2,
      tilewidth: 32,
      tilesets: [{ firstgid: 1, tiles: [{ id: 0, properties: [{ name: 'color', value: '#00ff00' }] }, { id: 1, properties: [{ name: 'color', value: '#ff0000ff' }] }] }],
      layers: [
        { type: 'tilelayer', data: [1, 1, 1, 0] },
        { type: 'tilelayer', data: [0, 2 | 0x80000000, 0, 0] },
        { type: 'objectgroup' },
      ],
    });
    expect(painted.colors).toEqual(['#00ff00', '#0000ffff', '#00ff00', null]);

    // External tilesets, as GET /v1/world/map answers them: keyed by the source the map names.
    const external = paintMap(
      { width: 2, height: 1, tilewidth: 16, tilesets: [{ firstgid: 1, source: 'village.tsj' }], layers: [{ type: 'tilelayer', data: [2, 1] }] },
      { 'village.tsj': { tiles: [{ id: 0, properties: [{ name: 'color', value: '#7cb45b' }] }, { id: 1, properties: [{ name: 'color', value: '#d8c28a' }] }] } },
    );
    expect(external.colors).toEqual(['#d8c28a', '#7cb45b']);
  });
});
