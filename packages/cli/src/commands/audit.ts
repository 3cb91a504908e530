import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { AuditEntry, AuditVerdict } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson, println, progress } from '../output.js';
import { instant, toInt } from './shared.js';

interface AuditPage {
  entries: AuditEntry[];
  nextCursor: number | null;
}

function printEntry(e: AuditEntry, json: boolean | undefined): void {
  if (json) return println(JSON.stringify(e));
  const ids = [e.requestId && `req=${e.requestId}`, e.correlationId && `corr=${e.correlationId}`].filter(Boolean).join(' ');
  println(`${String(e.seq).padStart(6)} ${e.ts} ${e.outcome.padEnd(6)} ${e.actor} ${e.action} ${e.resource}${ids ? `  ${ids}` : ''}`);
}

export function auditCommand(program: Command, client: () => ApiClient): void {
  const audit = program.command('audit').description('read, search, verify and export the tamper-evident audit log (admin)');

  audit
    .command('tail')
    .description('the newest audit entries, oldest first; -f keeps printing new ones')
    .option('-n, --lines <n>', 'how many', '20')
    .option('-f, --follow', 'keep printing new entries until Ctrl-C')
    .option('--json', 'one JSON entry per line')
    .action(async (o: { lines: string; follow?: boolean; json?: boolean }) => {
      const n = toInt(o.lines, '--lines');
      const page = n > 0 ? await client().get<AuditPage>(`/v1/audit?limit=${Math.min(n, 1000)}`) : { entries: [] };
      const entries = page.entries.reverse();
      for (const e of entries) printEntry(e, o.json);
      if (!o.follow) return;
      let after = entries[entries.length - 1]?.seq ?? (await client().get<AuditPage>('/v1/audit?limit=1')).entries[0]?.seq ?? 0;
      let stop = false;
      process.once('SIGINT', () => (stop = true));
      while (!stop) {
        const next = await client().get<AuditPage>(`/v1/audit?after=${after}&limit=1000`);
        for (const e of next.entries) printEntry(e, o.json);
        after = next.entries[next.entries.length - 1]?.seq ?? after;
        if (next.entries.length < 1000) await new Promise((r) => setTimeout(r, 1000));
      }
    });

  audit
    .command('search')
    .description('audit entries matching every given filter, newest first')
    .option('--actor <id>', 'who acted (token id, or anonymous)')
    .option('--action <action>', 'e.g. agent.deploy, task.cancel')
    .option('--resource <resource>', 'e.g. agent/shell, or a prefix: agent/*')
    .option('--since <when>', 'a duration ago (30m, 24h) or an ISO time')
    .option('--until <when>', 'a duration ago or an ISO time')
    .option('-n, --limit <n>', 'how many', '50')
    .option('--cursor <seq>', 'continue with entries older than this seq (from a previous page)')
    .option('--json', 'print the page as JSON')
    .action(async (o: { actor?: string; action?: string; resource?: string; since?: string; until?: string; limit: string; cursor?: string; json?: boolean }) => {
      const q = new URLSearchParams({ limit: String(toInt(o.limit, '--limit')) });
      if (o.actor) q.set('actor', o.actor);
      if (o.action) q.set('action', o.action);
      if (o.resource) q.set('resource', o.resource);
      if (o.since) q.set('since', instant(o.since, '--since'));
      if (o.until) q.set('until', instant(o.until, '--until'));
      if (o.cursor) q.set('cursor', String(toInt(o.cursor, '--cursor')));
      const page = await client().get<AuditPage>(`/v1/audit?${q}`);
      if (o.json) return printJson(page);
      if (page.entries.length === 0) return println('no matching audit entries');
      for (const e of page.entries) printEntry(e, false);
      if (page.nextCursor !== null) println(`more: aiflock audit search ... --cursor ${page.nextCursor}`);
    });

  audit
    .command('verify')
    .description(`check the hash chain and the anchored head; exit ${EXIT.auditTampered} naming the first bad entry if tampered with`)
    .option('--head <seq:hash>', 'also check a head recorded earlier (as printed by a previous verify), e.g. kept off this host')
    .option('--json', 'print the verdict as JSON')
    .action(async (o: { head?: string; json?: boolean }) => {
      if (o.head !== undefined && !/^[1-9]\d*:[0-9a-f]{64}$/.test(o.head)) throw new CliError(`--head must be seq:hash as printed by audit verify, got "${o.head}"`, EXIT.usage);
      if (!o.json) progress('verifying the audit chain...');
      const v = await client().get<AuditVerdict>(`/v1/audit/verify${o.head ? `?head=${encodeURIComponent(o.head)}` : ''}`);
      if (o.json) printJson(v);
      if (v.ok) {
        if (!o.json) {
          println(`audit log intact: ${v.entries} entries${v.anchored ? `, anchored at ${v.anchored.seq}` : ', no anchor yet'}`);
          // Worth keeping off this host: a later `verify --head` proves nothing was rewritten up to here.
          if (v.head) println(`head: ${v.head.seq}:${v.head.hash}`);
        }
        return;
      }
      if (!o.json) process.stderr.write(`aiflock: audit log TAMPERED at seq ${v.seq} (${v.reason}): ${v.message}\n`);
      process.exitCode = EXIT.auditTampered;
    });

  audit
    .command('export')
    .description('every audit entry, oldest first, as JSON lines (to stdout, or -o file)')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async (o: { output?: string }) => {
      const res = await client().download('/v1/audit/export');
      const body = Readable.fromWeb(res.body as Parameters<typeof Readable.fromWeb>[0]);
      if (o.output) await pipeline(body, createWriteStream(o.output, { mode: 0o600 }));
      else await pipeline(body, process.stdout, { end: false });
      if (o.output) progress(`audit log exported to ${o.output}`);
    });
}
