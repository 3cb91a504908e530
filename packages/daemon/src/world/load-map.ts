import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FlockError, parseTiledMap, type WorldMap } from '@aiflock/core';

/** The village shipped with the repo (assets/village, CC0). */
export const DEFAULT_MAP = resolve(import.meta.dirname, '..', '..', '..', '..', 'assets', 'village', 'village.tmj');

/** A parsed map plus its source files, which `GET /v1/world/map` serves to the UI as they are. */
export interface LoadedMap {
  map: WorldMap;
  files: { tmj: unknown; tilesets: Record<string, unknown> };
}

/** Reads a `.tmj` and the `.tsj` tilesets it names (paths relative to the map, as Tiled writes them). */
export async function loadMap(path: string): Promise<LoadedMap> {
  const readJson = async (file: string, what: string): Promise<unknown> => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new FlockError('world_map_invalid', `cannot read the ${what} ${file}: ${(err as Error).message}`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new FlockError('world_map_invalid', `the ${what} ${file} is not JSON (save it from Tiled as .tmj/.tsj): ${(err as Error).message}`);
    }
  };
  const tmj = await readJson(path, 'village map');
  const tilesets: Record<string, unknown> = {};
  const refs = (tmj as { tilesets?: unknown }).tilesets;
  if (Array.isArray(refs)) {
    for (const ref of refs as { source?: unknown }[]) {
      if (typeof ref?.source !== 'string') continue;
      if (ref.source.includes('..') || ref.source.startsWith('/')) throw new FlockError('world_map_invalid', `village map ${path}: tileset source "${ref.source}" must sit beside the map`);
      tilesets[ref.source] = await readJson(join(dirname(path), ref.source), 'tileset');
    }
  }
  const map = parseTiledMap(basename(path).replace(/\.tmj$|\.json$/, ''), tmj, tilesets);
  return { map, files: { tmj, tilesets } };
}
