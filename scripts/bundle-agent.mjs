#!/usr/bin/env node
// Bundles the in-sandbox agent runtime (packages/agent/src/main.ts) into one ESM file for
// the agent image, and fails if anything of the control plane ended up in it: the
// metafile check is the proof that the image does not carry the daemon's dependencies.
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const USAGE = `usage: node scripts/bundle-agent.mjs [--entry FILE] [--out-dir DIR]

Bundles the agent runtime into DIR/agent.mjs (default packages/agent/dist/bundle) with
DIR/meta.json and DIR/agent.sha256, and exits 1 if the bundle would contain control-plane
code (packages/daemon, core, cli) or its dependencies. --entry bundles another entry point
(used by the tests to prove the check bites).`;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let args;
try {
  args = parseArgs({
    options: { entry: { type: 'string' }, 'out-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  }).values;
} catch (err) {
  console.error(`bundle-agent: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  process.exit(64);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const entry = resolve(args.entry ?? join(root, 'packages/agent/src/main.ts'));
const outDir = resolve(args['out-dir'] ?? join(root, 'packages/agent/dist/bundle'));
const outFile = join(outDir, 'agent.mjs');

/** Inputs that must never be in the agent bundle, as path patterns on esbuild's input keys. */
const FORBIDDEN = [
  { name: '@aiflock/daemon', re: /(^|\/)(packages\/daemon|node_modules\/@aiflock\/daemon)\// },
  { name: '@aiflock/core', re: /(^|\/)(packages\/core|node_modules\/@aiflock\/core)\// },
  { name: '@aiflock/cli', re: /(^|\/)(packages\/cli|node_modules\/@aiflock\/cli)\// },
  ...['fastify', '@fastify', 'kysely', 'dockerode', 'docker-modem', 'better-sqlite3', 'pino', 'prom-client'].map((pkg) => ({
    name: pkg,
    re: new RegExp(`(^|/)node_modules/${pkg.replace(/[/.]/g, '\\$&')}/`),
  })),
];

/** Readers (an image build running at the same time) see the old file or the new one. */
async function writeAtomically(path, data) {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

async function main() {
  await mkdir(outDir, { recursive: true });
  let result;
  try {
    result = await build({
      absWorkingDir: root,
      entryPoints: [entry],
      outfile: outFile,
      // Written below by rename, never in place: an image build running at the same time
      // (tests build in parallel) must read the old bundle or the new one, not half of one.
      write: false,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // Workspace packages export their TypeScript under "source": bundle the sources, not
      // whatever happens to be in dist/.
      conditions: ['source'],
      // The browser tool loads it at run time; the workbench image carries it beside the
      // bundle (/opt/aiflock/node_modules). It reads its own files, so it does not bundle well,
      // and the small default image has no Chromium for it to drive anyway.
      external: ['playwright-core'],
      // nats is CommonJS and requires node built-ins; ESM output has no `require` otherwise.
      banner: { js: "import { createRequire as __aiflockCreateRequire } from 'node:module';\nconst require = __aiflockCreateRequire(import.meta.url);" },
      // Smaller source, smaller idle instance: V8 keeps the whole script text in the heap for
      // as long as the process lives, and a single character beyond Latin-1 (an em dash in a
      // dependency's comment was enough) stores all of it at two bytes per character. Comments
      // and whitespace go; names stay, so stack traces still say which function threw.
      minifyWhitespace: true,
      minifySyntax: true,
      metafile: true,
      sourcemap: false,
      legalComments: 'none',
      logLevel: 'warning',
    });
  } catch (err) {
    console.error(`bundle-agent: esbuild failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }

  const inputs = Object.keys(result.metafile.inputs);
  const violations = inputs.flatMap((input) =>
    FORBIDDEN.filter((f) => f.re.test(input)).map((f) => `${input} (${f.name})`),
  );
  await writeAtomically(join(outDir, 'meta.json'), JSON.stringify(result.metafile, null, 2));
  if (violations.length > 0) {
    console.error('bundle-agent: the agent bundle must not contain control-plane code or dependencies, but it includes:');
    for (const v of violations) console.error(`  - ${v}`);
    process.exit(1);
  }

  const bytes = result.outputFiles[0].contents;
  await writeAtomically(outFile, bytes);
  const sha = createHash('sha256').update(bytes).digest('hex');
  // sha256sum format, so `sha256sum -c` works from the bundle directory.
  await writeAtomically(join(outDir, 'agent.sha256'), `${sha}  agent.mjs\n`);
  console.log(
    `bundle-agent: ${relative(root, outFile)} ${(bytes.length / 1024).toFixed(0)} KiB, ${inputs.length} inputs, sha256 ${sha}`,
  );
}

await main();
