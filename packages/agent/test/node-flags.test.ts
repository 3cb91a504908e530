import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_NODE_FLAGS } from '@aiflock/protocol';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

// The process runtime passes AGENT_NODE_FLAGS itself; the images and the VM guest cannot
// import it, so they are held to it here.
describe('every launcher starts the runtime with AGENT_NODE_FLAGS', () => {
  it.each(['images/agent/Dockerfile', 'images/workbench/Dockerfile'])('%s', async (file) => {
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(await readFile(join(root, file), 'utf8'))?.[1];
    expect(JSON.parse(entrypoint ?? 'null')).toEqual(['node', ...AGENT_NODE_FLAGS, '/opt/aiflock/agent.mjs']);
  });

  it('scripts/vm-guest-init.sh', async () => {
    const line = (await readFile(join(root, 'scripts/vm-guest-init.sh'), 'utf8')).split('\n').find((l) => l.includes("import('/opt/aiflock/agent.mjs')"));
    expect(line?.split(' ').slice(0, 1 + AGENT_NODE_FLAGS.length)).toEqual(['node', ...AGENT_NODE_FLAGS]);
  });
});
