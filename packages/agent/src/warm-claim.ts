import { watch } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

/** How often the file is looked for besides change notices (a notice can be missed on some mounts). */
const POLL_MS = 25;

/**
 * A warm sandbox (manifest `scaling.warm`) starts its runtime before any agent owns it: the
 * environment names no agent, and no credentials are mounted. The runtime waits here until the
 * control plane claims the sandbox for an instance and writes the identity file
 * (`AIFLOCK_WARM_IDENTITY`: `{"env": {...}}`, the environment a cold start would have had);
 * its variables then replace the warm ones and start-up goes on as usual. Meanwhile the
 * liveness file is kept fresh, so the sandbox's health check does not fail while it waits.
 */
export async function waitForClaim(env: NodeJS.ProcessEnv, say: (line: string) => void): Promise<void> {
  const file = env['AIFLOCK_WARM_IDENTITY'];
  if (!file) return;
  const heartbeatMs = Number(env['AIFLOCK_HEARTBEAT_MS']) || 30_000;
  const liveness = env['AIFLOCK_LIVENESS_FILE'];
  const touch = () => {
    if (liveness) void writeFile(liveness, `${Math.ceil((Date.now() + 2 * heartbeatMs) / 1000)}\n`).catch(() => undefined);
  };
  touch();
  const alive = setInterval(touch, heartbeatMs);
  say('warm: waiting to be claimed');
  try {
    const claimed = await identity(file);
    for (const key of Object.keys(env)) if (key.startsWith('AIFLOCK_')) delete env[key];
    Object.assign(env, claimed);
    say(`warm: claimed as ${claimed['AIFLOCK_INSTANCE_ID'] ?? '(no instance id)'}`);
  } finally {
    clearInterval(alive);
  }
}

async function identity(file: string): Promise<Record<string, string>> {
  for (;;) {
    const found = await readIdentity(file);
    if (found) return found;
    await new Promise<void>((resolve) => {
      // Whichever comes first: a change in the directory or the next poll.
      let watcher: ReturnType<typeof watch> | null = null;
      const done = () => {
        clearTimeout(timer);
        watcher?.close();
        resolve();
      };
      const timer = setTimeout(done, POLL_MS);
      try {
        watcher = watch(dirname(file), (_, name) => {
          if (!name || name === basename(file)) done();
        });
        watcher.on('error', () => undefined);
      } catch {
        // No notices here: the poll alone finds it.
      }
    });
  }
}

async function readIdentity(file: string): Promise<Record<string, string> | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  const parsed = JSON.parse(text) as { env?: unknown };
  const env = parsed.env;
  if (!env || typeof env !== 'object') throw new Error(`the identity file ${file} has no "env" object`);
  return Object.fromEntries(Object.entries(env as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
}
