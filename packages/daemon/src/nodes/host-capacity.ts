import { execFile } from 'node:child_process';
import { availableParallelism, totalmem } from 'node:os';
import { promisify } from 'node:util';
import type { NodeCapacityRecord } from '@aiflock/core';

const run = promisify(execFile);

/**
 * What this host has, as a node reports it: cores and memory (the runtime's own figure when
 * it has one, which is what a sandbox can get), the runtime kinds it runs, the agent images
 * Docker holds, and GPUs when `nvidia-smi` exists. Missing tools mean "none", never an error.
 * The control plane's own node and every joined node report through this one function.
 */
export async function hostCapacity(opts: {
  runtimes: string[];
  measured?: { cpus: number; memoryBytes: number } | undefined;
  /** The runtime's `gpus` capability: whether the GPUs found can go to its sandboxes. */
  gpuSandboxes: boolean;
  /** Where `nvidia-smi` is (tests point it at a fake one). */
  nvidiaSmi?: string;
}): Promise<Required<NodeCapacityRecord>> {
  const [images, gpus] = await Promise.all([opts.runtimes.includes('docker') ? dockerImages() : Promise.resolve([]), nvidiaGpus(opts.nvidiaSmi)]);
  return {
    cpus: opts.measured?.cpus ?? availableParallelism(),
    memoryBytes: opts.measured?.memoryBytes ?? totalmem(),
    runtimes: opts.runtimes,
    images,
    gpus,
    gpuSandboxes: opts.gpuSandboxes,
  };
}

/** The agent images present (aiflock/*), so a person sees which nodes need a build first. */
async function dockerImages(): Promise<string[]> {
  try {
    const { stdout } = await run('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=aiflock/*'], { timeout: 10_000 });
    return [...new Set(stdout.split('\n').map((l) => l.trim()).filter((l) => l && !l.endsWith(':<none>')))].sort();
  } catch {
    return [];
  }
}

/** `nvidia-smi` lists each GPU's index, name and memory (MiB); no binary or no driver: none. */
export async function nvidiaGpus(binary = 'nvidia-smi'): Promise<NodeCapacityRecord['gpus']> {
  try {
    const { stdout } = await run(binary, ['--query-gpu=index,name,memory.total', '--format=csv,noheader,nounits'], { timeout: 10_000 });
    return parseNvidiaSmi(stdout);
  } catch {
    return [];
  }
}

export function parseNvidiaSmi(csv: string): NodeCapacityRecord['gpus'] {
  return csv
    .split('\n')
    .map((l) => l.split(',').map((f) => f.trim()))
    .filter((f) => f.length === 3 && /^\d+$/.test(f[0]!) && /^\d+$/.test(f[2]!))
    .map(([index, name, mib]) => ({ index: Number(index), name: name!, memoryBytes: Number(mib) * 1024 ** 2 }));
}
