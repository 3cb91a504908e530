const BARS = '▁▂▃▄▅▆▇█';

/** The last `width` values as bars, scaled to the largest of them (all zero: the lowest bar). */
export function sparkline(values: readonly number[], width: number): string {
  const shown = values.slice(-Math.max(0, width));
  const max = Math.max(0, ...shown);
  return shown.map((v) => BARS[max > 0 ? Math.min(BARS.length - 1, Math.round((v / max) * (BARS.length - 1))) : 0]).join('');
}
