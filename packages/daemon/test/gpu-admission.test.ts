import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { FlockError, parseManifest, type NodeService, type NodeView, type SandboxSpec } from '@aiflock/core';
import { NodeCapacity } from '@aiflock/protocol';
import { loadConfig } from '../src/config.js';
import { deployAdmission } from '../src/deploy-admission.js';
import { hostCapacity } from '../src/nodes/host-capacity.js';
import { nodeMetrics } from '../src/nodes/node-metrics.js';
import { ProcessRuntime } from '../src/adapters/runtimes/process/process-runtime.js';
import { VmRuntime } from '../src/adapters/runtimes/vm/vm-runtime.js';
import { testTempDir } from '../../../testkit/temp-dir.js';

/**
 * `resources.gpus` must not be a field that does nothing: where the control plane's own node
 * would run the agent, its runtime must hand GPUs to sandboxes (capabilities.gpus) and the node
 * must report that many; otherwise the deploy is refused, naming the field. A runtime that
 * cannot give GPUs refuses a spec asking for them at start as well.
 */
const capacity = async () => ({ memoryBytes: 8 * 1024 ** 3, cpus: 4 });
const config = () => loadConfig({ env: { AIFLOCK_HOME: '/tmp/aiflock-gpu', AIFLOCK_NODE: 'cp' } });
const manifest = (extra: string) => parseManifest(`name: trainer\nhandlers: [echo]\n${extra}\n`, 'trainer.agent.yaml').manifest;
const processRuntime = () => new ProcessRuntime({ flock: 'gputest', node: 'cp', rootDir: '/tmp/aiflock-gpu/process', bundle: '/nonexistent/agent.mjs', busServers: [{ host: '127.0.0.1', port: 4222 }], busPort: 4222 });

describe('resources.gpus at deploy', () => {
  it('is refused on a node whose runtime cannot give GPUs (the process runtime), whatever GPUs the host has', async () => {
    const runtime = processRuntime();
    expect(runtime.capabilities.gpus).toBe(false);
    const processConfig = loadConfig({ env: { AIFLOCK_HOME: '/tmp/aiflock-gpu', AIFLOCK_NODE: 'cp', AIFLOCK_RUNTIME: 'process' } });
    expect(await deployAdmission(processConfig, capacity, runtime.capabilities, undefined, async () => 8)(manifest('resources: { gpus: 1 }'))).toEqual({
      field: 'resources.gpus',
      value: 1,
      message: expect.stringContaining('resources.gpus asks for 1 GPU(s), which the process runtime cannot give (the docker runtime can, with the NVIDIA Container Toolkit)'),
    });
  });

  it('is admitted where the runtime gives GPUs and the node reports enough, refused beyond them', async () => {
    const admit = deployAdmission(config(), capacity, { gpus: true }, undefined, async () => 2);
    expect(await admit(manifest('resources: { gpus: 2 }'))).toBeNull();
    expect(await admit(manifest('resources: { gpus: 3 }'))).toEqual({ field: 'resources.gpus', value: 3, message: 'resources.gpus 3 is more than the 2 GPU(s) this node reports (nvidia-smi)' });
    expect(await deployAdmission(config(), capacity, { gpus: true })(manifest('resources: { gpus: 1 }'))).toMatchObject({ field: 'resources.gpus', message: expect.stringContaining('more than the 0 GPU(s)') });
    // Asking for none, nothing changes.
    expect(await deployAdmission(config(), capacity, {})(manifest(''))).toBeNull();
  });

  it('leaves a joined node to the planner, unless the manifest is pinned to the control plane', async () => {
    const joined = deployAdmission(config(), capacity, { gpus: false }, async () => ['cp', 'dgx-1'], async () => 0);
    expect(await joined(manifest('resources: { gpus: 1 }'))).toBeNull();
    expect(await joined(manifest('resources: { gpus: 1 }\nplacement: { node: dgx-1 }'))).toBeNull();
    expect(await joined(manifest('resources: { gpus: 1 }\nplacement: { node: cp }'))).toMatchObject({ field: 'resources.gpus', value: 1 });
  });

  it('is refused with scaling.warm: a warm sandbox is started before its claimer, without GPUs', async () => {
    expect(await deployAdmission(config(), capacity, { gpus: true, warmPool: true }, undefined, async () => 4)(manifest('resources: { gpus: 1 }\nscaling: { warm: 1 }'))).toMatchObject({
      field: 'scaling.warm',
      message: expect.stringContaining('cannot add GPUs to a started container'),
    });
  });
});

describe('runtimes without GPUs', () => {
  const spec: SandboxSpec = {
    instanceId: 'trainer-abc123',
    agent: 'trainer',
    image: 'aiflock/agent:latest',
    profile: 'restricted',
    env: {},
    resources: { cpu: 1, memoryBytes: 1024 ** 3, pids: 64, tmpBytes: 64 * 1024 ** 2, gpus: 1 },
    manifestDigest: 'sha256:x',
  };

  it('refuse a spec asking for GPUs at start, before making anything', async () => {
    const vm = new VmRuntime({ flock: 'gputest', node: 'cp', rootDir: '/nonexistent/vm', sharedDir: '/nonexistent/shared', imageDir: '/nonexistent/image', qemu: 'qemu-system-x86_64', accel: 'tcg', busPort: 4222 });
    expect(vm.capabilities.gpus).toBe(false);
    for (const runtime of [processRuntime(), vm]) {
      const err = await runtime.start(spec).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, runtime.kind).toBeInstanceOf(FlockError);
      expect(err).toMatchObject({ code: 'validation_failed', details: { field: 'resources.gpus', value: 1 } });
      expect((err as Error).message).toContain(`which the ${runtime.kind} runtime cannot give`);
    }
  });
});

describe('a node reporting GPUs', () => {
  it('reports what nvidia-smi lists and whether its runtime hands them on, as the control plane and a joined node both do', async () => {
    const dir = testTempDir('fake-nvidia-');
    const smi = join(dir, 'nvidia-smi');
    writeFileSync(smi, '#!/bin/sh\nprintf "0, NVIDIA A100-SXM4-80GB, 81920\\n1, NVIDIA A100-SXM4-80GB, 81920\\n"\n');
    chmodSync(smi, 0o755);
    const c = await hostCapacity({ runtimes: ['process'], measured: { cpus: 2, memoryBytes: 1024 ** 3 }, gpuSandboxes: false, nvidiaSmi: smi });
    expect(c).toMatchObject({ cpus: 2, gpus: [{ index: 0, name: 'NVIDIA A100-SXM4-80GB', memoryBytes: 81920 * 1024 ** 2 }, { index: 1 }], gpuSandboxes: false });
    expect((await hostCapacity({ runtimes: ['process'], gpuSandboxes: true, nvidiaSmi: join(dir, 'missing') })).gpus).toEqual([]);
  });

  it('an older node agent that does not say whether its runtime gives GPUs counts as one that does not', () => {
    expect(NodeCapacity.parse({ cpus: 1, memoryBytes: 1, runtimes: ['docker'], images: [], gpus: [{ index: 0, name: 'x', memoryBytes: 1 }] }).gpuSandboxes).toBe(false);
  });
});

describe('GPU metrics', () => {
  it('count per node the GPUs sandboxes can get there, and those its instances ask for', async () => {
    const view = (name: string, gpuSandboxes: boolean, asked: number): NodeView => ({
      record: {
        name,
        labels: {},
        cordoned: false,
        draining: false,
        capacity: { cpus: 8, memoryBytes: 1024 ** 3, runtimes: ['docker'], images: [], gpus: [0, 1].map((index) => ({ index, name: 'H100', memoryBytes: 1 })), gpuSandboxes },
        joinedAt: '2026-01-01T00:00:00Z',
        lastHeartbeatAt: null,
        version: null,
        credentialId: null,
      },
      status: 'ready',
      local: false,
      instances: [],
      allocated: { cpu: 0, memoryBytes: 0, gpus: asked },
    });
    const registry = new Registry();
    nodeMetrics(registry, { list: async () => [view('dgx', true, 1), view('bwrap', false, 0)] } as unknown as NodeService);
    const text = await registry.metrics();
    expect(text).toContain('aiflock_node_gpus{node="dgx"} 2');
    expect(text).toContain('aiflock_node_gpus{node="bwrap"} 0');
    expect(text).toContain('aiflock_node_allocated_gpus{node="dgx"} 1');
  });
});
