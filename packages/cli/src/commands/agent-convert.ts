import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { ManifestError, manifestText, parseManifest } from '@aiflock/core';
import { CliError } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson, println, progress } from '../output.js';

/**
 * `aiflock agent convert <file>`: show a manifest in our dialect, e.g. a CIM `agent.md`
 * translated, with what the translation kept without effect. Offline, like `helm template`:
 * the same code the daemon runs on deploy.
 */
export function agentConvertCommand(agent: Command): void {
  agent
    .command('convert')
    .description('print a manifest (our dialect or the CIM agent.md) as the aiflock manifest it deploys as, with notes on what has no effect')
    .argument('<manifest>', 'path to agent.yaml or agent.md')
    .option('--json', 'print {dialect, digest, manifest, notes} as JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new CliError(`cannot read ${file}: ${err.code ?? err.message}`, EXIT.usage);
      });
      let parsed;
      try {
        parsed = parseManifest(text, basename(file));
      } catch (err) {
        if (err instanceof ManifestError) throw new CliError(err.message.replace(/^[^:]+: /, `${file}: `), EXIT.usage, 'manifest_invalid', { issues: err.issues });
        throw err;
      }
      if (o.json) return printJson({ dialect: parsed.dialect, digest: parsed.digest, manifest: parsed.document, notes: parsed.notes });
      for (const n of parsed.notes) progress(`note: ${n.field}: ${n.message}`);
      progress(`# ${parsed.dialect} dialect, ${parsed.digest}`);
      println(manifestText(parsed.document).trimEnd());
    });
}
