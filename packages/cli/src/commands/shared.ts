import { parseDuration, type LogLine } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { println } from '../output.js';

export function toInt(value: string, what: string): number {
  if (!/^\d+$/.test(value)) throw new CliError(`${what} must be a whole number, got "${value}"`, EXIT.usage);
  return Number(value);
}

/** `--since 1h` (that long ago) or an ISO time. */
export function instant(text: string, flag: string, now = Date.now()): string {
  const ms = parseDuration(text);
  if (ms !== null) return new Date(now - ms).toISOString();
  const t = Date.parse(text);
  if (Number.isNaN(t) || !/^\d{4}-\d\d-\d\d/.test(text)) throw new CliError(`${flag} must be a duration ago (e.g. 30m, 24h) or an ISO time, got "${text}"`, EXIT.usage);
  return new Date(t).toISOString();
}

export function printLogLine(l: LogLine, json: boolean | undefined, withInstance: boolean): void {
  if (json) return println(JSON.stringify(l));
  const who = withInstance ? ` ${l.instanceId}` : '';
  println(`${l.ts}${who} ${l.level.toUpperCase().padEnd(5)} ${l.msg}`);
}

/**
 * Print the log lines at `path` (a URL that may already carry a query). With `follow`, keep
 * streaming until the server ends the stream or Ctrl-C, which exits with code 0.
 */
export async function printLogs(api: ApiClient, path: string, o: { follow?: boolean; json?: boolean; withInstance: boolean }): Promise<void> {
  if (!o.follow) {
    const { lines } = await api.get<{ lines: LogLine[] }>(path);
    for (const l of lines) printLogLine(l, o.json, o.withInstance);
    return;
  }
  const ctl = new AbortController();
  process.once('SIGINT', () => ctl.abort());
  try {
    for await (const l of api.stream<LogLine>(`${path}${path.includes('?') ? '&' : '?'}follow=true`, ctl.signal)) printLogLine(l, o.json, o.withInstance);
  } catch (err) {
    if (!ctl.signal.aborted) throw err;
  }
}
