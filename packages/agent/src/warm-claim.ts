import { watch } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

/**
 * The signal the control plane sends the waiting runtime right after it wrote the identity
 * file (warm-slots.ts). Its default action is to ignore it, so one that arrives before the
 * handler is in place (a claim in the first milliseconds of the runtime) harms nothing; the
 * file is read anyway once the wait begins.
 */
export const CLAIM_SIGNAL = 'SIGWINCH';

export interface WarmClaimOptions {
  /** Before waiting: what does not depend on the identity (modules of the task path, the network gate). */
  prepare?: () => Promise<void>;
}

/**
 * A warm sandbox (manifest `scaling.warm`) starts its runtime before any agent owns it: the
 * environment names no agent, and no credentials are mounted. The runtime prepares what it
 * can without an identity (`prepare`), then waits here until the control plane claims the
 * sandbox for an instance and writes the identity file (`AIFLOCK_WARM_IDENTITY`:
 * `{"env": {...}}`, the environment a cold start would have had); its variables then replace
 * the warm ones and start-up goes on as usual. Meanwhile the liveness file is kept fresh, so
 * the sandbox's health check does not fail while it waits.
 *
 * It wakes on a change notice in the identity's directory or on CLAIM_SIGNAL, whichever
 * comes first; nothing polls (a warm sandbox costs no CPU while it waits). Should both be
 * missed, the file is looked for again at every liveness refresh.
 */
export async function waitForClaim(env: NodeJS.ProcessEnv, say: (line: string) => void, opts: WarmClaimOptions = {}): Promise<boolean> {
  const file = env['AIFLOCK_WARM_IDENTITY'];
  if (!file) return false;
  const heartbeatMs = Number(env['AIFLOCK_HEARTBEAT_MS']) || 30_000;
  const liveness = env['AIFLOCK_LIVENESS_FILE'];
  let look: () => void = () => undefined;
  const touch = () => {
    if (liveness) void writeFile(liveness, `${Math.ceil((Date.now() + 2 * heartbeatMs) / 1000)}\n`).catch(() => undefined);
    look();
  };
  // Installed first: from here on the signal wakes the wait instead of being ignored.
  const onSignal = () => look();
  process.on(CLAIM_SIGNAL, onSignal);
  touch();
  const alive = setInterval(touch, heartbeatMs);
  try {
    await opts.prepare?.();
    say('warm: waiting to be claimed');
    const claimed = await identity(file, (wake) => (look = wake));
    for (const key of Object.keys(env)) if (key.startsWith('AIFLOCK_')) delete env[key];
    Object.assign(env, claimed);
    say(`warm: claimed as ${claimed['AIFLOCK_INSTANCE_ID'] ?? '(no instance id)'}`);
    return true;
  } finally {
    clearInterval(alive);
    process.off(CLAIM_SIGNAL, onSignal);
  }
}

/** The identity, once the file is there: looked for now, then at every wake-up (`onWake` receives the function that wakes it). */
async function identity(file: string, onWake: (wake: () => void) => void): Promise<Record<string, string>> {
  let wake: () => void = () => undefined;
  let woken = false;
  onWake(() => {
    woken = true;
    wake();
  });
  let watcher: ReturnType<typeof watch> | null = null;
  try {
    watcher = watch(dirname(file), (_, name) => {
      if (!name || name === basename(file)) {
        woken = true;
        wake();
      }
    });
    watcher.on('error', () => undefined);
  } catch {
    // No notices here: the signal (or the liveness refresh) wakes it.
  }
  try {
    for (;;) {
      woken = false;
      const found = await readIdentity(file);
      if (found) return found;
      // A wake-up during the read is not lost: it is looked for again at once.
      if (!woken) await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    watcher?.close();
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
