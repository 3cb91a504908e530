import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { AuditVerdict } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson, println, progress } from '../output.js';
import { DAEMON_MAIN, reachable, stopDaemon } from './lifecycle.js';

interface Restored {
  store: string;
  previous: string | null;
  audit: AuditVerdict;
}

const EXIT_OF: Record<string, number> = { restore_refused: EXIT.conflict, backup_invalid: EXIT.usage, audit_tampered: EXIT.auditTampered };

export function restoreCommand(program: Command, client: () => ApiClient): void {
  program
    .command('restore')
    .description('replace the flock\'s SQLite store with a backup from `aiflock backup`, after verifying the backup\'s audit chain; the daemon must be stopped')
    .argument('<backup>', 'the file `aiflock backup` wrote')
    .option('--force', 'stop a running flock first (as `aiflock down` does)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nThe replaced store is kept beside it as <store>.before-restore-<time>. Start the flock again with: aiflock up')
    .action(async (file: string, o: { force?: boolean; json?: boolean }) => {
      const backup = resolve(file);
      if (!existsSync(backup)) throw new CliError(`no backup file at ${backup}`, EXIT.usage, 'backup_invalid');
      const api = client();
      if (await reachable(api)) {
        if (!o.force) throw new CliError(`the flock at ${api.baseUrl} is running: stop it first (aiflock down), or pass --force to stop it`, EXIT.conflict, 'restore_refused');
        if (!o.json) progress('stopping agents, NATS and the daemon...');
        await stopDaemon(api, true);
      }
      if (!o.json) progress(`verifying ${backup} and restoring it...`);
      const out = await restoreOffline(backup);
      if (o.json) return printJson(out);
      println(`restored ${out.store} from ${backup}`);
      if (out.previous) println(`the store it replaced is kept as ${out.previous}`);
      if (out.audit.ok) println(`audit chain verified: ${out.audit.entries} entries, the last one recording this restore`);
      println('start the flock with: aiflock up');
    });
}

/** The daemon's own code does the restore, so the store and data dir are found from its configuration exactly as when it runs. */
async function restoreOffline(backup: string): Promise<Restored> {
  if (!existsSync(DAEMON_MAIN)) throw new CliError(`${DAEMON_MAIN} is missing; run: npm run build`, EXIT.failure);
  const child = spawn(process.execPath, [DAEMON_MAIN, 'restore', backup], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
  child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
  const code = await new Promise<number>((r) => child.once('exit', (c) => r(c ?? 1)));
  let result: (Restored & { error?: undefined }) | { error: { code: string; message: string } };
  try {
    result = JSON.parse(stdout.trim().split('\n').pop() ?? '') as typeof result;
  } catch {
    throw new CliError(`restoring failed (exit ${code}): ${stderr.trim() || stdout.trim()}`, EXIT.failure);
  }
  if (result.error) throw new CliError(result.error.message, EXIT_OF[result.error.code] ?? EXIT.failure, result.error.code);
  if (!result.audit.ok) throw new CliError(`restored, but the audit chain does not verify after the restore (entry ${result.audit.seq}: ${result.audit.message})`, EXIT.auditTampered, 'audit_tampered');
  return result;
}
