import { expect } from 'vitest';
import type { ContainerCreateOptions } from 'dockerode';
import { seccompProfile } from '../../../src/adapters/runtimes/shared/seccomp.js';

/**
 * Both profiles run under the flock's own seccomp profile, which refuses by default and allows
 * none of the calls an agent never needs, with ICMP ping sockets off.
 */
export function expectFlockSeccomp(h: NonNullable<ContainerCreateOptions['HostConfig']>): void {
  expect(h.SecurityOpt).toEqual(['no-new-privileges:true', `seccomp=${seccompProfile()}`]);
  const profile = JSON.parse(seccompProfile()) as { defaultAction: string; syscalls: { names: string[]; action: string }[] };
  expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO');
  const allowed = profile.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names);
  for (const call of ['ptrace', 'process_vm_readv', 'process_vm_writev', 'io_uring_setup', 'userfaultfd', 'bpf', 'perf_event_open', 'keyctl', 'add_key', 'request_key', 'kexec_load', 'mount', 'unshare', 'setns']) expect(allowed, call).not.toContain(call);
  expect(h.Sysctls?.['net.ipv4.ping_group_range']).toBe('1 0');
}
