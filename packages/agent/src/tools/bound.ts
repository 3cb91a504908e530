import { createHash } from 'node:crypto';
import { STEP_OUTPUT_MAX } from '@aiflock/protocol';

/** `text` cut to what a step may carry (STEP_OUTPUT_MAX characters), saying so when it was cut. */
export function boundText(text: string, max = STEP_OUTPUT_MAX): { text: string; truncated: boolean } {
  if (text.length <= max) return { text, truncated: false };
  const note = `\n… [${text.length - max + 64} more characters not shown]`;
  return { text: text.slice(0, Math.max(0, max - 64)) + note.slice(0, 64), truncated: true };
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
