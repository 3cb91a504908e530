import { useEffect, useRef, useState } from 'react';
import type { WorldMessage } from '@aiflock/protocol';
import { wsUrl } from '../api.js';
import { LiveSocket, type LinkState } from '../live-socket.js';
import { applyWorldMessage, type WorldView } from './world-state.js';

/**
 * The live village: the world socket folded into a `WorldView`. The canvas reads `ref` every
 * frame; React re-renders the list on each change (`version`).
 */
export function useWorld(onLink: (name: string, state: LinkState) => void): { ref: React.RefObject<WorldView | null>; view: WorldView | null } {
  const ref = useRef<WorldView | null>(null);
  const [view, setView] = useState<WorldView | null>(null);
  useEffect(() => {
    const socket: LiveSocket = new LiveSocket({
      url: () => wsUrl('/v1/ws/world'),
      onState: (s) => onLink('village', s),
      onMessage: (data) => {
        const msg = data as WorldMessage;
        if (msg?.type !== 'snapshot' && msg?.type !== 'delta') return;
        const out = applyWorldMessage(ref.current, msg, performance.now());
        if (out.kind === 'gap') {
          // Never draw a world with a hole in it: start again from a snapshot.
          socket.resync();
          return;
        }
        ref.current = out.view;
        setView(out.view);
      },
    });
    return () => socket.close();
  }, [onLink]);
  return { ref, view };
}
