import { SANDBOX_GID, SANDBOX_UID } from '../shared/shared-storage.js';

/** Where the guest dials the bus: a guestfwd address inside QEMU's user network, nothing real. */
export const GUEST_BUS_ADDRESS = '10.0.2.100';
export const GUEST_BUS_PORT = 4222;
/** Where the guest dials the egress proxy (only guests of agents with egress rules have it). */
export const GUEST_PROXY_ADDRESS = '10.0.2.101';
export const GUEST_PROXY_PORT = 3128;

/** A host directory handed to the guest over virtio-9p, under a tag its /init knows. */
export interface GuestShare {
  tag: 'config' | 'workspace' | 'secrets' | 'creds';
  hostPath: string;
  readonly: boolean;
}

export interface QemuCommandInput {
  qemu: string;
  accel: 'kvm' | 'tcg';
  kernel: string;
  initrd: string;
  memoryMiB: number;
  cpus: number;
  shares: GuestShare[];
  /** The bus on this host, dialled per guest connection by `relay` (argv, no shell syntax). */
  busRelay: string[];
  /** The egress proxy's relay, dialled likewise; absent: the guest has no way to the proxy. */
  proxyRelay?: string[];
}

/**
 * The guest kernel's command line. Each word is there for a reason:
 * - `console=ttyS0 quiet`: the serial console is the daemon log's view of the guest; only
 *   warnings and errors go to it (each character is an emulated port write under TCG).
 * - `panic=-1 reboot=t`: a guest whose kernel panics reboots at once, which with `-no-reboot`
 *   ends QEMU, so the instance exits instead of hanging.
 * - `no_timer_check`: the kernel's boot-time check that the IO-APIC delivers the timer counts
 *   ticks in a short window; under software emulation on a busy host the vCPU can be
 *   descheduled through it, and the kernel then panics ("IO-APIC + timer doesn't work!").
 *   A virtual machine's timer is QEMU's own and known to work, so the check only loses boots.
 * - `pci=noacpi`: legacy interrupt routing from the firmware's PCI table instead of ACPI's
 *   interrupt links, whose AML the kernel interprets for each virtio device it enables (about
 *   0.4 s of emulated CPU per boot under TCG). virtio uses MSI-X anyway.
 * - `initcall_blacklist=crypto_kdf108_init`: that init only self-tests the SP800-108 key
 *   derivation, which nothing in the guest calls (keyctl's DH derivation would); the test
 *   takes ~0.7 s under TCG. The derivation itself stays built in.
 * docs/vm-runtime.md has the boot timeline these were measured on.
 */
export const GUEST_KERNEL_ARGS = 'console=ttyS0 quiet panic=-1 reboot=t no_timer_check pci=noacpi initcall_blacklist=crypto_kdf108_init';

/**
 * QEMU's argv for one guest. Pure, for review and tests. What keeps the guest bus-only:
 * `-nodefaults` (no devices but those listed), user networking with `restrict=on` (the guest
 * reaches neither the host nor anything beyond it) whose one way out is the guestfwd to the
 * bus (and, for agents with egress rules, the one to the egress proxy), and `-sandbox on` (QEMU's own seccomp filter: no obsolete calls, no resource control).
 * `spawn=allow` and `elevateprivileges=allow` are the price of the guestfwd command, which
 * QEMU (libslirp) runs per guest connection: its child calls setsid() before exec, and QEMU's
 * `elevateprivileges=deny` (also `children`) filter kills it with SIGSYS for that, so the relay
 * never ran and the guest never reached the bus. What keeps set*id harmless instead: QEMU is
 * launched as the sandbox user with no capabilities, an empty bounding set and no_new_privs
 * (`confinedLaunch`), so those calls can only switch among its own ids.
 */
export function qemuArgv(input: QemuCommandInput): string[] {
  for (const part of [...input.busRelay, ...(input.proxyRelay ?? [])]) {
    // The relay command goes into a QEMU option string: no separators that could add options.
    if (/[,\s"'\\]/.test(part)) throw new Error(`bus relay argument "${part}" cannot go into a QEMU option`);
  }
  for (const s of input.shares) {
    if (/[,=]/.test(s.hostPath)) throw new Error(`share path "${s.hostPath}" cannot go into a QEMU option (no commas or equals signs)`);
  }
  const args = [
    '-nodefaults',
    '-no-user-config',
    '-nographic',
    '-no-reboot',
    '-accel',
    input.accel,
    '-m',
    String(input.memoryMiB),
    '-smp',
    String(input.cpus),
    '-kernel',
    input.kernel,
    '-initrd',
    input.initrd,
    '-append',
    GUEST_KERNEL_ARGS,
    '-serial',
    'stdio',
    '-sandbox',
    'on,obsolete=deny,elevateprivileges=allow,spawn=allow,resourcecontrol=deny',
    '-netdev',
    [
      'user,id=n0,restrict=on,ipv6=off',
      `guestfwd=tcp:${GUEST_BUS_ADDRESS}:${GUEST_BUS_PORT}-cmd:${input.busRelay.join(' ')}`,
      ...(input.proxyRelay ? [`guestfwd=tcp:${GUEST_PROXY_ADDRESS}:${GUEST_PROXY_PORT}-cmd:${input.proxyRelay.join(' ')}`] : []),
    ].join(','),
    '-device',
    'virtio-net-pci,netdev=n0,romfile=',
  ];
  for (const s of input.shares) {
    args.push('-fsdev', `local,id=fs-${s.tag},path=${s.hostPath},security_model=none${s.readonly ? ',readonly=on' : ''}`);
    args.push('-device', `virtio-9p-pci,fsdev=fs-${s.tag},mount_tag=${s.tag}`);
  }
  return args;
}

/**
 * Root just long enough to put itself into the instance's cgroups, then QEMU as the sandbox
 * user with no capabilities and no way to gain any: `sh -c` with arguments only.
 */
const LAUNCH_SCRIPT = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 97; shift; n=$((n-1)); done; exec "$@"';

export function confinedLaunch(procsFiles: string[], argv: string[]): string[] {
  const drop = ['setpriv', `--reuid=${SANDBOX_UID}`, `--regid=${SANDBOX_GID}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--'];
  return ['-c', LAUNCH_SCRIPT, 'aiflock-vm-launch', String(procsFiles.length), ...procsFiles, ...drop, ...argv];
}

/** The guest's environment, one `KEY=base64(value)` line each: its /init never shell-parses a value. */
export function guestEnvFile(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => {
      // Lower case too: http_proxy and https_proxy are spelt so by convention.
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`environment name "${k}" is not valid`);
      return `${k}=${Buffer.from(v).toString('base64')}\n`;
    })
    .join('');
}
