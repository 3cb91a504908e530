import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { api } from '../api.js';
import type { LinkState } from '../live-socket.js';
import { drawVillagers, nameOf, paintBackground, villagerAt } from '../village/draw.js';
import { paintMap, type PaintedMap, type TiledMap, type TiledTileset } from '../village/tiled.js';
import { useWorld } from '../village/use-world.js';
import { brainOf, type WorldView } from '../village/world-state.js';
import { VillagerDetails } from './VillagerDetails.js';

/** `GET /v1/world/map`: the Tiled map, bare or wrapped with the external tilesets it names. */
type MapAnswer = TiledMap | { map: TiledMap; tilesets?: Record<string, TiledTileset> };

export function Village({ onLink }: { onLink: (name: string, state: LinkState) => void }) {
  const { ref, view } = useWorld(onLink);
  const [painted, setPainted] = useState<PaintedMap | null>(null);
  const [mapError, setMapError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);

  useEffect(() => {
    const ac = new AbortController();
    api<MapAnswer>('/v1/world/map', { signal: ac.signal })
      .then((m) => {
        const map = 'map' in m ? m.map : m;
        setPainted(paintMap(map, 'map' in m ? (m.tilesets ?? {}) : {}));
      })
      .catch((err: Error) => {
        if (err.name !== 'AbortError') setMapError(err.message);
      });
    return () => ac.abort();
  }, []);

  const names = view ? [...view.bodies.keys()].sort() : [];

  return (
    <div className="village">
      <section className="map-panel" aria-labelledby="map-title">
        <h2 id="map-title">Village</h2>
        {mapError && <p className="note">Map tiles unavailable ({mapError}); drawing landmarks only.</p>}
        {view ? (
          <VillageCanvas viewRef={ref} view={view} painted={painted} selected={selected} onSelect={setSelected} />
        ) : (
          <p role="status">Connecting to the village…</p>
        )}
      </section>
      <section className="side-panel" aria-labelledby="villagers-title">
        <h2 id="villagers-title">Villagers {view && <span className="count">({names.length})</span>}</h2>
        {view && names.length === 0 && <p>No villagers yet. Deploy an agent with a <code>village</code> section.</p>}
        {view && <VillagerList view={view} names={names} selected={selected} onSelect={setSelected} />}
        {selected && <VillagerDetails name={selected} world={view?.bodies.get(selected)?.villager ?? null} onClose={() => setSelected(null)} />}
      </section>
    </div>
  );
}

function VillageCanvas(props: { viewRef: React.RefObject<WorldView | null>; view: WorldView; painted: PaintedMap | null; selected: string | null; onSelect: (n: string) => void }) {
  const { viewRef, view, painted, selected, onSelect } = props;
  const canvas = useRef<HTMLCanvasElement>(null);
  const wrap = useRef<HTMLDivElement>(null);
  const [px, setPx] = useState(24);
  const background = useRef<HTMLCanvasElement | null>(null);
  const selectedRef = useRef(selected);
  selectedRef.current = selected;

  // Fit the map to the panel's width (laptop screens included), whole pixels per tile.
  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const fit = () => setPx(Math.max(8, Math.min(40, Math.floor(el.clientWidth / Math.max(1, view.map.width)))));
    fit();
    const ro = new ResizeObserver(fit);
    ro.observe(el);
    return () => ro.disconnect();
  }, [view.map.width]);

  useEffect(() => {
    const bg = document.createElement('canvas');
    bg.width = view.map.width * px;
    bg.height = view.map.height * px;
    paintBackground(bg.getContext('2d')!, view, painted, px);
    background.current = bg;
    // Landmarks and the map change only with a new snapshot.
  }, [painted, px, view.map, view.landmarks]);

  useEffect(() => {
    let frame = 0;
    let published = 0;
    const draw = () => {
      const c = canvas.current;
      const v = viewRef.current;
      if (c && v && background.current) {
        const ctx = c.getContext('2d')!;
        ctx.drawImage(background.current, 0, 0);
        const now = performance.now();
        const labels = drawVillagers(ctx, v, px, now, selectedRef.current);
        // Where the labels went, for checks that none overlaps another (a few times a second).
        if (now - published > 250) {
          c.dataset['labels'] = JSON.stringify(labels.map((r) => [r.x, r.y, r.w, r.h].map(Math.round)));
          published = now;
        }
      }
      frame = requestAnimationFrame(draw);
    };
    frame = requestAnimationFrame(draw);
    return () => cancelAnimationFrame(frame);
  }, [px, viewRef]);

  const onClick = (e: React.MouseEvent<HTMLCanvasElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const scale = e.currentTarget.width / rect.width;
    const name = villagerAt(view, px, (e.clientX - rect.left) * scale, (e.clientY - rect.top) * scale, performance.now());
    if (name) onSelect(name);
  };

  return (
    <div ref={wrap} className="canvas-wrap">
      <canvas
        ref={canvas}
        width={view.map.width * px}
        height={view.map.height * px}
        onClick={onClick}
        data-testid="village-canvas"
        role="img"
        aria-label={`Map of ${view.map.name} with ${view.bodies.size} villagers; the list beside it has the same information`}
      />
    </div>
  );
}

function VillagerList({ view, names, selected, onSelect }: { view: WorldView; names: string[]; selected: string | null; onSelect: (n: string) => void }) {
  const list = useRef<HTMLUListElement>(null);
  // Arrow keys walk the list; Tab leaves it (one tab stop, as in a listbox).
  const onKey = useCallback((e: KeyboardEvent<HTMLUListElement>) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'Home' && e.key !== 'End') return;
    const buttons = [...(list.current?.querySelectorAll<HTMLButtonElement>('button.villager') ?? [])];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const next = e.key === 'Home' ? 0 : e.key === 'End' ? buttons.length - 1 : Math.min(buttons.length - 1, Math.max(0, at + (e.key === 'ArrowDown' ? 1 : -1)));
    buttons[next]?.focus();
    e.preventDefault();
  }, []);
  return (
    <ul ref={list} className="villagers" aria-label="Villagers" onKeyDown={onKey}>
      {names.map((name, i) => {
        const v = view.bodies.get(name)!.villager;
        const tabIndex = selected ? (name === selected ? 0 : -1) : i === 0 ? 0 : -1;
        return (
          <li key={name}>
            <button
              type="button"
              className={`villager status-${v.status}`}
              aria-pressed={name === selected}
              tabIndex={tabIndex}
              onClick={() => onSelect(name)}
              data-villager={name}
              data-x={v.x}
              data-y={v.y}
              data-status={v.status}
            >
              <span className="v-name">
                {nameOf(v)}
                {v.displayName && <span className="v-agent"> ({name})</span>}
              </span>
              <span className="v-status">{v.status}</span>
              <span className="v-pos">
                at ({v.x}, {v.y}){v.goal ? ` → (${v.goal.x}, ${v.goal.y})` : ''}
              </span>
              <span className="v-activity">{v.activity || 'idle'}</span>
              <span className="v-brain">{brainOf(v)}</span>
              {v.said && <span className="v-said">“{v.said.text}”</span>}
            </button>
          </li>
        );
      })}
    </ul>
  );
}
