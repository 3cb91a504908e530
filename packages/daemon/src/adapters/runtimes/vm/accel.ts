import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

export interface Accel {
  accel: 'kvm' | 'tcg';
  /** Why, in words for status. */
  reason: string;
}

/**
 * KVM when /dev/kvm opens read-write within the time limit (a broken one can hang), software
 * emulation (TCG) otherwise. `want` forces one: kvm without a working /dev/kvm is an error.
 */
export async function probeAccel(want: 'auto' | 'kvm' | 'tcg', timeoutMs = 2000): Promise<Accel> {
  if (want === 'tcg') return { accel: 'tcg', reason: 'software emulation (TCG): runtime.vm.accel is tcg' };
  let timer: NodeJS.Timeout | undefined;
  const probe = open('/dev/kvm', constants.O_RDWR).then(
    async (fh) => (await fh.close(), null),
    (err: NodeJS.ErrnoException) => `/dev/kvm: ${err.code ?? err.message}`,
  );
  const timeout = new Promise<string>((r) => (timer = setTimeout(() => r(`/dev/kvm did not open within ${timeoutMs} ms`), timeoutMs)));
  const problem = await Promise.race([probe, timeout]).finally(() => clearTimeout(timer));
  if (problem === null) return { accel: 'kvm', reason: 'KVM: /dev/kvm opens read-write' };
  if (want === 'kvm') throw new Error(`runtime.vm.accel is kvm but ${problem}`);
  return { accel: 'tcg', reason: `software emulation (TCG, slow): ${problem}` };
}
