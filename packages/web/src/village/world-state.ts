import type { Landmark, Villager, WorldChange, WorldMessage, WorldSnapshot } from '@aiflock/protocol';

/** Where a villager is drawn: it glides from `from` to `to` over one tick. */
export interface Body {
  villager: Villager;
  from: { x: number; y: number };
  to: { x: number; y: number };
  /** When the last move arrived (ms, the page's clock). */
  movedAt: number;
  /** When its last line was said (ms), to fade the speech bubble. */
  saidAt: number | null;
}

export interface WorldView {
  seq: number;
  tick: number;
  tickMs: number;
  map: WorldSnapshot['map'];
  landmarks: Landmark[];
  bodies: Map<string, Body>;
}

export type Applied = { kind: 'ok'; view: WorldView } | { kind: 'gap'; expected: number; got: number };

/**
 * Folds the world stream into what the page draws. A snapshot replaces everything; a delta
 * must be the next `seq` (the server never skips one on a live connection), otherwise the
 * page asks for a fresh snapshot rather than draw a world it cannot trust.
 */
export function applyWorldMessage(view: WorldView | null, msg: WorldMessage, now: number): Applied {
  if (msg.type === 'snapshot') {
    const s = msg.snapshot;
    const bodies = new Map<string, Body>();
    for (const v of s.villagers) {
      const prev = view?.bodies.get(v.name);
      // Keep gliding from where it was drawn, so a resync does not make it jump.
      const from = prev ? positionAt(prev, now, view!.tickMs) : { x: v.x, y: v.y };
      bodies.set(v.name, { villager: v, from, to: { x: v.x, y: v.y }, movedAt: now, saidAt: v.said ? (prev?.saidAt ?? now) : null });
    }
    return { kind: 'ok', view: { seq: s.seq, tick: s.tick, tickMs: s.tickMs, map: s.map, landmarks: s.landmarks, bodies } };
  }
  if (!view) return { kind: 'gap', expected: 0, got: msg.delta.seq };
  if (msg.delta.seq !== view.seq + 1) return { kind: 'gap', expected: view.seq + 1, got: msg.delta.seq };
  const bodies = new Map(view.bodies);
  for (const c of msg.delta.changes) applyChange(bodies, c, now, view.tickMs, msg.delta.tick);
  return { kind: 'ok', view: { ...view, seq: msg.delta.seq, tick: msg.delta.tick, bodies } };
}

function applyChange(bodies: Map<string, Body>, c: WorldChange, now: number, tickMs: number, tick: number): void {
  if (c.type === 'joined') {
    bodies.set(c.villager.name, { villager: c.villager, from: { x: c.villager.x, y: c.villager.y }, to: { x: c.villager.x, y: c.villager.y }, movedAt: now, saidAt: null });
    return;
  }
  if (c.type === 'left') {
    bodies.delete(c.name);
    return;
  }
  const b = bodies.get(c.name);
  if (!b) return;
  const v = { ...b.villager };
  const next: Body = { ...b, villager: v };
  switch (c.type) {
    case 'moved':
      next.from = positionAt(b, now, tickMs);
      next.to = { x: c.x, y: c.y };
      next.movedAt = now;
      v.x = c.x;
      v.y = c.y;
      break;
    case 'goal':
      v.goal = c.goal;
      break;
    case 'activity':
      v.activity = c.activity;
      break;
    case 'said':
      v.said = { text: c.text, to: c.to, tick };
      next.saidAt = now;
      break;
    case 'status':
      v.status = c.status;
      break;
    case 'policy':
      v.policy = c.policy;
      v.model = c.model;
      break;
  }
  bodies.set(c.name, next);
}

/** The drawn position at `now`: linear from `from` to `to` over one tick, then resting at `to`. */
export function positionAt(b: Pick<Body, 'from' | 'to' | 'movedAt'>, now: number, tickMs: number): { x: number; y: number } {
  const t = Math.min(1, Math.max(0, (now - b.movedAt) / Math.max(1, tickMs)));
  const ease = t * t * (3 - 2 * t);
  return { x: b.from.x + (b.to.x - b.from.x) * ease, y: b.from.y + (b.to.y - b.from.y) * ease };
}

/** How a villager's brain is described, plainly: the model, or why there is none. */
export function brainOf(v: Pick<Villager, 'policy' | 'model'>): string {
  if (v.policy === 'llm' && v.model) return `LLM (${v.model})`;
  if (v.policy === 'llm') return 'LLM, but no model reachable: using simple rules';
  return 'simple rules (no LLM)';
}
