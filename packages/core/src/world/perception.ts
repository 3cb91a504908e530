import type { Perception } from '@aiflock/protocol';
import type { VillagerState } from './state.js';
import { landmarkAt, tilesApart, type Village } from './village.js';
import { publicView } from './villager.js';

/** What a villager perceives now; `heardSince` is the tick of its previous perception. */
export function perceptionOf(w: Village, v: VillagerState, heardSince: number): Omit<Perception, 'economy' | 'replies'> {
  const r = w.options.sightRadius;
  return {
    tick: w.state.tick,
    self: publicView(v),
    landmarks: w.map.landmarks,
    at: landmarkAt(w.map, v.x, v.y)?.name ?? null,
    nearby: w.state.villagers
      .filter((o) => o !== v && o.status !== 'away' && tilesApart(o, v) <= r)
      .map((o) => ({ name: o.name, ...(o.displayName ? { displayName: o.displayName } : {}), x: o.x, y: o.y, activity: o.activity })),
    heard: v.heard.filter((h) => h.tick > heardSince).map((h) => ({ ...h })),
  };
}
