import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The flock's own seccomp profile (packages/daemon/seccomp/sandbox.json), for every sandbox of
 * the Docker and operator runtimes (and, compiled to BPF, the process runtime's). An allow-list: what an agent, Node, a shell and a package
 * manager need; anything else is refused with EPERM. Beyond what Docker's default refuses, it
 * refuses ptrace (an agent stopped the sandbox's init with it), process_vm_readv/writev,
 * io_uring (ENOSYS: libuv falls back), userfaultfd, bpf, perf_event_open, the keyring calls
 * (keyctl, add_key, request_key) and kexec. Same path under src/ and dist/.
 */
export const SECCOMP_PROFILE_FILE = join(import.meta.dirname, '..', '..', '..', '..', 'seccomp', 'sandbox.json');

let profile: string | undefined;

/** The profile as Docker's `SecurityOpt: seccomp=<json>` wants it; read and checked once. */
export function seccompProfile(): string {
  if (profile === undefined) {
    const parsed = JSON.parse(readFileSync(SECCOMP_PROFILE_FILE, 'utf8')) as { defaultAction?: string };
    if (parsed.defaultAction !== 'SCMP_ACT_ERRNO') throw new Error(`${SECCOMP_PROFILE_FILE}: the sandbox profile must refuse by default (defaultAction SCMP_ACT_ERRNO)`);
    profile = JSON.stringify(parsed);
  }
  return profile;
}

/** ICMP "ping" sockets (SOCK_DGRAM, IPPROTO_ICMP) need no capability; no group may open them. */
export const SANDBOX_SYSCTLS = { 'net.ipv4.ping_group_range': '1 0' } as const;
