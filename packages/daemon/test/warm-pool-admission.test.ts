import { describe, expect, it } from 'vitest';
import { ManifestError, autoscaling, parseManifest } from '@aiflock/core';
import { loadConfig } from '../src/config.js';
import { deployAdmission } from '../src/deploy-admission.js';
import { ProcessRuntime } from '../src/adapters/runtimes/process/process-runtime.js';

/**
 * `scaling.warm` must not be a field that does nothing: a runtime without warm sandboxes
 * (capabilities.warmPool) refuses it at deploy, naming the field; so does the operator profile.
 * `scaling` with only `warm` is a warm pool, not autoscaling.
 */
const capacity = async () => ({ memoryBytes: 8 * 1024 ** 3, cpus: 4 });
const warm = parseManifest('name: quick\nhandlers: [echo]\nscaling: { warm: 2 }\n', 'quick.agent.yaml').manifest;
const config = () => loadConfig({ env: { AIFLOCK_HOME: '/tmp/aiflock-warm' } });

describe('scaling.warm at deploy', () => {
  it('is refused naming the field where the runtime keeps no warm sandboxes (the process runtime)', async () => {
    const processRuntime = new ProcessRuntime({ flock: 'warmtest', node: 'n1', rootDir: '/tmp/aiflock-warm/process', bundle: '/nonexistent/agent.mjs', busServers: [{ host: '127.0.0.1', port: 4222 }], busPort: 4222 });
    expect(processRuntime.capabilities.warmPool).toBeFalsy();
    expect(await deployAdmission(config(), capacity, processRuntime.capabilities)(warm)).toEqual({ field: 'scaling.warm', value: 2, message: expect.stringMatching(/does not offer/) });
  });

  it('is admitted where the runtime has them, but not for the operator profile', async () => {
    expect(await deployAdmission(config(), capacity, { warmPool: true })(warm)).toBeNull();
    const operator = parseManifest('name: ops\nhandlers: [echo]\nprofile: operator\nscaling: { warm: 1 }\n', 'ops.agent.yaml').manifest;
    expect(await deployAdmission(config(), capacity, { warmPool: true })(operator)).toMatchObject({ field: 'scaling.warm', value: 1 });
  });

  it('a warm pool alone does not make the agent autoscaled; half an autoscaling policy is refused', () => {
    expect(warm.scaling?.warm).toBe(2);
    expect(autoscaling(warm)).toBeNull();
    const both = parseManifest('name: b\nhandlers: [echo]\nscaling: { min: 1, max: 3, warm: 1 }\n', 'b.agent.yaml').manifest;
    expect(autoscaling(both)).toEqual({ min: 1, max: 3, targetQueueDepth: 10 });
    expect(() => parseManifest('name: c\nhandlers: [echo]\nscaling: { min: 1, warm: 1 }\n', 'c.agent.yaml')).toThrow(ManifestError);
    expect(() => parseManifest('name: d\nhandlers: [echo]\nscaling: { warm: 99 }\n', 'd.agent.yaml')).toThrow(/scaling\.warm|at most 20/);
  });
});
