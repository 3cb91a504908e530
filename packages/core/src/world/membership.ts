import type { WorldChange } from '@aiflock/protocol';
import type { WorldInput } from './inputs.js';
import { cancelSearch } from './movement.js';
import type { Outcome } from './outcomes.js';
import { freeTile } from './placement.js';
import type { VillagerState } from './state.js';
import { findLandmark, requireVillager, type Village } from './village.js';
import { publicView, stop } from './villager.js';

// The control plane's inputs: who is in the village, in what status, on which policy.

export function join(w: Village, input: Extract<WorldInput, { kind: 'join' }>, changes: WorldChange[]): void {
  const home = input.home ? findLandmark(w.map, input.home) : undefined;
  const at = home ? home.entry : freeTile(w.map, w.state);
  const v: VillagerState = {
    name: input.name,
    ...(input.displayName ? { displayName: input.displayName } : {}),
    x: at.x,
    y: at.y,
    activity: home ? `at the ${home.label}` : 'arrived in the village',
    goal: null,
    said: null,
    policy: input.policy,
    model: input.model,
    status: input.status,
    path: [],
    heard: [],
    recent: [],
  };
  w.state.villagers.push(v);
  w.byName.set(v.name, v);
  changes.push({ type: 'joined', villager: publicView(v) });
}

export function leave(w: Village, name: string, changes: WorldChange[], outcomes: Outcome[]): void {
  cancelSearch(w, name, outcomes, 'it left the village');
  w.state.villagers = w.state.villagers.filter((v) => v.name !== name);
  w.byName.delete(name);
  changes.push({ type: 'left', name });
}

/** A villager that stops being active stands still: its walk and path search are dropped. */
export function setStatus(w: Village, input: Extract<WorldInput, { kind: 'status' }>, changes: WorldChange[], outcomes: Outcome[]): void {
  const v = requireVillager(w, input.name);
  if (v.status === input.status) return;
  v.status = input.status;
  changes.push({ type: 'status', name: v.name, status: v.status });
  if (v.status !== 'active') {
    cancelSearch(w, v.name, outcomes, `it is ${v.status}`);
    stop(v, changes);
  }
}

export function declare(w: Village, input: Extract<WorldInput, { kind: 'declare' }>, changes: WorldChange[]): void {
  const v = requireVillager(w, input.name);
  if (v.policy !== input.policy || v.model !== input.model) {
    v.policy = input.policy;
    v.model = input.model;
    changes.push({ type: 'policy', name: v.name, policy: v.policy, model: v.model });
  }
}
