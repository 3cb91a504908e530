import { describe, expect, it } from 'vitest';
import { parseManifest } from '@aiflock/core';
import { ConfigError, loadConfig } from '../src/config.js';
import { deployAdmission } from '../src/deploy-admission.js';

/**
 * A manifest pinned to a node the flock does not have is refused at deploy, naming the nodes
 * there are; labels are the planner's (an instance waits, with why, until a node has them).
 */
const config = loadConfig({ env: { AIFLOCK_HOME: '/tmp/aiflock-placement', AIFLOCK_NODE: 'alpha', AIFLOCK_NODE_LABELS: 'zone=a, disk=ssd' } });
const admit = deployAdmission(config, async () => ({ memoryBytes: 8 * 1024 ** 3, cpus: 4 }));
const manifest = (placement: string) => parseManifest(`name: pinned\nhandlers: [echo]\n${placement}\n`, 'pinned.agent.yaml').manifest;

describe('placement on a one-node flock', () => {
  it('reads the node labels from the environment', () => {
    expect(config.nodeLabels).toEqual({ zone: 'a', disk: 'ssd' });
    expect(() => loadConfig({ env: { AIFLOCK_HOME: '/tmp/x', AIFLOCK_NODE_LABELS: 'zone' } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { AIFLOCK_HOME: '/tmp/x', AIFLOCK_NODE_LABELS: 'zone' } })).toThrow(/"zone" is not a label: write key=value/);
  });

  it('admits a manifest pinned to this node or to labels it has', async () => {
    expect(await admit(manifest(''))).toBeNull();
    expect(await admit(manifest('placement: { node: alpha }'))).toBeNull();
    expect(await admit(manifest('placement: { labels: { zone: a, disk: ssd } }'))).toBeNull();
  });

  it('refuses a node the flock does not have, naming the ones it has', async () => {
    expect(await admit(manifest('placement: { node: dgx-2 }'))).toEqual({ field: 'placement.node', value: 'dgx-2', message: expect.stringContaining('placement.node "dgx-2" is not a node of this flock (nodes: alpha)') });
  });

  it('admits a joined node, and leaves the capacity of another node to the planner', async () => {
    const joined = deployAdmission(config, async () => ({ memoryBytes: 1024 ** 3, cpus: 1 }), {}, async () => ['alpha', 'dgx-2']);
    expect(await joined(manifest('placement: { node: dgx-2 }\nresources: { cpu: 8, memory: 4Gi }'))).toBeNull();
    // Pinned here, this node's own size still decides.
    expect(await joined(manifest('placement: { node: alpha }\nresources: { cpu: 8, memory: 512Mi }'))).toMatchObject({ field: 'resources.cpu' });
  });

  it('admits labels no node has yet: the instance waits for one', async () => {
    expect(await admit(manifest('placement: { labels: { gpu: a100 } }'))).toBeNull();
  });
});

describe('workspace size at deploy', () => {
  it('admits a workspace within runtime.maxWorkspace and refuses one above it, naming the cap', async () => {
    const capped = deployAdmission(loadConfig({ env: { AIFLOCK_HOME: '/tmp/aiflock-ws', AIFLOCK_MAX_WORKSPACE: '2Gi' } }), async () => ({ memoryBytes: 8 * 1024 ** 3, cpus: 4 }));
    const ws = (size: string) => parseManifest(`name: files\nhandlers: [echo]\nresources: { workspace: ${size} }\n`, 'files.agent.yaml').manifest;
    expect(await capped(ws('2Gi'))).toBeNull();
    expect(await capped(ws('3Gi'))).toEqual({ field: 'resources.workspace', value: 3 * 1024 ** 3, message: "resources.workspace (3072 MiB) is above this flock's cap of 2048 MiB (runtime.maxWorkspace)" });
    // The schema itself refuses a size too small for a file system of its own.
    expect(() => ws('1Mi')).toThrow(/workspace size/);
  });

  it('reads the default size and the cap from the environment; a bad size is refused', () => {
    const c = loadConfig({ env: { AIFLOCK_HOME: '/tmp/aiflock-ws', AIFLOCK_WORKSPACE_SIZE: '256Mi', AIFLOCK_LOG_FILE_MAX_BYTES: '1Mi', AIFLOCK_LOG_FILE_KEEP: '5' } });
    expect(c.runtime).toMatchObject({ workspaceSize: 256 * 1024 ** 2, maxWorkspace: 64 * 1024 ** 3, logFileMaxBytes: 1024 ** 2, logFileKeep: 5 });
    expect(() => loadConfig({ env: { AIFLOCK_HOME: '/tmp/aiflock-ws', AIFLOCK_WORKSPACE_SIZE: 'lots' } })).toThrow(ConfigError);
  });
});
