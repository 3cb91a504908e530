import { describe, expect, it } from 'vitest';
import { parseManifest } from '@aiflock/core';
import { ConfigError, loadConfig } from '../src/config.js';
import { deployAdmission } from '../src/deploy-admission.js';

/**
 * `placement` must not be a field that does nothing: on this one-node flock a manifest pinned
 * to another node, or asking for labels the node lacks, is refused at deploy with the reason,
 * instead of being accepted and never placed.
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

  it('refuses another node, naming the one there is', async () => {
    expect(await admit(manifest('placement: { node: dgx-2 }'))).toEqual({ field: 'placement.node', value: 'dgx-2', message: expect.stringContaining('placement.node "dgx-2": instances run only on the control plane\'s node "alpha" so far') });
  });

  it('refuses a label the node lacks or has with another value, saying what it has', async () => {
    expect(await admit(manifest('placement: { labels: { gpu: a100 } }'))).toMatchObject({ field: 'placement.labels.gpu', value: 'a100', message: expect.stringContaining('node "alpha" has zone=a, disk=ssd') });
    expect(await admit(manifest('placement: { labels: { zone: b } }'))).toMatchObject({ field: 'placement.labels.zone', value: 'b' });
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
