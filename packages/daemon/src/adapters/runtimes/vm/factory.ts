import { z } from 'zod';
import type { RuntimeFactory } from '../shared/host-runtime.js';
import { storageLimits } from '../shared/settings.js';
import { VmRuntime } from './vm-runtime.js';

/** `runtime.vm` in the config file. */
export const VmSettings = z
  .object({
    /** Directory holding vmlinux and initrd.img, as printed by scripts/build-vm-image.sh. */
    imageDir: z.string().startsWith('/', 'an absolute path'),
    qemu: z.string().startsWith('/', 'an absolute path').default('/usr/bin/qemu-system-x86_64'),
    /** `auto`: KVM when /dev/kvm works, software emulation (TCG) otherwise. */
    accel: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
    /** Guests' config and credentials; default /var/lib/aiflock-<flock>-vm. */
    rootDir: z.string().startsWith('/', 'an absolute path').optional(),
  })
  .strict();

/** QEMU guests: each instance its own kernel, bus-only networking. */
export const vmRuntimeFactory = {
  kind: 'vm',
  settings: VmSettings,
  env: { AIFLOCK_VM_IMAGE_DIR: ['imageDir'], AIFLOCK_VM_ACCEL: ['accel'], AIFLOCK_VM_QEMU: ['qemu'], AIFLOCK_VM_DIR: ['rootDir'] },
  create(ctx) {
    const own = ctx.settings['vm'];
    if (own === undefined) throw new Error('runtime.kind is vm but runtime.vm.imageDir (env AIFLOCK_VM_IMAGE_DIR) is not set: run scripts/build-vm-image.sh and give it the directory it prints');
    const s = VmSettings.parse(own);
    const rootDir = s.rootDir ?? `/var/lib/aiflock-${ctx.flock}-vm`;
    return new VmRuntime({
      flock: ctx.flock,
      node: ctx.node,
      rootDir,
      // QEMU runs as the sandbox user and must traverse to the workspace: not under the 0700 data dir.
      sharedDir: `${rootDir}/shared`,
      imageDir: s.imageDir,
      qemu: s.qemu,
      accel: s.accel,
      busPort: ctx.busPort,
      secretsDir: ctx.secretsDir,
      storage: storageLimits(ctx.settings),
      proxy: ctx.proxy,
      log: ctx.log,
    });
  },
  operator: () => ({ refusal: 'the vm runtime has no operator profile (it needs the Docker runtime and an operator engine, runtime.operatorEngine)' }),
} as const satisfies RuntimeFactory;
