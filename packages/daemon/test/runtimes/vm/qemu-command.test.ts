import { describe, expect, it } from 'vitest';
import { confinedLaunch, guestEnvFile, qemuArgv, type QemuCommandInput } from '../../../src/adapters/runtimes/vm/qemu-command.js';

const input: QemuCommandInput = {
  qemu: '/usr/bin/qemu-system-x86_64',
  accel: 'tcg',
  kernel: '/cache/vm/vmlinux',
  initrd: '/cache/vm/initrd.img',
  memoryMiB: 576,
  cpus: 1,
  shares: [
    { tag: 'config', hostPath: '/var/lib/x/vms/a-12345678/config', readonly: true },
    { tag: 'workspace', hostPath: '/var/lib/x/shared/agents/a', readonly: false },
  ],
  busRelay: ['/bin/busybox', 'nc', '127.0.0.1', '4222'],
};

const after = (args: string[], flag: string) => args.flatMap((a, i) => (args[i - 1] === flag ? [a] : []));

describe('the QEMU command of a guest', () => {
  it('has one NIC, on a restricted user network whose only way out is the forward to the bus', () => {
    const args = qemuArgv(input);
    expect(args).toContain('-nodefaults');
    expect(after(args, '-netdev')).toEqual(['user,id=n0,restrict=on,ipv6=off,guestfwd=tcp:10.0.2.100:4222-cmd:/bin/busybox nc 127.0.0.1 4222']);
    expect(after(args, '-device').filter((d) => d.startsWith('virtio-net'))).toHaveLength(1);
    // set*id must stay allowed: the guestfwd relay's child calls setsid() (QEMU runs it
    // unprivileged instead, see confinedLaunch); obsolete and resource-control calls are denied.
    expect(after(args, '-sandbox')[0]).toBe('on,obsolete=deny,elevateprivileges=allow,spawn=allow,resourcecontrol=deny');
    expect(after(args, '-m')).toEqual(['576']);
    // The guest kernel skips its IO-APIC timer check, which panics boots on a busy host under TCG.
    expect(after(args, '-append')[0]!.split(' ')).toContain('no_timer_check');
  });

  it('boots the kernel it is given (the uncompressed one) with a command line cut for speed, not for safety', () => {
    const args = qemuArgv(input);
    expect(after(args, '-kernel')).toEqual(['/cache/vm/vmlinux']);
    const words = after(args, '-append')[0]!.split(' ');
    expect(words).toEqual(expect.arrayContaining(['console=ttyS0', 'quiet', 'panic=-1', 'pci=noacpi', 'initcall_blacklist=crypto_kdf108_init']));
    // What a faster boot must never buy: the kernel's own hardening in the guest stays on.
    const weakening = /^(mitigations=|nokaslr|nopti|nosmap|nosmep|spectre_v2=off|spectre_v1=off|pti=off|lsm=|security=|apparmor=0|selinux=0|module\.sig_enforce=0|init=|rdinit=)/;
    expect(words.filter((w) => weakening.test(w))).toEqual([]);
  });

  it('gives a guest of an agent with egress rules a second forward, to the egress proxy\'s relay, and no other way out', () => {
    const args = qemuArgv({ ...input, proxyRelay: ['/bin/busybox', 'nc', '127.0.0.1', '40123'] });
    expect(after(args, '-netdev')).toEqual([
      'user,id=n0,restrict=on,ipv6=off,guestfwd=tcp:10.0.2.100:4222-cmd:/bin/busybox nc 127.0.0.1 4222,guestfwd=tcp:10.0.2.101:3128-cmd:/bin/busybox nc 127.0.0.1 40123',
    ]);
    expect(() => qemuArgv({ ...input, proxyRelay: ['/bin/busybox', 'nc', '127.0.0.1', '1,hostfwd=tcp::22-:22'] })).toThrow(/cannot go into a QEMU option/);
  });

  it('shares only the listed directories, read-only unless asked', () => {
    const fsdevs = after(qemuArgv(input), '-fsdev');
    expect(fsdevs).toEqual([
      'local,id=fs-config,path=/var/lib/x/vms/a-12345678/config,security_model=none,readonly=on',
      'local,id=fs-workspace,path=/var/lib/x/shared/agents/a,security_model=none',
    ]);
  });

  it('refuses a path or relay argument that could smuggle another QEMU option in', () => {
    expect(() => qemuArgv({ ...input, shares: [{ tag: 'workspace', hostPath: '/x,readonly=off', readonly: true }] })).toThrow(/cannot go into a QEMU option/);
    expect(() => qemuArgv({ ...input, busRelay: ['/bin/busybox', 'nc,hostfwd=tcp::22-:22'] })).toThrow(/cannot go into a QEMU option/);
  });

  it('drops to the sandbox user with no capabilities after joining the cgroup', () => {
    const argv = confinedLaunch(['/sys/fs/cgroup/aiflock-f/i/cgroup.procs'], ['/usr/bin/qemu-system-x86_64', '-nodefaults']);
    expect(argv.slice(argv.indexOf('setpriv'))).toEqual(['setpriv', '--reuid=1001', '--regid=1001', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--', '/usr/bin/qemu-system-x86_64', '-nodefaults']);
  });

  it('hands the guest its environment as base64 values, refusing bad names', () => {
    expect(guestEnvFile({ A_B: 'x y\n$(z)' })).toBe(`A_B=${Buffer.from('x y\n$(z)').toString('base64')}\n`);
    expect(() => guestEnvFile({ 'A;B': 'x' })).toThrow(/not valid/);
    // The reconciler sets http_proxy next to HTTP_PROXY: lower-case names are names too.
    expect(guestEnvFile({ http_proxy: 'http://10.0.2.101:3128' })).toBe(`http_proxy=${Buffer.from('http://10.0.2.101:3128').toString('base64')}\n`);
  });
});
