import { lstat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentName } from '@aiflock/protocol';
import { retireWorkspaceVolume } from './adapters/runtimes/shared/volumes.js';

/**
 * `aiflock agent reset`: the agent's workspace (`<shared>/agents/<name>`, its replicas' shared
 * `/shared/agents/<name>`) removed; the next instance's start makes it again, empty and owned
 * by the sandbox user. A workspace is a volume of its own (an ext4 image mounted there): its
 * image goes with it, else the files would come back with the next mount. True when there was one.
 */
export function workspaceWiper(sharedDir: string): (agent: string) => Promise<boolean> {
  return async (agent) => {
    // A deployed agent's name never holds a path separator; checked again, as this deletes.
    AgentName.parse(agent);
    const dir = join(sharedDir, 'agents', agent);
    if (await retireWorkspaceVolume(sharedDir, agent, dir, null)) return true;
    const existed = await lstat(dir).then(
      () => true,
      () => false,
    );
    await rm(dir, { recursive: true, force: true });
    return existed;
  };
}
