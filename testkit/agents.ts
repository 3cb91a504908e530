import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, eventually, type TestFlock } from './flock.js';

/** Runs the CLI in a test flock, throwing with its stderr unless it exits 0. */
async function cliOk(flock: TestFlock, args: string[], timeoutMs?: number): Promise<void> {
  const r = await flock.cli(args, timeoutMs === undefined ? {} : { timeoutMs });
  if (r.code !== 0) throw new Error(`aiflock ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
}

/** Starts the flock's daemon with the CLI, without the demo agents. */
export const upFlock = (flock: TestFlock) => cliOk(flock, ['up', '--no-demo'], 300_000);

/** The demo village's villagers (examples/village). */
export const VILLAGERS = ['baker', 'gardener', 'scholar'];

/**
 * Starts a flock with no LLM (no Ollama where it would be looked for, no model file), so the
 * villagers follow their rules, and deploys the demo village's villagers into it.
 */
export async function startVillage(flock: TestFlock): Promise<void> {
  flock.env['AIFLOCK_OLLAMA_URL'] = 'http://127.0.0.1:9';
  await upFlock(flock);
  for (const name of VILLAGERS) await cliOk(flock, ['agent', 'deploy', join(REPO_ROOT, 'examples', 'village', `${name}.agent.md`)]);
}

/** Deploys a manifest (`name: <name>` then `yaml`) from a file in the flock's home, and waits until it runs. */
export async function deployYaml(flock: TestFlock, name: string, yaml: string, timeoutMs = 120_000): Promise<void> {
  const file = join(flock.home, `${name}.agent.yaml`);
  await writeFile(file, `name: ${name}\n${yaml}`);
  await cliOk(flock, ['agent', 'deploy', file]);
  // GET /v1/agents/<name>, as `aiflock agent get` does, without a CLI process per poll (four a second, each a Node start).
  await eventually(async () => (await flock.api(`/v1/agents/${encodeURIComponent(name)}`)).body?.status === 'running', `${name} running`, timeoutMs);
}

/** Deploys `writer`, an agent whose tasks are LLM calls through the gateway, and waits until its one replica is ready. */
export async function deployWriter(flock: TestFlock, description: string): Promise<void> {
  const manifest = join(flock.home, 'writer.agent.yaml');
  await writeFile(
    manifest,
    `apiVersion: aiflock/v1
kind: Agent
name: writer
version: 1.0.0
description: ${description}
handlers: [llm]
replicas: 1
resources: { cpu: 0.5, memory: 128Mi, pids: 64, taskTimeout: 60s }
`,
  );
  await cliOk(flock, ['agent', 'deploy', manifest]);
  await eventually(async () => (await flock.api('/v1/agents/writer')).body?.replicas?.ready === 1, 'writer ready', 120_000);
}
