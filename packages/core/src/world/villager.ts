import type { Villager, WorldChange } from '@aiflock/protocol';
import type { VillagerState } from './state.js';

const RECENT_KEPT = 5;

/** What the wire shows of a villager: its state without path, hearing and memory. */
export function publicView(v: VillagerState): Villager {
  return { name: v.name, ...(v.displayName ? { displayName: v.displayName } : {}), x: v.x, y: v.y, activity: v.activity, goal: v.goal && { ...v.goal }, said: v.said && { ...v.said }, policy: v.policy, model: v.model, status: v.status };
}

export function setActivity(v: VillagerState, activity: string, changes: WorldChange[]): void {
  const a = activity.slice(0, 200);
  if (v.activity === a) return;
  v.activity = a;
  changes.push({ type: 'activity', name: v.name, activity: a });
}

export function remember(v: VillagerState, tick: number, what: string): void {
  v.recent.push({ tick, what });
  if (v.recent.length > RECENT_KEPT) v.recent.shift();
}

/** Drops the path being walked and the goal it led to. */
export function stop(v: VillagerState, changes: WorldChange[]): void {
  v.path = [];
  if (v.goal) {
    v.goal = null;
    changes.push({ type: 'goal', name: v.name, goal: null });
  }
}
