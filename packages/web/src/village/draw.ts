import type { PaintedMap } from './tiled.js';
import { positionAt, type WorldView } from './world-state.js';

const STATUS_COLOR: Record<string, string> = { active: '#1f6feb', quarantined: '#8b949e', frozen: '#6e7781', away: '#a371f7' };
const BUBBLE_MS = 8_000;

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

/** One frame: villagers where they are now (gliding), names, activity, speech bubbles. */
export function drawVillagers(ctx: CanvasRenderingContext2D, view: WorldView, px: number, now: number, selected: string | null): void {
  ctx.textAlign = 'center';
  const spread = spreadShared(view, now);
  for (const [name, b] of view.bodies) {
    const p = spread.get(name)!;
    const cx = (p.x + 0.5) * px;
    const cy = (p.y + 0.5) * px;
    const r = px * 0.38;
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, Math.PI * 2);
    ctx.fillStyle = STATUS_COLOR[b.villager.status] ?? '#1f6feb';
    ctx.fill();
    ctx.lineWidth = name === selected ? 4 : 2;
    ctx.strokeStyle = name === selected ? '#f0b400' : '#ffffff';
    ctx.stroke();
    if (b.villager.status === 'quarantined') {
      // A cross, so the state does not depend on colour alone.
      ctx.strokeStyle = '#b42318';
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.moveTo(cx - r * 0.6, cy - r * 0.6);
      ctx.lineTo(cx + r * 0.6, cy + r * 0.6);
      ctx.moveTo(cx + r * 0.6, cy - r * 0.6);
      ctx.lineTo(cx - r * 0.6, cy + r * 0.6);
      ctx.stroke();
    }
    ctx.font = `bold ${Math.max(11, Math.round(px * 0.42))}px system-ui, sans-serif`;
    label(ctx, name, cx, cy + r + px * 0.45, '#ffffff', '#111111');
    if (b.villager.activity) {
      ctx.font = `${Math.max(10, Math.round(px * 0.34))}px system-ui, sans-serif`;
      label(ctx, b.villager.activity.slice(0, 40), cx, cy + r + px * 0.9, 'rgba(255,255,255,0.85)', '#333333');
    }
    if (b.villager.said && b.saidAt !== null && now - b.saidAt < BUBBLE_MS) {
      ctx.font = `${Math.max(11, Math.round(px * 0.38))}px system-ui, sans-serif`;
      bubble(ctx, b.villager.said.text.slice(0, 60), cx, cy - r - px * 0.3);
    }
  }
  ctx.textAlign = 'start';
}

function label(ctx: CanvasRenderingContext2D, text: string, x: number, y: number, bg: string, fg: string): void {
  const w = ctx.measureText(text).width + 6;
  const h = parseInt(ctx.font.match(/(\d+)px/)?.[1] ?? '12', 10) + 4;
  ctx.fillStyle = bg;
  ctx.fillRect(x - w / 2, y - h + 3, w, h);
  ctx.fillStyle = fg;
  ctx.fillText(text, x, y);
}

function bubble(ctx: CanvasRenderingContext2D, text: string, x: number, y: number): void {
  const w = ctx.measureText(text).width + 12;
  const h = parseInt(ctx.font.match(/(\d+)px/)?.[1] ?? '12', 10) + 10;
  ctx.fillStyle = '#ffffff';
  ctx.strokeStyle = '#111111';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.roundRect(x - w / 2, y - h, w, h, 6);
  ctx.fill();
  ctx.stroke();
  ctx.fillStyle = '#111111';
  ctx.fillText(text, x, y - 6);
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
