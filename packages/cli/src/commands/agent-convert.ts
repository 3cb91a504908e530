import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { ConvertResponse } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson, println, progress } from '../output.js';

/**
 * `aiflock agent convert <file>`: show a manifest in our dialect, e.g. a CIM `agent.md`
 * translated, with what the translation kept without effect. Like `helm template`, it
 * changes nothing; the daemon runs the same parser a deploy does (the CLI speaks HTTP only).
 */
export function agentConvertCommand(agent: Command, client: () => ApiClient): void {
  agent
    .command('convert')
    .description('print a manifest (our dialect or the CIM agent.md) as the aiflock manifest it deploys as, with notes on what has no effect')
    .argument('<manifest>', 'path to agent.yaml or agent.md')
    .option('--json', 'print {dialect, digest, manifest, text, notes} as JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new CliError(`cannot read ${file}: ${err.code ?? err.message}`, EXIT.usage);
      });
      const out = await client().post<ConvertResponse>('/v1/agents/convert', { manifest: text, filename: basename(file) });
      if (o.json) return printJson(out);
      for (const n of out.notes) progress(`note: ${n.field}: ${n.message}`);
      progress(`# ${out.dialect} dialect, ${out.digest}`);
      println(out.text.trimEnd());
    });
}
