import type { ActionRequest, WorldChange } from '@aiflock/protocol';
import { FlockError } from '../errors.js';
import { inside } from './map.js';
import type { VillagerState } from './state.js';
import { tilesApart, type Village } from './village.js';
import { remember, setActivity, stop } from './villager.js';

const HEARD_KEPT = 20;

/** Throws what acting now would throw, changing nothing. */
export function checkAction(w: Village, v: VillagerState, a: ActionRequest): void {
  const { map, options } = w;
  if (a.type === 'talk' && a.to !== undefined) {
    const o = w.byName.get(a.to);
    if (!o || o === v || o.status === 'away') throw new FlockError('action_invalid', `talk.to: "${a.to}" is not a villager here to talk to`, { field: 'to' });
    const d = tilesApart(o, v);
    if (d > options.hearingRadius) throw new FlockError('action_invalid', `talk.to: "${a.to}" is ${d} tiles away; talk is heard within ${options.hearingRadius}`, { field: 'to', distance: d });
  }
  if (a.type === 'use_board' && !map.landmarks.some((l) => l.kind === 'board' && inside(l, v.x, v.y))) {
    const board = map.landmarks.find((l) => l.kind === 'board');
    throw new FlockError('action_invalid', `use_board: "${v.name}" is not at the board${board ? ` (walk there first: {"to":"${board.name}"})` : ''}`, { field: 'type' });
  }
}

/** Applies an action; talk is heard by every present villager within the hearing radius. */
export function act(w: Village, v: VillagerState, a: ActionRequest, changes: WorldChange[]): void {
  const { state } = w;
  switch (a.type) {
    case 'talk': {
      const r = w.options.hearingRadius;
      v.said = { text: a.text, to: a.to ?? null, tick: state.tick };
      changes.push({ type: 'said', name: v.name, text: a.text, to: a.to ?? null });
      for (const o of state.villagers) {
        if (o === v || o.status === 'away' || tilesApart(o, v) > r) continue;
        o.heard.push({ from: v.name, text: a.text, tick: state.tick });
        if (o.heard.length > HEARD_KEPT) o.heard.shift();
      }
      remember(v, state.tick, a.to ? `said to ${a.to}: ${a.text.slice(0, 60)}` : `said: ${a.text.slice(0, 60)}`);
      return;
    }
    case 'use_board':
      setActivity(v, 'reading the board', changes);
      remember(v, state.tick, 'read the board');
      return;
    case 'do':
      setActivity(v, a.activity, changes);
      remember(v, state.tick, a.activity.slice(0, 80));
      return;
    case 'rest':
      stop(v, changes);
      setActivity(v, 'resting', changes);
      remember(v, state.tick, 'rested');
      return;
  }
}
