import type { PaintedMap } from './tiled.js';
import { LabelLayout, wrapText, type Rect } from './label-layout.js';
import { positionAt, type Body, type WorldView } from './world-state.js';

const BUBBLE_MS = 8_000;
/** The last part of a bubble's life, during which it fades out. */
const FADE_MS = 1_500;

/** Tunics, hair and skin picked by the villager's name, so each looks itself on every page. */
const TUNICS = ['#c2410c', '#1d4ed8', '#15803d', '#7e22ce', '#be185d', '#0f766e', '#a16207', '#4338ca'];
const HAIR = ['#3b2314', '#111827', '#92400e', '#d6b370', '#7c2d12', '#6b7280'];
const SKIN = ['#f2d0b1', '#e0ac7e', '#c68642', '#8d5524', '#f5dcc4'];

function hashOf(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function looksOf(name: string): { tunic: string; hair: string; skin: string } {
  const h = hashOf(name);
  return { tunic: TUNICS[h % TUNICS.length]!, hair: HAIR[(h >>> 8) % HAIR.length]!, skin: SKIN[(h >>> 16) % SKIN.length]! };
}

/** Paints the static layer (tiles, landmarks) once per map, not every frame. */
export function paintBackground(ctx: CanvasRenderingContext2D, view: WorldView, painted: PaintedMap | null, px: number): void {
  const { width, height } = view.map;
  ctx.fillStyle = '#cfe3b4';
  ctx.fillRect(0, 0, width * px, height * px);
  if (painted) {
    for (let y = 0; y < Math.min(height, painted.height); y++) {
      for (let x = 0; x < Math.min(width, painted.width); x++) {
        const c = painted.colors[y * painted.width + x];
        if (!c) continue;
        ctx.fillStyle = c;
        ctx.fillRect(x * px, y * px, px, px);
      }
    }
  }
  ctx.font = `${Math.max(10, Math.round(px * 0.45))}px system-ui, sans-serif`;
  for (const l of view.landmarks) {
    ctx.strokeStyle = 'rgba(0,0,0,0.55)';
    ctx.lineWidth = 2;
    ctx.strokeRect(l.x * px + 1, l.y * px + 1, l.width * px - 2, l.height * px - 2);
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    const w = ctx.measureText(l.label).width + 8;
    ctx.fillRect(l.x * px + 2, l.y * px + 2, w, px * 0.6);
    ctx.fillStyle = '#111';
    ctx.fillText(l.label, l.x * px + 6, l.y * px + px * 0.48);
  }
}

/** What the village calls a villager: its display name, or its agent name. */
export const nameOf = (v: { name: string; displayName?: string | undefined }): string => v.displayName ?? v.name;

/**
 * One frame: villagers where they are now (gliding, facing where they walk, legs moving while
 * they do), their names, the selected one's activity, and speech bubbles that fade. Returns
 * the boxes of every label and bubble, none overlapping another or leaving the canvas.
 */
export function drawVillagers(ctx: CanvasRenderingContext2D, view: WorldView, px: number, now: number, selected: string | null): Rect[] {
  const layout = new LabelLayout({ width: view.map.width * px, height: view.map.height * px });
  const spread = spreadShared(view, now);
  const order = [...view.bodies.entries()].sort(([a], [b]) => (a === selected ? 1 : b === selected ? -1 : a.localeCompare(b)));
  const drawn = order.map(([name, b]) => {
    const p = spread.get(name)!;
    const cx = (p.x + 0.5) * px;
    const cy = (p.y + 0.5) * px;
    drawCharacter(ctx, b, cx, cy, px, now, view.tickMs, name === selected);
    layout.block({ x: cx - px * 0.3, y: cy - px * 0.45, w: px * 0.6, h: px * 0.9 });
    return { name, b, cx, cy };
  });
  const labels: Rect[] = [];
  // Bubbles first (what is said matters most), then names, then the selected one's activity.
  for (const { b, cx, cy } of drawn) {
    const said = b.villager.said;
    if (!said || b.saidAt === null || now - b.saidAt >= BUBBLE_MS) continue;
    const alpha = Math.min(1, (BUBBLE_MS - (now - b.saidAt)) / FADE_MS);
    labels.push(bubble(ctx, layout, said.text, cx, cy - px * 0.55, px, alpha));
  }
  for (const { b, cx, cy } of drawn) {
    ctx.font = `600 ${Math.max(11, Math.round(px * 0.42))}px system-ui, sans-serif`;
    labels.push(tag(ctx, layout, nameOf(b.villager), cx, cy + px * 0.5, b.villager.name === selected ? '#fde68a' : 'rgba(255,255,255,0.92)', '#111111'));
  }
  const chosen = drawn.find((d) => d.name === selected);
  if (chosen?.b.villager.activity) {
    ctx.font = `${Math.max(10, Math.round(px * 0.36))}px system-ui, sans-serif`;
    labels.push(tag(ctx, layout, chosen.b.villager.activity.slice(0, 60), chosen.cx, chosen.cy + px * 1.05, 'rgba(17,24,39,0.85)', '#ffffff'));
  }
  return labels;
}

/** Which way it looks: where it last walked, down (towards the viewer) before it ever moved. */
function facingOf(b: Body): { dx: number; dy: number } {
  const dx = Math.sign(b.to.x - b.from.x);
  const dy = Math.sign(b.to.y - b.from.y);
  return dx === 0 && dy === 0 ? { dx: 0, dy: 1 } : { dx, dy };
}

function drawCharacter(ctx: CanvasRenderingContext2D, b: Body, cx: number, cy: number, px: number, now: number, tickMs: number, selected: boolean): void {
  const v = b.villager;
  const look = looksOf(v.name);
  const walking = now - b.movedAt < tickMs && (b.from.x !== b.to.x || b.from.y !== b.to.y) && v.status === 'active';
  const swing = walking ? Math.sin((now / 90) % (Math.PI * 2)) * px * 0.1 : 0;
  const face = facingOf(b);
  ctx.save();
  if (v.status === 'away') ctx.globalAlpha = 0.45;
  // Shadow, and a ring under the selected one.
  ctx.fillStyle = 'rgba(0,0,0,0.25)';
  ctx.beginPath();
  ctx.ellipse(cx, cy + px * 0.4, px * 0.26, px * 0.09, 0, 0, Math.PI * 2);
  ctx.fill();
  if (selected) {
    ctx.strokeStyle = '#f0b400';
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.ellipse(cx, cy + px * 0.4, px * 0.36, px * 0.14, 0, 0, Math.PI * 2);
    ctx.stroke();
  }
  // Legs, swinging while it walks.
  ctx.strokeStyle = '#374151';
  ctx.lineWidth = Math.max(2, px * 0.09);
  ctx.lineCap = 'round';
  ctx.beginPath();
  ctx.moveTo(cx - px * 0.08, cy + px * 0.12);
  ctx.lineTo(cx - px * 0.08 + swing, cy + px * 0.38);
  ctx.moveTo(cx + px * 0.08, cy + px * 0.12);
  ctx.lineTo(cx + px * 0.08 - swing, cy + px * 0.38);
  ctx.stroke();
  // Body: a tunic in its own colour (grey while quarantined or frozen).
  const held = v.status === 'quarantined' || v.status === 'frozen';
  ctx.fillStyle = held ? '#9ca3af' : look.tunic;
  ctx.beginPath();
  ctx.roundRect(cx - px * 0.2, cy - px * 0.12, px * 0.4, px * 0.3, px * 0.08);
  ctx.fill();
  // Head, hair on the side away from where it looks, eyes towards it.
  const hy = cy - px * 0.26;
  const hr = px * 0.17;
  ctx.fillStyle = look.skin;
  ctx.beginPath();
  ctx.arc(cx, hy, hr, 0, Math.PI * 2);
  ctx.fill();
  ctx.fillStyle = look.hair;
  ctx.beginPath();
  if (face.dy < 0 && face.dx === 0) ctx.arc(cx, hy, hr, 0, Math.PI * 2); // seen from behind
  else ctx.arc(cx - face.dx * hr * 0.25, hy - hr * 0.25, hr * 0.95, Math.PI * 1.05, Math.PI * 1.95);
  ctx.fill();
  if (!(face.dy < 0 && face.dx === 0)) {
    ctx.fillStyle = '#111827';
    const ex = face.dx * hr * 0.45;
    const ey = hy + hr * 0.1 + Math.max(0, face.dy) * hr * 0.1;
    const gap = face.dx === 0 ? hr * 0.4 : hr * 0.25;
    for (const side of face.dx === 0 ? [-1, 1] : [face.dx]) {
      ctx.beginPath();
      ctx.arc(cx + ex + side * gap * (face.dx === 0 ? 1 : 0.2), ey, Math.max(1, px * 0.03), 0, Math.PI * 2);
      ctx.fill();
    }
  }
  if (v.status === 'quarantined') {
    // A cross, so the state does not depend on colour alone.
    ctx.strokeStyle = '#b42318';
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.moveTo(cx - px * 0.22, cy - px * 0.45);
    ctx.lineTo(cx + px * 0.22, cy + px * 0.05);
    ctx.moveTo(cx + px * 0.22, cy - px * 0.45);
    ctx.lineTo(cx - px * 0.22, cy + px * 0.05);
    ctx.stroke();
  }
  ctx.restore();
}

const lineHeight = (ctx: CanvasRenderingContext2D) => parseInt(ctx.font.match(/(\d+)px/)?.[1] ?? '12', 10) + 4;

/** A one-line label centred at (x, top), moved by the layout if it would cover another. */
function tag(ctx: CanvasRenderingContext2D, layout: LabelLayout, text: string, x: number, top: number, bg: string, fg: string): Rect {
  const w = ctx.measureText(text).width + 8;
  const h = lineHeight(ctx);
  const at = (dx: number, dy: number): Rect => ({ x: x - w / 2 + dx, y: top + dy, w, h });
  const r = layout.place([at(0, 0), at(0, h + 1), at(w / 2 + 4, -h / 2), at(-w / 2 - 4, -h / 2), at(0, -(h * 2 + 20))]);
  ctx.fillStyle = bg;
  ctx.beginPath();
  ctx.roundRect(r.x, r.y, r.w, r.h, 4);
  ctx.fill();
  ctx.fillStyle = fg;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, r.x + r.w / 2, r.y + r.h / 2 + 1);
  ctx.textAlign = 'start';
  ctx.textBaseline = 'alphabetic';
  return r;
}

/** A speech bubble above (x, bottom): wrapped to a few lines, fading out at the end of its life. */
function bubble(ctx: CanvasRenderingContext2D, layout: LabelLayout, text: string, x: number, bottom: number, px: number, alpha: number): Rect {
  ctx.font = `${Math.max(11, Math.round(px * 0.38))}px system-ui, sans-serif`;
  const maxWidth = Math.max(120, Math.min(240, px * 9));
  const lines = wrapText(text, maxWidth, (s) => ctx.measureText(s).width);
  const lh = lineHeight(ctx);
  const w = Math.max(...lines.map((l) => ctx.measureText(l).width)) + 14;
  const h = lines.length * lh + 8;
  const at = (dx: number, dy: number): Rect => ({ x: x - w / 2 + dx, y: bottom - h + dy, w, h });
  const r = layout.place([at(0, 0), at(0, -h - 4), at(w / 2 + 8, -h / 2), at(-w / 2 - 8, -h / 2), at(0, h + px * 1.4)]);
  ctx.save();
  ctx.globalAlpha = alpha;
  ctx.fillStyle = '#ffffff';
  ctx.strokeStyle = '#1f2937';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.roundRect(r.x, r.y, r.w, r.h, 8);
  ctx.fill();
  ctx.stroke();
  // The tail points at the speaker when the bubble sits right above it.
  if (Math.abs(r.x + r.w / 2 - x) < r.w / 2 && r.y + r.h <= bottom + 1) {
    ctx.beginPath();
    ctx.moveTo(x - 5, r.y + r.h);
    ctx.lineTo(x, r.y + r.h + 6);
    ctx.lineTo(x + 5, r.y + r.h);
    ctx.fill();
  }
  ctx.fillStyle = '#111827';
  ctx.textBaseline = 'top';
  lines.forEach((l, i) => ctx.fillText(l, r.x + 7, r.y + 4 + i * lh));
  ctx.restore();
  return r;
}

/**
 * Where each villager is drawn: its gliding position, nudged apart from others standing on
 * the same tile so that none hides another (the engine lets villagers share a tile).
 */
export function spreadShared(view: WorldView, now: number): Map<string, { x: number; y: number }> {
  const at = new Map<string, { x: number; y: number }>();
  const byTile = new Map<string, string[]>();
  for (const [name, b] of view.bodies) {
    const p = positionAt(b, now, view.tickMs);
    at.set(name, p);
    const key = `${Math.round(p.x)},${Math.round(p.y)}`;
    byTile.set(key, [...(byTile.get(key) ?? []), name]);
  }
  for (const names of byTile.values()) {
    if (names.length < 2) continue;
    names.sort().forEach((name, i) => {
      const angle = (2 * Math.PI * i) / names.length - Math.PI / 2;
      const p = at.get(name)!;
      at.set(name, { x: p.x + 0.3 * Math.cos(angle), y: p.y + 0.3 * Math.sin(angle) });
    });
  }
  return at;
}

/** The villager under a click, if any (within its circle, generously). */
export function villagerAt(view: WorldView, px: number, x: number, y: number, now: number): string | null {
  let best: { name: string; d: number } | null = null;
  for (const [name, p] of spreadShared(view, now)) {
    const d = Math.hypot((p.x + 0.5) * px - x, (p.y + 0.5) * px - y);
    if (d <= px * 0.7 && (!best || d < best.d)) best = { name, d };
  }
  return best?.name ?? null;
}
