import { lstat, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { agentAccount, archiveAccount, MINT, type Clock, type DeploymentRecord, type Ledger, type Store } from '@aiflock/core';
import { retireWorkspaceVolume } from './adapters/runtimes/shared/volumes.js';
import type { Config } from './config.js';
import type { logFn } from './logger.js';

/**
 * What `agent remove` does with what the removed deployment owned: its balance, its
 * workspace files and its logs belong to that deployment (and its owner), never to a later
 * agent that happens to get the same name, possibly from someone else.
 * - `archive` (default): the balance moves to `archive:<name>@<time>`, the workspace to
 *   `<shared>/archive/<name>@<time>`, the log rows to the agent name `<name>@<time>`; an admin
 *   can still read all of it, nobody inherits it.
 * - `delete`: the balance returns to the mint, files and log rows are deleted.
 * Either way a new deployment of the name starts with a zero balance, an empty workspace and
 * no logs.
 */
export function agentRetirement(
  mode: Config['agents']['onRemove'],
  deps: { store: Store; ledger: Ledger; sharedDir: string; clock: Clock; log: ReturnType<typeof logFn> },
): (record: DeploymentRecord) => Promise<void> {
  return async ({ name }) => {
    const at = deps.clock.now();
    const stamp = at.toISOString().replace(/[-:.]/g, '');
    const archived = `${name}@${stamp}`;
    const balance = await deps.store.ledger.balance(agentAccount(name));
    if (balance > 0) {
      await deps.ledger.transfer({
        from: agentAccount(name),
        to: mode === 'archive' ? archiveAccount(name, at) : MINT,
        amount: balance,
        reason: 'agent_removed',
        source: `agent-remove:${name}`,
        actor: 'system',
        idempotencyKey: `agent-remove:${archived}`,
        meta: { mode },
      });
    }
    const rows = await deps.store.logs.reassign(name, mode === 'archive' ? archived : null);
    const workspace = join(deps.sharedDir, 'agents', name);
    // A workspace volume (workspace-volume.ts): its files come out of the image, then it goes.
    await retireWorkspaceVolume(deps.sharedDir, name, workspace, mode === 'archive' ? join(deps.sharedDir, 'archive', archived) : null);
    const files = await lstat(workspace).then(
      () => true,
      () => false,
    );
    if (files && mode === 'archive') {
      await mkdir(join(deps.sharedDir, 'archive'), { recursive: true, mode: 0o700 });
      await rename(workspace, join(deps.sharedDir, 'archive', archived));
    } else if (files) await rm(workspace, { recursive: true, force: true });
    deps.log('info', `agent ${name} removed: balance ${balance} ${mode === 'archive' ? `archived to ${archiveAccount(name, at)}` : 'returned to the mint'}, ${rows} log rows and its workspace ${mode === 'archive' ? `archived as ${archived}` : 'deleted'}`, { agent: name, mode });
  };
}
