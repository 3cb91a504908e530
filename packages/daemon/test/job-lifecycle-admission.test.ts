import { describe, expect, it } from 'vitest';
import { parseManifest } from '@aiflock/core';
import { loadConfig } from '../src/config.js';
import { deployAdmission } from '../src/deploy-admission.js';

/**
 * `lifecycle: job` must not be a field that does nothing: a runtime that does not start a
 * sandbox per task (docker, process) refuses it at deploy, naming the field and the runtime;
 * one that does (vm, capabilities.jobSandboxes) admits it.
 */
const capacity = async () => ({ memoryBytes: 8 * 1024 ** 3, cpus: 4 });
const job = parseManifest('name: batch\nhandlers: [echo]\nlifecycle: job\n', 'batch.agent.yaml').manifest;

describe('lifecycle: job at deploy', () => {
  it('is refused where the runtime has no per-task sandboxes, saying which runtime does', async () => {
    const config = loadConfig({ env: { AIFLOCK_HOME: '/tmp/aiflock-jobs' } });
    expect(await deployAdmission(config, capacity)(job)).toEqual({
      field: 'lifecycle',
      value: 'job',
      message: expect.stringMatching(/only the vm runtime offers \(runtime\.kind: vm\); this flock runs docker/),
    });
    // A long-lived agent is unaffected.
    expect(await deployAdmission(config, capacity)(parseManifest('name: svc\nhandlers: [echo]\n', 'svc.agent.yaml').manifest)).toBeNull();
  });

  it('is admitted where the runtime offers them', async () => {
    const config = loadConfig({ env: { AIFLOCK_HOME: '/tmp/aiflock-jobs' } });
    expect(await deployAdmission(config, capacity, { jobSandboxes: true })(job)).toBeNull();
  });
});
