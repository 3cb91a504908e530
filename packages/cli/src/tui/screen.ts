/**
 * A full-screen terminal view, as `top` and `k9s` draw one: the alternate screen (the shell's
 * scrollback is left as it was), the cursor hidden, every frame written in one piece over the
 * last one (home, each line, erase what the old frame left) so nothing flickers, lines cut to
 * the terminal's width so none wraps, keys read one by one, and a redraw on resize.
 */

/** A run of text in one style: SGR parameters such as '1' (bold), '32' (green), '7' (inverse). */
export interface Segment {
  text: string;
  style?: string;
}
export type Line = Segment[];

const ESC = '\x1b[';

/** The line cut (never wrapped) to `width` columns, with its styles; `fill` pads it to the full width in its last style. */
export function fitLine(line: Line, width: number, fill = false): string {
  let left = width;
  let out = '';
  let lastStyle: string | undefined;
  for (const seg of line) {
    if (left <= 0) break;
    // Characters, not UTF-16 units: a sparkline bar is one column and one character.
    const chars = [...seg.text.replace(/[\x00-\x1f\x7f]/g, ' ')];
    const text = chars.slice(0, left).join('');
    left -= Math.min(chars.length, left);
    out += seg.style ? `${ESC}${seg.style}m${text}${ESC}0m` : text;
    lastStyle = seg.style;
  }
  if (fill && left > 0) out += lastStyle ? `${ESC}${lastStyle}m${' '.repeat(left)}${ESC}0m` : ' '.repeat(left);
  return out;
}

/** How many columns a line takes once drawn. */
export const lineWidth = (line: Line): number => line.reduce((n, s) => n + [...s.text].length, 0);

export class FullScreen {
  private open = false;
  private readonly cleanup: (() => void)[] = [];

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly input: NodeJS.ReadStream,
  ) {}

  get size(): { cols: number; rows: number } {
    return { cols: this.out.columns || 80, rows: this.out.rows || 24 };
  }

  /** Takes the screen; `onKey` gets each key as typed, `onResize` the new size. */
  enter(onKey: (key: string) => void, onResize: () => void): void {
    this.open = true;
    this.out.write(`${ESC}?1049h${ESC}?25l${ESC}2J`);
    if (this.input.isTTY) this.input.setRawMode(true);
    const keys = (d: Buffer) => {
      for (const k of String(d)) onKey(k);
    };
    this.input.on('data', keys);
    this.input.resume();
    this.out.on('resize', onResize);
    this.cleanup.push(() => {
      this.input.off('data', keys);
      this.out.off('resize', onResize);
      if (this.input.isTTY) this.input.setRawMode(false);
      this.input.pause();
    });
    // Whatever ends the process, the terminal is given back as it was.
    const restore = () => this.leave();
    process.once('exit', restore);
    this.cleanup.push(() => process.off('exit', restore));
  }

  /** One frame: at most `rows` lines, each cut to `cols`; `bars` are filled to the full width. */
  draw(lines: { line: Line; bar?: boolean }[]): void {
    const { cols, rows } = this.size;
    let frame = `${ESC}H`;
    lines.slice(0, rows).forEach((l, i) => {
      const text = fitLine(l.line, cols, l.bar);
      // A line as wide as the screen leaves the cursor on its last column: erasing from
      // there would eat that column, and it has nothing left over to erase anyway.
      const full = l.bar || lineWidth(l.line) >= cols;
      frame += `${i > 0 ? '\r\n' : ''}${text}${full ? '' : `${ESC}K`}`;
    });
    frame += `${ESC}J`;
    this.out.write(frame);
  }

  leave(): void {
    if (!this.open) return;
    this.open = false;
    for (const undo of this.cleanup.splice(0)) undo();
    this.out.write(`${ESC}0m${ESC}?25h${ESC}?1049l`);
  }
}
