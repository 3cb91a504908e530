import type { LogLine } from '@aiflock/protocol';
import { CliError } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { println } from '../output.js';

export function toInt(value: string, what: string): number {
  if (!/^\d+$/.test(value)) throw new CliError(`${what} must be a whole number, got "${value}"`, EXIT.usage);
  return Number(value);
}

export function printLogLine(l: LogLine, json: boolean | undefined, withInstance: boolean): void {
  if (json) return println(JSON.stringify(l));
  const who = withInstance ? ` ${l.instanceId}` : '';
  println(`${l.ts}${who} ${l.level.toUpperCase().padEnd(5)} ${l.msg}`);
}

/** An AbortController that fires on Ctrl-C, so `-f` ends with exit code 0. */
export function followInterrupted(): AbortController {
  const ctl = new AbortController();
  process.once('SIGINT', () => ctl.abort());
  return ctl;
}
