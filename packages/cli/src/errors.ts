import { CommanderError } from 'commander';
import { CliError } from './client.js';
import { EXIT } from './exit-codes.js';

/**
 * How a failed command ends: a message on stderr and a meaningful exit code. Under `--json`
 * the message is JSON too, `{"error":{"code","message"}}` (the API's own shape), so a script
 * that parses the output never meets plain text.
 */
export function reportError(err: unknown, json: boolean): void {
  if (err instanceof CommanderError) {
    // Commander has printed its usage message already.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (json && err.exitCode !== 0) writeJson(err.code.replace(/^commander\./, 'usage.'), err.message.replace(/^error: /, ''));
    return;
  }
  if (err instanceof CliError) {
    process.exitCode = err.exitCode;
    if (json) return writeJson(err.code ?? codeOfExit(err.exitCode), err.message, err.details);
    process.stderr.write(`aiflock: ${err.message}\n`);
    return;
  }
  process.exitCode = EXIT.failure;
  if (json) return writeJson('internal', err instanceof Error ? err.message : String(err));
  process.stderr.write(`aiflock: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
}

function writeJson(code: string, message: string, details?: unknown): void {
  process.stderr.write(`${JSON.stringify({ error: { code, message, ...(details === undefined ? {} : { details }) } })}\n`);
}

const EXIT_CODES: Record<number, string> = {
  [EXIT.usage]: 'usage',
  [EXIT.notFound]: 'not_found',
  [EXIT.unreachable]: 'unreachable',
  [EXIT.taskUnsuccessful]: 'task_unsuccessful',
  [EXIT.conflict]: 'conflict',
  [EXIT.auth]: 'unauthenticated',
  [EXIT.rateLimited]: 'rate_limited',
  [EXIT.auditTampered]: 'audit_tampered',
};
const codeOfExit = (exit: number) => EXIT_CODES[exit] ?? 'failure';

/**
 * `aiflock audit search ... | head`: once the reader has gone, writing more is pointless, not
 * an error. Exit quietly (status 0, as `cat | head` does) instead of printing an EPIPE stack.
 */
export function quietOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
}
